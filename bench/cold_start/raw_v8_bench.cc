// Raw V8 cold-start benchmarks: the same bundle without engine::JsIsolate, to show what the
// engine's wrapper costs and what V8 alone can do: from source, from a V8 code cache (script and
// module), from a snapshot, and the floor (a bare Isolate::New + Dispose, a Context::New).
//
// Every isolate gets the same heap constraints as the engine's (kBenchHeapBytes).
#include <benchmark/benchmark.h>
#include <v8.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/cold_start/bundle.h"
#include "bench/cold_start/inputs.h"
#include "engine/runtime.h"

namespace isopool::bench {
namespace {

using engine::BundleKind;

v8::Local<v8::String> Str(v8::Isolate* isolate, const std::string& text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

v8::ArrayBuffer::Allocator* Allocator() {
  static v8::ArrayBuffer::Allocator* allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
  return allocator;
}

v8::Isolate* NewIsolate(v8::StartupData* blob = nullptr) {
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = Allocator();
  params.constraints.ConfigureDefaultsFromHeapSize(0, kBenchHeapBytes);
  params.snapshot_blob = blob;
  params.external_references = engine::ExternalReferences();  // packed blobs reference natives
  return v8::Isolate::New(params);
}

v8::ScriptOrigin Origin(v8::Isolate* isolate, bool module) {
  return v8::ScriptOrigin(isolate, Str(isolate, "bundle.js"), 0, 0, false, -1,
                          v8::Local<v8::Value>(), false, false, module);
}

v8::MaybeLocal<v8::Module> NoImports(v8::Local<v8::Context>, v8::Local<v8::String>,
                                     v8::Local<v8::FixedArray>, v8::Local<v8::Module>) {
  return {};
}

// The result of handler(7) as JSON, or "" on any failure.
std::string CallHandler(v8::Isolate* isolate, v8::Local<v8::Context> context,
                        v8::Local<v8::Object> holder) {
  v8::Local<v8::Value> fn;
  if (!holder->Get(context, Str(isolate, "handler")).ToLocal(&fn) || !fn->IsFunction()) return "";
  v8::Local<v8::Value> arg = v8::Integer::New(isolate, 7);
  v8::Local<v8::Value> result;
  if (!fn.As<v8::Function>()->Call(context, holder, 1, &arg).ToLocal(&result)) return "";
  v8::Local<v8::String> json;
  if (!v8::JSON::Stringify(context, result).ToLocal(&json)) return "";
  v8::String::Utf8Value utf8(isolate, json);
  return std::string(*utf8, utf8.length());
}

// Loads the bundle in `context` (optionally consuming or producing a code cache) and calls
// handler(7). `produce`, when set, receives a code cache made after the call, so it holds the
// functions the call compiled too.
std::string LoadAndCall(v8::Isolate* isolate, v8::Local<v8::Context> context, Variant variant,
                        const std::string& cache, std::string* produce, bool* rejected) {
  v8::TryCatch try_catch(isolate);
  const std::string& text = Inputs().Source(variant);
  BundleKind kind = VariantKind(variant);
  v8::ScriptCompiler::CachedData* data =
      cache.empty()
          ? nullptr
          : new v8::ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(cache.data()),
                                               static_cast<int>(cache.size()));
  auto options =
      data ? v8::ScriptCompiler::kConsumeCodeCache : v8::ScriptCompiler::kNoCompileOptions;
  bool module = kind == BundleKind::kEsModule;
  v8::ScriptCompiler::Source source(Str(isolate, text), Origin(isolate, module), data);
  std::string result;
  v8::Local<v8::UnboundScript> unbound;
  v8::Local<v8::UnboundModuleScript> unbound_module;
  if (!module) {
    v8::Local<v8::Script> script;
    if (!v8::ScriptCompiler::Compile(context, &source, options).ToLocal(&script)) return "";
    if (script->Run(context).IsEmpty()) return "";
    unbound = script->GetUnboundScript();
    result = CallHandler(isolate, context, context->Global());
  } else {
    v8::Local<v8::Module> m;
    if (!v8::ScriptCompiler::CompileModule(isolate, &source, options).ToLocal(&m)) return "";
    if (!m->InstantiateModule(context, NoImports).FromMaybe(false)) return "";
    if (m->Evaluate(context).IsEmpty()) return "";
    unbound_module = m->GetUnboundModuleScript();
    v8::Local<v8::Value> exported;
    if (!m->GetModuleNamespace()
             .As<v8::Object>()
             ->Get(context, Str(isolate, "default"))
             .ToLocal(&exported) ||
        !exported->IsObject()) {
      return "";
    }
    result = CallHandler(isolate, context, exported.As<v8::Object>());
  }
  if (rejected != nullptr) *rejected = data != nullptr && source.GetCachedData()->rejected;
  if (produce != nullptr) {
    std::unique_ptr<v8::ScriptCompiler::CachedData> made(
        module ? v8::ScriptCompiler::CreateCodeCache(unbound_module)
               : v8::ScriptCompiler::CreateCodeCache(unbound));
    produce->assign(reinterpret_cast<const char*>(made->data), made->length);
  }
  return result;
}

std::string MakeCodeCache(Variant variant) {
  v8::Isolate* isolate = NewIsolate();
  std::string cache;
  {
    v8::Isolate::Scope scope(isolate);
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    if (LoadAndCall(isolate, context, variant, "", &cache, nullptr) != ExpectedHandlerResult()) {
      cache.clear();
    }
  }
  isolate->Dispose();
  return cache;
}

// New isolate, new context, (compile with or without the cache), run, call. Dispose untimed.
void BM_Raw_ColdStart(benchmark::State& state, Variant variant, bool use_cache) {
  std::string cache;
  if (use_cache) {
    cache = MakeCodeCache(variant);
    if (cache.empty()) {
      state.SkipWithError("could not make a code cache");
      return;
    }
    state.counters["code_cache_bytes"] = static_cast<double>(cache.size());
  }
  absl::Duration isolate_time, context_time, load_time;
  for (auto _ : state) {
    absl::Time t0 = absl::Now();
    v8::Isolate* isolate = NewIsolate();
    std::string result;
    bool rejected = false;
    {
      v8::Isolate::Scope scope(isolate);
      v8::HandleScope handles(isolate);
      absl::Time t1 = absl::Now();
      v8::Local<v8::Context> context = v8::Context::New(isolate);
      v8::Context::Scope context_scope(context);
      absl::Time t2 = absl::Now();
      result = LoadAndCall(isolate, context, variant, cache, nullptr, &rejected);
      absl::Time t3 = absl::Now();
      isolate_time += t1 - t0;
      context_time += t2 - t1;
      load_time += t3 - t2;
    }
    state.PauseTiming();
    isolate->Dispose();
    state.ResumeTiming();
    if (result != ExpectedHandlerResult() || rejected) {
      state.SkipWithError(rejected ? "V8 rejected the code cache" : "bundle call failed");
      break;
    }
  }
  auto avg = benchmark::Counter::kAvgIterations;
  state.counters["isolate_ms"] = benchmark::Counter(absl::ToDoubleMilliseconds(isolate_time), avg);
  state.counters["context_ms"] = benchmark::Counter(absl::ToDoubleMilliseconds(context_time), avg);
  state.counters["load_call_ms"] = benchmark::Counter(absl::ToDoubleMilliseconds(load_time), avg);
}

// Restore from the packed blob with V8 alone: Isolate::New, Context::New, call handler(7).
// Script only: an ES module snapshot's exports sit behind the engine's hidden global.
void BM_Raw_ColdStart_FromSnapshot(benchmark::State& state, engine::FunctionCode code) {
  const std::string& bytes = Inputs().Packed(Variant::kScript, code).snapshot->envelope().blob;
  v8::StartupData blob{bytes.data(), static_cast<int>(bytes.size())};
  absl::Duration isolate_time, context_time, call_time;
  for (auto _ : state) {
    absl::Time t0 = absl::Now();
    v8::Isolate* isolate = NewIsolate(&blob);
    std::string result;
    {
      v8::Isolate::Scope scope(isolate);
      v8::HandleScope handles(isolate);
      absl::Time t1 = absl::Now();
      v8::Local<v8::Context> context = v8::Context::New(isolate);
      v8::Context::Scope context_scope(context);
      absl::Time t2 = absl::Now();
      result = CallHandler(isolate, context, context->Global());
      absl::Time t3 = absl::Now();
      isolate_time += t1 - t0;
      context_time += t2 - t1;
      call_time += t3 - t2;
    }
    state.PauseTiming();
    isolate->Dispose();
    state.ResumeTiming();
    if (result != ExpectedHandlerResult()) {
      state.SkipWithError("call failed");
      break;
    }
  }
  auto avg = benchmark::Counter::kAvgIterations;
  state.counters["isolate_ms"] = benchmark::Counter(absl::ToDoubleMilliseconds(isolate_time), avg);
  state.counters["context_ms"] = benchmark::Counter(absl::ToDoubleMilliseconds(context_time), avg);
  state.counters["call_ms"] = benchmark::Counter(absl::ToDoubleMilliseconds(call_time), avg);
}

// The floor: an isolate from V8's built-in snapshot, created and disposed.
void BM_IsolateNewDispose(benchmark::State& state) {
  for (auto _ : state) NewIsolate()->Dispose();
}

// A context from V8's built-in snapshot, on a live isolate.
void BM_ContextNew(benchmark::State& state) {
  v8::Isolate* isolate = NewIsolate();
  {
    v8::Isolate::Scope scope(isolate);
    for (auto _ : state) {
      v8::HandleScope handles(isolate);
      benchmark::DoNotOptimize(v8::Context::New(isolate));
    }
  }
  isolate->Dispose();
}

// A context from the bundle's snapshot, on an isolate already restored from it: the per-context
// share of a snapshot restore (the pool can make these ahead of time).
void BM_ContextNew_BundleSnapshot(benchmark::State& state, engine::FunctionCode code) {
  const std::string& bytes = Inputs().Packed(Variant::kScript, code).snapshot->envelope().blob;
  v8::StartupData blob{bytes.data(), static_cast<int>(bytes.size())};
  v8::Isolate* isolate = NewIsolate(&blob);
  {
    v8::Isolate::Scope scope(isolate);
    for (auto _ : state) {
      v8::HandleScope handles(isolate);
      benchmark::DoNotOptimize(v8::Context::New(isolate));
      isolate->ContextDisposedNotification();
    }
  }
  isolate->Dispose();
}

}  // namespace

void RegisterRawV8Benchmarks() {
  for (Variant variant : kVariants) {
    const char* name = VariantName(variant);
    benchmark::RegisterBenchmark(absl::StrCat("Raw_ColdStart_FromSource/", name).c_str(),
                                 BM_Raw_ColdStart, variant, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(absl::StrCat("Raw_ColdStart_FromCodeCache/", name).c_str(),
                                 BM_Raw_ColdStart, variant, true)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  for (engine::FunctionCode code : {engine::FunctionCode::kKeep, engine::FunctionCode::kClear}) {
    const char* name = code == engine::FunctionCode::kKeep ? "keep" : "clear";
    benchmark::RegisterBenchmark(absl::StrCat("Raw_ColdStart_FromSnapshot/script/", name).c_str(),
                                 BM_Raw_ColdStart_FromSnapshot, code)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(absl::StrCat("ContextNew_BundleSnapshot/script/", name).c_str(),
                                 BM_ContextNew_BundleSnapshot, code)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("IsolateNewDispose", BM_IsolateNewDispose)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("ContextNew", BM_ContextNew)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

}  // namespace isopool::bench
