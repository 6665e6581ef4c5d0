// Options of one load-generator run, and their validation.
//
// A run is: connect `channels` channels to a loopback target, warm up for `warmup` (calls not
// recorded), then measure for `duration` or for `requests` calls, keeping `concurrency` calls
// outstanding at all times. Every run is bounded by `hard_cap`, after which it stops issuing
// calls and cancels the ones in flight, whatever the other settings say.
//
//   loadgen::Options options;
//   options.target = "127.0.0.1:50051";
//   options.rpc = loadgen::RpcKind::kHealth;
//   if (absl::Status s = loadgen::Validate(options); !s.ok()) { ... }
//
// Plain value type; no threading concerns.
#ifndef ISOPOOL_BENCH_LOADGEN_OPTIONS_H_
#define ISOPOOL_BENCH_LOADGEN_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace loadgen {

enum class RpcKind {
  // grpc.health.v1.Health/Check: the cheapest RPC the server answers (the floor).
  kHealth,
  // isopool.v1.Isopool/Execute.
  kExecute,
};

// Which of gRPC's non-blocking client APIs drives the calls.
enum class ClientApi {
  // Completion queues polled by `cq_threads` threads of the load generator.
  kAsync,
  // The callback API: completions run on gRPC's own callback threads.
  kCallback,
};

// One kind of hostile Execute call in the mixed load.
struct HostileVariant {
  std::string name;    // e.g. "loop", reported as the key of its counts
  std::string source;  // inline script
  uint32_t timeout_ms = 0;
  uint32_t heap_mib = 0;
};

struct Options {
  std::string target;
  RpcKind rpc = RpcKind::kHealth;
  std::string label;  // free text copied into the report

  // Health: the service name asked about ("" = the whole server).
  std::string health_service;

  // Execute, well-behaved calls. Exactly one of `function` and `source` is set.
  std::string snapshot;
  std::string function;
  std::string args_json;
  std::string source;
  uint32_t timeout_ms = 0;
  uint32_t heap_mib = 0;

  // Mixed load: this fraction of the calls (0..1) is hostile, cycling through `hostile`.
  double hostile_fraction = 0;
  std::vector<HostileVariant> hostile;

  ClientApi api = ClientApi::kAsync;
  int concurrency = 16;
  int channels = 2;
  // Completion-queue threads the client polls with (async API only). gRPC 1.51 already runs its own
  // background threads (executor, timers, callback threads), so on 2 cores one of ours is the
  // default: more runnable threads than cores cost 10-26% in planning measurements.
  int cq_threads = 1;

  absl::Duration warmup = absl::Seconds(2);
  absl::Duration duration = absl::Seconds(10);
  // When > 0, measure this many calls instead of a duration.
  int64_t requests = 0;
  // Deadline of each call.
  absl::Duration rpc_deadline = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(5);
  // The whole run (connect + warm-up + measurement) never lasts longer than this.
  absl::Duration hard_cap = absl::Seconds(120);
};

// Returns OK when `target` is "127.0.0.1:PORT", "localhost:PORT" or "[::1]:PORT" with a port in
// 1..65535. Anything else is refused: load is only ever sent to this machine's loopback.
absl::Status ValidateTarget(const std::string& target);

// Checks the whole set of options (target, counts, fractions, time budget).
absl::Status Validate(const Options& options);

// The built-in hostile variants by name: "loop" (`while(true){}` under `timeout_ms`) and
// "heap" (an allocation hog under `heap_mib`, with `heap_timeout_ms` so that it hits the heap
// limit rather than the clock).
absl::Status AddBuiltinHostile(const std::string& name, uint32_t loop_timeout_ms, uint32_t heap_mib,
                               uint32_t heap_timeout_ms, std::vector<HostileVariant>& out);

}  // namespace loadgen

#endif  // ISOPOOL_BENCH_LOADGEN_OPTIONS_H_
