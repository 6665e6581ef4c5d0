// in_process_runner.h: a CallRunner that runs JavaScript inside the server's own process
// (--workers=0). For trusted, single-tenant use only: a V8 fatal error (an out-of-memory in a
// builtin that ignores termination, say) ends the whole server, and a call stuck in such a
// builtin holds its thread until the builtin returns. Worker processes (WorkerFleet) contain
// both; this runner is kept because it is the same CallHost the workers run, so it costs nothing
// to keep, and the benchmark compares the two side by side.
//
// Calls run on an Executor of `execute_threads` threads; a thread stuck in an uninterruptible
// builtin is replaced (engine::Watchdog's on_unresponsive), at most 16 at once, and reported
// as FleetObserver::OnUnresponsiveCall.
//
// Threads and ownership: as CallRunner. `source` and the observers must outlive the runner.
#ifndef ISOPOOL_WORKER_IN_PROCESS_RUNNER_H_
#define ISOPOOL_WORKER_IN_PROCESS_RUNNER_H_

#include <memory>

#include "worker/call_host.h"
#include "worker/call_runner.h"
#include "worker/executor.h"
#include "worker/fleet.h"

namespace isopool::worker {

class InProcessRunner : public CallRunner {
 public:
  InProcessRunner(pool::SnapshotSource& source, CallHost::Options options, int execute_threads,
                  int max_pending_calls, engine::EngineObserver& engine_observer,
                  pool::PoolObserver& pool_observer, FleetObserver& observer);
  ~InProcessRunner() override;

  bool Submit(Call call, CallDone done) override;
  absl::Status Prewarm(const std::string& snapshot_id, absl::Time deadline) override;
  void Remove(const std::string& snapshot_id) override;
  pool::PoolStats Stats() override;

 private:
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<CallHost> host_;
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_IN_PROCESS_RUNNER_H_
