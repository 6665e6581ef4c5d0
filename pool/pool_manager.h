// pool_manager.h: pre-warmed isolate pools, one per snapshot id, under a global isolate cap and
// memory budget.
//
//   pool::PoolManager pools(source, global_policy, blank_policy, watchdog, engine_observer,
//                           pool_observer);
//   absl::StatusOr<pool::Lease> lease = pools.Acquire(snapshot_id, deadline);
//   if (!lease.ok()) return lease.status();  // NotFound, ResourceExhausted, DeadlineExceeded, ...
//   engine::CallResult result = lease->Run(request, limits);
//   // ~Lease gives the isolate back: recycled, or condemned and disposed in the background.
//
// Pools are created on first Acquire (or by Prewarm). Isolates are restored by a pool of
// background restore threads; a cold pool restores on demand for its first caller, and other
// callers waiting on that pool share that work rather than starting their own restores. The
// empty id "" is the built-in blank snapshot (engine::Snapshot::Blank()) with the default
// PoolPolicy passed at construction.
//
// Acquire never spins: when every isolate is busy and the pool is at max_isolates, the caller
// waits in a bounded FIFO queue until its deadline. Errors:
//   NotFound            unknown snapshot (from the SnapshotSource)
//   DataLoss            the snapshot is corrupted (the source quarantined it)
//   ResourceExhausted   the pool's queue is full, or the memory budget / global isolate cap is
//                       reached and nothing can be evicted
//   DeadlineExceeded    no isolate became free before the deadline
//   Unavailable         the manager is shutting down, or the pool is being removed
//
// Threads: every method is thread-safe. JavaScript runs on the thread that holds the Lease;
// that thread's stack must be at least the policy's isolate.stack_bytes + 256 KiB.
// Ownership: the manager owns every isolate. `source`, `watchdog` and the observers must
// outlive it. Destroying the manager waits for restores in flight and disposes every isolate;
// all Leases must be gone by then (a leased isolate left then is reported on stderr, and aborts
// the process in builds with assertions on, which tests are).
#ifndef ISOPOOL_POOL_POOL_MANAGER_H_
#define ISOPOOL_POOL_POOL_MANAGER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/call.h"
#include "engine/js_isolate.h"
#include "engine/observer.h"
#include "engine/watchdog.h"
#include "pool/pool_observer.h"
#include "pool/pool_policy.h"
#include "pool/pool_stats.h"
#include "pool/snapshot_source.h"

namespace isopool::pool {

class PoolManager;
class SnapshotPool;
struct PooledIsolate;

// A borrowed isolate. Move-only; destroying it gives the isolate back to its pool.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  // Runs one call in the way the pool's isolation mode prescribes (fresh or shared context),
  // and records what the pool needs to know (condemnation, heap after the call).
  engine::CallResult Run(const engine::CallRequest& request, const engine::CallLimits& limits);

  // The isolate itself, for callers that need more than Run.
  engine::JsIsolate& isolate();
  IsolationMode isolation() const;
  // The snapshot's pool policy (its default call limits live in the service).
  const PoolPolicy& policy() const;

  // How long Acquire waited, and how much of that was restoring an isolate on this request's
  // path (zero when a warm isolate was ready).
  absl::Duration queue_wait() const { return queue_wait_; }
  absl::Duration restore_on_path() const { return restore_on_path_; }
  // True when an isolate was ready (restored earlier) when Acquire was called.
  bool warm() const { return warm_; }

 private:
  friend class PoolManager;
  friend class SnapshotPool;
  Lease(std::shared_ptr<SnapshotPool> pool, std::unique_ptr<PooledIsolate> isolate);
  void Release();

  std::shared_ptr<SnapshotPool> pool_;
  std::unique_ptr<PooledIsolate> isolate_;
  absl::Duration queue_wait_;
  absl::Duration restore_on_path_;
  bool warm_ = false;
};

class PoolManager {
 public:
  PoolManager(SnapshotSource& source, const GlobalPolicy& global, const PoolPolicy& blank_policy,
              engine::Watchdog& watchdog,
              engine::EngineObserver& engine_observer = engine::NoopEngineObserver(),
              PoolObserver& observer = NoopPoolObserver());
  ~PoolManager();
  PoolManager(const PoolManager&) = delete;
  PoolManager& operator=(const PoolManager&) = delete;

  // Borrows an isolate of `snapshot_id` ("" = blank), waiting until `deadline` at most.
  absl::StatusOr<Lease> Acquire(const std::string& snapshot_id, absl::Time deadline);

  // Creates the pool if needed and starts restoring min_warm isolates in the background.
  absl::Status Prewarm(const std::string& snapshot_id);

  // Removes a pool: waiters get Unavailable, idle isolates are disposed now, busy ones when
  // their leases end. A later Acquire for the id creates a new pool.
  void Remove(const std::string& snapshot_id);

  // Tells every isolate that memory is tight (v8 MemoryPressureNotification).
  void MemoryPressure(bool critical);

  PoolStats Stats() const;
  // Zero values when there is no such pool.
  SnapshotPoolStats Stats(const std::string& snapshot_id) const;

 private:
  friend class SnapshotPool;  // holds the Impl its leases go back to (internal/manager_impl.h)
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_POOL_MANAGER_H_
