// manager_impl.h: the private state of PoolManager (pool-private; include only from pool/*.cc).
//
// One mutex (`Impl::mu_`) guards every pool, the global counters and the waiter queues: pools
// share the global isolate cap and memory budget, and with one lock the LRU eviction and the
// accounting stay simple and race-free. The lock is held only for bookkeeping (microseconds):
// loading a snapshot, restoring, preparing contexts, GC and disposal all run outside it.
//
// std::mutex and std::condition_variable rather than absl::Mutex: Debian's libabsl is not built
// with ThreadSanitizer, so absl::Mutex's synchronisation is invisible to TSan and shows up as
// false races; pthread-based std primitives are intercepted. (The same holds for TaskRunner.)
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
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
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

// What Impl needs of a pool's owner when a Lease ends (SnapshotPool cannot name the private
// PoolManager::Impl).
class LeaseSink {
 public:
  virtual ~LeaseSink() = default;
  virtual void Release(std::shared_ptr<SnapshotPool> pool,
                       std::unique_ptr<PooledIsolate> isolate) = 0;
};

// One Acquire waiting in a pool's FIFO queue. Lives on the waiting thread's stack; whoever
// grants it (or fails it) pops it from the queue first, under Impl::mu_.
struct Waiter {
  std::condition_variable cv;
  bool done = false;
  std::unique_ptr<PooledIsolate> granted;
  absl::Status error;
};

// One snapshot's pool. Every field is guarded by the owning Impl's mu_, except `sink`, `id`,
// and `snapshot`/`policy`, which are written once (before `loaded` is set, under mu_) and are
// immutable afterwards, so Lease holders read them without the lock.
class SnapshotPool {
 public:
  SnapshotPool(LeaseSink& sink, std::string id) : sink(sink), id(std::move(id)) {}

  LeaseSink& sink;
  const std::string id;
  std::shared_ptr<const engine::Snapshot> snapshot;
  PoolPolicy policy;

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
  int Total() const { return Available() + static_cast<int>(busy.size()) + restoring + preparing; }
};

class PoolManager::Impl : public LeaseSink {
 public:
  Impl(SnapshotSource& source, const GlobalPolicy& global, const PoolPolicy& blank_policy,
       engine::Watchdog& watchdog, engine::EngineObserver& engine_observer, PoolObserver& observer);
  ~Impl() override;

  absl::StatusOr<Lease> Acquire(const std::string& snapshot_id, absl::Time deadline);
  absl::Status Prewarm(const std::string& snapshot_id);
  void Remove(const std::string& snapshot_id);
  void MemoryPressure(bool critical);
  PoolStats Stats() const;
  SnapshotPoolStats Stats(const std::string& snapshot_id) const;

  void Release(std::shared_ptr<SnapshotPool> pool, std::unique_ptr<PooledIsolate> isolate) override;

 private:
  // Restores one isolate (Create + a spare context) outside the lock.
  absl::StatusOr<std::unique_ptr<PooledIsolate>> Restore(const SnapshotPool& pool);

  // Finds or creates the pool; a new pool is loaded on this thread (mu_ is released meanwhile).
  absl::StatusOr<std::shared_ptr<SnapshotPool>> GetPoolLocked(const std::string& id, bool* created)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives a ready isolate to the first waiter, or makes it warm.
  void OfferLocked(SnapshotPool& pool, std::unique_ptr<PooledIsolate> isolate)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GrantLocked(SnapshotPool& pool, PooledIsolate& isolate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  void MaintenanceLoop();
  void MaintainOnce();

  SnapshotSource& source_;
  const GlobalPolicy global_;
  const PoolPolicy blank_policy_;
  engine::Watchdog& watchdog_;
  engine::EngineObserver& engine_observer_;
  PoolObserver& observer_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<SnapshotPool>> pools_ ABSL_GUARDED_BY(mu_);
  int isolates_ ABSL_GUARDED_BY(mu_) = 0;
  size_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Sums over live isolates of their last heap statistics.
  size_t heap_used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t heap_limit_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::condition_variable maintenance_wake_;

  // Isolates disposed since maintenance last returned freed memory to the OS (malloc_trim).
  std::atomic<int> disposed_since_trim_{0};

  internal::TaskRunner runner_;
  std::thread maintenance_;
};

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_INTERNAL_MANAGER_IMPL_H_
