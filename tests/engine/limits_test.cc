// Limits: every hostile script ends in a structured error, the process lives, the isolate is
// condemned where its state is unknown, and the next call on a fresh isolate works.
#include "engine/js_isolate.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

using testing::NewIsolate;
using testing::QuickLimits;
using testing::RunSource;

// A fresh isolate still works after whatever the previous test did to its own.
void ExpectNextCallWorks() {
  CallResult r = RunSource("40 + 2");
  ASSERT_TRUE(r.status.ok());
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, "42");
}

TEST(LimitsTest, InfiniteLoopTimesOutAndCondemns) {
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(50);
  limits.cpu = absl::Seconds(10);
  CallResult r = RunSource("while (true) {}", limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
  EXPECT_EQ(r.condemned, CondemnReason::kTimeout);
  EXPECT_LT(r.stats.wall, absl::Milliseconds(400));
  ExpectNextCallWorks();
}

TEST(LimitsTest, CpuLimitIsSeparateFromWallLimit) {
  CallLimits limits = QuickLimits();
  limits.wall = absl::Seconds(10);
  limits.cpu = absl::Milliseconds(50);
  CallResult r = RunSource("for (;;) { Math.sqrt(Math.random()); }", limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kCpuLimit);
  EXPECT_EQ(r.condemned, CondemnReason::kCpuLimit);
  EXPECT_GE(r.stats.cpu, absl::Milliseconds(50));
  ExpectNextCallWorks();
}

TEST(LimitsTest, BlockedThreadUsesWallNotCpu) {
  // Atomics.wait sleeps without burning CPU: only the wall limit can stop it.
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(100);
  limits.cpu = absl::Milliseconds(50);
  CallResult r = RunSource(
      "const a = new Int32Array(new SharedArrayBuffer(4)); Atomics.wait(a, 0, 0, 5000); 1", limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
  EXPECT_LT(r.stats.cpu, absl::Milliseconds(50));
  ExpectNextCallWorks();
}

TEST(LimitsTest, MicrotaskLoopIsStopped) {
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(100);
  CallResult r = RunSource("async function f() { for (;;) await 0; } f(); 'returned'", limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
  EXPECT_NE(r.condemned, CondemnReason::kNone);
  ExpectNextCallWorks();
}

TEST(LimitsTest, AwaitedMicrotaskLoopInResultIsStopped) {
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(100);
  CallResult r = RunSource("(async () => { for (;;) await 0; })()", limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
  ExpectNextCallWorks();
}

TEST(LimitsTest, HeapHogHitsMemoryLimitAndProcessLives) {
  IsolateOptions options;
  options.heap_limit_bytes = 32 << 20;
  CallLimits limits = QuickLimits();
  limits.wall = absl::Seconds(10);
  limits.cpu = absl::Seconds(10);
  CallResult r = RunSource(
      "const a = []; for (;;) a.push({x: Math.random(), s: 'abc' + a.length});", limits, options);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kMemoryLimit);
  EXPECT_EQ(r.condemned, CondemnReason::kMemoryLimit);
  ExpectNextCallWorks();
}

TEST(LimitsTest, PerCallHeapLimitBelowTheIsolates) {
  IsolateOptions options;
  options.heap_limit_bytes = 256 << 20;
  CallLimits limits = QuickLimits();
  limits.wall = absl::Seconds(10);
  limits.heap_bytes = 16 << 20;
  CallResult r =
      RunSource("const a = []; for (;;) a.push(new Array(1000).fill(1.5));", limits, options);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kMemoryLimit);
  ExpectNextCallWorks();
}

TEST(LimitsTest, DeepRecursionIsARangeError) {
  CallResult r = RunSource("function f(n) { return f(n + 1) + 1; } f(0)");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kException);
  EXPECT_NE(r.error->message.find("RangeError: Maximum call stack size exceeded"),
            std::string::npos)
      << r.error->message;
  EXPECT_EQ(r.condemned, CondemnReason::kNone);
  ExpectNextCallWorks();
}

TEST(LimitsTest, HugeArrayBufferIsACleanError) {
  IsolateOptions options;
  options.max_array_buffer_bytes = 16 << 20;
  CallResult r = RunSource("new ArrayBuffer(2 ** 31).byteLength", QuickLimits(), options);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kException);
  EXPECT_NE(r.error->message.find("RangeError"), std::string::npos) << r.error->message;
  // Within the cap, ArrayBuffers work.
  EXPECT_EQ(RunSource("new ArrayBuffer(1 << 20).byteLength", QuickLimits(), options).result_json,
            "1048576");
  ExpectNextCallWorks();
}

TEST(LimitsTest, ArrayBufferCapCountsLiveBuffers) {
  IsolateOptions options;
  options.max_array_buffer_bytes = 8 << 20;
  CallResult r = RunSource(
      "const keep = []; for (let i = 0; i < 16; i++) keep.push(new "
      "ArrayBuffer(1 << 20)); keep.length",
      QuickLimits(), options);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("RangeError"), std::string::npos) << r.error->message;
}

TEST(LimitsTest, CondemnedIsolateRefusesFurtherCalls) {
  auto isolate = NewIsolate(Snapshot::Blank());
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(20);
  CallRequest loop;
  loop.source = "while (true) {}";
  CallResult r = isolate->Run(loop, limits, JsIsolate::ContextUse::kShared);
  EXPECT_EQ(r.condemned, CondemnReason::kTimeout);
  EXPECT_EQ(isolate->condemned(), CondemnReason::kTimeout);
  CallRequest again;
  again.source = "1";
  EXPECT_EQ(isolate->Run(again, limits, JsIsolate::ContextUse::kShared).status.code(),
            absl::StatusCode::kFailedPrecondition);
}

// Code that V8 cannot interrupt: a huge fill runs to completion in one builtin. The watchdog
// still marks the call (timeout) and the isolate is condemned; the worst case is the time the
// builtin takes, bounded here by the heap limit. The fill writes 160 MB, which no machine does in
// the 1 ms wall limit, so the call always overruns.
TEST(LimitsTest, UninterruptibleBuiltinIsCondemnedWhenItReturns) {
  IsolateOptions options;
  options.heap_limit_bytes = 512 << 20;
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(1);
  limits.cpu = absl::Seconds(10);
  CallResult r = RunSource("new Array(2e7).fill(1.5).length", limits, options);
  ASSERT_TRUE(r.error.has_value()) << "finished in " << r.stats.wall << ": " << r.result_json;
  EXPECT_TRUE(r.error->kind == ErrorKind::kTimeout || r.error->kind == ErrorKind::kMemoryLimit)
      << ErrorKindName(r.error->kind);
  EXPECT_NE(r.condemned, CondemnReason::kNone);
  ExpectNextCallWorks();
}

TEST(LimitsTest, WatchdogHasNoLeftoverWatches) {
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(10);
  RunSource("while (true) {}", limits);
  RunSource("1", limits);
  EXPECT_EQ(testing::TestWatchdog().active(), 0);
}

}  // namespace
}  // namespace isopool::engine
