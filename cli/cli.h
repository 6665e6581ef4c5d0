// cli.h: what every isopoolctl command shares: exit codes, the invocation (global flags + the
// command's own), the gRPC channel, and output helpers for human and --json modes.
//
// isopoolctl is a short-lived, single-threaded client: nothing here is meant for concurrent use.
#ifndef ISOPOOL_CLI_CLI_H_
#define ISOPOOL_CLI_CLI_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/text_format.h"
#include "cli/command_line.h"
#include "google/protobuf/message.h"

namespace isopool::cli {

// Exit codes that tell failures apart. The table is in `isopoolctl --help` and cli/README.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitScriptError = 1,      // Execute worked, the script failed (ExecuteResponse.error)
  kExitUsage = 2,            // bad command line, unreadable input file
  kExitNotFound = 3,         // NOT_FOUND
  kExitInvalidArgument = 4,  // INVALID_ARGUMENT (bad request, bundle that does not build)
  kExitExhausted = 5,        // RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED
  kExitUnavailable = 6,      // UNAVAILABLE, cannot connect, or health not SERVING
  kExitOther = 7,            // anything else
};

int ExitCodeForGrpc(grpc::StatusCode code);
int ExitCodeForAbsl(absl::StatusCode code);
using base::StatusCodeName;

// One run of a command: the global flags, resolved, and the command's parsed line.
struct Invocation {
  std::string command;
  std::string addr;     // --addr, else $ISOPOOL_ADDR, else 127.0.0.1:50051
  bool json = false;    // --json
  int64_t deadline_ms;  // --deadline_ms; 0 = the command's default
  CommandLine line;
};

struct Command {
  const char* name;
  const char* summary;          // one line, for `isopoolctl --help`
  const char* help;             // full text, for `isopoolctl help NAME` / `NAME --help`
  std::vector<FlagSpec> flags;  // the command's own flags (globals are added by main)
  int (*run)(const Invocation& invocation);
};

// The commands, one per file (cmd_*.cc).
const Command& UploadCommand();
const Command& PackCommand();
const Command& ExecCommand();
const Command& GetCommand();
const Command& ListCommand();
const Command& RmCommand();
const Command& HealthCommand();

// The flags every command accepts.
const std::vector<FlagSpec>& GlobalFlags();

// A channel to `invocation.addr` (plaintext, large receive limit for big results).
std::shared_ptr<grpc::Channel> MakeChannel(const Invocation& invocation);
// Sets the deadline: --deadline_ms if given, else `default_ms`.
void SetDeadline(const Invocation& invocation, int64_t default_ms, grpc::ClientContext* context);
// The gRPC metadata key a router in front of several replicas hashes on (deploy/README.md,
// "Snapshot affinity"), so that calls for one snapshot reach the replica whose pool is warm.
inline constexpr char kSnapshotAffinityHeader[] = "x-isopool-snapshot";
// Sets x-isopool-snapshot to `snapshot` (a name or an id) unless it is empty (the blank
// snapshot: any replica will do).
void SetSnapshotAffinity(const std::string& snapshot, grpc::ClientContext* context);

// Prints a usage error for `command` (stderr) and returns kExitUsage.
int UsageError(const Invocation& invocation, const std::string& message);
// Reports a failed RPC: human text on stderr, or {"status":{"code","message"}} on stdout with
// --json. Returns its exit code.
int ReportRpcError(const Invocation& invocation, const std::string& what,
                   const grpc::Status& status);
// Same for a local failure (e.g. `pack`), with the code mapped like the server's.
int ReportLocalError(const Invocation& invocation, const std::string& what,
                     const absl::Status& status);

// `text`, or the contents of the file after '@' ("@-" is stdin). Unreadable file: InvalidArgument.
absl::StatusOr<std::string> ValueOrFile(const std::string& text);
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// JSON helpers: a quoted, escaped string (base/text_format.h); a message in the proto3 JSON
// mapping (proto field names, defaults printed, no whitespace).
using base::JsonQuote;
std::string MessageToJson(const google::protobuf::Message& message);
// "1.5 MiB" style sizes for human output.
std::string HumanBytes(uint64_t bytes);

}  // namespace isopool::cli

#endif  // ISOPOOL_CLI_CLI_H_
