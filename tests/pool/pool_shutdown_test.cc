// Destroying a PoolManager: pool_manager.h says every Lease must be gone by then, and ~PoolManager
// enforces it (a leased isolate left aborts, in builds with assertions on).
#include <memory>

#include "gtest/gtest.h"
#include "pool/pool_manager.h"
#include "tests/pool/pool_test_util.h"

namespace isopool::pool {
namespace {

using testing::Deadline;
using testing::InMemorySource;
using testing::TestGlobalPolicy;
using testing::TestWatchdog;

TEST(PoolShutdownDeathTest, DestroyingTheManagerWithALeaseOutAborts) {
  // V8 has threads running: the child re-runs the binary rather than forking them.
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_DEATH(
      {
        InMemorySource source;
        auto pools =
            std::make_unique<PoolManager>(source, TestGlobalPolicy(), PoolPolicy{}, TestWatchdog());
        absl::StatusOr<Lease> lease = pools->Acquire("", Deadline());
        pools.reset();  // dies here when the lease is out; no lease means no death: a failure
      },
      "PoolManager destroyed with 1 isolate\\(s\\) still leased");
}

}  // namespace
}  // namespace isopool::pool
