#include "worker/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/child_environment.h"
#include "worker/codec.h"
#include "worker/fds.h"

namespace isopool::worker {
namespace {

// A descriptor moved above the range the child's dup2 targets use (3..5), close-on-exec.
int Lifted(int fd) {
  int lifted = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return lifted;
}

}  // namespace

const char* ExitReasonName(ExitReason reason) {
  switch (reason) {
    case ExitReason::kOutOfMemory:
      return "out_of_memory";
    case ExitReason::kCrash:
      return "crash";
    case ExitReason::kMemoryCap:
      return "memory_cap";
    case ExitReason::kUnresponsive:
      return "unresponsive";
    case ExitReason::kKilled:
      return "killed";
    case ExitReason::kExited:
      return "exited";
  }
  return "exited";
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Start(const Options& options,
                                                                    WorkerEvents& events) {
  std::unique_ptr<WorkerProcess> self(new WorkerProcess(options.slot, options.generation, events));
  absl::StatusOr<SocketPair> calls = MessageSocket::Pair();
  if (!calls.ok()) return calls.status();
  absl::StatusOr<SocketPair> control = MessageSocket::Pair();
  if (!control.ok()) {
    close(calls->peer_fd);
    return control.status();
  }
  int crash_pipe[2];
  if (pipe2(crash_pipe, O_CLOEXEC) != 0) {
    close(calls->peer_fd);
    close(control->peer_fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  int child_fds[3] = {Lifted(calls->peer_fd), Lifted(control->peer_fd), Lifted(crash_pipe[1])};
  self->calls_ = std::move(calls->socket);
  self->control_ = std::move(control->socket);
  self->crash_fd_ = crash_pipe[0];

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_fds[0], kCallsFd);
  posix_spawn_file_actions_adddup2(&actions, child_fds[1], kControlFd);
  posix_spawn_file_actions_adddup2(&actions, child_fds[2], kCrashFd);
  // The supervisor blocks SIGTERM/SIGINT in every thread (main waits for them); a worker must
  // not inherit that mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::string binary = options.binary;
  char* argv[] = {binary.data(), nullptr};
  base::ChildEnvironment environment;
  int spawned = posix_spawn(&self->pid_, binary.c_str(), &actions, &attr, argv, environment.envp());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : child_fds) close(fd);
  if (spawned != 0) {
    self->pid_ = -1;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start the worker ", binary, ": ", strerror(spawned)));
  }
  self->started_at_ = absl::Now();
  self->statm_fd_ =
      open(absl::StrCat("/proc/", self->pid_, "/statm").c_str(), O_RDONLY | O_CLOEXEC);

  wire::ToWorker init;
  *init.mutable_init() = options.init;
  self->SendControl(init);
  // Wait for "ready" (V8 up, locked down), or the worker's end.
  for (;;) {
    pollfd fd = {self->control_->fd(), POLLIN, 0};
    int64_t wait_ms =
        absl::ToInt64Milliseconds(self->started_at_ + options.start_timeout - absl::Now());
    if (wait_ms <= 0 || poll(&fd, 1, static_cast<int>(wait_ms)) == 0) {
      return absl::DeadlineExceededError(absl::StrCat("the worker ", binary,
                                                      " did not start within ",
                                                      absl::FormatDuration(options.start_timeout)));
    }
    absl::StatusOr<std::string> bytes = self->control_->Receive();
    if (!bytes.ok()) {
      return absl::InternalError(
          absl::StrCat("the worker ", binary, " ended while starting (see its stderr above)"));
    }
    wire::FromWorker message;
    if (message.ParseFromString(*bytes) && message.ready()) break;
  }
  WorkerProcess* raw = self.get();
  self->calls_thread_ = std::thread([raw] { raw->CallsLoop(); });
  self->control_thread_ = std::thread([raw] { raw->ControlLoop(); });
  return self;
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0 && !exited_.load()) {
    if (kill_reason_.load() < 0) kill_reason_ = static_cast<int>(ExitReason::kKilled);
    kill(pid_, SIGKILL);
  }
  if (calls_thread_.joinable()) calls_thread_.join();
  if (control_thread_.joinable()) control_thread_.join();
  if (pid_ > 0 && !exited_.load()) {  // never got to the reader threads
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (crash_fd_ >= 0) close(crash_fd_);
  if (statm_fd_ >= 0) close(statm_fd_);
}

absl::Status WorkerProcess::SendCall(uint64_t call_id, const Call& call) {
  return calls_->Send(EncodeCall(call_id, call).SerializeAsString());
}

void WorkerProcess::SendControl(const wire::ToWorker& message) {
  (void)control_->Send(message.SerializeAsString());  // a dead worker is reported by its reader
}

void WorkerProcess::SendSnapshot(const wire::SnapshotReply& reply) {
  wire::ToWorker message;
  *message.mutable_snapshot() = reply;
  SendControl(message);
}

void WorkerProcess::SendPrewarm(const std::string& snapshot_id) {
  wire::ToWorker message;
  message.set_prewarm(snapshot_id);
  SendControl(message);
}

void WorkerProcess::SendRemove(const std::string& snapshot_id) {
  wire::ToWorker message;
  message.set_remove(snapshot_id);
  SendControl(message);
}

void WorkerProcess::Kill(ExitReason reason, uint64_t culprit, size_t resident_bytes) {
  if (exited_.load()) return;
  int unset = -1;
  if (kill_reason_.compare_exchange_strong(unset, static_cast<int>(reason))) {
    kill_culprit_ = culprit;
    kill_resident_bytes_ = resident_bytes;
  }
  kill(pid_, SIGKILL);
}

size_t WorkerProcess::ResidentBytes() const {
  if (statm_fd_ < 0 || exited_.load()) return 0;
  char text[128];
  ssize_t n = pread(statm_fd_, text, sizeof(text) - 1, 0);
  if (n <= 0) return 0;
  text[n] = '\0';
  std::vector<absl::string_view> fields = absl::StrSplit(text, ' ');
  uint64_t pages = 0;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &pages)) return 0;
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void WorkerProcess::CallsLoop() {
  for (;;) {
    absl::StatusOr<std::string> bytes = calls_->Receive();
    if (!bytes.ok()) {
      if (bytes.status().code() == absl::StatusCode::kDataLoss) continue;
      break;
    }
    wire::Outcome outcome;
    if (!outcome.ParseFromString(*bytes)) continue;
    if (outcome.has_events()) events_.OnStats(*this, outcome.events());
    events_.OnOutcome(*this, outcome.call_id(), DecodeOutcome(outcome));
  }
  ReaderDone();
}

void WorkerProcess::ControlLoop() {
  for (;;) {
    absl::StatusOr<std::string> bytes = control_->Receive();
    if (!bytes.ok()) {
      if (bytes.status().code() == absl::StatusCode::kDataLoss) continue;
      break;
    }
    wire::FromWorker message;
    if (!message.ParseFromString(*bytes)) continue;
    switch (message.kind_case()) {
      case wire::FromWorker::kNeedSnapshot:
        events_.OnNeedSnapshot(*this, message.need_snapshot().request_id(),
                               message.need_snapshot().snapshot_id());
        break;
      case wire::FromWorker::kStats:
        events_.OnStats(*this, message.stats());
        break;
      case wire::FromWorker::kUnresponsiveCall:
        events_.OnUnresponsive(*this, message.unresponsive_call());
        break;
      case wire::FromWorker::kWarmed:
        events_.OnWarmed(
            *this, message.warmed().snapshot_id(),
            DecodeStatus(message.warmed().status_code(), message.warmed().status_message()));
        break;
      default:
        break;
    }
  }
  ReaderDone();
}

void WorkerProcess::ReaderDone() {
  // The first reader to see the end wakes the other; the last one reaps and reports, so the exit
  // is the last event.
  calls_->Shutdown();
  control_->Shutdown();
  if (readers_running_.fetch_sub(1) != 1) return;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  WorkerExit exit;
  std::vector<CrashRecord> records = ReadCrashRecords(crash_fd_);
  int killed_for = kill_reason_.load();
  const CrashRecord* named = nullptr;
  for (const CrashRecord& record : records) {
    if (record.call_id != 0) {
      named = &record;
      break;
    }
  }
  if (named == nullptr && !records.empty()) named = &records.front();
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  if (WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
  if (named != nullptr && (named->call_id != 0 || killed_for < 0)) {
    exit.reason =
        named->kind == CrashKind::kOutOfMemory ? ExitReason::kOutOfMemory : ExitReason::kCrash;
    exit.culprit = named->call_id;
  } else if (killed_for >= 0) {
    exit.reason = static_cast<ExitReason>(killed_for);
    exit.culprit = kill_culprit_.load();
    exit.resident_bytes = kill_resident_bytes_.load();
  } else if (WIFSIGNALED(status)) {
    exit.reason = ExitReason::kKilled;
  } else {
    exit.reason = ExitReason::kExited;
  }
  events_.OnExit(*this, exit);
}

}  // namespace isopool::worker
