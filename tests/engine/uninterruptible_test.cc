// Code that V8 cannot interrupt. Some builtins and the parser run to completion in C++ without
// ever checking for a termination request, so the watchdog's TerminateExecution waits until
// they return. The engine's answer: the watchdog marks the call unresponsive once termination
// has not taken effect within `unresponsive_grace`, the call still ends with a structured error
// when V8 returns, and the isolate is condemned with CondemnReason::kUnresponsive, so the pool
// never hands it out again. The worker thread stays busy until V8 returns: nothing in-process
// can stop it sooner (the watchdog never kills threads). Going further (a replacement worker
// while one is stuck, or draining and restarting the process when too many are) is for the
// pool and the service.
//
// Measured with //bench/cold_start:uninterruptible_probe (V8 10.2.154.26-node.37, this 2-core
// machine, 512 MiB heap, 20 ms wall limit; "stop" = how long the call ran on after termination
// was requested):
//
//   construct                                       runs      stop after  interruptible?
//   new Array(3e7) then .fill(1.5)                  182 ms    156 ms      no
//   new Array(6e7).fill(0) (backing store > heap)   39.3 s    32.4 s      no: slow dictionary
//       path; heap grows past the limit (NearHeapLimitCallback keeps granting), ends in a
//       memory-limit error. The worst case found.
//   new Array(5e7).fill(1.5)                        54 s                  no (same slow path)
//   'x'.repeat(2e7).split('')                       163 ms    139 ms      no
//   JSON.parse, 1e7-element array                   196 ms    182 ms      no
//   JSON.parse, 1e8-char string                     150 ms    116 ms      no
//   Float64Array(5e7).sort()  (400 MB buffer)       6.7 s     6.9 s       no (std::sort)
//   Float64Array(8e6).sort()  (64 MB buffer)        0.98 s    1.37 s      no
//   Array(3e5 doubles).sort() (string compare)      820 ms    640 ms      no
//   eval of a 1e6-digit BigInt literal              110 ms    89 ms       no (the parser;
//   eval of a 3e6-digit BigInt literal              478 ms    545 ms      quadratic in digits)
//   '\u00e9'.repeat(5e7).normalize('NFD')           1.55 s    1.37 s      no (ICU)
//   localeCompare of two 5e7-char strings           246 ms    142 ms      no (ICU)
//   Array(2e7).fill('ab').join(',')                 1.34 s    1.31 s      no
//   'x'.repeat(2e7).replace(/x/g, 'yy')             5.0 s     5.5 s       no; memory limit
//   BigInt('9'.repeat(3e6))   (runtime parse)       443 ms    8.5 ms      yes
//   3n ** 20000000n, (10n ** 300000n).toString()    505 ms    <8 ms       yes
//   /(a+)+$/ on 'a' x 28 + 'b' (backtracking)       19.1 s    1.1 ms      yes
//   cons-string flatten + indexOf                   217 ms    87 ms       partly
//
// Bounds: time grows with size, and size is bounded by the heap limit, the ArrayBuffer cap and
// V8's maximum string length (~2^29 chars), except where V8 itself lets the heap grow while it
// cannot stop (the fill slow path). The worst cases found keep a worker for tens of seconds; a
// BigInt literal parse is quadratic in a linear-size source, so its time is bounded only by the
// source size the caller may send.
//
// The tests use their own Watchdog with a short grace, and sizes that run at least ~5x longer
// than the limit + grace on this machine. The attack's limit is CPU time, not wall time: the
// termination must arrive while V8 is inside the uninterruptible operation, and a wall limit
// fired early whenever a loaded machine left the call's thread descheduled between the start of
// the watch and the script's entry, its one interrupt check before the builtin (seen once: a
// HugeArrayFill call stopped, promptly and as a plain timeout, at 10.2 ms). A descheduled thread
// uses no CPU, and the ~0.1 ms of CPU before the builtin is far below the 10 ms limit.
#include <memory>
#include <string>

#include "engine/js_isolate.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

constexpr absl::Duration kWall = absl::Milliseconds(10);
constexpr absl::Duration kAttackCpu = absl::Milliseconds(10);
constexpr absl::Duration kGrace = absl::Milliseconds(25);

Watchdog& ShortGraceWatchdog() {
  static Watchdog* watchdog = [] {
    Watchdog::Options options;
    options.unresponsive_grace = kGrace;
    return new Watchdog(options);
  }();
  return *watchdog;
}

CallLimits Limits(absl::Duration wall) {
  CallLimits limits;
  limits.wall = wall;
  limits.cpu = absl::Seconds(60);
  return limits;
}

CallResult RunIn(JsIsolate& isolate, const std::string& source, const CallLimits& limits) {
  CallRequest request;
  request.source = source;
  return isolate.Run(request, limits, JsIsolate::ContextUse::kShared);
}

CallResult RunIn(JsIsolate& isolate, const std::string& source, absl::Duration wall) {
  return RunIn(isolate, source, Limits(wall));
}

void ExpectNextCallWorks() {
  auto isolate = testing::NewIsolate(Snapshot::Blank());
  ASSERT_NE(isolate, nullptr);
  CallResult r = RunIn(*isolate, "[1, 2].map(x => x * 21).join('')", absl::Seconds(1));
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, "\"2142\"");
}

// Prepares `setup` in a shared context with generous limits, then runs `attack` there with a
// 10 ms CPU limit (see the top of the file) and checks the escalation: a CPU-limit error, the
// isolate condemned as unresponsive and refusing further calls, the process alive, the next
// isolate fine.
void ExpectUnresponsive(const std::string& setup, const std::string& attack,
                        IsolateOptions options = {}) {
  auto created = JsIsolate::Create(Snapshot::Blank(), options, ShortGraceWatchdog());
  ASSERT_TRUE(created.ok()) << created.status();
  JsIsolate& isolate = **created;
  CallResult prepared = RunIn(isolate, setup, absl::Seconds(30));
  ASSERT_TRUE(prepared.status.ok()) << prepared.status;
  ASSERT_FALSE(prepared.error) << prepared.error->message;
  // Leave no garbage-collection work (incremental marking after a big setup) for the attack's
  // few instructions before the builtin: it would spend their CPU budget there.
  isolate.CollectAll();

  CallLimits attack_limits;
  attack_limits.wall = absl::Seconds(60);
  attack_limits.cpu = kAttackCpu;
  CallResult r = RunIn(isolate, attack, attack_limits);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_TRUE(r.error) << "finished with " << r.result_json << " in "
                       << absl::FormatDuration(r.stats.wall);
  EXPECT_EQ(r.error->kind, ErrorKind::kCpuLimit) << r.error->message;
  EXPECT_TRUE(r.result_json.empty());
  // It really ran past the limit and the grace: termination did not take effect.
  EXPECT_GT(r.stats.cpu, kAttackCpu);
  EXPECT_GT(r.stats.wall, kAttackCpu + kGrace);
  EXPECT_EQ(r.condemned, CondemnReason::kUnresponsive)
      << CondemnReasonName(r.condemned) << " after " << absl::FormatDuration(r.stats.wall);
  EXPECT_EQ(isolate.condemned(), CondemnReason::kUnresponsive);
  EXPECT_EQ(RunIn(isolate, "1", absl::Seconds(1)).status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ShortGraceWatchdog().active(), 0);
  ExpectNextCallWorks();
}

// TypedArray sort is a C++ std::sort: 4e6 doubles (32 MB, within the default 64 MiB
// ArrayBuffer cap) take ~0.5 s here and cannot be interrupted.
TEST(UninterruptibleTest, TypedArraySortIsCondemnedUnresponsive) {
  ExpectUnresponsive(
      "globalThis.t = new Float64Array(4e6); for (let i = 0; i < t.length; i++) t[i] = "
      "Math.random(); 1",
      "t.sort(); t.length");
}

// The parser turns a BigInt literal into digits in one go, in time quadratic in its length:
// a 2e6-digit literal takes ~0.2 s. Here it is the inline source itself, compiled under the
// call's limits, so the caller controls the size.
TEST(UninterruptibleTest, GiantBigIntLiteralInInlineSourceIsCondemnedUnresponsive) {
  ExpectUnresponsive("1", std::string(2000000, '9') + "n > 0n");
}

TEST(UninterruptibleTest, GiantBigIntLiteralInEvalIsCondemnedUnresponsive) {
  ExpectUnresponsive("globalThis.s = '9'.repeat(2e6) + 'n'; 1", "eval(s) > 0n");
}

// The default (string-comparing) Array.prototype.sort of 2e5 doubles: ~0.5 s here.
TEST(UninterruptibleTest, DefaultArraySortIsCondemnedUnresponsive) {
  ExpectUnresponsive("globalThis.a = Array.from({length: 2e5}, () => Math.random()); 1",
                     "a.sort(); a.length");
}

// ICU normalisation of a 1e7-char string: ~0.3 s here.
TEST(UninterruptibleTest, StringNormalizeIsCondemnedUnresponsive) {
  ExpectUnresponsive("globalThis.s = '\\u00e9'.repeat(1e7); 1", "s.normalize('NFD').length");
}

// The construct the issue names: a huge Array.prototype.fill (3e7 doubles, 240 MB: ~0.18 s
// here). It needs a large heap, which is why the sizes above are the faster-to-test cases.
TEST(UninterruptibleTest, HugeArrayFillIsCondemnedUnresponsive) {
  IsolateOptions options;
  options.heap_limit_bytes = size_t{512} << 20;
  ExpectUnresponsive("globalThis.a = new Array(3e7); 1", "a.fill(1.5); a.length", options);
}

// The contrast: things that look just as hostile but do check for termination stop within the
// grace, and are condemned for the limit they hit, not as unresponsive. (A long grace here so a
// loaded machine cannot turn a prompt stop into an unresponsive one.)
TEST(UninterruptibleTest, InterruptibleLookalikesStopPromptly) {
  Watchdog::Options long_grace;
  long_grace.unresponsive_grace = absl::Seconds(2);
  Watchdog watchdog(long_grace);
  struct Case {
    const char* setup;
    const char* attack;
  };
  // Catastrophic regexp backtracking (~19 s to finish) and BigInt parsing at run time.
  for (const Case& c : {Case{"globalThis.s = 'a'.repeat(30) + 'b'; 1", "/(a+)+$/.test(s)"},
                        Case{"globalThis.s = '9'.repeat(2e7); 1", "BigInt(s) > 0n"}}) {
    SCOPED_TRACE(c.attack);
    auto isolate = JsIsolate::Create(Snapshot::Blank(), IsolateOptions(), watchdog);
    ASSERT_TRUE(isolate.ok());
    ASSERT_FALSE(RunIn(**isolate, c.setup, absl::Seconds(10)).error);
    CallResult r = RunIn(**isolate, c.attack, kWall);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
    EXPECT_EQ(r.condemned, CondemnReason::kTimeout);
    EXPECT_LT(r.stats.wall, absl::Seconds(1));
  }
  ExpectNextCallWorks();
}

}  // namespace
}  // namespace isopool::engine
