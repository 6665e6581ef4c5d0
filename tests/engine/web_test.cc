// The web platform inside isolates (engine/internal/web.h): the globals on the blank snapshot
// and in packed snapshots, determinism while packing, the event loop (timers, WebAssembly), and
// the full console. Differential tests against Node are in web_differential_test.cc.
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

using testing::NewIsolate;
using testing::PackAndLoad;
using testing::PackInChild;
using testing::QuickLimits;
using testing::RunSource;

// The JSON result of inline source in a fresh blank isolate, or "ERROR <kind>: <message>".
std::string Json(const std::string& source, CallLimits limits = QuickLimits()) {
  CallResult r = RunSource(source, limits);
  if (!r.status.ok()) return "STATUS " + r.status.ToString();
  if (r.error) {
    return std::string("ERROR ") + ErrorKindName(r.error->kind) + ": " + r.error->message;
  }
  return r.result_json;
}

CallResult Call(JsIsolate& isolate, const std::string& source,
                JsIsolate::ContextUse use = JsIsolate::ContextUse::kFresh,
                CallLimits limits = QuickLimits()) {
  CallRequest request;
  request.source = source;
  return isolate.Run(request, limits, use);
}

CallResult CallFunction(JsIsolate& isolate, const std::string& function,
                        JsIsolate::ContextUse use = JsIsolate::ContextUse::kFresh) {
  CallRequest request;
  request.function = function;
  return isolate.Run(request, QuickLimits(), use);
}

TEST(WebGlobalsTest, EveryGlobalExistsAndIsNotEnumerable) {
  EXPECT_EQ(Json("['TextEncoder', 'TextDecoder', 'atob', 'btoa', 'URL', 'URLSearchParams',"
                 " 'structuredClone', 'queueMicrotask', 'setTimeout', 'setInterval',"
                 " 'clearTimeout', 'clearInterval', 'crypto', 'performance', 'self', 'navigator',"
                 " 'reportError', 'DOMException', 'Event', 'EventTarget', 'AbortController',"
                 " 'AbortSignal'].filter(n => globalThis[n] === undefined)"),
            "[]");
  EXPECT_EQ(Json("Object.keys(globalThis)"), "[]");
  EXPECT_EQ(Json("[self === globalThis, navigator.userAgent, typeof crypto.subtle.digest]"),
            R"([true,"isopool","function"])");
}

TEST(WebGlobalsTest, ScriptsMayReplaceOrDeleteThem) {
  EXPECT_EQ(Json("'use strict'; globalThis.URL = 5; URL"), "5");
  EXPECT_EQ(Json("TextEncoder = class Mine {}; TextEncoder.name"), R"("Mine")");
  EXPECT_EQ(Json("delete globalThis.atob; typeof atob"), R"("undefined")");
  // A polyfill's usual feature test leaves the built-in in place.
  EXPECT_EQ(Json("if (typeof TextDecoder === 'undefined') throw 1; new TextDecoder().encoding"),
            R"("utf-8")");
}

TEST(WebGlobalsTest, TextEncoderAndDecoder) {
  EXPECT_EQ(Json("Array.from(new TextEncoder().encode('h\\u00e9\\ud83d\\ude00'))"),
            "[104,195,169,240,159,152,128]");
  EXPECT_EQ(Json("Array.from(new TextEncoder().encode('\\ud800x'))"), "[239,191,189,120]");
  EXPECT_EQ(Json("const u = new Uint8Array(4);"
                 "const r = new TextEncoder().encodeInto('a\\ud83d\\ude00', u); [r.read, "
                 "r.written, ...u]"),
            "[1,1,97,0,0,0]");
  EXPECT_EQ(Json("new TextDecoder().decode(new Uint8Array([0xEF, 0xBB, 0xBF, 0x68]))"), R"("h")");
  EXPECT_EQ(Json("new TextDecoder('utf-8', {ignoreBOM: true})"
                 ".decode(new Uint8Array([0xEF, 0xBB, 0xBF, 0x68])).length"),
            "2");
  EXPECT_EQ(Json("try { new TextDecoder('utf-8', {fatal: true}).decode(new Uint8Array([0xFF]));"
                 " 'no' } catch (e) { e.name }"),
            R"("TypeError")");
  // Streaming: a code point split across chunks.
  EXPECT_EQ(
      Json("const d = new TextDecoder(); const bytes = new TextEncoder().encode('\\u20ac!');"
           "d.decode(bytes.subarray(0, 1), {stream: true}) + '|' +"
           " d.decode(bytes.subarray(1, 2), {stream: true}) + '|' + d.decode(bytes.subarray(2))"),
      "\"||\xE2\x82\xAC!\"");
  EXPECT_EQ(Json("try { new TextDecoder('latin1') } catch (e) { e.name }"), R"("RangeError")");
}

TEST(WebGlobalsTest, Base64) {
  EXPECT_EQ(Json("[btoa('hello'), atob('aGVsbG8='), atob(' aGVs bG8 '), btoa(''), atob('YQ')]"),
            R"(["aGVsbG8=","hello","hello","","a"])");
  EXPECT_EQ(Json("try { atob('a'); } catch (e) { [e.name, e.code, e instanceof DOMException,"
                 " e instanceof Error] }"),
            R"(["InvalidCharacterError",5,true,true])");
  EXPECT_EQ(Json("try { btoa('\\u0100'); } catch (e) { e.name }"), R"("InvalidCharacterError")");
}

TEST(WebGlobalsTest, UrlAndSearchParams) {
  EXPECT_EQ(Json("new URL('../c?x=1#f', 'https://a.b/d/e/').href"), R"("https://a.b/d/c?x=1#f")");
  EXPECT_EQ(Json("new URL('https://B\\u00fccher.example/').host"), R"("xn--bcher-kva.example")");
  EXPECT_EQ(Json("[...new URLSearchParams('a=1&b=2&a=3').getAll('a')]"), R"(["1","3"])");
  EXPECT_EQ(Json("try { new URL('nope') } catch (e) { e.name }"), R"("TypeError")");
  EXPECT_EQ(Json("[URL.canParse('https://x'), URL.canParse('x')]"), "[true,false]");
}

TEST(WebGlobalsTest, StructuredClone) {
  EXPECT_EQ(Json("const o = {m: new Map([[1, new Set([2])]]), d: new Date(5), r: /x/g};"
                 " o.self = o; const c = structuredClone(o);"
                 " [c !== o, c.self === c, c.m.get(1).has(2), c.d.getTime(), c.r.flags]"),
            R"([true,true,true,5,"g"])");
  EXPECT_EQ(Json("try { structuredClone(() => 1) } catch (e) { [e.name, e.code] }"),
            R"(["DataCloneError",25])");
  EXPECT_EQ(Json("const b = new Uint8Array([1, 2]).buffer;"
                 " const c = structuredClone(b, {transfer: [b]}); [b.byteLength, c.byteLength]"),
            "[0,2]");
}

TEST(WebGlobalsTest, CryptoRandomAndDigest) {
  EXPECT_EQ(Json("/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/"
                 ".test(crypto.randomUUID())"),
            "true");
  EXPECT_EQ(Json("crypto.randomUUID() !== crypto.randomUUID()"), "true");
  EXPECT_EQ(Json("const a = crypto.getRandomValues(new Uint32Array(64)); a.some(x => x !== 0)"),
            "true");
  EXPECT_EQ(Json("try { crypto.getRandomValues(new Float64Array(1)) } catch (e) { e.name }"),
            R"("TypeMismatchError")");
  EXPECT_EQ(Json("try { crypto.getRandomValues(new Uint8Array(65537)) } catch (e) { e.name }"),
            R"("QuotaExceededError")");
  EXPECT_EQ(Json("crypto.subtle.digest('SHA-256', new TextEncoder().encode('abc'))"
                 ".then(d => Array.from(new Uint8Array(d), b => b.toString(16).padStart(2, '0'))"
                 ".join(''))"),
            R"("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")");
  EXPECT_EQ(Json("crypto.subtle.digest('MD5', new Uint8Array(1)).catch(e => e.name)"),
            R"("NotSupportedError")");
}

TEST(WebGlobalsTest, PerformanceIsLiveAtRunTime) {
  EXPECT_EQ(Json("const a = performance.now(); let x = 0; for (let i = 0; i < 1e6; i++) x += i;"
                 " const b = performance.now(); [b > a, Math.abs(performance.timeOrigin + b -"
                 " Date.now()) < 5000]"),
            "[true,true]");
}

TEST(WebGlobalsTest, EventTargetAndAbortController) {
  EXPECT_EQ(Json("const t = new EventTarget(); const seen = [];"
                 " t.addEventListener('x', e => seen.push(e.type), {once: true});"
                 " t.dispatchEvent(new Event('x')); t.dispatchEvent(new Event('x')); seen"),
            R"(["x"])");
  EXPECT_EQ(Json("const c = new AbortController(); let fired = 0;"
                 " c.signal.addEventListener('abort', () => fired++); c.abort(); c.abort();"
                 " [fired, c.signal.aborted, c.signal.reason.name]"),
            R"([1,true,"AbortError"])");
  EXPECT_EQ(Json("new Promise(r => { const s = AbortSignal.timeout(10);"
                 " s.onabort = () => r(s.reason.name); })"),
            R"("TimeoutError")");
}

TEST(WebGlobalsTest, QueueMicrotaskRunsBeforeTimers) {
  EXPECT_EQ(
      Json("new Promise(r => { const out = []; setTimeout(() => { out.push('timer'); r(out); });"
           " queueMicrotask(() => out.push('micro')); out.push('sync'); })"),
      R"(["sync","micro","timer"])");
}

TEST(WebGlobalsTest, FullConsole) {
  CallResult r = RunSource(
      "console.assert(1 === 2, 'math'); console.count(); console.count(); console.countReset();"
      "console.group('g'); console.log('inside'); console.groupEnd(); console.log('outside');"
      "console.time('t'); console.timeEnd('t'); console.table([{a: 1}]); console.dir({b: 2});");
  ASSERT_FALSE(r.error) << r.error->message;
  std::vector<std::string> lines;
  for (const LogLine& line : r.logs) lines.push_back(line.message);
  ASSERT_GE(lines.size(), 9u);
  EXPECT_EQ(lines[0], "Assertion failed: math");
  EXPECT_EQ(r.logs[0].level, LogLevel::kError);
  EXPECT_EQ(lines[1], "default: 1");
  EXPECT_EQ(lines[2], "default: 2");
  EXPECT_EQ(lines[3], "g");
  EXPECT_EQ(lines[4], "  inside");
  EXPECT_EQ(lines[5], "outside");
  EXPECT_TRUE(absl::StartsWith(lines[6], "t: ")) << lines[6];
  EXPECT_TRUE(absl::EndsWith(lines[6], " ms")) << lines[6];
  EXPECT_NE(lines[7].find("| (index) | a |"), std::string::npos) << lines[7];
  EXPECT_EQ(lines[8], R"({"b":2})");
}

TEST(WebGlobalsTest, ReportErrorAndTimerExceptionsAreLogged) {
  CallResult r = RunSource(
      "new Promise(r => { setTimeout(() => { throw new Error('boom'); });"
      " setTimeout(() => r('after'), 1); })");
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, R"("after")");
  ASSERT_FALSE(r.logs.empty());
  EXPECT_EQ(r.logs[0].level, LogLevel::kError);
  EXPECT_NE(r.logs[0].message.find("Uncaught Error: boom"), std::string::npos) << r.logs[0].message;
}

TEST(WebGlobalsTest, HeadersAndBlob) {
  EXPECT_EQ(
      Json("const h = new Headers({'Content-Type': 'text/plain'}); h.append('X-A', ' 1 ');"
           " h.append('x-a', '2'); h.append('Set-Cookie', 'a=1'); h.append('set-cookie', 'b=2');"
           " [h.get('x-a'), h.has('CONTENT-TYPE'), [...h], h.getSetCookie()]"),
      R"(["1, 2",true,[["content-type","text/plain"],["set-cookie","a=1"],)"
      R"(["set-cookie","b=2"],["x-a","1, 2"]],["a=1","b=2"]])");
  EXPECT_EQ(Json("try { new Headers({'bad name': 'x'}) } catch (e) { e.name }"), R"("TypeError")");
  EXPECT_EQ(Json("const b = new Blob(['h\u00e9', new Uint8Array([33])], {type: 'Text/Plain'});"
                 " Promise.all([b.text(), b.slice(1, -1).arrayBuffer()])"
                 ".then(([t, ab]) => [b.size, b.type, t, Array.from(new Uint8Array(ab))])"),
            R"([4,"text/plain","hé!",[195,169]])");
}

// RSA key generation takes a while on a busy machine.
CallLimits SlowLimits() {
  CallLimits limits;
  limits.wall = absl::Seconds(20);
  limits.cpu = absl::Seconds(20);
  return limits;
}

// Sign with a key generated in the isolate, export it, import the public half, verify.
std::string SignVerifyRoundTrip(const std::string& generate, const std::string& sign_params) {
  return Json(
      "(async () => { const s = crypto.subtle; const data = new TextEncoder().encode('msg');"
      " const pair = await s.generateKey(" +
          generate +
          ", true, ['sign', 'verify']);"
          " const sig = await s.sign(" +
          sign_params +
          ", pair.privateKey, data);"
          " const jwk = await s.exportKey('jwk', pair.publicKey);"
          " const pub = await s.importKey('jwk', jwk, " +
          generate +
          ", true, ['verify']);"
          " const spki = await s.exportKey('spki', pair.publicKey);"
          " const pub2 = await s.importKey('spki', spki, " +
          generate +
          ", true, ['verify']);"
          " const pkcs8 = await s.exportKey('pkcs8', pair.privateKey);"
          " const priv2 = await s.importKey('pkcs8', pkcs8, " +
          generate +
          ", true, ['sign']);"
          " const sig2 = await s.sign(" +
          sign_params +
          ", priv2, data);"
          " const privJwk = await s.exportKey('jwk', pair.privateKey);"
          " const priv3 = await s.importKey('jwk', privJwk, " +
          generate +
          ", false, ['sign']);"
          " const sig3 = await s.sign(" +
          sign_params +
          ", priv3, data);"
          " return [await s.verify(" +
          sign_params +
          ", pub, sig, data),"
          "  await s.verify(" +
          sign_params +
          ", pub2, sig2, data),"
          "  await s.verify(" +
          sign_params +
          ", pub, sig3, data),"
          "  await s.verify(" +
          sign_params + ", pub, sig, new TextEncoder().encode('other'))]; })()",
      SlowLimits());
}

TEST(WebCryptoKeysTest, SignAndVerifyWithEveryKeyType) {
  EXPECT_EQ(SignVerifyRoundTrip("{name: 'ECDSA', namedCurve: 'P-256'}",
                                "{name: 'ECDSA', hash: 'SHA-256'}"),
            "[true,true,true,false]");
  EXPECT_EQ(SignVerifyRoundTrip("{name: 'ECDSA', namedCurve: 'P-384'}",
                                "{name: 'ECDSA', hash: 'SHA-384'}"),
            "[true,true,true,false]");
  EXPECT_EQ(SignVerifyRoundTrip("{name: 'Ed25519'}", "'Ed25519'"), "[true,true,true,false]");
  EXPECT_EQ(SignVerifyRoundTrip("{name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048,"
                                " publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256'}",
                                "'RSASSA-PKCS1-v1_5'"),
            "[true,true,true,false]");
  EXPECT_EQ(SignVerifyRoundTrip("{name: 'RSA-PSS', modulusLength: 2048,"
                                " publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256'}",
                                "{name: 'RSA-PSS', saltLength: 32}"),
            "[true,true,true,false]");
}

TEST(WebCryptoKeysTest, HmacMatchesKnownVector) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(
      Json("(async () => { const e = new TextEncoder(); const s = crypto.subtle;"
           " const k = await s.importKey('raw', e.encode('Jefe'), {name: 'HMAC', hash: 'SHA-256'},"
           " true, ['sign', 'verify']);"
           " const mac = new Uint8Array(await s.sign('HMAC', k, e.encode('what do ya want for "
           "nothing?')));"
           " return [Array.from(mac, b => b.toString(16).padStart(2, '0')).join(''),"
           "  await s.verify('HMAC', k, mac, e.encode('what do ya want for nothing?')),"
           "  (await s.exportKey('jwk', k)).k]; })()"),
      R"(["5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",true,"SmVmZQ"])");
}

TEST(WebCryptoKeysTest, WrongUsageAndUnsupportedAlgorithmAreDomExceptions) {
  EXPECT_EQ(Json("crypto.subtle.generateKey({name: 'HMAC', hash: 'SHA-256'}, false, ['verify'])"
                 ".then(k => crypto.subtle.sign('HMAC', k, new Uint8Array(1))).catch(e => e.name)"),
            R"("InvalidAccessError")");
  EXPECT_EQ(Json("crypto.subtle.generateKey({name: 'AES-GCM', length: 256}, false, ['encrypt'])"
                 ".catch(e => e.name)"),
            R"("NotSupportedError")");
  EXPECT_EQ(Json("crypto.subtle.importKey('spki', new Uint8Array([48, 0]), {name: 'Ed25519'}, true,"
                 " ['verify']).catch(e => e.name)"),
            R"("DataError")");
}

// ---- the event loop ----

TEST(EventLoopTest, TimersRunInOrderAndNest) {
  EXPECT_EQ(Json("new Promise(resolve => { const out = []; setTimeout(() => out.push(2), 20);"
                 " setTimeout(() => { out.push(1);"
                 "   setTimeout(() => { out.push(3); resolve(out); }, 30); }, 10);"
                 " setTimeout(() => out.push(0)); setTimeout(() => out.push(0.5));"
                 " const t = setTimeout(() => out.push('cleared'), 5); clearTimeout(t); })"),
            "[0,0.5,1,2,3]");
}

TEST(EventLoopTest, IntervalsRepeatUntilCleared) {
  EXPECT_EQ(Json("new Promise(r => { let n = 0; const id = setInterval((a) => {"
                 " if (++n === 3) { clearInterval(id); r([n, a]); } }, 5, 'arg'); })"),
            R"([3,"arg"])");
}

TEST(EventLoopTest, AsyncFunctionsAwaitTimers) {
  EXPECT_EQ(Json("(async () => { const t0 = performance.now();"
                 " await new Promise(r => setTimeout(r, 50));"
                 " return performance.now() - t0 >= 49; })()"),
            "true");
}

TEST(EventLoopTest, SleepingCostsNoCpuAndIsReported) {
  CallLimits limits = QuickLimits();
  limits.cpu = absl::Milliseconds(50);
  limits.wall = absl::Milliseconds(2000);
  CallResult r = RunSource("new Promise(r => setTimeout(() => r('woke'), 300))", limits);
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, R"("woke")");
  EXPECT_GE(r.stats.timer_sleep, absl::Milliseconds(250));
  EXPECT_LT(r.stats.cpu, absl::Milliseconds(50));
}

TEST(EventLoopTest, TimerPastTheDeadlineIsATimeoutAtOnceWithoutCondemning) {
  auto isolate = NewIsolate(Snapshot::Blank());
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  CallResult r = Call(*isolate, "new Promise(r => setTimeout(r, 10000))",
                      JsIsolate::ContextUse::kFresh, limits);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(250));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
  EXPECT_EQ(r.condemned, CondemnReason::kNone);
  CallResult next = Call(*isolate, "new Promise(r => setTimeout(() => r(42), 5))");
  ASSERT_FALSE(next.error) << next.error->message;
  EXPECT_EQ(next.result_json, "42");
}

TEST(EventLoopTest, IntervalThatNeverClearsEndsAtTheDeadline) {
  auto isolate = NewIsolate(Snapshot::Blank());
  CallLimits limits = QuickLimits();
  limits.wall = absl::Milliseconds(200);
  CallResult r = Call(*isolate, "let n = 0; setInterval(() => n++, 10); new Promise(() => {})",
                      JsIsolate::ContextUse::kFresh, limits);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kTimeout);
  EXPECT_LE(r.stats.wall, absl::Milliseconds(300));
  EXPECT_EQ(Call(*isolate, "'still fine'").result_json, R"("still fine")");
}

TEST(EventLoopTest, SharedModeNeverLeaksATimerIntoTheNextCall) {
  auto isolate = NewIsolate(Snapshot::Blank());
  CallResult first =
      Call(*isolate,
           "globalThis.leaked = false; setTimeout(() => { globalThis.leaked = true; }, 0);"
           " setInterval(() => { globalThis.leaked = true; }, 1); 'done'",
           JsIsolate::ContextUse::kShared);
  ASSERT_FALSE(first.error) << first.error->message;
  CallResult second = Call(*isolate, "new Promise(r => setTimeout(() => r(globalThis.leaked), 20))",
                           JsIsolate::ContextUse::kShared);
  ASSERT_FALSE(second.error) << second.error->message;
  EXPECT_EQ(second.result_json, "false");
}

TEST(EventLoopTest, PendingWithNothingToWaitForIsStillNeverSettled) {
  CallResult r = RunSource("new Promise(() => {})");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ErrorKind::kPromiseNeverSettled);
  CallResult cleared = RunSource("new Promise(r => clearTimeout(setTimeout(r, 10)))");
  ASSERT_TRUE(cleared.error);
  EXPECT_EQ(cleared.error->kind, ErrorKind::kPromiseNeverSettled);
}

constexpr char kAddWasm[] =
    "new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60,"
    " 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64,"
    " 0x64, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b])";

TEST(EventLoopTest, AsyncWebAssemblySettles) {
  EXPECT_EQ(Json(std::string("WebAssembly.instantiate(") + kAddWasm +
                 ").then(r => r.instance.exports.add(2, 40))"),
            "42");
  EXPECT_EQ(Json(std::string("WebAssembly.compile(") + kAddWasm +
                 ").then(m => WebAssembly.instantiate(m)).then(i => i.exports.add(1, 1))"),
            "2");
}

// ---- snapshots and determinism ----

constexpr char kLoadTimeBundle[] =
    "const loadUuid = crypto.randomUUID(); const loadNow = performance.now();"
    "const loadBytes = Array.from(crypto.getRandomValues(new Uint8Array(8)));"
    "const enc = new TextEncoder(); let fired = false; setTimeout(() => { fired = true; }, 1000);"
    "function loadTime() { return { loadUuid, loadNow, loadBytes, fired }; }"
    "function runTime() { return { uuid: crypto.randomUUID(), now: performance.now(),"
    "  origin: performance.timeOrigin, bytes: Array.from(enc.encode('ok')),"
    "  path: new URL('http://x/y?z').pathname }; }";

// Under ThreadSanitizer or AddressSanitizer (only our code instrumented, V8 not) two packs
// differ: a TSan build of a07e6ba already did. The same pack is identical in normal builds, with
// or without the seccomp filter (which sanitizer builds skip) and on a machine saturated with busy
// loops. Not a property of sanitizer builds, so the case says so and skips there
// (tools/sanitize.sh prints the skip).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ISOPOOL_SANITIZER_BUILD 1
#endif
#endif

TEST(WebSnapshotTest, PacksWithRandomnessAtLoadTimeAreByteIdentical) {
#ifdef ISOPOOL_SANITIZER_BUILD
  GTEST_SKIP() << "packs are not byte-identical in sanitizer builds (see above)";
#endif
  absl::StatusOr<std::string> a = PackInChild(kLoadTimeBundle);
  absl::StatusOr<std::string> b = PackInChild(kLoadTimeBundle);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(*a == *b) << "two packs of the same bundle differ";
}

TEST(WebSnapshotTest, LoadTimeValuesArePinnedAndRunTimeValuesAreLive) {
  auto snapshot = PackAndLoad(kLoadTimeBundle);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  ASSERT_NE(isolate, nullptr);
  CallResult load = CallFunction(*isolate, "loadTime");
  ASSERT_FALSE(load.error) << load.error->message;
  // The timer set at load time fired in virtual time while packing.
  EXPECT_NE(load.result_json.find(R"("fired":true)"), std::string::npos) << load.result_json;
  CallResult run1 = CallFunction(*isolate, "runTime");
  CallResult run2 = CallFunction(*isolate, "runTime");
  ASSERT_FALSE(run1.error) << run1.error->message;
  ASSERT_FALSE(run2.error) << run2.error->message;
  EXPECT_NE(run1.result_json, run2.result_json);  // fresh UUIDs
  EXPECT_NE(run1.result_json.find(R"("bytes":[111,107],"path":"/y")"), std::string::npos)
      << run1.result_json;
  // Pinned values are the same in another isolate from the same snapshot; live ones are not.
  auto other = NewIsolate(*snapshot);
  EXPECT_EQ(CallFunction(*other, "loadTime").result_json, load.result_json);
  EXPECT_EQ(load.result_json.find(run1.result_json.substr(9, 36)), std::string::npos);
}

TEST(WebSnapshotTest, BundleThatUsesNoWebGlobalStillGetsThemAtRunTime) {
  auto snapshot = PackAndLoad("function f(s) { return atob(btoa(s)) + structuredClone([1])[0]; }");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  CallRequest request;
  request.function = "f";
  request.args_json = R"(["x"])";
  CallResult r = isolate->Run(request, QuickLimits(), JsIsolate::ContextUse::kFresh);
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, R"("x1")");
}

TEST(WebSnapshotTest, EsModuleTopLevelAwaitMayWaitOnATimer) {
  PackOptions options;
  options.kind = BundleKind::kEsModule;
  auto snapshot = PackAndLoad(
      "await new Promise(r => setTimeout(r, 100)); export const ready = () => 'ready';", options);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  EXPECT_EQ(CallFunction(*isolate, "ready").result_json, R"("ready")");
}

}  // namespace
}  // namespace isopool::engine
