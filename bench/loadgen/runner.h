// The load generator's engine: one closed-loop run against a gRPC server.
//
// `Run` opens `options.channels` channels, each on its own TCP connection, and keeps
// `options.concurrency` calls outstanding through gRPC's asynchronous (completion-queue) client
// API: every completed call immediately issues the next one on the same slot. Calls issued
// during the warm-up are not recorded. The run ends when the measurement duration has passed (or
// the requested number of measured calls was issued) and every call in flight has completed; at
// the latest at `options.hard_cap`, when it cancels whatever is still in flight.
//
//   absl::StatusOr<loadgen::Report> report = loadgen::Run(options);
//
// Threads: `Run` blocks its caller and runs `options.cq_threads` threads of its own, all joined
// before it returns. Each call has its own channels, queues and threads, so several may run at
// once (the tool itself runs one).
#ifndef ISOPOOL_BENCH_LOADGEN_RUNNER_H_
#define ISOPOOL_BENCH_LOADGEN_RUNNER_H_

#include "absl/status/statusor.h"
#include "bench/loadgen/options.h"
#include "bench/loadgen/stats.h"

namespace loadgen {

// Runs one load test. `options` must have passed `Validate`. Fails when the channels do not
// connect within `options.connect_timeout`.
absl::StatusOr<Report> Run(const Options& options);

}  // namespace loadgen

#endif  // ISOPOOL_BENCH_LOADGEN_RUNNER_H_
