// Acquire and release: contention, the wait queue's two failure statuses, cold-start sharing,
// Remove, and errors from the source.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pool/pool_manager.h"
#include "tests/pool/pool_test_util.h"

namespace isopool::pool {
namespace {

using testing::CountingPoolObserver;
using testing::Deadline;
using testing::InMemorySource;
using testing::QuickLimits;
using testing::Source;
using testing::TestGlobalPolicy;
using testing::TestPoolPolicy;
using testing::TestWatchdog;
using testing::WaitFor;

TEST(PoolAcquireTest, ContentionFromManyThreadsNeverExceedsMaxIsolates) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kContext);
  policy.max_isolates = 3;
  policy.max_queue = 64;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  constexpr int kThreads = 8;
  constexpr int kCalls = 40;
  std::atomic<int> in_use{0}, max_in_use{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        absl::StatusOr<Lease> lease = pools.Acquire("b", Deadline());
        ASSERT_TRUE(lease.ok()) << lease.status();
        int now = ++in_use;
        int seen = max_in_use.load();
        while (now > seen && !max_in_use.compare_exchange_weak(seen, now)) {
        }
        engine::CallResult r =
            lease->Run(Source(std::to_string(t) + " * 1000 + " + std::to_string(i)), QuickLimits());
        --in_use;
        ASSERT_FALSE(r.error) << r.error->message;
        EXPECT_EQ(r.result_json, std::to_string(t * 1000 + i));
        ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCalls);
  EXPECT_LE(max_in_use.load(), 3);
  EXPECT_GE(max_in_use.load(), 2);  // the pool did grow under contention
  SnapshotPoolStats stats = pools.Stats("b");
  EXPECT_EQ(stats.busy, 0);
  EXPECT_EQ(stats.waiting, 0);
  EXPECT_LE(stats.restores, 3u);  // context mode reuses isolates
}

TEST(PoolAcquireTest, DeadlineAndFullQueueHaveDistinctStatuses) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy();
  policy.max_isolates = 1;
  policy.max_queue = 1;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  auto held = std::make_unique<absl::StatusOr<Lease>>(pools.Acquire("b", Deadline()));
  ASSERT_TRUE(held->ok()) << held->status();

  // Nothing free until the deadline: DeadlineExceeded, after waiting for it.
  absl::Time start = absl::Now();
  absl::StatusOr<Lease> late = pools.Acquire("b", absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(pools.Stats("b").waiting, 0);  // the timed-out waiter left the queue

  // One caller fills the queue; the next is refused at once with ResourceExhausted.
  std::thread waiter([&] {
    absl::StatusOr<Lease> lease = pools.Acquire("b", Deadline());
    EXPECT_TRUE(lease.ok()) << lease.status();
  });
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").waiting == 1; }));
  start = absl::Now();
  absl::StatusOr<Lease> refused = pools.Acquire("b", Deadline());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));

  // A release hands the isolate to the queued caller.
  held.reset();
  waiter.join();
  EXPECT_EQ(pools.Stats("b").busy, 0);
}

TEST(PoolAcquireTest, WaitersAreServedInFifoOrder) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy();
  policy.max_isolates = 1;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  auto held = std::make_unique<absl::StatusOr<Lease>>(pools.Acquire("b", Deadline()));
  ASSERT_TRUE(held->ok());
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<Lease> lease = pools.Acquire("b", Deadline());
      ASSERT_TRUE(lease.ok());
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    });
    ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").waiting == i + 1; }));
  }
  held.reset();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(PoolAcquireTest, ColdPoolWithConcurrentWaitersLoadsAndRestoresOnceOnPath) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy();
  policy.min_warm = 1;
  policy.max_isolates = 3;
  source.Add("s", testing::TestEnvelope(), policy);
  CountingPoolObserver observer;
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog(),
                    engine::NoopEngineObserver(), observer);
  source.Close();  // hold the first caller inside Load while the others arrive
  constexpr int kCallers = 8;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<Lease> lease = pools.Acquire("s", Deadline());
      ASSERT_TRUE(lease.ok()) << lease.status();
      engine::CallResult r = lease->Run(testing::Function("inc", "[41]"), QuickLimits());
      EXPECT_EQ(r.result_json, "42");
      ++ok;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("s").waiting == kCallers - 1; }));
  EXPECT_EQ(pools.Stats("s").restoring, 0);  // waiters start nothing while the pool loads
  source.Open();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kCallers);
  EXPECT_EQ(source.loads(), 1);
  // One restore on a request's path (the first caller's); the rest came from background
  // restores bounded by max_isolates, not one per caller.
  EXPECT_EQ(observer.restores_on_path.load(), 1);
  EXPECT_LE(pools.Stats("s").restores, 3u);
}

TEST(PoolAcquireTest, UnknownSnapshotIsNotFoundAndLeavesNoPool) {
  InMemorySource source;
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  absl::StatusOr<Lease> lease = pools.Acquire("missing", Deadline());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pools.Stats().pools, 0);
  EXPECT_EQ(pools.Prewarm("missing").code(), absl::StatusCode::kNotFound);
}

TEST(PoolAcquireTest, BlankIdUsesTheBlankPolicy) {
  InMemorySource source;
  PoolPolicy blank = TestPoolPolicy(IsolationMode::kShared);
  PoolManager pools(source, TestGlobalPolicy(), blank, TestWatchdog());
  absl::StatusOr<Lease> lease = pools.Acquire("", Deadline());
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->isolation(), IsolationMode::kShared);
  EXPECT_FALSE(lease->warm());  // cold: restored on this request's path
  EXPECT_GT(lease->restore_on_path(), absl::ZeroDuration());
  EXPECT_EQ(lease->Run(Source("6 * 7"), QuickLimits()).result_json, "42");
  EXPECT_EQ(source.loads(), 0);
  EXPECT_STREQ(IsolationModeName(IsolationMode::kFresh), "fresh");
  EXPECT_STREQ(IsolationModeName(IsolationMode::kContext), "context");
  EXPECT_STREQ(IsolationModeName(IsolationMode::kShared), "shared");
}

TEST(PoolAcquireTest, PrewarmedPoolServesWarm) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy();
  policy.min_warm = 2;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  ASSERT_TRUE(pools.Prewarm("b").ok());
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 2; }));
  absl::StatusOr<Lease> lease = pools.Acquire("b", Deadline());
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(lease->warm());
  EXPECT_EQ(lease->restore_on_path(), absl::ZeroDuration());
}

TEST(PoolAcquireTest, RemoveDrainsThePool) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy();
  policy.min_warm = 2;
  policy.max_isolates = 3;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  ASSERT_TRUE(pools.Prewarm("b").ok());
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 2; }));
  auto held = std::make_unique<absl::StatusOr<Lease>>(pools.Acquire("b", Deadline()));
  auto held2 = std::make_unique<absl::StatusOr<Lease>>(pools.Acquire("b", Deadline()));
  auto held3 = std::make_unique<absl::StatusOr<Lease>>(pools.Acquire("b", Deadline()));
  ASSERT_TRUE(held->ok() && held2->ok() && held3->ok());
  uint64_t old_id = (**held).isolate().id();
  absl::Status waiter_status;
  std::thread waiter([&] { waiter_status = pools.Acquire("b", Deadline()).status(); });
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").waiting == 1; }));

  pools.Remove("b");
  waiter.join();
  EXPECT_EQ(waiter_status.code(), absl::StatusCode::kUnavailable) << waiter_status;
  EXPECT_EQ(pools.Stats().pools, 0);
  EXPECT_EQ(pools.Stats("b").busy, 0);
  // Busy isolates are disposed when their leases end, not returned to any pool.
  held.reset();
  held2.reset();
  held3.reset();
  ASSERT_TRUE(WaitFor([&] { return pools.Stats().memory_used_bytes == 0; }));
  EXPECT_EQ(pools.Stats().warm, 0);

  // A later Acquire makes a new pool: loaded again, with new isolates.
  absl::StatusOr<Lease> again = pools.Acquire("b", Deadline());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->isolate().id(), old_id);
  EXPECT_EQ(source.loads(), 2);
}

}  // namespace
}  // namespace isopool::pool
