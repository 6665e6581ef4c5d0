// isopool_worker: a worker process. Runs JavaScript for its supervisor (isopool_server) and
// nothing else; see worker/worker_process.h for the supervisor's side.
//
//   isopool_worker   (started by the supervisor with fd 3 = calls, 4 = control, 5 = crash pipe)
//
// Start-up: read Init from the control channel, install crash reporting, initialise V8 with the
// deployment's hash seed, start the pools (the blank one warming), lock the process down with
// seccomp, start the execute threads, say ready. From then on the worker opens no file and no
// socket: envelopes come over the control channel, calls and answers over the calls channel.
// When the supervisor goes away the worker exits (EOF on the control channel, and
// PR_SET_PDEATHSIG for a supervisor that was killed).
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/lockdown.h"
#include "base/mutex.h"
#include "engine/runtime.h"
#include "worker/call_host.h"
#include "worker/channel.h"
#include "worker/codec.h"
#include "worker/crash_report.h"
#include "worker/event_forwarder.h"
#include "worker/fds.h"
#include "worker/protocol.pb.h"
#include "worker/remote_source.h"

namespace isopool::worker {
namespace {

constexpr char kFaultPrefix[] = "__isopool_fault__:";

[[noreturn]] void Fail(const std::string& message) {
  fprintf(stderr, "isopool_worker: %s\n", message.c_str());
  _exit(1);
}

// Which call each execute thread runs, for the watchdog's unresponsive report.
class RunningCalls {
 public:
  void Set(pthread_t thread, uint64_t call_id) {
    base::MutexLock lock(&mu_);
    for (Slot& slot : slots_) {
      if (pthread_equal(slot.thread, thread)) {
        slot.call_id = call_id;
        return;
      }
    }
    slots_.push_back({thread, call_id});
  }
  uint64_t Get(pthread_t thread) {
    base::MutexLock lock(&mu_);
    for (const Slot& slot : slots_) {
      if (pthread_equal(slot.thread, thread)) return slot.call_id;
    }
    return 0;
  }

 private:
  struct Slot {
    pthread_t thread;
    uint64_t call_id;
  };
  base::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
};

// Test-only faults (Init.test_only_fault_injection): a source "__isopool_fault__:<what>".
CallOutcome InjectFault(absl::string_view what) {
  CallOutcome outcome;
  if (what == "abort") abort();
  if (what == "segv") {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  }
  if (what == "syscalls") {
    // Each of these must be refused by the seccomp filter.
    auto attempt = [](int result) {
      return result >= 0 ? std::string("\"allowed\"") : absl::StrCat("\"errno ", errno, "\"");
    };
    std::string open = attempt(::open("/etc/hostname", O_RDONLY));
    std::string socket = attempt(::socket(AF_INET, SOCK_STREAM, 0));
    std::string fork_result = attempt(static_cast<int>(syscall(SYS_fork)));
    outcome.result.result_json =
        absl::StrCat("{\"open\":", open, ",\"socket\":", socket, ",\"fork\":", fork_result, "}");
    return outcome;
  }
  outcome.status = absl::InvalidArgumentError(absl::StrCat("unknown test fault '", what, "'"));
  return outcome;
}

class Worker {
 public:
  Worker(const wire::Init& init, std::unique_ptr<MessageSocket> control)
      : init_(init),
        calls_(kCallsFd),
        control_owner_(std::move(control)),
        control_(*control_owner_),
        source_(control_, absl::Seconds(60)) {}

  void Run() {
    CallHost::Options options;
    options.global = DecodeGlobalPolicy(init_.global());
    options.blank_policy = DecodePoolPolicy(init_.blank_policy());
    options.watchdog.unresponsive_grace = absl::Microseconds(init_.unresponsive_grace_us());
    options.watchdog.on_unresponsive = [this](pthread_t thread) { Unresponsive(thread); };
    host_ = std::make_unique<CallHost>(source_, options, events_, events_);
    if (absl::Status s = host_->pools().Prewarm(""); !s.ok()) Fail(std::string(s.message()));
    // Ready means ready: a respawned worker must not make its first callers wait for a restore.
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (host_->pools().Stats("").warm == 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    if (init_.lockdown() && !base::kSanitizerBuild) {
      tzset();  // /etc/localtime cannot be opened once locked down
      if (absl::Status s = base::LockDown(); !s.ok()) Fail(std::string(s.message()));
    }
    int threads = std::max(1, init_.execute_threads());
    for (int i = 0; i < threads; ++i) StartExecuteThread();
    wire::FromWorker ready;
    ready.set_ready(true);
    if (!control_.Send(ready.SerializeAsString()).ok()) _exit(0);
    ControlLoop();
  }

 private:
  void StartExecuteThread() {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kExecuteStackBytes);
    pthread_t thread;
    auto main = [](void* self) -> void* {
      // Named from inside: naming another thread opens /proc/self/task/N/comm.
      pthread_setname_np(pthread_self(), "isopool-exec");
      static_cast<Worker*>(self)->ExecuteLoop();
      return nullptr;
    };
    if (pthread_create(&thread, &attr, main, this) != 0) Fail("cannot start an execute thread");
    pthread_attr_destroy(&attr);
  }

  void ExecuteLoop() {
    for (;;) {
      absl::StatusOr<std::string> message = calls_.Receive();
      if (!message.ok()) {
        if (message.status().code() == absl::StatusCode::kDataLoss) continue;
        _exit(0);  // the supervisor is gone
      }
      wire::Call call;
      if (!call.ParseFromString(*message)) continue;
      running_.Set(pthread_self(), call.id());
      SetCurrentCall(call.id());
      CallOutcome outcome;
      if (init_.test_only_fault_injection() && absl::StartsWith(call.source(), kFaultPrefix)) {
        outcome = InjectFault(absl::string_view(call.source()).substr(strlen(kFaultPrefix)));
      } else {
        outcome = host_->Run(DecodeCall(call));
      }
      SetCurrentCall(0);
      running_.Set(pthread_self(), 0);
      wire::Outcome answer = EncodeOutcome(call.id(), outcome);
      wire::Stats events = events_.TakeStats();
      if (events.ByteSizeLong() > 0) *answer.mutable_events() = std::move(events);
      if (!calls_.Send(answer.SerializeAsString()).ok()) _exit(0);
    }
  }

  void Unresponsive(pthread_t thread) {
    uint64_t call_id = running_.Get(thread);
    if (call_id == 0) return;
    wire::FromWorker message;
    message.set_unresponsive_call(call_id);
    (void)control_.Send(message.SerializeAsString());
  }

  void ControlLoop() {
    // Stats go out every 250 ms from a thread of their own; this one only reads.
    std::thread stats([this] {
      for (;;) {
        absl::SleepFor(absl::Milliseconds(250));
        wire::FromWorker message;
        *message.mutable_stats() = events_.TakeStats();
        *message.mutable_stats()->mutable_pool() = EncodePoolStats(host_->pools().Stats());
        if (!control_.Send(message.SerializeAsString()).ok()) _exit(0);
      }
    });
    stats.detach();
    for (;;) {
      absl::StatusOr<std::string> bytes = control_.Receive();
      if (!bytes.ok()) {
        if (bytes.status().code() == absl::StatusCode::kDataLoss) continue;
        source_.Close();
        _exit(0);
      }
      wire::ToWorker message;
      if (!message.ParseFromString(*bytes)) continue;
      switch (message.kind_case()) {
        case wire::ToWorker::kSnapshot:
          source_.Deliver(std::move(*message.mutable_snapshot()));
          break;
        case wire::ToWorker::kPrewarm:
          StartPrewarm(message.prewarm());
          break;
        case wire::ToWorker::kRemove:
          host_->pools().Remove(message.remove());
          break;
        case wire::ToWorker::kMemoryPressureCritical:
          host_->pools().MemoryPressure(message.memory_pressure_critical());
          break;
        default:
          break;
      }
    }
  }

  // Restores in the background and answers once an isolate is warm (or it failed).
  void StartPrewarm(const std::string& snapshot_id) {
    std::thread([this, snapshot_id] {
      absl::Status status = host_->pools().Prewarm(snapshot_id);
      absl::Time give_up = absl::Now() + absl::Seconds(60);
      while (status.ok() && host_->pools().Stats(snapshot_id).warm == 0 && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(2));  // never a request's path
      }
      wire::FromWorker message;
      message.mutable_warmed()->set_snapshot_id(snapshot_id);
      message.mutable_warmed()->set_status_code(static_cast<int32_t>(status.code()));
      message.mutable_warmed()->set_status_message(std::string(status.message()));
      (void)control_.Send(message.SerializeAsString());
    }).detach();
  }

  const wire::Init init_;
  MessageSocket calls_;
  const std::unique_ptr<MessageSocket> control_owner_;
  MessageSocket& control_;
  RemoteSnapshotSource source_;
  EventForwarder events_;
  RunningCalls running_;
  std::unique_ptr<CallHost> host_;
};

}  // namespace
}  // namespace isopool::worker

int main() {
  using namespace isopool::worker;  // NOLINT(build/namespaces)
  // Die with the supervisor, even when it is killed with SIGKILL.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0;
  rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  // Under memory pressure the kernel kills a worker, never the supervisor (raising one's own
  // score needs no privilege).
  int oom_score = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom_score >= 0) {
    ssize_t ignored = write(oom_score, "1000", 4);
    (void)ignored;
    close(oom_score);
  }
  signal(SIGPIPE, SIG_IGN);
  auto control = std::make_unique<MessageSocket>(kControlFd);
  absl::StatusOr<std::string> first = control->Receive();
  if (!first.ok()) return 0;
  wire::ToWorker message;
  if (!message.ParseFromString(*first) || !message.has_init())
    Fail("the first message is not Init");
  const wire::Init& init = message.init();
  InstallCrashHandlers(kCrashFd);

  isopool::engine::RuntimeOptions runtime;
  runtime.hash_seed = init.hash_seed();
  runtime.platform_threads = init.platform_threads();
  for (const std::string& flag : init.v8_flags()) runtime.v8_flags.push_back(flag);
  runtime.on_oom = &OnV8OutOfMemory;
  runtime.on_fatal_error = &OnV8FatalError;
  if (absl::Status s = isopool::engine::InitializeRuntime(runtime); !s.ok()) {
    Fail(std::string(s.message()));
  }
  auto* worker = new Worker(init, std::move(control));  // lives until the process _exits
  worker->Run();
  return 0;
}
