// PoolManager's public surface: Lease, Acquire, Prewarm, Remove, stats. The isolate life cycle
// (restore, release, refill, budget) is in pool_lifecycle.cc; idle maintenance in
// pool_maintenance.cc.
#include "pool/pool_manager.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pool/internal/manager_impl.h"

namespace isopool::pool {

const char* IsolationModeName(IsolationMode mode) {
  switch (mode) {
    case IsolationMode::kFresh:
      return "fresh";
    case IsolationMode::kContext:
      return "context";
    case IsolationMode::kShared:
      return "shared";
  }
  return "unknown";
}

PoolObserver& NoopPoolObserver() {
  static PoolObserver* observer = new PoolObserver();
  return *observer;
}

// ---- Lease ----

Lease::Lease(std::shared_ptr<SnapshotPool> pool, std::unique_ptr<PooledIsolate> isolate)
    : pool_(std::move(pool)), isolate_(std::move(isolate)) {}

Lease::Lease(Lease&& other) noexcept
    : pool_(std::move(other.pool_)),
      isolate_(std::move(other.isolate_)),
      queue_wait_(other.queue_wait_),
      restore_on_path_(other.restore_on_path_),
      warm_(other.warm_) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::move(other.pool_);
    isolate_ = std::move(other.isolate_);
    queue_wait_ = other.queue_wait_;
    restore_on_path_ = other.restore_on_path_;
    warm_ = other.warm_;
  }
  return *this;
}

Lease::~Lease() { Release(); }

void Lease::Release() {
  if (isolate_ == nullptr) return;
  std::shared_ptr<SnapshotPool> pool = std::move(pool_);
  pool->manager().Release(pool, std::move(isolate_));
}

engine::CallResult Lease::Run(const engine::CallRequest& request,
                              const engine::CallLimits& limits) {
  engine::JsIsolate::ContextUse use = pool_->policy().isolation == IsolationMode::kShared
                                          ? engine::JsIsolate::ContextUse::kShared
                                          : engine::JsIsolate::ContextUse::kFresh;
  return isolate_->js->Run(request, limits, use);
}

engine::JsIsolate& Lease::isolate() { return *isolate_->js; }
IsolationMode Lease::isolation() const { return pool_->policy().isolation; }
const PoolPolicy& Lease::policy() const { return pool_->policy(); }

// ---- PoolManager ----

PoolManager::PoolManager(SnapshotSource& source, const GlobalPolicy& global,
                         const PoolPolicy& blank_policy, engine::Watchdog& watchdog,
                         engine::EngineObserver& engine_observer, PoolObserver& observer)
    : impl_(std::make_unique<Impl>(source, global, blank_policy, watchdog, engine_observer,
                                   observer)) {}
PoolManager::~PoolManager() = default;

absl::StatusOr<Lease> PoolManager::Acquire(const std::string& snapshot_id, absl::Time deadline) {
  return impl_->Acquire(snapshot_id, deadline);
}
absl::Status PoolManager::Prewarm(const std::string& snapshot_id) {
  return impl_->Prewarm(snapshot_id);
}
void PoolManager::Remove(const std::string& snapshot_id) { impl_->Remove(snapshot_id); }
void PoolManager::MemoryPressure(bool critical) { impl_->MemoryPressure(critical); }
PoolStats PoolManager::Stats() const { return impl_->Stats(); }
SnapshotPoolStats PoolManager::Stats(const std::string& snapshot_id) const {
  return impl_->Stats(snapshot_id);
}

// ---- Impl ----

namespace {
int RestoreThreads(const GlobalPolicy& global) {
  if (global.restore_threads > 0) return global.restore_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}
}  // namespace

PoolManager::Impl::Impl(SnapshotSource& source, const GlobalPolicy& global,
                        const PoolPolicy& blank_policy, engine::Watchdog& watchdog,
                        engine::EngineObserver& engine_observer, PoolObserver& observer)
    : source_(source),
      global_(global),
      blank_policy_(blank_policy),
      watchdog_(watchdog),
      engine_observer_(engine_observer),
      observer_(observer),
      runner_(RestoreThreads(global)) {
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
}

PoolManager::Impl::~Impl() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
    size_t leased = 0;
    for (auto& [id, pool] : pools_) leased += pool->state(mu_).busy.size();
    if (leased > 0) {
      // A Lease that outlives its manager would give its isolate back to freed memory.
      fprintf(stderr, "isopool: PoolManager destroyed with %zu isolate(s) still leased\n", leased);
      assert(leased == 0 && "every Lease must be gone before the PoolManager (pool_manager.h)");
    }
    for (auto& [id, pool] : pools_) {
      SnapshotPool::State& state = pool->state(mu_);
      state.removed = true;
      FailWaitersLocked(*pool, absl::UnavailableError("the pool manager is shutting down"));
      while (!state.warm.empty()) {
        RetireLocked(std::move(state.warm.back()));
        state.warm.pop_back();
      }
    }
    maintenance_wake_.SignalAll();
  }
  maintenance_.join();
  // Restores in flight finish, see `stopping_`, and retire what they made; then every
  // disposal runs.
  runner_.Shutdown();
  base::MutexLock lock(&mu_);
  pools_.clear();
}

std::shared_ptr<SnapshotPool> PoolManager::Impl::FindOrAddPoolLocked(const std::string& id,
                                                                     bool* created) {
  auto it = pools_.find(id);
  *created = it == pools_.end();
  if (!*created) return it->second;
  auto pool = std::make_shared<SnapshotPool>(*this, id, mu_);
  pools_.emplace(id, pool);
  return pool;
}

absl::StatusOr<LoadedSnapshot> PoolManager::Impl::Load(const std::string& id) {
  if (id.empty()) return LoadedSnapshot{engine::Snapshot::Blank(), blank_policy_};
  absl::StatusOr<LoadedSnapshot> loaded = source_.Load(id);
  if (loaded.ok() && loaded->snapshot == nullptr) {
    return absl::InternalError(absl::StrCat("the source returned no snapshot for ", id));
  }
  return loaded;
}

absl::Status PoolManager::Impl::FinishLoadLocked(const std::shared_ptr<SnapshotPool>& pool,
                                                 absl::StatusOr<LoadedSnapshot> loaded) {
  if (!loaded.ok()) {
    DropPoolLocked(pool, loaded.status());
    return loaded.status();
  }
  PoolPolicy policy = loaded->policy;
  policy.min_warm = std::max(0, policy.min_warm);
  policy.max_isolates = std::max(1, policy.max_isolates);
  pool->SetLoaded(mu_, std::move(loaded->snapshot), policy);
  pool->state(mu_).estimate_bytes = global_.per_isolate_overhead_bytes + (2 << 20);
  if (stopping_ || pool->state(mu_).removed) return absl::UnavailableError("the pool was removed");
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SnapshotPool>> PoolManager::Impl::FindOrLoadPool(
    const std::string& id, bool* created) {
  std::shared_ptr<SnapshotPool> pool = FindOrAddPoolLocked(id, created);
  if (!*created) return pool;
  // Load on this thread, without the lock; callers arriving meanwhile find the pool unloaded
  // and queue as its waiters.
  mu_.Unlock();
  absl::StatusOr<LoadedSnapshot> loaded = Load(id);
  mu_.Lock();
  if (absl::Status s = FinishLoadLocked(pool, std::move(loaded)); !s.ok()) return s;
  return pool;
}

absl::StatusOr<Lease> PoolManager::Impl::Acquire(const std::string& snapshot_id,
                                                 absl::Time deadline) {
  const absl::Time start = absl::Now();
  std::shared_ptr<SnapshotPool> pool;
  std::unique_ptr<PooledIsolate> got;
  bool warm = false;
  bool queued = false;
  absl::Duration on_path;
  base::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the pool manager is shutting down");
  bool created = false;
  {
    absl::StatusOr<std::shared_ptr<SnapshotPool>> found = FindOrLoadPool(snapshot_id, &created);
    if (!found.ok()) return found.status();
    pool = *std::move(found);
  }
  SnapshotPool::State& state = pool->state(mu_);
  state.last_acquire = start;
  if (!state.warm.empty()) {
    got = std::move(state.warm.back());
    state.warm.pop_back();
    warm = true;
  } else if (state.loaded && (created || (state.Total() == 0 && state.waiters.empty()))) {
    // Cold: restore on this caller's path (not behind other pools' background work). Callers
    // arriving meanwhile queue and share it: they never start restores of their own here.
    size_t reserved = 0;
    if (!ReserveLocked(*pool, &reserved)) {
      absl::Status refused = absl::ResourceExhaustedError(absl::StrCat(
          "no room for an isolate of snapshot '", snapshot_id,
          "': the global isolate cap or memory budget is reached and no idle pool can be "
          "evicted"));
      // An empty pool would only keep its entry (and its queued callers) waiting for nothing.
      if (state.Total() == 0) DropPoolLocked(pool, refused);
      return refused;
    }
    ++state.restoring;
    mu_.Unlock();
    absl::StatusOr<std::unique_ptr<PooledIsolate>> restored = Restore(*pool);
    mu_.Lock();
    --state.restoring;
    if (!restored.ok()) {
      isolates_ -= 1;
      memory_bytes_ -= reserved;
      return restored.status();
    }
    got = *std::move(restored);
    memory_bytes_ -= reserved;
    AccountLocked(*got);
    state.estimate_bytes = got->accounted_bytes;
    ++state.restores;
    on_path = got->restore_duration;
    observer_.OnRestore(on_path, /*on_request_path=*/true);
    if (state.removed || stopping_) {
      RetireLocked(std::move(got));
      return absl::UnavailableError("the pool was removed");
    }
  } else {
    if (deadline <= start) {
      observer_.OnAcquireWait(absl::ZeroDuration());
      return absl::DeadlineExceededError(
          absl::StrCat("no warm isolate of snapshot '", snapshot_id, "' and the deadline passed"));
    }
    if (static_cast<int>(state.waiters.size()) >= pool->policy().max_queue && state.loaded) {
      observer_.OnAcquireWait(absl::ZeroDuration());
      return absl::ResourceExhaustedError(absl::StrCat("the queue of snapshot '", snapshot_id,
                                                       "' is full (", pool->policy().max_queue,
                                                       " callers waiting for a busy isolate)"));
    }
    Waiter waiter;
    state.waiters.push_back(&waiter);
    RefillLocked(pool);
    if (state.loaded && state.Total() == 0 && !waiter.done) {
      // Nothing exists that could ever serve this caller, and no room to make one.
      state.waiters.remove(&waiter);
      observer_.OnAcquireWait(absl::Now() - start);
      return absl::ResourceExhaustedError(absl::StrCat(
          "no room for an isolate of snapshot '", snapshot_id,
          "': the global isolate cap or memory budget is reached and no idle pool can be "
          "evicted"));
    }
    while (!waiter.done) {
      if (waiter.cv.WaitWithDeadline(&mu_, deadline) && !waiter.done) {
        state.waiters.remove(&waiter);
        observer_.OnAcquireWait(absl::Now() - start);
        return absl::DeadlineExceededError(absl::StrCat("no isolate of snapshot '", snapshot_id,
                                                        "' became free within ",
                                                        absl::FormatDuration(deadline - start)));
      }
    }
    if (!waiter.error.ok()) {
      observer_.OnAcquireWait(absl::Now() - start);
      return waiter.error;
    }
    got = std::move(waiter.granted);  // OfferLocked already counted it busy
    queued = true;
  }
  if (!queued) GrantLocked(*pool, *got);
  RefillLocked(pool);
  absl::Duration waited = absl::Now() - start;
  observer_.OnAcquireWait(waited);
  Lease lease(pool, std::move(got));
  lease.queue_wait_ = waited;
  lease.restore_on_path_ = on_path;
  lease.warm_ = warm;
  return lease;
}

absl::Status PoolManager::Impl::Prewarm(const std::string& snapshot_id) {
  base::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the pool manager is shutting down");
  bool created = false;
  absl::StatusOr<std::shared_ptr<SnapshotPool>> pool = FindOrLoadPool(snapshot_id, &created);
  if (!pool.ok()) return pool.status();
  SnapshotPool::State& state = (*pool)->state(mu_);
  state.last_acquire = absl::Now();
  state.restore_failed = false;
  RefillLocked(*pool);
  return absl::OkStatus();
}

void PoolManager::Impl::Remove(const std::string& snapshot_id) {
  base::MutexLock lock(&mu_);
  auto it = pools_.find(snapshot_id);
  if (it == pools_.end()) return;
  DropPoolLocked(it->second,
                 absl::UnavailableError(absl::StrCat("snapshot '", snapshot_id, "' was removed")));
}

void PoolManager::Impl::MemoryPressure(bool critical) {
  base::MutexLock lock(&mu_);
  for (auto& [id, pool] : pools_) {
    const SnapshotPool::State& state = pool->state(mu_);
    for (const auto& isolate : state.warm) isolate->js->MemoryPressure(critical);
    for (engine::JsIsolate* isolate : state.busy) isolate->MemoryPressure(critical);
  }
}

PoolStats PoolManager::Impl::Stats() const {
  base::MutexLock lock(&mu_);
  PoolStats stats;
  stats.pools = static_cast<int>(pools_.size());
  for (const auto& [id, pool] : pools_) {
    const SnapshotPool::State& state = pool->state(mu_);
    stats.warm += state.Available();
    stats.busy += static_cast<int>(state.busy.size());
    stats.restoring += state.restoring;
    stats.waiting += static_cast<int>(state.waiters.size());
  }
  stats.heap_used_bytes = heap_used_bytes_;
  stats.heap_limit_bytes = heap_limit_bytes_;
  stats.memory_used_bytes = memory_bytes_;
  stats.memory_budget_bytes = global_.memory_budget_bytes;
  return stats;
}

SnapshotPoolStats PoolManager::Impl::Stats(const std::string& snapshot_id) const {
  base::MutexLock lock(&mu_);
  SnapshotPoolStats stats;
  auto it = pools_.find(snapshot_id);
  if (it == pools_.end()) return stats;
  const SnapshotPool::State& state = it->second->state(mu_);
  stats.warm = state.Available();
  stats.busy = static_cast<int>(state.busy.size());
  stats.restoring = state.restoring;
  stats.waiting = static_cast<int>(state.waiters.size());
  stats.restores = state.restores;
  stats.condemned = state.condemned;
  return stats;
}

}  // namespace isopool::pool
