// pool_observer.h: what the pool reports, for the service's metrics. Defaults do nothing.
//
// Called from whichever pool or request thread saw the event, sometimes with pool locks held:
// implementations must be thread-safe, fast, and must not call back into the PoolManager.
#ifndef ISOPOOL_POOL_POOL_OBSERVER_H_
#define ISOPOOL_POOL_POOL_OBSERVER_H_

#include "absl/time/time.h"
#include "engine/call.h"

namespace isopool::pool {

class PoolObserver {
 public:
  virtual ~PoolObserver() = default;
  // One isolate restored (in the background, or on a request's path).
  virtual void OnRestore(absl::Duration /*duration*/, bool /*on_request_path*/) {}
  // One Acquire finished waiting (successfully or not).
  virtual void OnAcquireWait(absl::Duration /*wait*/) {}
  // An isolate was condemned and will be disposed.
  virtual void OnCondemned(engine::CondemnReason /*reason*/) {}
  // An idle pool was evicted to make room in the memory budget.
  virtual void OnEviction() {}
};

PoolObserver& NoopPoolObserver();

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_POOL_OBSERVER_H_
