#include "tests/harness/server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/sibling_binary.h"
#include "gtest/gtest.h"

extern char** environ;

namespace isopool::testing {
namespace {

// Waiting for a file or a process: short enough that nobody notices, long enough to cost nothing.
constexpr absl::Duration kPoll = absl::Milliseconds(5);

// The whole file, or "" when it does not exist (yet).
std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A binary of the server's build beside ours (installed) or in our runfiles; "" if none.
std::string FindExecutable(const std::string& name, const std::string& runfiles_path) {
  std::string path = base::FindSiblingBinary(name, runfiles_path);
  return access(path.c_str(), X_OK) == 0 ? path : "";
}

}  // namespace

int JsonIntField(const std::string& json, const std::string& key) {
  std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = json.find(needle);
  if (at == std::string::npos) return -1;
  size_t begin = at + needle.size();
  size_t end = json.find_first_of(",}", begin);
  int value = -1;
  if (end == std::string::npos || !absl::SimpleAtoi(json.substr(begin, end - begin), &value)) {
    return -1;
  }
  return value;
}

std::string DescribeExitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("status ", status);
}

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(dir ? dir : ".", "/", workspace ? workspace : "isopool", "/", path);
}

std::string NewTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = std::getenv("TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = "/tmp";
  std::string dir = absl::StrCat(tmp, "/", name, "-", getpid(), "-", counter++);
  mkdir(dir.c_str(), 0755);
  return dir;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Launch(Options options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("Launch needs a data_dir");
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  std::string run_dir = NewTempDir("server");
  server->port_file_ = run_dir + "/ports.json";
  server->log_path_ = options.log_path.empty() ? run_dir + "/server.log" : options.log_path;
  server->data_dir_ = options.data_dir;
  std::string binary = options.server_binary.empty()
                           ? FindExecutable("isopool_server", "service/isopool_server")
                           : options.server_binary;
  if (binary.empty() || access(binary.c_str(), X_OK) != 0) {
    auto env = [](const char* name) {
      const char* value = std::getenv(name);
      return std::string(value == nullptr ? "(unset)" : value);
    };
    char self[4096] = {};
    (void)readlink("/proc/self/exe", self, sizeof(self) - 1);
    return absl::NotFoundError(absl::StrCat(
        "no isopool_server at '", binary, "' (add //service:isopool_server to the data); looked ",
        "beside and in the runfiles of ", self, ", RUNFILES_DIR=", env("RUNFILES_DIR"),
        ", TEST_SRCDIR=", env("TEST_SRCDIR")));
  }
  std::vector<std::string> args = {binary, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                   "--port_file=" + server->port_file_,
                                   "--data_dir=" + options.data_dir};
  // The server finds these beside itself too; from the runfiles we know they are this build's.
  if (std::string pack = FindExecutable("isopool_pack", "engine/isopool_pack"); !pack.empty()) {
    args.push_back("--pack_binary=" + pack);
  }
  if (std::string worker = FindExecutable("isopool_worker", "worker/isopool_worker");
      !worker.empty()) {
    args.push_back("--worker_binary=" + worker);
  }
  for (std::string& flag : options.flags) args.push_back(std::move(flag));
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int log_fd =
      open(server->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", server->log_path_));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // The child, until exec: async-signal-safe calls only. It dies with the launching thread.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGCHLD, SIGHUP}) signal(sig, SIG_DFL);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(argv[0], argv.data(), environ);
    static const char kExecFailed[] = "launcher: execve of the server failed\n";
    (void)!write(2, kExecFailed, sizeof(kExecFailed) - 1);
    _exit(127);
  }
  int fork_errno = errno;
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  if (pid < 0) return absl::ErrnoToStatus(fork_errno, "fork");
  server->pid_ = pid;
  if (absl::Status ready = server->AwaitPortFile(options.start_timeout); !ready.ok()) {
    return ready;  // ~ServerProcess kills a server still starting
  }
  return server;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& data_dir, std::vector<std::string> extra) {
  Options options;
  options.data_dir = data_dir;
  options.flags = {"--restore_threads=1", "--v8_platform_threads=1"};
  for (std::string& flag : extra) options.flags.push_back(std::move(flag));
  return Launch(std::move(options));
}

absl::Status ServerProcess::AwaitPortFile(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    // Renamed into place whole (service/port_file.h): present means complete.
    std::string ports = ReadFile(port_file_);
    if (!ports.empty()) {
      port_ = JsonIntField(ports, "grpc_port");
      metrics_port_ = JsonIntField(ports, "metrics_port");
      if (port_ <= 0 || metrics_port_ < 0 || JsonIntField(ports, "pid") != pid_) {
        return absl::InternalError(absl::StrCat("port file ", port_file_,
                                                " is not the server's (pid ", pid_, "): ", ports));
      }
      return absl::OkStatus();
    }
    if (Exited()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the server exited before it was ready (", DescribeExitStatus(status_),
                       "); the end of its log ", log_path_, ":\n", LogTail()));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the server wrote no port file within ", absl::FormatDuration(timeout),
                       "; the end of its log ", log_path_, ":\n", LogTail()));
    }
    absl::SleepFor(kPoll);
  }
}

ServerProcess::~ServerProcess() {
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- server log %s ----\n%s\n----\n", log_path_.c_str(),
                 Stderr().c_str());
  }
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void ServerProcess::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool ServerProcess::Exited() {
  if (!reaped_ && waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

int ServerProcess::Wait() {
  while (!reaped_) {
    if (waitpid(pid_, &status_, 0) == pid_) reaped_ = true;
    if (!reaped_ && errno != EINTR) break;  // not our child (cannot happen): do not spin
  }
  return status_;
}

int ServerProcess::Stop(absl::Duration grace) {
  if (Exited()) return status_;
  kill(pid_, SIGTERM);
  absl::Time deadline = absl::Now() + grace;
  while (!Exited() && absl::Now() < deadline) absl::SleepFor(kPoll);
  if (!reaped_) kill(pid_, SIGKILL);
  return Wait();
}

std::string ServerProcess::Stderr() const { return ReadFile(log_path_); }

std::string ServerProcess::LogTail() const {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(Stderr(), '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "    ptr")) lines.emplace_back(line);  // V8's heap dumps
  }
  constexpr size_t kLines = 30;
  if (lines.size() > kLines) lines.erase(lines.begin(), lines.end() - kLines);
  return absl::StrJoin(lines, "\n");
}

absl::Status WaitUntil(const std::function<bool()>& done, absl::Duration timeout,
                       absl::string_view what, absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (done()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, " (waited ", absl::FormatDuration(timeout), ")"));
    }
    absl::SleepFor(poll);
  }
}

absl::Status ServerProcess::WaitForLog(const std::string& needle, absl::Duration timeout) const {
  return WaitUntil([&] { return Stderr().find(needle) != std::string::npos; }, timeout,
                   absl::StrCat("the server never logged ", needle));
}

absl::StatusOr<std::string> ServerProcess::Metrics() const {
  return HttpGet(metrics_port_, "/metrics");
}

absl::Status ServerProcess::WaitForMetric(const std::string& series,
                                          const std::function<bool(double)>& ok,
                                          absl::Duration timeout) const {
  double last = -1;
  auto reached = [&] {
    absl::StatusOr<std::string> metrics = Metrics();
    if (!metrics.ok()) return false;  // a failed scrape is no value, not -1
    last = MetricSample(*metrics, series);
    return ok(last);
  };
  absl::Status waited =
      WaitUntil(reached, timeout, absl::StrCat(series, " never reached the expected value"),
                // The gauges change when the workers report (every 250 ms).
                absl::Milliseconds(20));
  if (waited.ok()) return waited;
  return absl::DeadlineExceededError(absl::StrCat(waited.message(), "; last: ", last));
}

std::vector<pid_t> ServerProcess::ChildPids(absl::string_view command) const {
  const std::string comm = absl::StrCat("(", command, ")");
  std::vector<pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    std::string line;
    std::getline(stat, line);
    size_t close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::vector<std::string> fields = absl::StrSplit(line.substr(close_paren + 2), ' ');
    int ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) && ppid == pid_ &&
        line.find(comm) != std::string::npos) {
      children.push_back(pid);
    }
  }
  closedir(proc);
  return children;
}

size_t ServerProcess::TotalResidentBytes() const {
  auto resident = [](pid_t pid) -> size_t {
    std::ifstream statm(absl::StrCat("/proc/", pid, "/statm"));
    size_t pages = 0, resident_pages = 0;
    statm >> pages >> resident_pages;
    return resident_pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  };
  size_t total = resident(pid_);
  for (pid_t child : WorkerPids()) total += resident(child);
  return total;
}

}  // namespace isopool::testing
