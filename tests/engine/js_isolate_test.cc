// JsIsolate: running calls, results, errors, console, promises, on the blank snapshot.
#include "engine/js_isolate.h"

#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

using testing::NewIsolate;
using testing::QuickLimits;
using testing::RunSource;

TEST(JsIsolateTest, EvaluatesInlineSourceToJson) {
  CallResult r = RunSource("1 + 2");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, "3");
  EXPECT_EQ(r.condemned, CondemnReason::kNone);
}

TEST(JsIsolateTest, JsonRoundTripsStructuredValues) {
  CallResult r = RunSource("({a: [1, 'two', {three: 3.5}], b: null, c: true, s: 'é\\n'})");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.result_json, R"({"a":[1,"two",{"three":3.5}],"b":null,"c":true,"s":"é\n"})");
}

TEST(JsIsolateTest, ValuesJsonCannotCarryAreDocumented) {
  EXPECT_EQ(RunSource("undefined").result_json, "null");
  EXPECT_EQ(RunSource("(() => 1)").result_json, "null");
  EXPECT_EQ(RunSource("({f() {}, u: undefined, x: 1})").result_json, R"({"x":1})");
  CallResult bigint = RunSource("10n ** 30n");
  ASSERT_TRUE(bigint.error);
  EXPECT_EQ(bigint.error->kind, ErrorKind::kResultNotJson);
  CallResult cycle = RunSource("const o = {}; o.self = o; o");
  ASSERT_TRUE(cycle.error);
  EXPECT_EQ(cycle.error->kind, ErrorKind::kResultNotJson);
  EXPECT_EQ(cycle.condemned, CondemnReason::kNone);
}

TEST(JsIsolateTest, SyntaxErrorIsStructured) {
  CallResult r = RunSource("let x = ;");
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kSyntax);
  EXPECT_NE(r.error->message.find("SyntaxError"), std::string::npos) << r.error->message;
  EXPECT_EQ(r.error->line, 1);
  EXPECT_GT(r.error->column, 0);
}

TEST(JsIsolateTest, ExceptionHasMessageAndStack) {
  CallResult r = RunSource("function inner() { throw new TypeError('bad thing'); }\ninner();");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kException);
  EXPECT_EQ(r.error->message, "TypeError: bad thing");
  EXPECT_NE(r.error->stack.find("inner (inline.js:1:"), std::string::npos) << r.error->stack;
  EXPECT_EQ(r.error->line, 1);
}

TEST(JsIsolateTest, ResultSizeIsCapped) {
  CallLimits limits = QuickLimits();
  limits.max_result_bytes = 100;
  CallResult r = RunSource("'x'.repeat(1000)", limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kResultTooLarge);
  EXPECT_TRUE(r.result_json.empty());
}

TEST(JsIsolateTest, ConsoleIsCapturedWithLevelsAndCap) {
  CallLimits limits = QuickLimits();
  limits.max_log_bytes = 64;
  CallResult r = RunSource(
      "console.log('hello', 1, {a: 2}); console.warn('careful'); console.error(new "
      "Error('e'));"
      "for (let i = 0; i < 100; i++) console.info('spam spam spam'); 7",
      limits);
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.result_json, "7");
  ASSERT_GE(r.logs.size(), 3u);
  EXPECT_EQ(r.logs[0].level, LogLevel::kLog);
  EXPECT_EQ(r.logs[0].message, R"(hello 1 {"a":2})");
  EXPECT_EQ(r.logs[1].level, LogLevel::kWarn);
  EXPECT_EQ(r.logs[2].level, LogLevel::kError);
  EXPECT_EQ(r.logs[2].message, "Error: e");
  EXPECT_TRUE(r.logs_truncated);
  size_t total = 0;
  for (const LogLine& line : r.logs) total += line.message.size();
  EXPECT_LE(total, 64u);
}

TEST(JsIsolateTest, PromiseResultIsSettled) {
  CallResult r =
      RunSource("(async () => { await null; return {done: await Promise.resolve(5)}; })()");
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, R"({"done":5})");
  CallResult rejected = RunSource("Promise.reject(new RangeError('nope'))");
  ASSERT_TRUE(rejected.error);
  EXPECT_EQ(rejected.error->kind, ErrorKind::kException);
  EXPECT_EQ(rejected.error->message, "RangeError: nope");
}

TEST(JsIsolateTest, PromiseThatCanNeverSettleIsItsOwnError) {
  CallResult r = RunSource("new Promise(() => {})");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kPromiseNeverSettled);
  EXPECT_EQ(r.condemned, CondemnReason::kNone);
}

TEST(JsIsolateTest, IntlWorksWithSystemIcu) {
  CallResult r = RunSource("new Intl.NumberFormat('de-DE').format(1234.5)");
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, "\"1.234,5\"");
}

TEST(JsIsolateTest, FreshContextForgetsGlobalsSharedContextKeepsThem) {
  auto isolate = NewIsolate(Snapshot::Blank());
  CallRequest set;
  set.source = "globalThis.counter = (globalThis.counter || 0) + 1";
  CallRequest get;
  get.source = "typeof counter === 'undefined' ? 0 : counter";
  isolate->Run(set, QuickLimits(), JsIsolate::ContextUse::kFresh);
  EXPECT_EQ(isolate->Run(get, QuickLimits(), JsIsolate::ContextUse::kFresh).result_json, "0");
  isolate->Run(set, QuickLimits(), JsIsolate::ContextUse::kShared);
  isolate->Run(set, QuickLimits(), JsIsolate::ContextUse::kShared);
  EXPECT_EQ(isolate->Run(get, QuickLimits(), JsIsolate::ContextUse::kShared).result_json, "2");
  EXPECT_EQ(isolate->uses(), 5);
}

TEST(JsIsolateTest, RestoreStepsAreTimed) {
  auto isolate = NewIsolate(Snapshot::Blank());
  EXPECT_GT(isolate->restore_duration(), absl::ZeroDuration());
  EXPECT_EQ(isolate->last_context_duration(), absl::ZeroDuration());
  ASSERT_TRUE(isolate->PrepareContext().ok());
  EXPECT_GT(isolate->last_context_duration(), absl::ZeroDuration());
}

TEST(JsIsolateTest, PreparedContextsAreConsumed) {
  auto isolate = NewIsolate(Snapshot::Blank());
  ASSERT_TRUE(isolate->PrepareContext().ok());
  ASSERT_TRUE(isolate->PrepareContext().ok());
  EXPECT_EQ(isolate->spare_contexts(), 2);
  CallRequest request;
  request.source = "1";
  isolate->Run(request, QuickLimits(), JsIsolate::ContextUse::kFresh);
  EXPECT_EQ(isolate->spare_contexts(), 1);
}

TEST(JsIsolateTest, BadRequestsAreStatusErrorsNotScriptErrors) {
  auto isolate = NewIsolate(Snapshot::Blank());
  CallRequest both;
  both.source = "1";
  both.function = "f";
  EXPECT_EQ(isolate->Run(both, QuickLimits(), JsIsolate::ContextUse::kFresh).status.code(),
            absl::StatusCode::kInvalidArgument);
  CallRequest function_on_blank;
  function_on_blank.function = "f";
  EXPECT_EQ(
      isolate->Run(function_on_blank, QuickLimits(), JsIsolate::ContextUse::kFresh).status.code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(JsIsolateTest, StatsAreFilledIn) {
  CallResult r = RunSource("let s = 0; for (let i = 0; i < 1e6; i++) s += i; s");
  EXPECT_GT(r.stats.wall, absl::ZeroDuration());
  EXPECT_GT(r.stats.cpu, absl::ZeroDuration());
  EXPECT_GT(r.stats.heap_before_bytes, 0u);
  EXPECT_GT(r.stats.heap_after_bytes, 0u);
}

TEST(JsIsolateTest, HeapStatsAreReported) {
  auto isolate = NewIsolate(Snapshot::Blank());
  ASSERT_TRUE(isolate->PrepareContext().ok());
  HeapStats stats = isolate->GetHeapStats();
  EXPECT_GT(stats.used_bytes, 0u);
  EXPECT_GE(stats.limit_bytes, stats.used_bytes);
  EXPECT_GE(stats.native_contexts, 1u);
}

}  // namespace
}  // namespace isopool::engine
