// call_host.h: the part of isopool that runs JavaScript: a watchdog and the isolate pools, and
// one call at a time per calling thread. Hosted by each worker process (worker_main.cc), or by
// the server itself with --workers=0 (InProcessRunner).
//
//   CallHost host(source, options, engine_observer, pool_observer);
//   CallOutcome outcome = host.Run(call);  // on an execute thread with a large stack
//
// Run borrows an isolate until call.acquire_deadline, cuts the wall limit to what is left of
// call.deadline, runs the call and gives the isolate back (recycled or condemned) before it
// returns. A request the engine refuses (engine::CallResult::status) is the outcome's status, as
// for a call that found no isolate: either way the call never ran.
//
// Threads: Run may be called from many threads at once; each needs a stack of at least the
// policy's isolate.stack_bytes + 256 KiB (kExecuteStackBytes is enough for every policy the
// server allows). Ownership: the host owns the watchdog and pools; `source` and the observers
// must outlive it.
#ifndef ISOPOOL_WORKER_CALL_HOST_H_
#define ISOPOOL_WORKER_CALL_HOST_H_

#include <cstddef>
#include <memory>

#include "engine/observer.h"
#include "engine/watchdog.h"
#include "pool/pool_manager.h"
#include "pool/pool_observer.h"
#include "pool/pool_policy.h"
#include "pool/snapshot_source.h"
#include "worker/call_runner.h"

namespace isopool::worker {

// Stack of every thread that runs JavaScript.
inline constexpr size_t kExecuteStackBytes = 8 << 20;

class CallHost {
 public:
  struct Options {
    pool::GlobalPolicy global;
    pool::PoolPolicy blank_policy;
    engine::Watchdog::Options watchdog;
  };

  CallHost(pool::SnapshotSource& source, Options options,
           engine::EngineObserver& engine_observer = engine::NoopEngineObserver(),
           pool::PoolObserver& pool_observer = pool::NoopPoolObserver());
  ~CallHost();
  CallHost(const CallHost&) = delete;
  CallHost& operator=(const CallHost&) = delete;

  // Runs one call on the calling thread. See the file comment.
  CallOutcome Run(const Call& call);

  pool::PoolManager& pools() { return *pools_; }

 private:
  std::unique_ptr<engine::Watchdog> watchdog_;
  std::unique_ptr<pool::PoolManager> pools_;
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_CALL_HOST_H_
