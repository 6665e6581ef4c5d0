#include "worker/in_process_runner.h"

#include <utility>

#include "absl/time/clock.h"

namespace isopool::worker {
namespace {

// Replacement execute threads allowed at once for calls stuck in uninterruptible builtins.
constexpr int kMaxStuckThreads = 16;

}  // namespace

InProcessRunner::InProcessRunner(pool::SnapshotSource& source, CallHost::Options options,
                                 int execute_threads, int max_pending_calls,
                                 engine::EngineObserver& engine_observer,
                                 pool::PoolObserver& pool_observer, FleetObserver& observer)
    : executor_(std::make_unique<Executor>("isopool-exec", execute_threads, max_pending_calls,
                                           kExecuteStackBytes)) {
  Executor* executor = executor_.get();
  // A call stuck in a builtin that ignores termination holds its thread for as long as the
  // builtin runs (measured: up to tens of seconds): start a replacement thread.
  options.watchdog.on_unresponsive = [executor, &observer](pthread_t) {
    observer.OnUnresponsiveCall();
    executor->ThreadStuck(kMaxStuckThreads);
  };
  host_ = std::make_unique<CallHost>(source, std::move(options), engine_observer, pool_observer);
}

InProcessRunner::~InProcessRunner() {
  executor_.reset();  // finishes queued calls while the host still exists
  host_.reset();
}

bool InProcessRunner::Submit(Call call, CallDone done) {
  return executor_->TrySubmit([this, call = std::move(call), done = std::move(done)]() mutable {
    CallOutcome outcome = host_->Run(call);
    if (outcome.result.condemned == engine::CondemnReason::kUnresponsive) {
      executor_->StuckTaskDone();
    }
    done(std::move(outcome));
  });
}

absl::Status InProcessRunner::Prewarm(const std::string& snapshot_id, absl::Time deadline) {
  absl::Status status = host_->pools().Prewarm(snapshot_id);
  while (status.ok() && host_->pools().Stats(snapshot_id).warm == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));  // the upload path, never a request's
  }
  return status;
}

void InProcessRunner::Remove(const std::string& snapshot_id) { host_->pools().Remove(snapshot_id); }

pool::PoolStats InProcessRunner::Stats() { return host_->pools().Stats(); }

}  // namespace isopool::worker
