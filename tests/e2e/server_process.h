// ServerProcess: the real isopool_server binary as a child process on port 0, for end-to-end
// tests, plus small real clients (gRPC stubs, an HTTP GET for /metrics).
//
// The server announces its ports in its "start" log line on stderr; Start() waits for it.
// The destructor sends SIGKILL if the process is still running.
#ifndef ISOPOOL_TESTS_E2E_SERVER_PROCESS_H_
#define ISOPOOL_TESTS_E2E_SERVER_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "isopool/v1/isopool.grpc.pb.h"

namespace isopool::testing {

// A path inside the test's runfiles, e.g. "service/isopool_server".
std::string Runfile(const std::string& path);

// A fresh directory under TEST_TMPDIR.
std::string NewTempDir(const std::string& name);

class ServerProcess {
 public:
  // Starts isopool_server with --listen/--metrics_listen on port 0, --data_dir, and `extra`
  // flags. Waits (up to 30 s) for its start line.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& data_dir,
                                                              std::vector<std::string> extra = {});
  ~ServerProcess();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  std::unique_ptr<v1::Isopool::Stub> Stub() const;
  std::unique_ptr<grpc::health::v1::Health::Stub> HealthStub() const;

  // Sends `signal`; Wait() then reaps the process and returns its exit status (as waitpid).
  void Signal(int signal);
  int Wait();
  // Everything the server wrote to stderr so far.
  std::string Stderr();
  // Waits until the server logged a line containing `needle` (e.g. "\"event\":\"worker_exit\"").
  absl::Status WaitForLog(const std::string& needle, absl::Duration timeout = absl::Seconds(30));

  // The /metrics text now.
  absl::StatusOr<std::string> Metrics() const;
  // Waits until the metric sample `series` (e.g. "isopool_calls_rerun_total") satisfies `ok`.
  absl::Status WaitForMetric(const std::string& series, const std::function<bool(double)>& ok,
                             absl::Duration timeout = absl::Seconds(30)) const;

  // The worker processes (the server's children) right now.
  std::vector<pid_t> WorkerPids() const;
  // Resident bytes of the server and all its children now.
  size_t TotalResidentBytes() const;

 private:
  ServerProcess() = default;
  void PumpStderr(absl::Duration timeout);

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string stderr_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool reaped_ = false;
};

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

#endif  // ISOPOOL_TESTS_E2E_SERVER_PROCESS_H_
