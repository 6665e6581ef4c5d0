// loadgen: a closed-loop gRPC load generator for isopool and its peers (see runner.h).
//
//   loadgen --target=127.0.0.1:50051 --rpc=health --concurrency=16 --duration_seconds=10
//   loadgen --target=127.0.0.1:50051 --rpc=execute --source='1+1' --json_out=run.json
//   loadgen --target=127.0.0.1:50051 --rpc=execute --snapshot=bundle --function=handler
//       --args_json='[1]' --hostile_fraction=0.01 --hostile=loop,heap
//
// Output: the JSON report (one object, one line) goes to --json_out, or to stdout when that is
// empty; the table line goes to stdout, or to stderr when the JSON took stdout. Exit codes:
// 0 the run completed, 1 it could not run (no connection), 2 bad flags, 3 unexpected errors
// with --fail_on_unexpected_errors, 4 calls would not stop after the hard cap.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/loadgen/options.h"
#include "bench/loadgen/runner.h"
#include "bench/loadgen/stats.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "Server address. Only 127.0.0.1:PORT, localhost:PORT or [::1]:PORT are accepted; "
          "anything else is refused.");
ABSL_FLAG(std::string, rpc, "health",
          "What to call: 'health' (grpc.health.v1.Health/Check, the floor) or 'execute' "
          "(isopool.v1.Isopool/Execute).");
ABSL_FLAG(std::string, label, "", "Free-text name of this run, copied into the JSON and table.");
ABSL_FLAG(std::string, health_service, "",
          "--rpc=health: the service name to ask about ('' = the whole server).");
ABSL_FLAG(std::string, snapshot, "",
          "--rpc=execute: snapshot name or id ('' = the blank snapshot, --source only).");
ABSL_FLAG(std::string, function, "",
          "--rpc=execute: entry point to call (needs --snapshot). Excludes --source.");
ABSL_FLAG(std::string, args_json, "", "--rpc=execute: JSON array of arguments for --function.");
ABSL_FLAG(std::string, source, "",
          "--rpc=execute: inline script to evaluate, e.g. '1+1'. Excludes --function.");
ABSL_FLAG(uint32_t, timeout_ms, 0, "--rpc=execute: Limits.timeout_ms (0 = server default).");
ABSL_FLAG(uint32_t, heap_mib, 0, "--rpc=execute: Limits.heap_mib (0 = server default).");
ABSL_FLAG(double, hostile_fraction, 0,
          "Mixed load: this fraction (0..1) of the Execute calls is hostile, spread evenly and "
          "cycling through the hostile variants. Their latency and errors are reported apart "
          "from the well-behaved calls.");
ABSL_FLAG(std::vector<std::string>, hostile, std::vector<std::string>({"loop", "heap"}),
          "Built-in hostile variants, comma-separated: 'loop' (while(true){} under "
          "--hostile_timeout_ms) and 'heap' (an allocation hog under --hostile_heap_mib).");
ABSL_FLAG(std::string, hostile_source, "",
          "A custom hostile script, used in addition to --hostile (set --hostile= to use only "
          "this). Runs with --hostile_timeout_ms and --hostile_heap_mib.");
ABSL_FLAG(uint32_t, hostile_timeout_ms, 50, "Timeout of the 'loop' and custom hostile calls.");
ABSL_FLAG(uint32_t, hostile_heap_mib, 16, "Heap limit of the 'heap' and custom hostile calls.");
ABSL_FLAG(uint32_t, hostile_heap_timeout_ms, 5000,
          "Timeout of the 'heap' hostile calls: long, so that they hit the heap limit first.");
ABSL_FLAG(std::string, api, "async",
          "gRPC client API: 'async' (completion queues polled by --cq_threads threads of ours) or "
          "'callback' (completions run on gRPC's own callback threads; --cq_threads unused).");
ABSL_FLAG(int32_t, concurrency, 16, "Calls kept outstanding at all times.");
ABSL_FLAG(int32_t, channels, 2,
          "gRPC channels, each on its own TCP connection (local subchannel pool). Calls are "
          "spread over them round-robin.");
// gRPC 1.51 already runs background threads of its own (executor, timer and callback threads),
// so on this 2-core machine the client keeps its own polling to one completion-queue thread by
// default: more runnable threads than cores cost 10-26% in planning measurements.
ABSL_FLAG(int32_t, cq_threads, 1,
          "Client threads polling completion queues (1 suits 2 cores: gRPC runs its own "
          "threads too).");
ABSL_FLAG(double, warmup_seconds, 2, "Warm-up before measuring; its calls are not recorded.");
ABSL_FLAG(double, duration_seconds, 10, "Measurement duration (ignored when --requests > 0).");
ABSL_FLAG(int64_t, requests, 0, "When > 0, measure this many calls instead of a duration.");
ABSL_FLAG(int32_t, rpc_deadline_ms, 5000, "Deadline of each call.");
ABSL_FLAG(double, connect_timeout_seconds, 5, "Time allowed for all channels to connect.");
ABSL_FLAG(double, hard_cap_seconds, 120,
          "The whole run never lasts longer than this: at the cap, no new calls are issued and "
          "calls in flight are cancelled (the report then says hard_cap_hit).");
ABSL_FLAG(std::string, json_out, "",
          "Write the JSON report (one object) to this file; empty = stdout (the table line then "
          "goes to stderr).");
ABSL_FLAG(bool, fail_on_unexpected_errors, false,
          "Exit 3 when the run saw unexpected errors: non-OK gRPC codes, or script errors on "
          "well-behaved calls.");

namespace {

absl::StatusOr<loadgen::Options> OptionsFromFlags() {
  loadgen::Options o;
  o.target = absl::GetFlag(FLAGS_target);
  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  if (rpc == "health") {
    o.rpc = loadgen::RpcKind::kHealth;
  } else if (rpc == "execute") {
    o.rpc = loadgen::RpcKind::kExecute;
  } else {
    return absl::InvalidArgumentError("--rpc must be 'health' or 'execute'");
  }
  o.label = absl::GetFlag(FLAGS_label);
  o.health_service = absl::GetFlag(FLAGS_health_service);
  o.snapshot = absl::GetFlag(FLAGS_snapshot);
  o.function = absl::GetFlag(FLAGS_function);
  o.args_json = absl::GetFlag(FLAGS_args_json);
  o.source = absl::GetFlag(FLAGS_source);
  o.timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  o.heap_mib = absl::GetFlag(FLAGS_heap_mib);
  o.hostile_fraction = absl::GetFlag(FLAGS_hostile_fraction);
  if (o.hostile_fraction > 0) {
    for (const std::string& name : absl::GetFlag(FLAGS_hostile)) {
      if (name.empty()) continue;
      if (absl::Status s = loadgen::AddBuiltinHostile(
              name, absl::GetFlag(FLAGS_hostile_timeout_ms), absl::GetFlag(FLAGS_hostile_heap_mib),
              absl::GetFlag(FLAGS_hostile_heap_timeout_ms), o.hostile);
          !s.ok()) {
        return s;
      }
    }
    if (const std::string custom = absl::GetFlag(FLAGS_hostile_source); !custom.empty()) {
      o.hostile.push_back({"custom", custom, absl::GetFlag(FLAGS_hostile_timeout_ms),
                           absl::GetFlag(FLAGS_hostile_heap_mib)});
    }
  }
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api == "async") {
    o.api = loadgen::ClientApi::kAsync;
  } else if (api == "callback") {
    o.api = loadgen::ClientApi::kCallback;
  } else {
    return absl::InvalidArgumentError("--api must be 'async' or 'callback'");
  }
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.channels = absl::GetFlag(FLAGS_channels);
  o.cq_threads = absl::GetFlag(FLAGS_cq_threads);
  o.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_seconds));
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  o.requests = absl::GetFlag(FLAGS_requests);
  o.rpc_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_deadline_ms));
  o.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_connect_timeout_seconds));
  o.hard_cap = absl::Seconds(absl::GetFlag(FLAGS_hard_cap_seconds));
  if (absl::Status s = loadgen::Validate(o); !s.ok()) return s;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Closed-loop gRPC load generator for isopool (127.0.0.1 only).\n"
      "  loadgen --target=127.0.0.1:50051 --rpc=health --concurrency=16 --duration_seconds=10\n"
      "  loadgen --target=127.0.0.1:50051 --rpc=execute --source='1+1'\n"
      "Reports requests/s, latency p50/p90/p99/p99.9/max in microseconds (JSON) or "
      "milliseconds (table line), errors by gRPC code and script-error kinds.");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // Debian's absl is built with deadlock detection on: about 3% of the client's CPU (perf) went
  // to its lock graph. The slots' locks are leaf locks, so nothing is lost.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (positional.size() > 1) {
    std::cerr << "loadgen: unexpected argument '" << positional[1] << "' (see --help)\n";
    return 2;
  }
  absl::StatusOr<loadgen::Options> options = OptionsFromFlags();
  if (!options.ok()) {
    std::cerr << "loadgen: " << options.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<loadgen::Report> report = loadgen::Run(*options);
  if (!report.ok()) {
    std::cerr << "loadgen: " << report.status().message() << "\n";
    return 1;
  }
  const std::string json = loadgen::ReportJson(*report);
  const std::string line = loadgen::ReportTableLine(*report);
  const std::string json_out = absl::GetFlag(FLAGS_json_out);
  if (json_out.empty()) {
    std::cout << json << std::endl;
    std::cerr << line << std::endl;
  } else {
    std::ofstream out(json_out, std::ios::trunc);
    out << json << "\n";
    out.close();
    if (!out) {
      std::cerr << "loadgen: could not write " << json_out << "\n";
      return 1;
    }
    std::cout << line << std::endl;
  }
  if (absl::GetFlag(FLAGS_fail_on_unexpected_errors) && report->unexpected_errors > 0) return 3;
  return 0;
}
