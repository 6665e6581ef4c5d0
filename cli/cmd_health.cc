// isopoolctl health: grpc.health.v1 Check.
#include <iostream>

#include "cli/cli.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace isopool::cli {
namespace {

const char kHelp[] = R"(Usage: isopoolctl health [--service NAME]

Asks the server's grpc.health.v1 service whether it is serving and prints SERVING,
NOT_SERVING (e.g. while draining) or SERVICE_UNKNOWN. Exit code 0 only for SERVING; 6 when not
serving or when the server cannot be reached.

  --service NAME          the service to ask about: "" (default) is the whole server,
                          "isopool.v1.Isopool" the API

With --json: {"service": "...", "status": "SERVING"}.
)";

int Run(const Invocation& inv) {
  if (!inv.line.positional().empty()) return UsageError(inv, "takes no arguments");
  std::unique_ptr<grpc::health::v1::Health::Stub> stub =
      grpc::health::v1::Health::NewStub(MakeChannel(inv));
  grpc::ClientContext context;
  SetDeadline(inv, 10000, &context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(inv.line.Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ReportRpcError(inv, "health", status);
  std::string state = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (inv.json) {
    std::cout << "{\"service\":" << JsonQuote(request.service())
              << ",\"status\":" << JsonQuote(state) << "}" << std::endl;
  } else {
    std::cout << state << std::endl;
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk
                                                                             : kExitUnavailable;
}

}  // namespace

const Command& HealthCommand() {
  static const Command* command = new Command{
      "health", "check the server's grpc.health.v1 status", kHelp, {{"service", true}}, &Run};
  return *command;
}

}  // namespace isopool::cli
