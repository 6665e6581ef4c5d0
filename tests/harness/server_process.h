// ServerProcess: the one way tests and benchmarks start the real isopool_server.
//
// Launch() starts the server as a child process with --listen=127.0.0.1:0
// --metrics_listen=127.0.0.1:0 --port_file=<run dir>/ports.json (service/port_file.h) and its
// stdout and stderr in a log file, then waits for the port file: the server writes it once both
// listeners are bound and it is ready to serve. If the server exits first, Launch fails at once
// with the tail of its log. Nothing parses the log to find a port.
//
// Everything else here serves end-to-end tests: small real clients (gRPC stubs, an HTTP GET for
// /metrics), waits on log lines and metric values, the worker processes.
//
// Other languages reach it through //tests/harness:launch_server (launch_server.cc), wrapped by
// tests/harness/launcher.py (Python) and tests/harness/launcher.sh (shell).
//
// Ownership: a ServerProcess owns its child. Stop() ends it gracefully (SIGTERM, bounded wait,
// SIGKILL); the destructor SIGKILLs a child still running, and the kernel SIGKILLs it if the
// thread that launched it dies first (PR_SET_PDEATHSIG), so a dying test leaks no server.
// Thread-safety: Launch/Start, Signal, Wait, Stop and the destructor on one thread; the rest
// (accessors, Stub, Stderr, WaitForLog, Metrics, WaitForMetric, WorkerPids) from any thread.
#ifndef ISOPOOL_TESTS_HARNESS_SERVER_PROCESS_H_
#define ISOPOOL_TESTS_HARNESS_SERVER_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "isopool/v1/isopool.grpc.pb.h"

namespace isopool::testing {

// A path inside the test's runfiles, e.g. "cli/isopoolctl".
std::string Runfile(const std::string& path);

// A fresh directory under $TEST_TMPDIR (else $TMPDIR, else /tmp).
std::string NewTempDir(const std::string& name);

class ServerProcess {
 public:
  struct Options {
    std::string data_dir;  // required: --data_dir
    // Server flags, after the launcher's own (--listen, --metrics_listen, --port_file,
    // --data_dir), so they may override them (e.g. --metrics_listen= for no metrics).
    std::vector<std::string> flags;
    // Empty: isopool_server from the runfiles (base/sibling_binary.h).
    std::string server_binary;
    // Where the server's stdout and stderr go; empty: server.log in a new temp dir.
    std::string log_path;
    absl::Duration start_timeout = absl::Seconds(30);
  };

  // Starts the server and waits for its port file (see the top of this file).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(Options options);

  // For end-to-end tests: Launch with --restore_threads=1 --v8_platform_threads=1 (small
  // machines, many servers) before `extra`.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& data_dir,
                                                              std::vector<std::string> extra = {});
  ~ServerProcess();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0 without a metrics endpoint
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& port_file() const { return port_file_; }
  const std::string& data_dir() const { return data_dir_; }

  std::unique_ptr<v1::Isopool::Stub> Stub() const;
  std::unique_ptr<grpc::health::v1::Health::Stub> HealthStub() const;
  // The health of `service` now: "" is the process (what a liveness probe asks),
  // kApiService the API (what a readiness probe asks). UNKNOWN when the check itself fails.
  static constexpr char kApiService[] = "isopool.v1.Isopool";
  grpc::health::v1::HealthCheckResponse::ServingStatus Health(
      const std::string& service = "") const;

  // Sends `signal`; Wait() then reaps the process and returns its exit status (as waitpid).
  void Signal(int signal);
  int Wait();
  // SIGTERM, then SIGKILL if it is still running after `grace`; returns the exit status (as
  // waitpid). Without a reap pending (already reaped) returns that status again.
  int Stop(absl::Duration grace = absl::Seconds(10));
  // Whether the process has exited (reaps it if so; does not block).
  bool Exited();

  // Everything the server wrote (stdout and stderr) so far.
  std::string Stderr() const;
  // Its last lines (V8's heap dumps left out), for error messages.
  std::string LogTail() const;
  // Waits until the server logged a line containing `needle` (e.g. "\"event\":\"worker_exit\"").
  absl::Status WaitForLog(const std::string& needle,
                          absl::Duration timeout = absl::Seconds(30)) const;

  // The /metrics text now.
  absl::StatusOr<std::string> Metrics() const;
  // The value of one sample (name with its labels, as exposed) now; -1 when absent or the
  // scrape fails.
  double Metric(const std::string& series) const;
  // Waits until the metric sample `series` (e.g. "isopool_calls_rerun_total") satisfies `ok`.
  absl::Status WaitForMetric(const std::string& series, const std::function<bool(double)>& ok,
                             absl::Duration timeout = absl::Seconds(30)) const;

  // The server's child processes running `command` (e.g. "isopool_pack") right now.
  std::vector<pid_t> ChildPids(absl::string_view command) const;
  // The worker processes (the server's children) right now.
  std::vector<pid_t> WorkerPids() const { return ChildPids("isopool_worker"); }
  // Resident bytes of the server and all its children now.
  size_t TotalResidentBytes() const;

 private:
  ServerProcess() = default;
  // Waits for the port file; an error if the server exits first or `timeout` passes.
  absl::Status AwaitPortFile(absl::Duration timeout);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;  // as waitpid, once reaped_
  std::string log_path_;
  std::string port_file_;
  std::string data_dir_;
  int port_ = 0;
  int metrics_port_ = 0;
};

// Checks `done` every `poll` until it holds or `timeout` passes; DeadlineExceeded naming `what`
// then. For waiting on something observable (a process, a health status, a call's answer),
// never on a guessed delay.
absl::Status WaitUntil(const std::function<bool()>& done, absl::Duration timeout,
                       absl::string_view what, absl::Duration poll = absl::Milliseconds(5));

// The integer value of `key` in a one-line JSON object of integers (the port file, the first
// fields of launch_server's line); -1 when absent.
int JsonIntField(const std::string& json, const std::string& key);

// A waitpid status in words: "exit code 1", "killed by signal 9".
std::string DescribeExitStatus(int status);

// The value of the sample `series` (name with its labels, as exposed) in a /metrics text; -1
// when absent.
double MetricSample(const std::string& metrics, const std::string& series);

// GET http://127.0.0.1:port/path; the body, or an error.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Uploads `bundle` with `spec` through the real client-streaming RPC, in `chunk_bytes` chunks.
grpc::Status Upload(v1::Isopool::Stub& stub, const v1::SnapshotSpec& spec,
                    const std::string& bundle, v1::UploadSnapshotResponse* response,
                    size_t chunk_bytes = 64 << 10);

// Execute with a deadline (default 10 s).
grpc::Status Execute(v1::Isopool::Stub& stub, const v1::ExecuteRequest& request,
                     v1::ExecuteResponse* response, absl::Duration deadline = absl::Seconds(10));

v1::ExecuteRequest SourceRequest(const std::string& source, const std::string& snapshot = "");
v1::ExecuteRequest FunctionRequest(const std::string& snapshot, const std::string& name,
                                   const std::string& args_json = "");

}  // namespace isopool::testing

#endif  // ISOPOOL_TESTS_HARNESS_SERVER_PROCESS_H_
