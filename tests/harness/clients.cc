// The small real clients of server_process.h: gRPC stubs and calls, an HTTP GET for /metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {

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

grpc::health::v1::HealthCheckResponse::ServingStatus ServerProcess::Health(
    const std::string& service) const {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  if (!HealthStub()->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

double ServerProcess::Metric(const std::string& series) const {
  absl::StatusOr<std::string> metrics = Metrics();
  return metrics.ok() ? MetricSample(*metrics, series) : -1;
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
