#include "engine/pack.h"

#include <v8.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "engine/envelope.h"
#include "engine/internal/v8_util.h"
#include "engine/internal/web.h"
#include "engine/runtime.h"
#include "engine/watchdog.h"

namespace isopool::engine {
namespace {

struct BuildLimitState {
  v8::Isolate* isolate;
  size_t heap_limit;
  std::atomic<bool> heap_exceeded{false};
};

size_t OnNearHeapLimit(void* data, size_t current, size_t /*initial*/) {
  auto* state = static_cast<BuildLimitState*>(data);
  state->heap_exceeded = true;
  state->isolate->TerminateExecution();
  return current + std::max<size_t>(current, 32 << 20);
}

void OnGcEpilogue(v8::Isolate* isolate, v8::GCType, v8::GCCallbackFlags, void* data) {
  auto* state = static_cast<BuildLimitState*>(data);
  v8::HeapStatistics stats;
  isolate->GetHeapStatistics(&stats);
  if (stats.used_heap_size() > state->heap_limit) {
    state->heap_exceeded = true;
    isolate->TerminateExecution();
  }
}

}  // namespace

bool CanPackDeterministically() {
  return RuntimeInitialized() && CurrentRuntimeOptions().fixed_random_seed &&
         CurrentRuntimeOptions().hash_seed != 0;
}

absl::StatusOr<std::string> Pack(absl::string_view source, const PackOptions& options) {
  if (!RuntimeInitialized()) return absl::FailedPreconditionError("V8 runtime not initialised");
  if (options.deterministic && !CanPackDeterministically()) {
    return absl::FailedPreconditionError(
        "deterministic packing needs a runtime with fixed hash and random seeds (the "
        "isopool_pack process)");
  }
  Watchdog watchdog;
  Envelope envelope;
  envelope.v8_version = V8Version();
  envelope.compat_digest = CompatibilityDigest();
  envelope.options = options;
  envelope.bundle_sha256 = base::Sha256Hex(source);
  envelope.source_bytes = source.size();

  // Export names come from a scratch isolate, which must not live beside the SnapshotCreator.
  if (options.kind == BundleKind::kEsModule) {
    absl::Status listed =
        internal::ListModuleExports(source, options.bundle_name, &envelope.exports);
    if (!listed.ok()) return listed;
  }
  // Every native a snapshotted context can reach must be registered (internal/web.h).
  v8::SnapshotCreator creator(internal::ExternalReferences());
  v8::Isolate* isolate = creator.GetIsolate();
  // Pinned while packing deterministically: performance.now, crypto.getRandomValues and the
  // timers' clock (virtual time: a timer fires at once, with the clock jumped to its due time).
  internal::WebHost web(isolate,
                        internal::WebHost::Options{options.deterministic, options.seed_time_ms});
  BuildLimitState limits{isolate, static_cast<size_t>(options.build_heap_mib) << 20};
  isolate->AddNearHeapLimitCallback(OnNearHeapLimit, &limits);
  isolate->AddGCEpilogueCallback(OnGcEpilogue, &limits);
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  absl::Status status;
  {
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate, nullptr, web.GlobalTemplate());
    v8::Context::Scope context_scope(context);
    Watchdog::Fired fired;
    {
      absl::Duration timeout = absl::Milliseconds(options.build_timeout_ms);
      Watchdog::Watch watch(watchdog, isolate, timeout, timeout);
      v8::Local<v8::Value> ignored;
      ScriptError error;
      // The console goes into the snapshot: while packing it has no sink, so output goes
      // nowhere (nobody reads a build's logs); at run time it writes to the call's logs.
      if (!web.InstallConsole(context)) status = absl::InternalError("could not install console");
      if (status.ok() && options.deterministic) {
        status = internal::PinDeterminism(isolate, context, options.seed_time_ms);
      }
      if (status.ok()) {
        status = internal::LoadBundle(isolate, context, source, options, envelope.exports);
      }
      if (status.ok() && !options.warmup_script.empty()) {
        if (!internal::RunScript(isolate, context, options.warmup_script, "warmup.js", &ignored,
                                 &error)
                 .ok()) {
          status = absl::InvalidArgumentError(
              absl::StrCat("warm-up script failed: ", internal::DescribeError(error)));
        }
      }
      if (status.ok()) isolate->PerformMicrotaskCheckpoint();
      // Timers the bundle set while loading fire now, up to the build time limit (in virtual
      // time when pinned); whatever is still pending then is dropped, never snapshotted.
      if (status.ok()) {
        internal::RunEventLoop(isolate, context, v8::Local<v8::Promise>(),
                               web.PeekNow() + static_cast<double>(options.build_timeout_ms));
      }
      if (std::optional<internal::Timers> timers = internal::Timers::Of(context)) {
        timers->Clear();
      }
      if (status.ok() && options.deterministic) {
        status = internal::UnpinDeterminism(isolate, context);
      }
      fired = watch.fired();
    }
    if (fired != Watchdog::Fired::kNone || limits.heap_exceeded ||
        isolate->IsExecutionTerminating()) {
      isolate->CancelTerminateExecution();
      status = absl::InvalidArgumentError(
          limits.heap_exceeded ? absl::StrCat("the bundle exceeded the build heap limit of ",
                                              options.build_heap_mib, " MiB")
                               : absl::StrCat("the bundle exceeded the build time limit of ",
                                              options.build_timeout_ms, " ms"));
    }
    if (status.ok()) creator.SetDefaultContext(context);
  }
  web.Dispose();  // its templates are per-process handles, not part of the snapshot
  if (!status.ok()) {
    // SnapshotCreator insists on a blob before it is destroyed; make an empty one.
    {
      v8::HandleScope handles(isolate);
      creator.SetDefaultContext(v8::Context::New(isolate));
    }
    delete[] creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kClear).data;
    return status;
  }
  v8::StartupData blob = creator.CreateBlob(options.function_code == FunctionCode::kClear
                                                ? v8::SnapshotCreator::FunctionCodeHandling::kClear
                                                : v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  if (blob.data == nullptr || blob.raw_size <= 0) {
    return absl::InternalError("V8 produced no snapshot blob");
  }
  envelope.blob.assign(blob.data, blob.raw_size);
  delete[] blob.data;
  return EncodeEnvelope(envelope);
}

}  // namespace isopool::engine
