// Sizing: background refill, idle release, the global memory budget with LRU eviction, and
// idle maintenance. Real time with short intervals (maintenance every 20 ms); no fake clock.
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pool/pool_manager.h"
#include "tests/pool/pool_test_util.h"

namespace isopool::pool {
namespace {

using testing::CountingEngineObserver;
using testing::CountingPoolObserver;
using testing::Deadline;
using testing::Function;
using testing::InMemorySource;
using testing::QuickLimits;
using testing::Source;
using testing::TestGlobalPolicy;
using testing::TestPoolPolicy;
using testing::TestWatchdog;
using testing::WaitFor;

std::vector<Lease> AcquireMany(PoolManager& pools, const std::string& id, int n) {
  std::vector<Lease> leases;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<Lease> lease = pools.Acquire(id, Deadline());
    EXPECT_TRUE(lease.ok()) << lease.status();
    if (lease.ok()) leases.push_back(*std::move(lease));
  }
  return leases;
}

TEST(PoolBudgetTest, BackgroundRefillRestoresMinWarmAfterABurst) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kFresh);
  policy.min_warm = 3;
  policy.max_isolates = 6;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  ASSERT_TRUE(pools.Prewarm("b").ok());
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 3; }));
  {
    std::vector<Lease> burst = AcquireMany(pools, "b", 6);
    ASSERT_EQ(burst.size(), 6u);
    EXPECT_EQ(pools.Stats("b").warm, 0);
    for (Lease& lease : burst) EXPECT_FALSE(lease.Run(Source("1"), QuickLimits()).error);
  }  // fresh mode: six spent isolates go to the background disposer
  ASSERT_TRUE(WaitFor([&] {
    SnapshotPoolStats s = pools.Stats("b");
    return s.warm == 3 && s.restoring == 0;
  }));
  EXPECT_EQ(pools.Stats("b").busy, 0);
  EXPECT_GE(pools.Stats("b").restores, 9u);  // 3 prewarmed + 3 for the burst + 3 refilled
  EXPECT_EQ(pools.Stats().warm, 3);
}

TEST(PoolBudgetTest, IdleIsolatesBeyondMinWarmAreReleased) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kContext);
  policy.min_warm = 1;
  policy.max_isolates = 4;
  policy.idle_release = absl::Milliseconds(100);
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  { std::vector<Lease> burst = AcquireMany(pools, "b", 4); }
  // Context mode: the four come back warm (after their spare context is made) ...
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 4; }));
  // ... and idle release brings the pool back to min_warm.
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 1; }));
  EXPECT_EQ(pools.Stats().warm, 1);
}

TEST(PoolBudgetTest, OverBudgetEvictsTheLeastRecentlyUsedIdlePoolThenRefuses) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kContext);
  policy.min_warm = 1;
  policy.max_isolates = 1;
  for (const char* id : {"a", "b", "c"}) source.AddBlank(id, policy);
  GlobalPolicy global = TestGlobalPolicy();
  // The overhead dominates, so two isolates fit and a third does not.
  global.per_isolate_overhead_bytes = size_t{64} << 20;
  global.memory_budget_bytes = size_t{2 * 64 + 40} << 20;
  CountingPoolObserver observer;
  PoolManager pools(source, global, PoolPolicy{}, TestWatchdog(), engine::NoopEngineObserver(),
                    observer);
  auto use = [&](const std::string& id) {
    absl::StatusOr<Lease> lease = pools.Acquire(id, Deadline());
    ASSERT_TRUE(lease.ok()) << id << ": " << lease.status();
    EXPECT_EQ(lease->Run(Source("1"), QuickLimits()).result_json, "1");
  };
  use("a");
  use("b");
  use("a");  // now b is the least recently used
  ASSERT_TRUE(WaitFor([&] { return pools.Stats().warm == 2; }));
  use("c");  // needs room: evicts b, not a
  EXPECT_EQ(observer.evictions.load(), 1);
  EXPECT_EQ(pools.Stats("b").warm, 0);
  EXPECT_EQ(pools.Stats("a").warm, 1);
  EXPECT_EQ(pools.Stats().pools, 2);
  EXPECT_LE(pools.Stats().memory_used_bytes, global.memory_budget_bytes);

  // With every pool busy, nothing is idle to evict: a new isolate is refused.
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("c").warm == 1; }));
  absl::StatusOr<Lease> hold_a = pools.Acquire("a", Deadline());
  absl::StatusOr<Lease> hold_c = pools.Acquire("c", Deadline());
  ASSERT_TRUE(hold_a.ok() && hold_c.ok());
  absl::StatusOr<Lease> refused = pools.Acquire("b", Deadline());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(observer.evictions.load(), 1);
}

TEST(PoolBudgetTest, GlobalIsolateCapIsEnforced) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kContext);
  policy.min_warm = 0;
  policy.max_isolates = 4;
  source.AddBlank("a", policy);
  source.AddBlank("b", policy);
  GlobalPolicy global = TestGlobalPolicy();
  global.max_isolates = 2;
  PoolManager pools(source, global, PoolPolicy{}, TestWatchdog());
  std::vector<Lease> held = AcquireMany(pools, "a", 2);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(pools.Acquire("b", Deadline()).status().code(), absl::StatusCode::kResourceExhausted);
  // Pool a itself waits for its own busy isolates rather than growing past the cap.
  EXPECT_EQ(pools.Acquire("a", absl::Now() + absl::Milliseconds(30)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(PoolBudgetTest, IdleMaintenanceCollectsGarbageOfIdleIsolates) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kShared);
  policy.min_warm = 1;
  policy.max_isolates = 1;
  policy.isolate.heap_limit_bytes = 128 << 20;
  source.Add("s", testing::TestEnvelope(), policy);
  CountingEngineObserver gc;
  GlobalPolicy global = TestGlobalPolicy();
  global.maintenance_interval = absl::Milliseconds(50);
  PoolManager pools(source, global, PoolPolicy{}, TestWatchdog(), gc);
  size_t heap_after_call = 0;
  {
    absl::StatusOr<Lease> lease = pools.Acquire("s", Deadline());
    ASSERT_TRUE(lease.ok());
    engine::CallLimits limits = QuickLimits();
    limits.wall = limits.cpu = absl::Seconds(5);
    engine::CallResult r = lease->Run(Function("garbage", "[150000]"), limits);
    ASSERT_FALSE(r.error) << r.error->message;
    heap_after_call = r.stats.heap_after_bytes;
  }
  const int mark_sweeps_before = gc.mark_sweeps.load();
  ASSERT_GT(heap_after_call, size_t{8} << 20);
  ASSERT_GT(pools.Stats().heap_used_bytes, size_t{8} << 20);
  // No call runs now: only maintenance can collect the garbage the call left.
  ASSERT_TRUE(WaitFor([&] { return pools.Stats().heap_used_bytes < heap_after_call / 2; }))
      << pools.Stats().heap_used_bytes << " of " << heap_after_call;
  EXPECT_GT(gc.mark_sweeps.load(), mark_sweeps_before);
  EXPECT_EQ(pools.Stats("s").warm, 1);
  EXPECT_LT(pools.Stats().memory_used_bytes, heap_after_call + global.per_isolate_overhead_bytes);
}

// Context mode drops one context per call; V8 keeps a dropped context until a full GC. Once more
// than 16 native contexts pile up (pool_lifecycle.cc, kMaxNativeContexts) the isolate gets a
// full GC before its next use, so the first one comes after 16 or so calls, not after each.
TEST(PoolBudgetTest, ContextModeCollectsOncePastSixteenDroppedContexts) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kContext);
  policy.min_warm = 1;
  policy.max_isolates = 1;
  source.AddBlank("c", policy);
  CountingEngineObserver gc;
  GlobalPolicy global = TestGlobalPolicy();
  global.maintenance_interval = absl::Hours(1);  // no idle GC
  PoolManager pools(source, global, PoolPolicy{}, TestWatchdog(), gc);
  // The collection runs after a call's release, before the isolate is warm again: the next
  // Acquire (one isolate) waits for it. So calls_before_gc counts the calls that preceded it.
  int calls_before_gc = 0;
  for (int calls = 0; calls < 24; ++calls) {
    absl::StatusOr<Lease> lease = pools.Acquire("c", Deadline());
    ASSERT_TRUE(lease.ok()) << lease.status();
    if (gc.mark_sweeps.load() > 0) {
      calls_before_gc = calls;
      break;
    }
    ASSERT_EQ(lease->Run(Source("[1, 2, 3].length"), QuickLimits()).result_json, "3");
  }
  // 0 when no full GC came within 24 calls. (Here: 17, with no GC of any kind before it.)
  EXPECT_GE(calls_before_gc, 14) << "the first full GC came too early (or never)";
  EXPECT_LE(calls_before_gc, 17);
  EXPECT_EQ(pools.Stats("c").condemned, 0u);
}

// Counts mark-sweeps (CountingEngineObserver) and timer sleeps that began.
class SleepAndGcObserver : public CountingEngineObserver {
 public:
  void OnTimerSleep(bool sleeping, absl::Duration) override {
    if (sleeping) sleeps++;
  }
  std::atomic<int> sleeps{0};
};

TEST(PoolBudgetTest, CriticalMemoryPressureCollectsInTheBusyCallAndAtTheWarmIsolatesNextLoop) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kShared);
  policy.min_warm = 2;
  policy.max_isolates = 2;
  source.AddBlank("b", policy);
  SleepAndGcObserver observer;
  GlobalPolicy global = TestGlobalPolicy();
  global.maintenance_interval = absl::Hours(1);  // no idle GC or budget pressure of its own
  PoolManager pools(source, global, PoolPolicy{}, TestWatchdog(), observer);
  ASSERT_TRUE(pools.Prewarm("b").ok());
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 2; }));
  absl::StatusOr<Lease> busy = pools.Acquire("b", Deadline());
  ASSERT_TRUE(busy.ok());
  // The busy isolate's call settles only when an object it dropped is finalized, which takes a
  // full GC; its timers allocate too little to cause one within the call's 5 s.
  std::thread runner([&] {
    engine::CallLimits limits = QuickLimits();
    limits.wall = limits.cpu = absl::Seconds(5);
    engine::CallResult r = busy->Run(Source(R"(
        new Promise(resolve => {
          globalThis.registry = new FinalizationRegistry(held => resolve(held));
          registry.register({}, "finalized");
          (function wait() { setTimeout(wait, 2); })();
        }))"),
                                     limits);
    EXPECT_FALSE(r.error) << r.error->message;
    EXPECT_EQ(r.result_json, R"("finalized")");
  });
  // Once the call sleeps on a timer, the object is registered and dropped.
  ASSERT_TRUE(WaitFor([&] { return observer.sleeps.load() > 0; }));
  pools.MemoryPressure(/*critical=*/true);
  runner.join();
  // The warm isolate ran nothing since. V8 left the collection to a task on its foreground
  // queue, which runs when a call next turns its event loop (a call that never waits on a timer
  // did not collect here: the GC interrupt V8 also requested, from another thread, never fired).
  // The busy lease is still held, so this call takes the warm isolate.
  const int mark_sweeps_before = observer.mark_sweeps.load();
  {
    absl::StatusOr<Lease> warm = pools.Acquire("b", Deadline());
    ASSERT_TRUE(warm.ok());
    EXPECT_EQ(
        warm->Run(Source("new Promise(r => setTimeout(() => r(1), 1))"), QuickLimits()).result_json,
        "1");
  }
  EXPECT_GT(observer.mark_sweeps.load(), mark_sweeps_before);
  EXPECT_EQ(pools.Stats("b").condemned, 0u);
}

}  // namespace
}  // namespace isopool::pool
