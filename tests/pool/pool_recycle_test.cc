// Isolation modes and recycling: what one call can see of the last, and condemned isolates
// never coming back.
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "pool/pool_manager.h"
#include "tests/pool/pool_test_util.h"

namespace isopool::pool {
namespace {

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

struct Call {
  uint64_t isolate_id;
  engine::CallResult result;
};

Call RunOnce(PoolManager& pools, const std::string& id, const engine::CallRequest& request,
             const engine::CallLimits& limits = QuickLimits()) {
  absl::StatusOr<Lease> lease = pools.Acquire(id, Deadline());
  EXPECT_TRUE(lease.ok()) << lease.status();
  if (!lease.ok()) return {0, {}};
  return {lease->isolate().id(), lease->Run(request, limits)};
}

class ModeTest : public ::testing::TestWithParam<IsolationMode> {};

TEST_P(ModeTest, GlobalFromOneCallIsVisibleToTheNextOnlyInSharedMode) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(GetParam());
  policy.max_isolates = 1;  // context and shared must reuse the one isolate
  source.Add("s", testing::TestEnvelope(), policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  Call first = RunOnce(pools, "s", Function("setLeak"));
  ASSERT_FALSE(first.result.error) << first.result.error->message;
  // Inline source sees the bundle's context as well.
  Call second = RunOnce(pools, "s", Function("readLeak"));
  Call third = RunOnce(pools, "s", Source("typeof leak"));
  ASSERT_TRUE(second.result.status.ok()) << second.result.status;
  ASSERT_FALSE(second.result.error) << second.result.error->message;
  switch (GetParam()) {
    case IsolationMode::kFresh:
      EXPECT_EQ(second.result.result_json, "\"undefined\"");
      EXPECT_EQ(third.result.result_json, "\"undefined\"");
      EXPECT_NE(first.isolate_id, second.isolate_id);  // a never-used isolate per call
      EXPECT_NE(second.isolate_id, third.isolate_id);
      break;
    case IsolationMode::kContext:
      EXPECT_EQ(second.result.result_json, "\"undefined\"");
      EXPECT_EQ(third.result.result_json, "\"undefined\"");
      EXPECT_EQ(first.isolate_id, second.isolate_id);  // same isolate, new context
      break;
    case IsolationMode::kShared:
      EXPECT_EQ(second.result.result_json, "\"number\"");
      EXPECT_EQ(third.result.result_json, "\"number\"");
      EXPECT_EQ(first.isolate_id, second.isolate_id);
      break;
  }
}

TEST_P(ModeTest, TimedOutIsolateIsReplacedAndNeverReused) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(GetParam());
  policy.max_isolates = 1;
  source.AddBlank("b", policy);
  CountingPoolObserver observer;
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog(),
                    engine::NoopEngineObserver(), observer);
  engine::CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(50);
  // The hog leaves a global behind, then loops until the watchdog stops it.
  Call hog = RunOnce(pools, "b", Source("globalThis.hog = 1; while (true) {}"), limits);
  ASSERT_TRUE(hog.result.error);
  EXPECT_EQ(hog.result.error->kind, engine::ErrorKind::kTimeout);
  EXPECT_EQ(hog.result.condemned, engine::CondemnReason::kTimeout);
  std::set<uint64_t> later;
  for (int i = 0; i < 3; ++i) {
    Call next = RunOnce(pools, "b", Source("typeof hog"));
    ASSERT_FALSE(next.result.error) << next.result.error->message;
    EXPECT_EQ(next.result.result_json, "\"undefined\"");
    later.insert(next.isolate_id);
  }
  EXPECT_EQ(later.count(hog.isolate_id), 0u);
  EXPECT_EQ(pools.Stats("b").condemned, 1u);
  EXPECT_EQ(observer.condemned.load(), 1);
  EXPECT_EQ(observer.last_condemn_reason.load(), engine::CondemnReason::kTimeout);
}

INSTANTIATE_TEST_SUITE_P(AllModes, ModeTest,
                         ::testing::Values(IsolationMode::kFresh, IsolationMode::kContext,
                                           IsolationMode::kShared),
                         [](const auto& info) { return IsolationModeName(info.param); });

TEST(PoolRecycleTest, OutOfMemoryIsolateIsReplacedAndTheNextCallSucceeds) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kShared);
  policy.max_isolates = 1;
  policy.isolate.heap_limit_bytes = 16 << 20;
  source.AddBlank("b", policy);
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
  engine::CallLimits limits = QuickLimits();
  limits.wall = absl::Seconds(5);
  limits.cpu = absl::Seconds(5);
  Call hog = RunOnce(pools, "b",
                     Source("globalThis.hog = []; for (;;) hog.push({a: [1, 2, 3], s: 'x' + "
                            "hog.length});"),
                     limits);
  ASSERT_TRUE(hog.result.error);
  EXPECT_EQ(hog.result.error->kind, engine::ErrorKind::kMemoryLimit);
  Call next = RunOnce(pools, "b", Source("typeof hog"));
  ASSERT_FALSE(next.result.error) << next.result.error->message;
  EXPECT_EQ(next.result.result_json, "\"undefined\"");
  EXPECT_NE(next.isolate_id, hog.isolate_id);
  EXPECT_EQ(pools.Stats("b").condemned, 1u);
}

TEST(PoolRecycleTest, MaxUsesRetiresTheIsolate) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kShared);
  policy.max_isolates = 1;
  policy.max_uses = 3;
  source.AddBlank("b", policy);
  CountingPoolObserver observer;
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog(),
                    engine::NoopEngineObserver(), observer);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(RunOnce(pools, "b", Source("1")).isolate_id);
  EXPECT_EQ(ids[0], ids[2]);
  EXPECT_NE(ids[2], ids[3]);
  EXPECT_EQ(ids[3], ids[5]);
  EXPECT_EQ(observer.last_condemn_reason.load(), engine::CondemnReason::kMaxUses);
}

TEST(PoolRecycleTest, HeapLeftAfterACallAboveTheLimitRetiresTheIsolate) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kShared);
  policy.max_isolates = 1;
  policy.max_heap_after_call_bytes = 8 << 20;
  source.AddBlank("b", policy);
  CountingPoolObserver observer;
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog(),
                    engine::NoopEngineObserver(), observer);
  // Shared mode keeps what the global references: ~10+ MiB stays live.
  Call big = RunOnce(pools, "b",
                     Source("globalThis.keep = []; for (let i = 0; i < 200000; i++) "
                            "keep.push({i, s: 'v' + i}); keep.length"));
  ASSERT_FALSE(big.result.error) << big.result.error->message;
  ASSERT_GT(big.result.stats.heap_after_bytes, size_t{8} << 20);
  Call next = RunOnce(pools, "b", Source("typeof keep"));
  EXPECT_NE(next.isolate_id, big.isolate_id);
  EXPECT_EQ(next.result.result_json, "\"undefined\"");
  EXPECT_EQ(observer.last_condemn_reason.load(), engine::CondemnReason::kMaxHeap);
}

TEST(PoolRecycleTest, MaxAgeRetiresWarmIsolatesInTheBackground) {
  InMemorySource source;
  PoolPolicy policy = TestPoolPolicy(IsolationMode::kContext);
  policy.min_warm = 1;
  policy.max_age = absl::Milliseconds(100);
  source.AddBlank("b", policy);
  CountingPoolObserver observer;
  PoolManager pools(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog(),
                    engine::NoopEngineObserver(), observer);
  uint64_t first = RunOnce(pools, "b", Source("1")).isolate_id;
  // Maintenance condemns the aged warm isolate and refills min_warm with a new one.
  ASSERT_TRUE(WaitFor([&] { return observer.condemned.load() >= 1; }));
  EXPECT_EQ(observer.last_condemn_reason.load(), engine::CondemnReason::kMaxAge);
  ASSERT_TRUE(WaitFor([&] { return pools.Stats("b").warm == 1; }));
  absl::StatusOr<Lease> lease = pools.Acquire("b", Deadline());
  ASSERT_TRUE(lease.ok());
  EXPECT_NE(lease->isolate().id(), first);
}

}  // namespace
}  // namespace isopool::pool
