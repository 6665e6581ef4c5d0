#include "cli/cli.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"

namespace isopool::cli {

int ExitCodeForGrpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return kExitInvalidArgument;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitExhausted;
    case grpc::StatusCode::UNAVAILABLE:
      return kExitUnavailable;
    default:
      return kExitOther;
  }
}

int ExitCodeForAbsl(absl::StatusCode code) {
  return ExitCodeForGrpc(static_cast<grpc::StatusCode>(static_cast<int>(code)));
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec>* flags = new std::vector<FlagSpec>{
      {"addr", true}, {"json", false}, {"deadline_ms", true}, {"help", false}};
  return *flags;
}

std::shared_ptr<grpc::Channel> MakeChannel(const Invocation& invocation) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(invocation.addr, grpc::InsecureChannelCredentials(), args);
}

void SetDeadline(const Invocation& invocation, int64_t default_ms, grpc::ClientContext* context) {
  int64_t ms = invocation.deadline_ms > 0 ? invocation.deadline_ms : default_ms;
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

void SetSnapshotAffinity(const std::string& snapshot, grpc::ClientContext* context) {
  // Names and ids are printable ASCII; anything else is the server's to refuse, not a header.
  for (char c : snapshot) {
    if (c <= ' ' || c > '~') return;
  }
  if (!snapshot.empty()) context->AddMetadata(kSnapshotAffinityHeader, snapshot);
}

int UsageError(const Invocation& invocation, const std::string& message) {
  std::cerr << "isopoolctl " << invocation.command << ": " << message << "\n"
            << "Run 'isopoolctl help " << invocation.command << "' for usage.\n";
  return kExitUsage;
}

namespace {

int ReportError(const Invocation& invocation, const std::string& what, grpc::StatusCode code,
                const std::string& message) {
  int exit_code = ExitCodeForGrpc(code);
  if (invocation.json) {
    std::cout << "{\"status\":{\"code\":" << JsonQuote(StatusCodeName(code))
              << ",\"message\":" << JsonQuote(message) << "}}" << std::endl;
  }
  std::cerr << "isopoolctl " << invocation.command << ": "
            << (what.empty() || what == invocation.command ? "" : what + ": ")
            << StatusCodeName(code) << ": " << message << "\n";
  if (code == grpc::StatusCode::UNAVAILABLE) {
    std::cerr << "(server address " << invocation.addr
              << "; set --addr or ISOPOOL_ADDR if it is elsewhere)\n";
  }
  return exit_code;
}

}  // namespace

int ReportRpcError(const Invocation& invocation, const std::string& what,
                   const grpc::Status& status) {
  return ReportError(invocation, what, status.error_code(), status.error_message());
}

int ReportLocalError(const Invocation& invocation, const std::string& what,
                     const absl::Status& status) {
  return ReportError(invocation, what,
                     static_cast<grpc::StatusCode>(static_cast<int>(status.code())),
                     std::string(status.message()));
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in;
  std::istream* stream = &std::cin;
  if (path != "-") {
    in.open(path, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
    stream = &in;
  }
  std::ostringstream contents;
  contents << stream->rdbuf();
  if (stream->bad()) return absl::InvalidArgumentError(absl::StrCat("error reading ", path));
  return contents.str();
}

absl::StatusOr<std::string> ValueOrFile(const std::string& text) {
  if (!text.empty() && text[0] == '@') return ReadWholeFile(text.substr(1));
  return text;
}

std::string MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "null";
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (bytes < (1 << 20)) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024.0));
}

}  // namespace isopool::cli
