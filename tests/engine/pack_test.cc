// Pack and restore: determinism across processes, script and ES module bundles, the prelude,
// warm-up, build errors and build limits.
#include "engine/pack.h"

#include "engine/envelope.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

using testing::NewIsolate;
using testing::PackAndLoad;
using testing::PackInChild;
using testing::QuickLimits;

constexpr char kScriptBundle[] = R"JS(
const born = Date.now();
const table = new Map([['a', 1], ['b', 2]]);
globalThis.state = {born, rnd: Math.random()};
function handler(name) { return {hello: name, size: table.size}; }
function add(a, b) { return a + b; }
globalThis.api = {v1: {echo: (x) => x}};
)JS";

constexpr char kModuleBundle[] = R"JS(
const base = 40;
export function add(a, b) { return a + b + base - base; }
export const answer = base + 2;
export default {
  handler(req) { return {method: 'default.handler', got: req}; },
  async fetch(x) { await null; return x * 2; },
};
)JS";

CallResult Call(JsIsolate& isolate, const std::string& function, const std::string& args = "") {
  CallRequest request;
  request.function = function;
  request.args_json = args;
  return isolate.Run(request, QuickLimits(), JsIsolate::ContextUse::kFresh);
}

CallResult Eval(JsIsolate& isolate, const std::string& source) {
  CallRequest request;
  request.source = source;
  return isolate.Run(request, QuickLimits(), JsIsolate::ContextUse::kFresh);
}

TEST(PackTest, SameInputsGiveByteIdenticalEnvelopesAcrossProcesses) {
  absl::StatusOr<std::string> first = PackInChild(kScriptBundle);
  absl::StatusOr<std::string> second = PackInChild(kScriptBundle);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, *second);
  PackOptions other;
  other.seed_time_ms = kDefaultSeedTimeMs + 1;
  absl::StatusOr<std::string> third = PackInChild(kScriptBundle, other);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(*first, *third);
}

TEST(PackTest, AnnotationsTravelInTheEnvelopeAndChangeIt) {
  PackOptions annotated;
  annotated.annotations["pool.isolation"] = "shared";
  absl::StatusOr<std::string> with = PackInChild(kScriptBundle, annotated);
  absl::StatusOr<std::string> without = PackInChild(kScriptBundle);
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_NE(*with, *without);
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(*with);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->options.annotations,
            (std::map<std::string, std::string>{{"pool.isolation", "shared"}}));
}

TEST(PackTest, ScriptBundleRestoresAndCallsGlobals) {
  auto snapshot = PackAndLoad(kScriptBundle);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  CallResult r = Call(*isolate, "handler", R"(["ada"])");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.result_json, R"({"hello":"ada","size":2})");
  EXPECT_EQ(Call(*isolate, "add", "[2, 3]").result_json, "5");
  EXPECT_EQ(Call(*isolate, "api.v1.echo", R"([{"k":[1]}])").result_json, R"({"k":[1]})");
}

TEST(PackTest, PackTimeValuesArePinnedButRestoredClockIsLive) {
  auto snapshot = PackAndLoad(kScriptBundle);
  ASSERT_TRUE(snapshot.ok());
  auto isolate = NewIsolate(*snapshot);
  EXPECT_EQ(Eval(*isolate, "state.born").result_json, "1704067200000");
  CallResult live = Eval(*isolate, "Date.now() > 1704067200000 + 86400000 * 365");
  EXPECT_EQ(live.result_json, "true");
  EXPECT_EQ(Eval(*isolate, "new Date().getFullYear() >= 2025").result_json, "true");
  // Math.random is live again: two isolates disagree.
  auto other = NewIsolate(*snapshot);
  EXPECT_NE(Eval(*isolate, "Math.random()").result_json, Eval(*other, "Math.random()").result_json);
}

TEST(PackTest, ModuleBundleDefaultExportMethodAndNamedExports) {
  PackOptions options;
  options.kind = BundleKind::kEsModule;
  options.bundle_name = "bundle.mjs";
  for (FunctionCode code : {FunctionCode::kKeep, FunctionCode::kClear}) {
    options.function_code = code;
    auto snapshot = PackAndLoad(kModuleBundle, options);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    EXPECT_EQ((*snapshot)->envelope().exports,
              (std::vector<std::string>{"default", "add", "answer"}));
    auto isolate = NewIsolate(*snapshot);
    EXPECT_EQ(Call(*isolate, "add", "[1, 2]").result_json, "3");
    EXPECT_EQ(Call(*isolate, "handler", "[7]").result_json,
              R"({"method":"default.handler","got":7})");
    EXPECT_EQ(Call(*isolate, "default.fetch", "[21]").result_json, "42");
    CallResult missing = Call(*isolate, "nope");
    EXPECT_EQ(missing.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(missing.status.message().find("default, add, answer"), std::string::npos)
        << missing.status;
  }
}

TEST(PackTest, ModuleWithTopLevelAwait) {
  PackOptions options;
  options.kind = BundleKind::kEsModule;
  auto snapshot = PackAndLoad(
      "const v = await Promise.resolve(9); export function get() { return v; }", options);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  EXPECT_EQ(Call(*isolate, "get").result_json, "9");
}

TEST(PackTest, BundlesWorkFromSourceToo) {
  for (BundleKind kind : {BundleKind::kClassicScript, BundleKind::kEsModule}) {
    PackOptions options;
    options.kind = kind;
    auto isolate = NewIsolate(Snapshot::Blank());
    ASSERT_TRUE(
        isolate->LoadBundle(kind == BundleKind::kEsModule ? kModuleBundle : kScriptBundle, options)
            .ok());
    CallRequest request;
    request.source =
        kind == BundleKind::kEsModule ? "__isopool_exports.add(20, 22)" : "add(20, 22)";
    CallResult r = isolate->Run(request, QuickLimits(), JsIsolate::ContextUse::kShared);
    ASSERT_FALSE(r.error) << r.error->message;
    EXPECT_EQ(r.result_json, "42");
  }
}

// V8 10.2 shares one read-only heap, hash seed included, between the isolates of a process. ES
// module snapshots and bundles holding Maps cannot be rehashed, so they only restore safely where
// the seed is the packing one; before the seed was shared, this crashed the process as soon as a
// blank isolate existed first.
TEST(PackTest, UnrehashableSnapshotsRestoreBesideBlankIsolates) {
  auto blank = NewIsolate(Snapshot::Blank());
  ASSERT_TRUE(blank->PrepareContext().ok());
  PackOptions esm;
  esm.kind = BundleKind::kEsModule;
  auto module = PackAndLoad("export function add(a, b) { return a + b; }", esm);
  ASSERT_TRUE(module.ok()) << module.status();
  auto maps = PackAndLoad(
      "const m = new Map([['k', 41]]); const s = new Set(['x']);"
      "function get() { return m.get('k') + s.size; }");
  ASSERT_TRUE(maps.ok()) << maps.status();
  for (int i = 0; i < 3; ++i) {
    auto a = NewIsolate(*module);
    EXPECT_EQ(Call(*a, "add", "[1, 2]").result_json, "3");
    auto b = NewIsolate(*maps);
    EXPECT_EQ(Call(*b, "get").result_json, "42");
    CallRequest request;
    request.source = "new Map([[1, 2]]).get(1)";
    EXPECT_EQ(blank->Run(request, QuickLimits(), JsIsolate::ContextUse::kFresh).result_json, "2");
  }
}

TEST(PackTest, EnvelopePackedWithAnotherHashSeedIsRejected) {
  absl::StatusOr<std::string> foreign =
      PackInChild("function f() { return 1; }", PackOptions(), testing::kTestHashSeed + 1);
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot = Snapshot::FromEnvelope(*foreign);
  EXPECT_EQ(snapshot.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PackTest, WarmupScriptRunsBeforeSerialising) {
  PackOptions options;
  options.warmup_script = "globalThis.warmed = handler('w').hello;";
  auto snapshot = PackAndLoad(kScriptBundle, options);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  EXPECT_EQ(Eval(*isolate, "warmed").result_json, "\"w\"");
}

TEST(PackTest, ConsoleInBundleDoesNotBreakPacking) {
  auto snapshot =
      PackAndLoad("console.log('packing'); function f() { console.log('run'); return 1; }");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto isolate = NewIsolate(*snapshot);
  CallResult r = Call(*isolate, "f");
  EXPECT_EQ(r.result_json, "1");
  ASSERT_EQ(r.logs.size(), 1u);
  EXPECT_EQ(r.logs[0].message, "run");
}

TEST(PackTest, BuildErrorsCarryTheJsErrorAndLocation) {
  absl::StatusOr<std::string> syntax = PackInChild("let x = ;\nfunction ok() {}\n");
  EXPECT_EQ(syntax.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(syntax.status().message().find("SyntaxError"), std::string::npos) << syntax.status();
  EXPECT_NE(syntax.status().message().find("line 1"), std::string::npos) << syntax.status();
  absl::StatusOr<std::string> throws = PackInChild("\n\nthrow new Error('boom at load');");
  EXPECT_EQ(throws.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(throws.status().message().find("boom at load"), std::string::npos);
  EXPECT_NE(throws.status().message().find("line 3"), std::string::npos) << throws.status();
  PackOptions esm;
  esm.kind = BundleKind::kEsModule;
  absl::StatusOr<std::string> imports = PackInChild("import x from 'fs'; export default x;", esm);
  EXPECT_EQ(imports.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(imports.status().message().find("self-contained"), std::string::npos)
      << imports.status();
}

TEST(PackTest, BuildLimitsStopRunawayBundles) {
  PackOptions options;
  options.build_timeout_ms = 200;
  absl::StatusOr<std::string> loop = PackInChild("while (true) {}", options);
  EXPECT_EQ(loop.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loop.status().message().find("build time limit"), std::string::npos) << loop.status();
  PackOptions heap;
  heap.build_heap_mib = 32;
  heap.build_timeout_ms = 20000;
  absl::StatusOr<std::string> hog =
      PackInChild("const a = []; for (;;) a.push({x: a.length});", heap);
  EXPECT_FALSE(hog.ok());
  EXPECT_NE(hog.status().message().find("heap"), std::string::npos) << hog.status();
}

TEST(PackTest, InProcessPackRefusesDeterminismWithoutFixedSeeds) {
  // This test process is a serving-style runtime: no fixed seeds.
  EXPECT_FALSE(CanPackDeterministically());
  EXPECT_EQ(Pack("1", PackOptions()).status().code(), absl::StatusCode::kFailedPrecondition);
  PackOptions loose;
  loose.deterministic = false;
  absl::StatusOr<std::string> envelope = Pack("function f() { return 1; }", loose);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_TRUE(Snapshot::FromEnvelope(*envelope).ok());
}

}  // namespace
}  // namespace isopool::engine
