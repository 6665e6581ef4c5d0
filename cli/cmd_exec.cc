// isopoolctl exec: one Execute call, a function of a snapshot or an inline script.
#include <algorithm>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/cli.h"
#include "isopool/v1/isopool.grpc.pb.h"

namespace isopool::cli {
namespace {

const char kHelp[] = R"(Usage: isopoolctl exec SNAPSHOT --function NAME [--args JSON|@file] [limits]
       isopoolctl exec SNAPSHOT --source JS|@file [limits]
       isopoolctl exec --blank --source JS|@file [limits]

Runs one call and prints its JSON result on stdout. SNAPSHOT is a name or an id; "" or --blank
is the built-in blank snapshot, which only runs --source. The script's console output goes to
stderr as "[LEVEL] message". When the script fails (exception, timeout, CPU or memory limit,
...) the error and its stack go to stderr and the exit code is 1.

  --function NAME         a global function (scripts), a named export or default.method (ESM)
  --args JSON|@file       the arguments as a JSON array, e.g. '[1,"two"]' ("@-" reads stdin)
  --source JS|@file       a classic script to evaluate instead; its completion value is the
                          result (a Promise is awaited)
  --blank                 use the blank snapshot (same as SNAPSHOT "")
  --timeout_ms N          wall time of the call (0 = the snapshot's default)
  --cpu_ms N              CPU time of the call
  --heap_mib N            heap limit of the isolate
  --max_result_bytes N    largest JSON result
  --stats                 print the call's stats on stderr

With --json, stdout is one object:
  {"snapshot_id": "...", "result": <the result as JSON, or null>, "logs": [{"level","message"}],
   "stats": {...}, "error": {"kind","message","stack","line","column"} or null}
)";

std::string StatsLine(const v1::ExecuteStats& s) {
  return absl::StrCat("wall ", s.wall_us(), " us, cpu ", s.cpu_us(), " us, queue ",
                      s.queue_wait_us(), " us, restore ", s.restore_us(), " us, heap ",
                      HumanBytes(s.heap_before_bytes()), " -> ", HumanBytes(s.heap_after_bytes()),
                      s.warm() ? ", warm" : ", cold",
                      s.isolate_condemned() ? ", isolate condemned" : "");
}

void PrintJson(const v1::ExecuteResponse& response) {
  std::cout << "{\"snapshot_id\":" << JsonQuote(response.snapshot_id()) << ",\"result\":"
            << (response.has_error() || response.result_json().empty() ? "null"
                                                                       : response.result_json())
            << ",\"logs\":[";
  for (int i = 0; i < response.logs_size(); ++i) {
    std::cout << (i > 0 ? "," : "") << MessageToJson(response.logs(i));
  }
  std::cout << "],\"stats\":" << MessageToJson(response.stats())
            << ",\"error\":" << (response.has_error() ? MessageToJson(response.error()) : "null")
            << "}" << std::endl;
}

void PrintHuman(const v1::ExecuteResponse& response, bool stats) {
  for (const v1::LogLine& log : response.logs()) {
    std::cerr << "[" << v1::LogLine::Level_Name(log.level()) << "] " << log.message() << "\n";
  }
  if (response.has_error()) {
    const v1::ScriptError& e = response.error();
    std::cerr << "script error: " << v1::ScriptError::Kind_Name(e.kind()) << ": " << e.message();
    if (e.line() > 0) std::cerr << " (line " << e.line() << ", column " << e.column() << ")";
    std::cerr << "\n";
    if (!e.stack().empty()) std::cerr << e.stack() << "\n";
  } else {
    std::cout << response.result_json() << std::endl;
  }
  if (stats) std::cerr << "stats: " << StatsLine(response.stats()) << "\n";
}

int Run(const Invocation& inv) {
  const CommandLine& line = inv.line;
  v1::ExecuteRequest request;
  if (line.Has("blank")) {
    if (!line.positional().empty()) return UsageError(inv, "give SNAPSHOT or --blank, not both");
  } else if (line.positional().size() == 1) {
    request.set_snapshot(line.positional()[0]);
  } else {
    return UsageError(inv, "wants one SNAPSHOT (a name or an id; \"\" or --blank for blank)");
  }
  bool has_function = line.Has("function");
  bool has_source = line.Has("source");
  if (has_function == has_source)
    return UsageError(inv, "give exactly one of --function and --source");
  if (line.Has("args") && !has_function) return UsageError(inv, "--args goes with --function");
  if (has_function) {
    if (line.Get("function").empty()) return UsageError(inv, "--function wants a name");
    request.mutable_function()->set_name(line.Get("function"));
    absl::StatusOr<std::string> args = ValueOrFile(line.Get("args"));
    if (!args.ok()) return UsageError(inv, std::string(args.status().message()));
    request.mutable_function()->set_args_json(std::string(absl::StripAsciiWhitespace(*args)));
  } else {
    absl::StatusOr<std::string> source = ValueOrFile(line.Get("source"));
    if (!source.ok()) return UsageError(inv, std::string(source.status().message()));
    request.set_source(*source);
  }
  v1::Limits* limits = request.mutable_limits();
  struct Numeric {
    const char* flag;
    void (v1::Limits::*set)(uint32_t);
  };
  for (const Numeric& n :
       {Numeric{"timeout_ms", &v1::Limits::set_timeout_ms},
        Numeric{"cpu_ms", &v1::Limits::set_cpu_ms}, Numeric{"heap_mib", &v1::Limits::set_heap_mib},
        Numeric{"max_result_bytes", &v1::Limits::set_max_result_bytes}}) {
    absl::StatusOr<uint32_t> value = line.GetU32(n.flag, 0);
    if (!value.ok()) return UsageError(inv, std::string(value.status().message()));
    (limits->*n.set)(*value);
  }

  std::unique_ptr<v1::Isopool::Stub> stub = v1::Isopool::NewStub(MakeChannel(inv));
  grpc::ClientContext context;
  // The deadline caps the script's timeout on the server: leave room beyond the asked timeout.
  SetDeadline(inv, std::max<int64_t>(60000, int64_t{limits->timeout_ms()} + 10000), &context);
  SetSnapshotAffinity(request.snapshot(), &context);
  v1::ExecuteResponse response;
  grpc::Status status = stub->Execute(&context, request, &response);
  if (!status.ok()) return ReportRpcError(inv, "exec", status);
  if (inv.json) {
    PrintJson(response);
  } else {
    PrintHuman(response, line.Has("stats"));
  }
  return response.has_error() ? kExitScriptError : kExitOk;
}

}  // namespace

const Command& ExecCommand() {
  static const Command* command =
      new Command{"exec",
                  "run a function of a snapshot, or inline source, and print the result",
                  kHelp,
                  {{"function", true},
                   {"args", true},
                   {"source", true},
                   {"blank", false},
                   {"timeout_ms", true},
                   {"cpu_ms", true},
                   {"heap_mib", true},
                   {"max_result_bytes", true},
                   {"stats", false}},
                  &Run};
  return *command;
}

}  // namespace isopool::cli
