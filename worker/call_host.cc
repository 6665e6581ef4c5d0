#include "worker/call_host.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace isopool::worker {

CallHost::CallHost(pool::SnapshotSource& source, Options options,
                   engine::EngineObserver& engine_observer, pool::PoolObserver& pool_observer)
    : watchdog_(std::make_unique<engine::Watchdog>(std::move(options.watchdog))),
      pools_(std::make_unique<pool::PoolManager>(source, options.global, options.blank_policy,
                                                 *watchdog_, engine_observer, pool_observer)) {}

CallHost::~CallHost() {
  pools_.reset();  // every isolate is gone before the watchdog that watched them
}

CallOutcome CallHost::Run(const Call& call) {
  CallOutcome outcome;
  absl::StatusOr<pool::Lease> lease = pools_->Acquire(call.snapshot_id, call.acquire_deadline);
  if (!lease.ok()) {
    outcome.status = lease.status();
    return outcome;
  }
  outcome.queue_wait = lease->queue_wait();
  outcome.restore_on_path = lease->restore_on_path();
  outcome.warm = lease->warm();
  engine::CallLimits limits = call.limits;
  if (call.deadline != absl::InfiniteFuture()) {
    absl::Duration time_left = call.deadline - absl::Now();
    if (time_left <= absl::ZeroDuration()) {
      outcome.status =
          absl::DeadlineExceededError("the deadline passed before an isolate was free");
      return outcome;
    }
    if (time_left <= limits.wall) {
      limits.wall = time_left;
      outcome.capped_by_deadline = true;
    }
  }
  outcome.result = lease->Run(call.request, limits);
  // A request the engine refused (args that are not JSON, an unknown function) never ran.
  if (!outcome.result.status.ok()) outcome.status = outcome.result.status;
  return outcome;  // ~Lease gives the isolate back before the caller answers
}

}  // namespace isopool::worker
