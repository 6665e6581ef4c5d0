// call_runner.h: where the service sends a call to run, without knowing whether it runs in a
// worker process (WorkerFleet, the default) or in the server's own process (InProcessRunner,
// --workers=0, for trusted code only).
//
//   worker::Call call;
//   call.snapshot_id = id;                 // "" = the blank snapshot
//   call.request.source = "1+1";
//   call.limits = resolved_limits;         // already capped by the snapshot and the server
//   call.deadline = caller_deadline;       // caps the wall limit when the script starts
//   call.acquire_deadline = caller_deadline;
//   if (!runner.Submit(std::move(call), [](worker::CallOutcome outcome) { ... })) { /* full */ }
//
// When Submit returns true, `done` runs exactly once and must not block for long. It runs on a
// thread of the runner's, except for a call the runner refuses at once (WorkerFleet: shutting
// down, or a crash-looping function): then it runs inside Submit, on the caller's thread, so the
// caller must not hold a lock that `done` takes. A CallOutcome separates, like engine::CallResult,
// a call that never ran
// (`status` not OK: NotFound, ResourceExhausted, DeadlineExceeded, ...) from a script that
// failed (`result.error`).
//
// Thread-safety: every method may be called from any thread. Ownership: the server owns the
// runner; destroying it answers calls still queued with Unavailable.
#ifndef ISOPOOL_WORKER_CALL_RUNNER_H_
#define ISOPOOL_WORKER_CALL_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/call.h"
#include "pool/pool_stats.h"

namespace isopool::worker {

struct Call {
  std::string snapshot_id;
  engine::CallRequest request;
  engine::CallLimits limits;
  // The caller's deadline: the wall limit is cut to what is left of it when the script starts.
  absl::Time deadline = absl::InfiniteFuture();
  // How long the call may wait for an isolate.
  absl::Time acquire_deadline = absl::InfiniteFuture();
};

struct CallOutcome {
  // Not OK: the call never ran (no isolate in time, unknown snapshot, bad arguments, ...).
  absl::Status status;
  engine::CallResult result;
  absl::Duration queue_wait;
  absl::Duration restore_on_path;
  bool warm = false;
  // The wall limit was the caller's deadline (a timeout is then DEADLINE_EXCEEDED).
  bool capped_by_deadline = false;
  // Times the call was run again because the worker running it died under it.
  int reruns = 0;
  // The worker slot that answered (WorkerFleet), or -1 (in-process, or never ran).
  int worker = -1;
};

using CallDone = std::function<void(CallOutcome)>;

class CallRunner {
 public:
  virtual ~CallRunner() = default;

  // Queues `call`; false (and `done` dropped uncalled) when too many calls are pending.
  virtual bool Submit(Call call, CallDone done) = 0;

  // Starts restoring `snapshot_id`'s min_warm isolates where its calls will go, and waits until
  // one is warm or `deadline`. An error when the snapshot cannot be loaded.
  virtual absl::Status Prewarm(const std::string& snapshot_id, absl::Time deadline) = 0;

  // Drops the snapshot's pools everywhere (it was deleted).
  virtual void Remove(const std::string& snapshot_id) = 0;

  // Pool totals across every worker, for gauges.
  virtual pool::PoolStats Stats() = 0;
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_CALL_RUNNER_H_
