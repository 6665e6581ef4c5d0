// The life cycle of pooled isolates: restore, release (recycle or condemn), refill, the global
// isolate cap and memory budget with LRU eviction of idle pools, and background disposal.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pool/internal/manager_impl.h"

namespace isopool::pool {

namespace {

// A context-mode isolate gets a full GC before reuse when this many native contexts (dropped
// per-call contexts not yet collected) pile up, or when any context stays detached.
constexpr size_t kMaxNativeContexts = 16;

}  // namespace

absl::StatusOr<std::unique_ptr<PooledIsolate>> PoolManager::Impl::Restore(
    const SnapshotPool& pool) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::JsIsolate>> js = engine::JsIsolate::Create(
      pool.snapshot(), pool.policy().isolate, watchdog_, engine_observer_);
  if (!js.ok()) return js.status();
  // Every mode's first call wants a context: make it now, off the request path.
  if (absl::Status s = (*js)->PrepareContext(); !s.ok()) return s;
  auto isolate = std::make_unique<PooledIsolate>();
  isolate->js = *std::move(js);
  isolate->stats = isolate->js->GetHeapStats();
  isolate->baseline_used_bytes = isolate->stats.used_bytes;
  isolate->last_used = absl::Now();
  isolate->restore_duration = isolate->last_used - start;
  return isolate;
}

void PoolManager::Impl::AccountLocked(PooledIsolate& isolate) {
  const engine::HeapStats& stats = isolate.stats;
  size_t bytes = stats.total_bytes + stats.external_bytes + global_.per_isolate_overhead_bytes;
  memory_bytes_ = memory_bytes_ - isolate.accounted_bytes + bytes;
  isolate.accounted_bytes = bytes;
  heap_used_bytes_ = heap_used_bytes_ - isolate.accounted_heap_used_bytes + stats.used_bytes;
  isolate.accounted_heap_used_bytes = stats.used_bytes;
  heap_limit_bytes_ = heap_limit_bytes_ - isolate.accounted_heap_limit_bytes + stats.limit_bytes;
  isolate.accounted_heap_limit_bytes = stats.limit_bytes;
}

void PoolManager::Impl::GrantLocked(SnapshotPool& pool, PooledIsolate& isolate) {
  pool.state(mu_).busy.insert(isolate.js.get());
}

void PoolManager::Impl::FailWaitersLocked(SnapshotPool& pool, const absl::Status& why) {
  std::list<Waiter*>& waiters = pool.state(mu_).waiters;
  while (!waiters.empty()) {
    Waiter* waiter = waiters.front();
    waiters.pop_front();
    waiter->error = why;
    waiter->done = true;
    waiter->cv.Signal();
  }
}

void PoolManager::Impl::OfferLocked(SnapshotPool& pool, std::unique_ptr<PooledIsolate> isolate) {
  SnapshotPool::State& state = pool.state(mu_);
  if (state.removed || stopping_) {
    RetireLocked(std::move(isolate));
    return;
  }
  if (!state.waiters.empty()) {
    Waiter* waiter = state.waiters.front();
    state.waiters.pop_front();
    GrantLocked(pool, *isolate);
    waiter->granted = std::move(isolate);
    waiter->done = true;
    waiter->cv.Signal();
    return;
  }
  // Keep the warm list sorted by last use (LRU first), so idle release takes the oldest.
  auto it = state.warm.end();
  while (it != state.warm.begin() && (*(it - 1))->last_used > isolate->last_used) --it;
  state.warm.insert(it, std::move(isolate));
}

void PoolManager::Impl::RetireLocked(std::unique_ptr<PooledIsolate> isolate) {
  isolates_ -= 1;
  memory_bytes_ -= isolate->accounted_bytes;
  heap_used_bytes_ -= isolate->accounted_heap_used_bytes;
  heap_limit_bytes_ -= isolate->accounted_heap_limit_bytes;
  runner_.Schedule([this, isolate = std::move(isolate)]() mutable {
    isolate.reset();
    disposed_since_trim_.fetch_add(1, std::memory_order_relaxed);
  });
}

void PoolManager::Impl::CondemnLocked(SnapshotPool& pool, std::unique_ptr<PooledIsolate> isolate,
                                      engine::CondemnReason reason) {
  isolate->js->Condemn(reason);
  ++pool.state(mu_).condemned;
  observer_.OnCondemned(reason);
  RetireLocked(std::move(isolate));
}

// By value on purpose: the caller's reference may be the map entry this erases.
void PoolManager::Impl::DropPoolLocked(std::shared_ptr<SnapshotPool> pool,  // NOLINT
                                       const absl::Status& why) {
  SnapshotPool::State& state = pool->state(mu_);
  state.removed = true;
  auto it = pools_.find(pool->id());
  if (it != pools_.end() && it->second == pool) pools_.erase(it);
  FailWaitersLocked(*pool, why);
  while (!state.warm.empty()) {
    RetireLocked(std::move(state.warm.back()));
    state.warm.pop_back();
  }
  // Busy, restoring and preparing isolates are retired when they come back (`removed`).
  RefillAllLocked();
}

bool PoolManager::Impl::EvictOneLocked(const SnapshotPool& keep) {
  std::shared_ptr<SnapshotPool> victim;
  for (auto& [id, pool] : pools_) {
    const SnapshotPool::State& state = pool->state(mu_);
    if (pool.get() == &keep || !state.loaded || state.warm.empty()) continue;
    // Only wholly idle pools: nothing busy, coming back, or wanted.
    if (!state.busy.empty() || state.restoring > 0 || state.preparing > 0 ||
        state.maintaining > 0 || !state.waiters.empty()) {
      continue;
    }
    if (victim == nullptr || state.last_acquire < victim->state(mu_).last_acquire) victim = pool;
  }
  if (victim == nullptr) return false;
  observer_.OnEviction();
  SnapshotPool::State& state = victim->state(mu_);
  state.removed = true;
  pools_.erase(victim->id());
  while (!state.warm.empty()) {
    RetireLocked(std::move(state.warm.back()));
    state.warm.pop_back();
  }
  return true;
}

bool PoolManager::Impl::ReserveLocked(SnapshotPool& pool, size_t* reserved) {
  const size_t bytes = pool.state(mu_).estimate_bytes;
  while (isolates_ + 1 > global_.max_isolates ||
         memory_bytes_ + bytes > global_.memory_budget_bytes) {
    if (!EvictOneLocked(pool)) return false;
  }
  isolates_ += 1;
  memory_bytes_ += bytes;
  *reserved = bytes;
  return true;
}

void PoolManager::Impl::RefillLocked(const std::shared_ptr<SnapshotPool>& pool) {
  const SnapshotPool::State& state = pool->state(mu_);
  if (!state.loaded || state.removed || stopping_ || state.restore_failed) return;
  const int coming = state.restoring + state.preparing;
  // Keep min_warm ready; and while callers queue, keep restores in flight for them, at most
  // one per restore thread (a burst grows the pool, it does not start one restore per caller).
  int for_min = pool->policy().min_warm - (state.Available() + coming);
  int for_waiters =
      std::min<int>(static_cast<int>(state.waiters.size()), runner_.threads()) - coming;
  int wanted =
      std::min(std::max(for_min, for_waiters), pool->policy().max_isolates - state.Total());
  for (int i = 0; i < wanted; ++i) {
    size_t reserved = 0;
    if (!ReserveLocked(*pool, &reserved)) break;
    ScheduleRestoreLocked(pool, reserved);
  }
}

void PoolManager::Impl::RefillAllLocked() {
  // Snapshot the list: refilling may evict (erase) other pools.
  std::vector<std::shared_ptr<SnapshotPool>> pools;
  pools.reserve(pools_.size());
  for (auto& [id, pool] : pools_) pools.push_back(pool);
  for (auto& pool : pools) RefillLocked(pool);
}

void PoolManager::Impl::ScheduleRestoreLocked(const std::shared_ptr<SnapshotPool>& pool,
                                              size_t reserved) {
  ++pool->state(mu_).restoring;
  runner_.Schedule([this, pool, reserved] {
    absl::StatusOr<std::unique_ptr<PooledIsolate>> restored = Restore(*pool);
    base::MutexLock lock(&mu_);
    SnapshotPool::State& state = pool->state(mu_);
    --state.restoring;
    memory_bytes_ -= reserved;
    if (!restored.ok()) {
      isolates_ -= 1;
      // Do not spin on a failing restore: maintenance retries later. Callers that nothing
      // else could serve get the error now.
      state.restore_failed = true;
      if (state.Total() == 0) FailWaitersLocked(*pool, restored.status());
      return;
    }
    std::unique_ptr<PooledIsolate> isolate = *std::move(restored);
    AccountLocked(*isolate);
    state.estimate_bytes = isolate->accounted_bytes;
    ++state.restores;
    observer_.OnRestore(isolate->restore_duration, /*on_request_path=*/false);
    OfferLocked(*pool, std::move(isolate));
    RefillLocked(pool);
  });
}

void PoolManager::Impl::SchedulePrepare(std::shared_ptr<SnapshotPool> pool,
                                        std::unique_ptr<PooledIsolate> isolate, bool collect) {
  runner_.Schedule([this, pool = std::move(pool), isolate = std::move(isolate), collect]() mutable {
    if (collect) isolate->js->CollectAll();
    absl::Status prepared = absl::OkStatus();
    if (pool->policy().isolation == IsolationMode::kContext && isolate->js->spare_contexts() == 0) {
      prepared = isolate->js->PrepareContext();
    }
    isolate->stats = isolate->js->GetHeapStats();
    base::MutexLock lock(&mu_);
    --pool->state(mu_).preparing;
    AccountLocked(*isolate);
    if (!prepared.ok()) {
      CondemnLocked(*pool, std::move(isolate), engine::CondemnReason::kError);
    } else {
      OfferLocked(*pool, std::move(isolate));
    }
    RefillAllLocked();
  });
}

void PoolManager::Impl::Release(std::shared_ptr<SnapshotPool> pool,
                                std::unique_ptr<PooledIsolate> isolate) {
  // The isolate is still exclusively ours: look at it without the pool lock.
  engine::JsIsolate& js = *isolate->js;
  const PoolPolicy& policy = pool->policy();
  const absl::Time now = absl::Now();
  isolate->stats = js.GetHeapStats();
  engine::CondemnReason reason = js.condemned();
  if (reason == engine::CondemnReason::kNone) {
    if (js.uses() >= policy.max_uses) {
      reason = engine::CondemnReason::kMaxUses;
    } else if (isolate->stats.used_bytes > policy.max_heap_after_call_bytes) {
      reason = engine::CondemnReason::kMaxHeap;
    } else if (now - js.created_at() > policy.max_age) {
      reason = engine::CondemnReason::kMaxAge;
    }
  }
  // Fresh mode: an isolate that ran a call is spent (not condemned: nothing went wrong).
  const bool spent = policy.isolation == IsolationMode::kFresh && js.uses() > 0;
  const bool collect =
      isolate->stats.native_contexts > kMaxNativeContexts || isolate->stats.detached_contexts > 0;
  bool prepare = policy.isolation == IsolationMode::kContext && js.spare_contexts() == 0;
  if (reason == engine::CondemnReason::kNone && !spent && prepare &&
      global_.prepare_context_inline && !collect) {
    // Measured alternative (bench/pool): make the next spare context on the releasing thread.
    if (js.PrepareContext().ok()) {
      prepare = false;
      isolate->stats = js.GetHeapStats();
    } else {
      reason = engine::CondemnReason::kError;
    }
  }
  isolate->last_used = now;
  isolate->gc_done = false;
  isolate->gc_steps = 0;

  base::MutexLock lock(&mu_);
  SnapshotPool::State& state = pool->state(mu_);
  state.busy.erase(isolate->js.get());
  AccountLocked(*isolate);
  if (reason != engine::CondemnReason::kNone) {
    CondemnLocked(*pool, std::move(isolate), reason);
    RefillAllLocked();
  } else if (spent || state.removed || stopping_) {
    RetireLocked(std::move(isolate));
    RefillAllLocked();
  } else if (prepare || collect) {
    ++state.preparing;
    SchedulePrepare(pool, std::move(isolate), collect);
  } else {
    OfferLocked(*pool, std::move(isolate));
    RefillLocked(pool);
  }
}

}  // namespace isopool::pool
