#include "tests/e2e/server_process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace isopool::testing {
namespace {

// The integer after "\"key\":" in a JSON line, or 0.
int JsonInt(const std::string& line, const std::string& key) {
  std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = line.find(needle);
  if (at == std::string::npos) return 0;
  int value = 0;
  size_t end = line.find_first_of(",}", at + needle.size());
  absl::SimpleAtoi(line.substr(at + needle.size(), end - at - needle.size()), &value);
  return value;
}

}  // namespace

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(dir ? dir : ".", "/", workspace ? workspace : "isopool", "/", path);
}

std::string NewTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/", name, "-", getpid(), "-", counter++);
  mkdir(dir.c_str(), 0755);
  return dir;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& data_dir, std::vector<std::string> extra) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  std::vector<std::string> args = {Runfile("service/isopool_server"),
                                   "--listen=127.0.0.1:0",
                                   "--metrics_listen=127.0.0.1:0",
                                   "--data_dir=" + data_dir,
                                   "--pack_binary=" + Runfile("engine/isopool_pack"),
                                   "--worker_binary=" + Runfile("worker/isopool_worker"),
                                   "--restore_threads=1",
                                   "--v8_platform_threads=1"};
  for (std::string& flag : extra) args.push_back(std::move(flag));
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  int rc = posix_spawn(&server->pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(err[1]);
  if (rc != 0) {
    close(err[0]);
    return absl::InternalError(absl::StrCat("cannot start ", argv[0]));
  }
  server->stderr_fd_ = err[0];
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    server->PumpStderr(absl::Milliseconds(100));
    for (absl::string_view line : absl::StrSplit(server->stderr_, '\n')) {
      std::string text(line);
      if (text.find("\"event\":\"start\"") != std::string::npos) {
        server->port_ = JsonInt(text, "port");
        server->metrics_port_ = JsonInt(text, "metrics_port");
        return server;
      }
    }
    int status;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->reaped_ = true;
      server->PumpStderr(absl::ZeroDuration());
      return absl::InternalError(absl::StrCat("server exited at start: ", server->stderr_));
    }
  }
  return absl::DeadlineExceededError(absl::StrCat("no start line: ", server->stderr_));
}

ServerProcess::~ServerProcess() {
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- server stderr ----\n%s\n----\n", Stderr().c_str());
  }
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

void ServerProcess::PumpStderr(absl::Duration timeout) {
  pollfd fd = {stderr_fd_, POLLIN, 0};
  int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  while (poll(&fd, 1, wait_ms) > 0) {
    char buffer[8192];
    ssize_t n = read(stderr_fd_, buffer, sizeof(buffer));
    if (n <= 0) break;
    stderr_.append(buffer, n);
    wait_ms = 0;
  }
}

std::string ServerProcess::Stderr() {
  PumpStderr(absl::ZeroDuration());
  return stderr_;
}

absl::Status ServerProcess::WaitForLog(const std::string& needle, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (stderr_.find(needle) != std::string::npos) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("the server never logged ", needle));
    }
    PumpStderr(absl::Milliseconds(50));  // returns as soon as a line arrives
  }
}

absl::StatusOr<std::string> ServerProcess::Metrics() const {
  return HttpGet(metrics_port_, "/metrics");
}

absl::Status ServerProcess::WaitForMetric(const std::string& series,
                                          const std::function<bool(double)>& ok,
                                          absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  double last = -1;
  for (;;) {
    absl::StatusOr<std::string> metrics = Metrics();
    if (metrics.ok()) {
      last = MetricSample(*metrics, series);
      if (ok(last)) return absl::OkStatus();
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(series, " never reached the expected value; last: ", last));
    }
    // The server's gauges change when its workers report (every 250 ms): poll gently.
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::vector<pid_t> ServerProcess::WorkerPids() const {
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
        line.find("(isopool_worker)") != std::string::npos) {
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

double MetricSample(const std::string& metrics, const std::string& series) {
  size_t at = 0;
  while ((at = metrics.find(series, at)) != std::string::npos) {
    if ((at == 0 || metrics[at - 1] == '\n') && at + series.size() < metrics.size() &&
        metrics[at + series.size()] == ' ') {
      size_t end = metrics.find('\n', at);
      return std::stod(metrics.substr(at + series.size() + 1, end - at - series.size() - 1));
    }
    at += series.size();
  }
  return -1;
}

std::unique_ptr<v1::Isopool::Stub> ServerProcess::Stub() const {
  return v1::Isopool::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::health::v1::Health::Stub> ServerProcess::HealthStub() const {
  return grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

void ServerProcess::Signal(int signal) { kill(pid_, signal); }

int ServerProcess::Wait() {
  int status = 0;
  // Keep draining stderr so the server never blocks on a full pipe.
  for (;;) {
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    PumpStderr(absl::Milliseconds(50));
  }
  reaped_ = true;
  PumpStderr(absl::ZeroDuration());
  return status;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError("connect failed");
  }
  std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[16384];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return absl::InternalError("bad HTTP response");
  }
  if (response.find(" 200 ") == std::string::npos) {
    return absl::InternalError(response.substr(0, response.find("\r\n")));
  }
  return response.substr(body + 4);
}

grpc::Status Upload(v1::Isopool::Stub& stub, const v1::SnapshotSpec& spec,
                    const std::string& bundle, v1::UploadSnapshotResponse* response,
                    size_t chunk_bytes) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  std::unique_ptr<grpc::ClientWriter<v1::UploadSnapshotRequest>> writer =
      stub.UploadSnapshot(&context, response);
  v1::UploadSnapshotRequest first;
  *first.mutable_spec() = spec;
  writer->Write(first);
  for (size_t at = 0; at < bundle.size(); at += chunk_bytes) {
    v1::UploadSnapshotRequest chunk;
    chunk.set_chunk(bundle.substr(at, chunk_bytes));
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status Execute(v1::Isopool::Stub& stub, const v1::ExecuteRequest& request,
                     v1::ExecuteResponse* response, absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return stub.Execute(&context, request, response);
}

v1::ExecuteRequest SourceRequest(const std::string& source, const std::string& snapshot) {
  v1::ExecuteRequest request;
  request.set_snapshot(snapshot);
  request.set_source(source);
  return request;
}

v1::ExecuteRequest FunctionRequest(const std::string& snapshot, const std::string& name,
                                   const std::string& args_json) {
  v1::ExecuteRequest request;
  request.set_snapshot(snapshot);
  request.mutable_function()->set_name(name);
  request.mutable_function()->set_args_json(args_json);
  return request;
}

}  // namespace isopool::testing
