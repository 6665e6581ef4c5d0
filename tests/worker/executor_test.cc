// worker::Executor: a bounded queue in front of a fixed set of threads, which replaces threads
// stuck in a task and lets the surplus go once they come back.
#include "worker/executor.h"

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace isopool::worker {
namespace {

TEST(ExecutorTest, RunsEveryQueuedTaskOnItsThreads) {
  std::atomic<int> ran{0};
  std::promise<void> all_ran;
  {
    Executor executor("test", 2, 100);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(executor.TrySubmit([&] {
        if (++ran == 50) all_ran.set_value();
      }));
    }
    all_ran.get_future().wait();
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ExecutorTest, RefusesATaskWhenTheQueueIsFull) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  Executor executor("test", 1, 1);  // declared last: it joins its threads before the rest goes
  ASSERT_TRUE(executor.TrySubmit([&] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();  // the only thread is busy; the queue holds one
  EXPECT_TRUE(executor.TrySubmit([] {}));
  EXPECT_FALSE(executor.TrySubmit([] {}));
  release.set_value();
}

TEST(ExecutorTest, DestructorRunsWhatIsQueuedThenJoins) {
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  {
    Executor executor("test", 1, 10);
    ASSERT_TRUE(executor.TrySubmit([&] { released.wait(); }));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(executor.TrySubmit([&] { ++ran; }));
    release.set_value();
  }
  EXPECT_EQ(ran.load(), 5);
}

TEST(ExecutorTest, AStuckThreadIsReplacedAndTheSurplusLeavesWhenItComesBack) {
  std::promise<void> unstick;
  std::shared_future<void> unstuck = unstick.get_future().share();
  std::promise<void> stuck_started;
  std::promise<void> came_back;
  Executor executor("test", 1, 10);
  ASSERT_TRUE(executor.TrySubmit([&] {
    stuck_started.set_value();
    unstuck.wait();
    executor.StuckTaskDone();
    came_back.set_value();
  }));
  stuck_started.get_future().wait();
  executor.ThreadStuck(/*max_stuck=*/1);
  EXPECT_EQ(executor.threads(), 2);
  // The replacement serves the queue while the stuck task still runs.
  std::promise<void> served;
  ASSERT_TRUE(executor.TrySubmit([&] { served.set_value(); }));
  served.get_future().wait();
  // At most max_stuck replacements.
  executor.ThreadStuck(1);
  EXPECT_EQ(executor.threads(), 2);
  unstick.set_value();
  came_back.get_future().wait();
  // Back to one thread: the thread that was stuck leaves as soon as it looks for work again.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (executor.threads() > 1 && absl::Now() < deadline) std::this_thread::yield();
  EXPECT_EQ(executor.threads(), 1);
  std::promise<void> still_serving;
  ASSERT_TRUE(executor.TrySubmit([&] { still_serving.set_value(); }));
  still_serving.get_future().wait();
}

}  // namespace
}  // namespace isopool::worker
