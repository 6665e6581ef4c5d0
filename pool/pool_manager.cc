// PoolManager's public surface: Lease, Acquire, Prewarm, Remove, stats. The isolate life cycle
// (restore, release, refill, budget) is in pool_lifecycle.cc; idle maintenance in
// pool_maintenance.cc.
#include "pool/pool_manager.h"

#include <algorithm>
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
  pool->sink.Release(pool, std::move(isolate_));
}

engine::CallResult Lease::Run(const engine::CallRequest& request,
                              const engine::CallLimits& limits) {
  engine::JsIsolate::ContextUse use = pool_->policy.isolation == IsolationMode::kShared
                                          ? engine::JsIsolate::ContextUse::kShared
                                          : engine::JsIsolate::ContextUse::kFresh;
  return isolate_->js->Run(request, limits, use);
}

engine::JsIsolate& Lease::isolate() { return *isolate_->js; }
IsolationMode Lease::isolation() const { return pool_->policy.isolation; }
const PoolPolicy& Lease::policy() const { return pool_->policy; }

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
// Waits on `cv` until notified or `deadline`; true when the deadline passed.
bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
               absl::Time deadline) {
  if (deadline - absl::Now() > absl::Hours(24 * 365)) {  // no real deadline: avoid overflow
    cv.wait(lock);
    return false;
  }
  return cv.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout;
}

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
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [id, pool] : pools_) {
      pool->removed = true;
      while (!pool->waiters.empty()) {
        Waiter* waiter = pool->waiters.front();
        pool->waiters.pop_front();
        waiter->error = absl::UnavailableError("the pool manager is shutting down");
        waiter->done = true;
        waiter->cv.notify_one();
      }
      while (!pool->warm.empty()) {
        RetireLocked(std::move(pool->warm.back()));
        pool->warm.pop_back();
      }
    }
    maintenance_wake_.notify_all();
  }
  maintenance_.join();
  // Restores in flight finish, see `stopping_`, and retire what they made; then every
  // disposal runs.
  runner_.Shutdown();
  std::lock_guard<std::mutex> lock(mu_);
  pools_.clear();
}

absl::StatusOr<std::shared_ptr<SnapshotPool>> PoolManager::Impl::GetPoolLocked(
    const std::string& id, bool* created) {
  *created = false;
  auto it = pools_.find(id);
  if (it != pools_.end()) return it->second;
  auto pool = std::make_shared<SnapshotPool>(*this, id);
  pools_.emplace(id, pool);
  *created = true;
  // Load on this thread; callers arriving meanwhile queue as waiters of the unloaded pool.
  absl::StatusOr<LoadedSnapshot> loaded;
  mu_.unlock();
  if (id.empty()) {
    loaded = LoadedSnapshot{engine::Snapshot::Blank(), blank_policy_};
  } else {
    loaded = source_.Load(id);
    if (loaded.ok() && loaded->snapshot == nullptr) {
      loaded = absl::InternalError(absl::StrCat("the source returned no snapshot for ", id));
    }
  }
  mu_.lock();
  if (!loaded.ok()) {
    DropPoolLocked(pool, loaded.status());
    return loaded.status();
  }
  pool->snapshot = std::move(loaded->snapshot);
  pool->policy = loaded->policy;
  pool->policy.min_warm = std::max(0, pool->policy.min_warm);
  pool->policy.max_isolates = std::max(1, pool->policy.max_isolates);
  pool->estimate_bytes = global_.per_isolate_overhead_bytes + (2 << 20);
  pool->loaded = true;
  if (stopping_ || pool->removed) return absl::UnavailableError("the pool was removed");
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
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the pool manager is shutting down");
  bool created = false;
  {
    absl::StatusOr<std::shared_ptr<SnapshotPool>> found = GetPoolLocked(snapshot_id, &created);
    if (!found.ok()) return found.status();
    pool = *std::move(found);
  }
  pool->last_acquire = start;
  if (!pool->warm.empty()) {
    got = std::move(pool->warm.back());
    pool->warm.pop_back();
    warm = true;
  } else if (pool->loaded && (created || (pool->Total() == 0 && pool->waiters.empty()))) {
    // Cold: restore on this caller's path (not behind other pools' background work). Callers
    // arriving meanwhile queue and share it: they never start restores of their own here.
    size_t reserved = 0;
    if (!ReserveLocked(*pool, &reserved)) {
      absl::Status refused = absl::ResourceExhaustedError(absl::StrCat(
          "no room for an isolate of snapshot '", snapshot_id,
          "': the global isolate cap or memory budget is reached and no idle pool can be "
          "evicted"));
      // An empty pool would only keep its entry (and its queued callers) waiting for nothing.
      if (pool->Total() == 0) DropPoolLocked(pool, refused);
      return refused;
    }
    ++pool->restoring;
    mu_.unlock();
    absl::StatusOr<std::unique_ptr<PooledIsolate>> restored = Restore(*pool);
    mu_.lock();
    --pool->restoring;
    if (!restored.ok()) {
      isolates_ -= 1;
      memory_bytes_ -= reserved;
      return restored.status();
    }
    got = *std::move(restored);
    memory_bytes_ -= reserved;
    AccountLocked(*got);
    pool->estimate_bytes = got->accounted_bytes;
    ++pool->restores;
    on_path = got->restore_duration;
    observer_.OnRestore(on_path, /*on_request_path=*/true);
    if (pool->removed || stopping_) {
      RetireLocked(std::move(got));
      return absl::UnavailableError("the pool was removed");
    }
  } else {
    if (deadline <= start) {
      observer_.OnAcquireWait(absl::ZeroDuration());
      return absl::DeadlineExceededError(
          absl::StrCat("no warm isolate of snapshot '", snapshot_id, "' and the deadline passed"));
    }
    if (static_cast<int>(pool->waiters.size()) >= pool->policy.max_queue && pool->loaded) {
      observer_.OnAcquireWait(absl::ZeroDuration());
      return absl::ResourceExhaustedError(absl::StrCat("the queue of snapshot '", snapshot_id,
                                                       "' is full (", pool->policy.max_queue,
                                                       " callers waiting for a busy isolate)"));
    }
    Waiter waiter;
    pool->waiters.push_back(&waiter);
    RefillLocked(pool);
    if (pool->loaded && pool->Total() == 0 && !waiter.done) {
      // Nothing exists that could ever serve this caller, and no room to make one.
      pool->waiters.remove(&waiter);
      observer_.OnAcquireWait(absl::Now() - start);
      return absl::ResourceExhaustedError(absl::StrCat(
          "no room for an isolate of snapshot '", snapshot_id,
          "': the global isolate cap or memory budget is reached and no idle pool can be "
          "evicted"));
    }
    while (!waiter.done) {
      if (WaitUntil(waiter.cv, lock, deadline) && !waiter.done) {
        pool->waiters.remove(&waiter);
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
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the pool manager is shutting down");
  bool created = false;
  absl::StatusOr<std::shared_ptr<SnapshotPool>> pool = GetPoolLocked(snapshot_id, &created);
  if (!pool.ok()) return pool.status();
  (*pool)->last_acquire = absl::Now();
  (*pool)->restore_failed = false;
  RefillLocked(*pool);
  return absl::OkStatus();
}

void PoolManager::Impl::Remove(const std::string& snapshot_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pools_.find(snapshot_id);
  if (it == pools_.end()) return;
  DropPoolLocked(it->second,
                 absl::UnavailableError(absl::StrCat("snapshot '", snapshot_id, "' was removed")));
}

void PoolManager::Impl::MemoryPressure(bool critical) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, pool] : pools_) {
    for (auto& isolate : pool->warm) isolate->js->MemoryPressure(critical);
    for (engine::JsIsolate* isolate : pool->busy) isolate->MemoryPressure(critical);
  }
}

PoolStats PoolManager::Impl::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolStats stats;
  stats.pools = static_cast<int>(pools_.size());
  for (const auto& [id, pool] : pools_) {
    stats.warm += pool->Available();
    stats.busy += static_cast<int>(pool->busy.size());
    stats.restoring += pool->restoring;
    stats.waiting += static_cast<int>(pool->waiters.size());
  }
  stats.heap_used_bytes = heap_used_bytes_;
  stats.heap_limit_bytes = heap_limit_bytes_;
  stats.memory_used_bytes = memory_bytes_;
  stats.memory_budget_bytes = global_.memory_budget_bytes;
  return stats;
}

SnapshotPoolStats PoolManager::Impl::Stats(const std::string& snapshot_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  SnapshotPoolStats stats;
  auto it = pools_.find(snapshot_id);
  if (it == pools_.end()) return stats;
  const SnapshotPool& pool = *it->second;
  stats.warm = pool.Available();
  stats.busy = static_cast<int>(pool.busy.size());
  stats.restoring = pool.restoring;
  stats.waiting = static_cast<int>(pool.waiters.size());
  stats.restores = pool.restores;
  stats.condemned = pool.condemned;
  return stats;
}

}  // namespace isopool::pool
