// manager_impl.h: the private state of PoolManager (pool-private; include only from pool/*.cc).
//
// One mutex (`Impl::mu_`) guards every pool, the global counters and the waiter queues: pools
// share the global isolate cap and memory budget, and with one lock the LRU eviction and the
// accounting stay simple and race-free. The lock is held only for bookkeeping (microseconds):
// loading a snapshot, restoring, preparing contexts, GC and disposal all run outside it.
//
// base::Mutex rather than absl::Mutex, so that ThreadSanitizer sees it (base/mutex.h says why);
// clang's thread-safety analysis (on in every build, .bazelrc) checks every annotation below.
//
// The life of an isolate in a pool:
//   restoring --> warm <--> busy (leased) --> preparing (context mode: new spare context)
//                  |  ^                          |
//                  v  |                          v
//             maintaining (idle GC)            warm
//   and from warm/busy/preparing: retired (condemned, spent in fresh mode, idle-released,
//   evicted, removed) --> disposed on a TaskRunner thread.
#ifndef ISOPOOL_POOL_INTERNAL_MANAGER_IMPL_H_
#define ISOPOOL_POOL_INTERNAL_MANAGER_IMPL_H_

#include <atomic>
#include <cassert>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "engine/js_isolate.h"
#include "pool/internal/task_runner.h"
#include "pool/pool_manager.h"

namespace isopool::pool {

// One isolate owned by a pool, with what the pool knows about it.
struct PooledIsolate {
  std::unique_ptr<engine::JsIsolate> js;
  // When it was last given back (or restored); warm lists are sorted by it.
  absl::Time last_used;
  // Bytes charged to the memory budget for it (heap statistics + per-isolate overhead).
  size_t accounted_bytes = 0;
  size_t accounted_heap_used_bytes = 0;
  size_t accounted_heap_limit_bytes = 0;
  // Create plus the first spare context.
  absl::Duration restore_duration;
  // Heap used right after restore: growth beyond it is garbage or state the calls left.
  size_t baseline_used_bytes = 0;
  // The last heap statistics taken (after restore, after each call, after idle GC).
  engine::HeapStats stats;
  // Idle GC finished since the last call; `gc_steps` counts idle steps since then.
  bool gc_done = false;
  int gc_steps = 0;
};

// One Acquire waiting in a pool's FIFO queue. Lives on the waiting thread's stack; whoever
// grants it (or fails it) pops it from the queue first, under Impl::mu_, which guards every
// field here.
struct Waiter {
  base::CondVar cv;
  bool done = false;
  std::unique_ptr<PooledIsolate> granted;
  absl::Status error;
};

// One snapshot's pool.
//
// `manager` (which a Lease gives its isolate back to) and `id` are immutable. `snapshot` and
// `policy` are set once, under the manager's lock, before the pool is marked loaded (SetLoaded),
// and are immutable afterwards: Lease holders and restores read them without the lock. Everything
// else is State, guarded by the owning PoolManager::Impl's mutex: it is reachable only through
// state(mu), which the thread-safety analysis checks is called with `mu` held, and which checks
// that `mu` is that mutex.
class SnapshotPool {
 public:
  struct State {
    bool loaded = false;
    bool removed = false;  // removed or evicted: everything coming back is disposed
    absl::Time last_acquire;
    // Warm isolates, least recently used first; Acquire takes the back.
    std::deque<std::unique_ptr<PooledIsolate>> warm;
    std::set<engine::JsIsolate*> busy;
    int restoring = 0;
    int preparing = 0;
    int maintaining = 0;
    std::list<Waiter*> waiters;
    // Bytes one more isolate is expected to cost (the last restored one's accounting).
    size_t estimate_bytes = 0;
    uint64_t restores = 0;
    uint64_t condemned = 0;
    // The last background restore failed: do not retry until maintenance runs.
    bool restore_failed = false;

    int Available() const { return static_cast<int>(warm.size()) + maintaining; }
    int Total() const {
      return Available() + static_cast<int>(busy.size()) + restoring + preparing;
    }
  };

  // `mu` is the owning manager's mutex.
  SnapshotPool(PoolManager::Impl& manager, std::string id, const base::Mutex& mu)
      : manager_(manager), id_(std::move(id)), mu_(&mu) {}

  PoolManager::Impl& manager() const { return manager_; }
  const std::string& id() const { return id_; }
  // Null until loaded.
  const std::shared_ptr<const engine::Snapshot>& snapshot() const { return snapshot_; }
  const PoolPolicy& policy() const { return policy_; }

  // The mutable state; `mu` must be the manager's mutex, held.
  State& state(const base::Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    assert(&mu == mu_);
    return state_;
  }
  const State& state(const base::Mutex& mu) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    assert(&mu == mu_);
    return state_;
  }

  // Fills in what Load returned and marks the pool loaded.
  void SetLoaded(const base::Mutex& mu, std::shared_ptr<const engine::Snapshot> snapshot,
                 const PoolPolicy& policy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    assert(&mu == mu_ && !state_.loaded);
    snapshot_ = std::move(snapshot);
    policy_ = policy;
    state_.loaded = true;
  }

 private:
  PoolManager::Impl& manager_;
  const std::string id_;
  const base::Mutex* const mu_;
  std::shared_ptr<const engine::Snapshot> snapshot_;
  PoolPolicy policy_;
  State state_;
};

class PoolManager::Impl {
 public:
  Impl(SnapshotSource& source, const GlobalPolicy& global, const PoolPolicy& blank_policy,
       engine::Watchdog& watchdog, engine::EngineObserver& engine_observer, PoolObserver& observer);
  ~Impl();

  absl::StatusOr<Lease> Acquire(const std::string& snapshot_id, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Prewarm(const std::string& snapshot_id) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(const std::string& snapshot_id) ABSL_LOCKS_EXCLUDED(mu_);
  void MemoryPressure(bool critical) ABSL_LOCKS_EXCLUDED(mu_);
  PoolStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);
  SnapshotPoolStats Stats(const std::string& snapshot_id) const ABSL_LOCKS_EXCLUDED(mu_);

  // A Lease ends: the isolate goes back to its pool (or is recycled or condemned).
  void Release(std::shared_ptr<SnapshotPool> pool, std::unique_ptr<PooledIsolate> isolate)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Restores one isolate (Create + a spare context) outside the lock.
  absl::StatusOr<std::unique_ptr<PooledIsolate>> Restore(const SnapshotPool& pool)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Finds the pool of `id`, or adds an unloaded one (`*created`). Never releases mu_.
  std::shared_ptr<SnapshotPool> FindOrAddPoolLocked(const std::string& id, bool* created)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The snapshot and policy of `id` from the source (or the blank ones); slow (it may read a
  // store), so never under mu_.
  absl::StatusOr<LoadedSnapshot> Load(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Marks a new pool loaded with what Load returned, or drops it (failing its waiters).
  absl::Status FinishLoadLocked(const std::shared_ptr<SnapshotPool>& pool,
                                absl::StatusOr<LoadedSnapshot> loaded)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FindOrAddPoolLocked, then, for a new pool, Load on this thread and FinishLoadLocked.
  // Caution: mu_ is held on entry and on return but RELEASED while a new pool loads, so
  // anything the caller read under mu_ before the call may have changed.
  absl::StatusOr<std::shared_ptr<SnapshotPool>> FindOrLoadPool(const std::string& id, bool* created)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives a ready isolate to the first waiter, or makes it warm.
  void OfferLocked(SnapshotPool& pool, std::unique_ptr<PooledIsolate> isolate)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GrantLocked(SnapshotPool& pool, PooledIsolate& isolate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops every waiter of `pool` and wakes it with `why`.
  void FailWaitersLocked(SnapshotPool& pool, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the isolate out of the accounting and disposes of it on a background thread.
  void RetireLocked(std::unique_ptr<PooledIsolate> isolate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CondemnLocked(SnapshotPool& pool, std::unique_ptr<PooledIsolate> isolate,
                     engine::CondemnReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts background restores the pool needs (min_warm, waiters), within every cap.
  void RefillLocked(const std::shared_ptr<SnapshotPool>& pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefillAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes room for one more isolate of `pool` (evicting idle pools LRU-first) and charges its
  // estimate; false when there is no room.
  bool ReserveLocked(SnapshotPool& pool, size_t* reserved) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool EvictOneLocked(const SnapshotPool& keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the isolate's charge with one computed from `isolate.stats`.
  void AccountLocked(PooledIsolate& isolate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // By value: `pool` may be the map's own entry, which this erases.
  void DropPoolLocked(std::shared_ptr<SnapshotPool> pool, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleRestoreLocked(const std::shared_ptr<SnapshotPool>& pool, size_t reserved)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SchedulePrepare(std::shared_ptr<SnapshotPool> pool, std::unique_ptr<PooledIsolate> isolate,
                       bool collect);

  // Idle maintenance (pool_maintenance.cc).
  void MaintenanceLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void MaintainOnce() ABSL_LOCKS_EXCLUDED(mu_);

  SnapshotSource& source_;
  const GlobalPolicy global_;
  const PoolPolicy blank_policy_;
  engine::Watchdog& watchdog_;
  engine::EngineObserver& engine_observer_;
  PoolObserver& observer_;

  mutable base::Mutex mu_;
  std::map<std::string, std::shared_ptr<SnapshotPool>> pools_ ABSL_GUARDED_BY(mu_);
  int isolates_ ABSL_GUARDED_BY(mu_) = 0;
  size_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Sums over live isolates of their last heap statistics.
  size_t heap_used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t heap_limit_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  base::CondVar maintenance_wake_;

  // Isolates disposed since maintenance last returned freed memory to the OS (malloc_trim).
  std::atomic<int> disposed_since_trim_{0};

  internal::TaskRunner runner_;
  std::thread maintenance_;
};

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_INTERNAL_MANAGER_IMPL_H_
