// Idle maintenance: one thread wakes every GlobalPolicy::maintenance_interval and
//   - condemns warm isolates past max_age,
//   - releases warm isolates beyond min_warm unused for idle_release,
//   - garbage-collects idle isolates in small budgets (IdleNotificationDeadline; a full
//     LowMemoryNotification when idle steps do not finish), one isolate of a pool at a time,
//     outside the pool lock, so acquires never wait on the lock for it,
//   - sends MemoryPressureNotification when the budget is nearly used up,
//   - retries restores that failed,
//   - returns memory to the OS after disposals (malloc_trim): glibc keeps freed isolate memory
//     in its arenas, so without it RSS stays at its peak after a burst (measured in bench/pool:
//     1000 disposed blank isolates left ~380 MiB of RSS behind; trimmed, ~15 MiB).
// Why: under steady load with no major GC, RSS balloons (workerd's users report it).
#include <malloc.h>

#include <utility>
#include <vector>

#include "pool/internal/manager_impl.h"

namespace isopool::pool {

namespace {
// Idle steps before an isolate that V8 still wants to collect gets a full GC instead.
constexpr int kIdleStepsBeforeFullGc = 3;
// Heap growth over the restored baseline that makes an idle isolate worth a full GC.
constexpr size_t kGrowthBeforeFullGc = 1 << 20;
}  // namespace

void PoolManager::Impl::MaintenanceLoop() {
  for (;;) {
    {
      base::MutexLock lock(&mu_);
      if (!stopping_) maintenance_wake_.WaitWithTimeout(&mu_, global_.maintenance_interval);
      if (stopping_) return;
    }
    MaintainOnce();
  }
}

void PoolManager::Impl::MaintainOnce() {
  std::vector<std::pair<std::shared_ptr<SnapshotPool>, std::unique_ptr<PooledIsolate>>> collect;
  {
    base::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    const bool tight = memory_bytes_ > global_.memory_budget_bytes / 10 * 9;
    const bool critical = memory_bytes_ > global_.memory_budget_bytes;
    for (auto& [id, p] : pools_) {
      SnapshotPool& pool = *p;
      SnapshotPool::State& state = pool.state(mu_);
      if (!state.loaded) continue;
      state.restore_failed = false;
      for (size_t i = 0; i < state.warm.size();) {
        if (now - state.warm[i]->js->created_at() > pool.policy().max_age) {
          std::unique_ptr<PooledIsolate> old = std::move(state.warm[i]);
          state.warm.erase(state.warm.begin() + static_cast<std::ptrdiff_t>(i));
          CondemnLocked(pool, std::move(old), engine::CondemnReason::kMaxAge);
        } else {
          ++i;
        }
      }
      // The warm list is sorted by last use: the front is the longest idle.
      while (state.Available() > pool.policy().min_warm && !state.warm.empty() &&
             now - state.warm.front()->last_used >= pool.policy().idle_release) {
        RetireLocked(std::move(state.warm.front()));
        state.warm.pop_front();
      }
      if (tight) {
        for (auto& isolate : state.warm) isolate->js->MemoryPressure(critical);
      }
      if (state.maintaining > 0) continue;
      // Collect one idle isolate per pool per round; the longest idle first.
      for (size_t i = 0; i < state.warm.size(); ++i) {
        PooledIsolate& isolate = *state.warm[i];
        if (isolate.gc_done || now - isolate.last_used < global_.maintenance_interval) continue;
        ++state.maintaining;
        collect.emplace_back(p, std::move(state.warm[i]));
        state.warm.erase(state.warm.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    RefillAllLocked();
  }
  for (auto& [pool, isolate] : collect) {
    bool done = isolate->js->IdleCollect(global_.idle_gc_budget);
    isolate->stats = isolate->js->GetHeapStats();
    // V8 reports "done" when it has no idle work scheduled, even with garbage in the old
    // generation (no major GC ran under load): then one memory-reducing GC, once per idle spell.
    const bool grown =
        isolate->stats.used_bytes > isolate->baseline_used_bytes + kGrowthBeforeFullGc;
    if ((done && grown) || (!done && ++isolate->gc_steps >= kIdleStepsBeforeFullGc)) {
      isolate->js->CollectAll();
      isolate->stats = isolate->js->GetHeapStats();
      done = true;
    }
    base::MutexLock lock(&mu_);
    --pool->state(mu_).maintaining;
    isolate->gc_done = done;
    AccountLocked(*isolate);
    OfferLocked(*pool, std::move(isolate));
  }
  if (disposed_since_trim_.exchange(0, std::memory_order_relaxed) > 0) malloc_trim(0);
}

}  // namespace isopool::pool
