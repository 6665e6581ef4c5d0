// cold_start_bench: how long a first call costs from source, from a snapshot and from a V8 code
// cache, on the seed's ~750 KiB / 15,000-function bundle (bundle.h), for classic scripts and ES
// modules (inputs.h: Variant). See README.md for the figures and how to read them.
//
//   bazel run -c opt //bench/cold_start:cold_start_bench --
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
//
// Own flags (everything else goes to Google Benchmark):
//   --pack_binary=PATH       the isopool_pack binary; default: found in this binary's runfiles
//   --rehash_snapshot        restore with RuntimeOptions::rehash_snapshot = true (V8 rehashes
//                            every hash table of a rehashable blob at restore; the engine's
//                            default is false since the hash seed is shared with the pack
//                            process). Process-wide, so a separate invocation.
//
// Like the service, the process and its pack children share one hash seed
// (RuntimeOptions::hash_seed): a fresh random one per run.
//
// The snapshots are packed once, before any benchmark, by the real isopool_pack child process
// (deterministic, as the service packs them). This file holds the engine-level benchmarks (what
// the pool pays through engine::JsIsolate); raw_v8_bench.cc holds the raw V8 ones (code cache,
// bare isolate and context, V8 without the engine's wrapper).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/sibling_binary.h"
#include "bench/cold_start/bundle.h"
#include "bench/cold_start/inputs.h"
#include "engine/js_isolate.h"
#include "engine/pack_process.h"
#include "engine/runtime.h"

namespace isopool::bench {

BenchInputs& Inputs() {
  static BenchInputs* inputs = new BenchInputs();
  return *inputs;
}

namespace {

using engine::BundleKind;
using engine::CallRequest;
using engine::CallResult;
using engine::FunctionCode;
using engine::JsIsolate;

const char* CodeName(FunctionCode code) { return code == FunctionCode::kKeep ? "keep" : "clear"; }

engine::IsolateOptions BenchIsolateOptions() {
  engine::IsolateOptions options;
  options.heap_limit_bytes = kBenchHeapBytes;
  return options;
}

engine::CallLimits BenchLimits() {
  engine::CallLimits limits;
  limits.wall = absl::Seconds(10);
  limits.cpu = absl::Seconds(10);
  return limits;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Per-iteration averages of each phase, as benchmark counters.
struct Phases {
  absl::Duration isolate, context, load, call;
  void Report(benchmark::State& state) const {
    auto avg = benchmark::Counter::kAvgIterations;
    state.counters["isolate_ms"] = benchmark::Counter(Ms(isolate), avg);
    if (context > absl::ZeroDuration()) {
      state.counters["context_ms"] = benchmark::Counter(Ms(context), avg);
    }
    if (load > absl::ZeroDuration()) state.counters["load_ms"] = benchmark::Counter(Ms(load), avg);
    state.counters["call_ms"] = benchmark::Counter(Ms(call), avg);
  }
};

bool CheckResult(benchmark::State& state, const CallResult& r) {
  if (!r.status.ok() || r.error || r.result_json != ExpectedHandlerResult()) {
    state.SkipWithError(absl::StrCat("call failed: ", r.status.ToString(),
                                     r.error ? r.error->message : "", " result=", r.result_json)
                            .c_str());
    return false;
  }
  return true;
}

// One timed cold start: restore an isolate from `snapshot`, run `setup` on it (load the bundle,
// or make a context), then `call`; each phase's time goes into `phases`. False (and the
// benchmark marked failed) when a step failed.
bool TimedColdStart(benchmark::State& state, std::shared_ptr<const engine::Snapshot> snapshot,
                    const std::function<absl::Status(JsIsolate&)>& setup,
                    absl::Duration* setup_time, const CallRequest& call, JsIsolate::ContextUse use,
                    Phases& phases) {
  absl::Time t0 = absl::Now();
  auto isolate = JsIsolate::Create(std::move(snapshot), BenchIsolateOptions(), *Inputs().watchdog);
  absl::Time t1 = absl::Now();
  absl::Status ready = setup(**isolate);
  absl::Time t2 = absl::Now();
  CallResult r = (*isolate)->Run(call, BenchLimits(), use);
  absl::Time t3 = absl::Now();
  phases.isolate += t1 - t0;
  *setup_time += t2 - t1;
  phases.call += t3 - t2;
  if (!ready.ok()) {
    state.SkipWithError(ready.ToString().c_str());
    return false;
  }
  if (!CheckResult(state, r)) return false;
  state.PauseTiming();
  isolate->reset();
  state.ResumeTiming();
  return true;
}

// New isolate (V8's built-in snapshot), new context, run the bundle, call handler(7).
void BM_ColdStart_FromSource(benchmark::State& state, Variant variant) {
  const std::string& source = Inputs().Source(variant);
  BundleKind kind = VariantKind(variant);
  engine::PackOptions options;
  options.kind = kind;
  CallRequest call;
  // A blank-snapshot isolate takes inline source only; an ES module's exports live in the
  // engine's hidden exports global (as in tests/engine/pack_test.cc).
  call.source =
      kind == BundleKind::kClassicScript ? "handler(7)" : "__isopool_exports.default.handler(7)";
  Phases phases;
  auto load = [&](JsIsolate& isolate) { return isolate.LoadBundle(source, options); };
  for (auto _ : state) {
    if (!TimedColdStart(state, engine::Snapshot::Blank(), load, &phases.load, call,
                        JsIsolate::ContextUse::kShared, phases)) {
      break;
    }
  }
  phases.Report(state);
  state.counters["source_bytes"] = static_cast<double>(source.size());
}

// Restore an isolate from the packed envelope, a new context from its snapshot, call.
void BM_ColdStart_FromSnapshot(benchmark::State& state, Variant variant, FunctionCode code) {
  const PackedBundle& packed = Inputs().Packed(variant, code);
  CallRequest call;
  call.function = "handler";
  call.args_json = "[7]";
  Phases phases;
  auto prepare = [](JsIsolate& isolate) { return isolate.PrepareContext(); };
  for (auto _ : state) {
    if (!TimedColdStart(state, packed.snapshot, prepare, &phases.context, call,
                        JsIsolate::ContextUse::kFresh, phases)) {
      break;
    }
  }
  phases.Report(state);
  const std::string& blob = packed.snapshot->envelope().blob;
  state.counters["blob_bytes"] = static_cast<double>(blob.size());
  // V8 10.2's blob header: u32 contexts, then u32 "can be rehashed". When 0 (ES modules), V8
  // skips the rehash at restore whatever --rehash_snapshot says.
  uint32_t rehashable = 0;
  if (blob.size() >= 8) std::memcpy(&rehashable, blob.data() + 4, sizeof(rehashable));
  state.counters["rehashable"] = rehashable;
  state.counters["envelope_bytes"] = static_cast<double>(packed.envelope.size());
}

// Decoding and validating the envelope (checksums, compatibility): paid once per envelope by
// the pool, not per isolate, but part of a truly cold start.
void BM_EnvelopeDecode(benchmark::State& state, Variant variant, FunctionCode code) {
  const PackedBundle& packed = Inputs().Packed(variant, code);
  for (auto _ : state) {
    auto snapshot = engine::Snapshot::FromEnvelope(packed.envelope);
    if (!snapshot.ok()) {
      state.SkipWithError(snapshot.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(snapshot);
  }
}

std::string FlagValue(std::vector<char*>& args, const char* name, bool* present) {
  std::string prefix = absl::StrCat("--", name);
  for (auto it = args.begin(); it != args.end(); ++it) {
    std::string arg = *it;
    if (arg == prefix || arg.rfind(prefix + "=", 0) == 0) {
      args.erase(it);
      *present = true;
      return arg.size() > prefix.size() ? arg.substr(prefix.size() + 1) : "";
    }
  }
  *present = false;
  return "";
}

// The isopool_pack binary: --pack_binary, else beside this binary or in its runfiles, else
// in the working directory (bazel run's is the runfiles); "" when there is none.
std::string FindPackBinary(const std::string& flag, const char* argv0) {
  if (!flag.empty()) return flag;
  for (const std::string& path :
       {base::FindSiblingBinary("isopool_pack", "engine/isopool_pack", argv0),
        std::string("engine/isopool_pack")}) {
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

}  // namespace
}  // namespace isopool::bench

int main(int argc, char** argv) {
  using namespace isopool;
  using namespace isopool::bench;
  std::vector<char*> args(argv, argv + argc);
  bool present = false;
  std::string pack_flag = FlagValue(args, "pack_binary", &present);
  bool rehash = false;
  FlagValue(args, "rehash_snapshot", &rehash);
  int bench_argc = static_cast<int>(args.size());
  benchmark::Initialize(&bench_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, args.data())) return 2;

  engine::RuntimeOptions runtime;
  runtime.argv0 = argv[0];
  runtime.rehash_snapshot = rehash;
  std::random_device random;
  runtime.hash_seed = (uint64_t{random()} << 32 | random()) | 1;  // nonzero: 0 means random
  if (auto s = engine::InitializeRuntime(runtime); !s.ok()) {
    std::fprintf(stderr, "runtime: %s\n", s.ToString().c_str());
    return 1;
  }
  BenchInputs& inputs = Inputs();
  inputs.watchdog = std::make_unique<engine::Watchdog>();
  inputs.sources[Variant::kScript] = ScriptBundle();
  inputs.sources[Variant::kEsm] = ModuleBundle();
  inputs.sources[Variant::kEsmAllExported] = ModuleBundle(/*export_all=*/true);

  engine::PackProcessOptions process;
  process.binary = FindPackBinary(pack_flag, argv[0]);
  process.hash_seed = runtime.hash_seed;
  if (process.binary.empty()) {
    std::fprintf(stderr, "isopool_pack not found: pass --pack_binary=PATH\n");
    return 1;
  }
  for (Variant variant : kVariants) {
    for (engine::FunctionCode code : {engine::FunctionCode::kKeep, engine::FunctionCode::kClear}) {
      engine::PackOptions options;
      options.kind = VariantKind(variant);
      options.entry = "handler";
      options.function_code = code;
      absl::StatusOr<std::string> envelope =
          engine::PackInChildProcess(process, inputs.Source(variant), options);
      if (!envelope.ok()) {
        std::fprintf(stderr, "pack %s/%s: %s\n", VariantName(variant), CodeName(code),
                     envelope.status().ToString().c_str());
        return 1;
      }
      auto snapshot = engine::Snapshot::FromEnvelope(*envelope);
      if (!snapshot.ok()) {
        std::fprintf(stderr, "restore %s/%s: %s\n", VariantName(variant), CodeName(code),
                     snapshot.status().ToString().c_str());
        return 1;
      }
      inputs.packed[{variant, code}] = PackedBundle{*std::move(envelope), *std::move(snapshot)};
    }
  }
  benchmark::AddCustomContext("v8", engine::V8Version());
  benchmark::AddCustomContext("rehash_snapshot", rehash ? "true" : "false");
  for (Variant variant : kVariants) {
    benchmark::AddCustomContext(absl::StrCat(VariantName(variant), "_bundle_bytes"),
                                std::to_string(inputs.Source(variant).size()));
  }

  for (Variant variant : kVariants) {
    benchmark::RegisterBenchmark(
        absl::StrCat("ColdStart_FromSource/", VariantName(variant)).c_str(),
        BM_ColdStart_FromSource, variant)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    for (engine::FunctionCode code : {engine::FunctionCode::kKeep, engine::FunctionCode::kClear}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("ColdStart_FromSnapshot/", VariantName(variant), "/", CodeName(code))
              .c_str(),
          BM_ColdStart_FromSnapshot, variant, code)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(
          absl::StrCat("EnvelopeDecode/", VariantName(variant), "/", CodeName(code)).c_str(),
          BM_EnvelopeDecode, variant, code)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  RegisterRawV8Benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
