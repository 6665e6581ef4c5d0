#include "engine/js_isolate.h"

#include <v8.h>

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/internal/call_scope.h"
#include "engine/internal/v8_state.h"
#include "engine/internal/v8_util.h"
#include "engine/runtime.h"

namespace isopool::engine {

using internal::ToStdString;
using internal::ToV8String;

namespace {

std::atomic<uint64_t> next_isolate_id{1};

// How much the near-heap-limit callback grants at a time, and at most in all.
constexpr size_t kNearHeapLimitStep = 32 << 20;
size_t HeapCeiling(size_t initial) { return initial + std::max<size_t>(initial / 2, 64 << 20); }

GcType ToGcType(v8::GCType type) {
  if (type & v8::kGCTypeScavenge) return GcType::kScavenge;
  if (type & v8::kGCTypeMinorMarkCompact) return GcType::kScavenge;
  if (type & v8::kGCTypeMarkSweepCompact) return GcType::kMarkSweepCompact;
  if (type & v8::kGCTypeIncrementalMarking) return GcType::kIncrementalMarking;
  if (type & v8::kGCTypeProcessWeakCallbacks) return GcType::kWeakProcessing;
  return GcType::kOther;
}

}  // namespace

// Counts live ArrayBuffer memory and refuses allocations beyond the cap (V8 then throws a
// RangeError), so `new ArrayBuffer(2**31)` is a clean error and not unaccounted memory.
class JsIsolate::ArrayBufferAllocator : public v8::ArrayBuffer::Allocator {
 public:
  explicit ArrayBufferAllocator(size_t cap)
      : cap_(cap), base_(v8::ArrayBuffer::Allocator::NewDefaultAllocator()) {}
  void* Allocate(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* data = base_->Allocate(length);
    if (data == nullptr) used_ -= length;
    return data;
  }
  void* AllocateUninitialized(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* data = base_->AllocateUninitialized(length);
    if (data == nullptr) used_ -= length;
    return data;
  }
  void Free(void* data, size_t length) override {
    base_->Free(data, length);
    used_ -= length;
  }
  size_t used() const { return used_.load(); }

 private:
  bool Reserve(size_t length) {
    size_t before = used_.fetch_add(length);
    if (before + length <= cap_ && before + length >= before) return true;
    used_ -= length;
    return false;
  }
  const size_t cap_;
  std::atomic<size_t> used_{0};
  std::unique_ptr<v8::ArrayBuffer::Allocator> base_;
};

// The contexts' console: writes into the running call's logs; outside a call it is silent.
class JsIsolate::ConsoleWriter : public internal::ConsoleSink {
 public:
  explicit ConsoleWriter(JsIsolate& owner) : owner_(owner) {}
  bool ConsoleActive() override {
    return owner_.active_call_ != nullptr && owner_.active_call_->ConsoleHasRoom();
  }
  void ConsoleWrite(LogLevel level, std::string text) override {
    if (owner_.active_call_ != nullptr) owner_.active_call_->ConsoleWrite(level, std::move(text));
  }

 private:
  JsIsolate& owner_;
};

JsIsolate::JsIsolate(std::shared_ptr<const Snapshot> snapshot, const IsolateOptions& options,
                     Watchdog& watchdog, EngineObserver& observer)
    : snapshot_(std::move(snapshot)),
      options_(options),
      watchdog_(watchdog),
      observer_(observer),
      id_(next_isolate_id++),
      created_at_(absl::Now()),
      allocator_(std::make_unique<ArrayBufferAllocator>(options.max_array_buffer_bytes)),
      v8_(std::make_unique<V8State>()) {}

absl::StatusOr<std::unique_ptr<JsIsolate>> JsIsolate::Create(
    std::shared_ptr<const Snapshot> snapshot, const IsolateOptions& options, Watchdog& watchdog,
    EngineObserver& observer) {
  if (!RuntimeInitialized()) return absl::FailedPreconditionError("V8 runtime not initialised");
  if (snapshot == nullptr) return absl::InvalidArgumentError("no snapshot");
  absl::Time start = absl::Now();
  std::unique_ptr<JsIsolate> self(new JsIsolate(std::move(snapshot), options, watchdog, observer));
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = self->allocator_.get();
  params.constraints.ConfigureDefaultsFromHeapSize(0, options.heap_limit_bytes);
  params.external_references = internal::ExternalReferences();
  if (!self->snapshot_->blank()) {
    const std::string& data = self->snapshot_->envelope().blob;
    self->v8_->blob.data = data.data();
    self->v8_->blob.raw_size = static_cast<int>(data.size());
    params.snapshot_blob = &self->v8_->blob;
  } else if (const v8::StartupData* blank = internal::BlankBlob()) {
    self->v8_->blob = *blank;
    params.snapshot_blob = &self->v8_->blob;
  }
  v8::Isolate* isolate = v8::Isolate::New(params);
  self->isolate_ = isolate;
  isolate->SetData(0, self.get());
  self->v8_->web = std::make_unique<internal::WebHost>(isolate, internal::WebHost::Options{});
  self->v8_->web->set_observer(&observer);
  self->v8_->console = std::make_unique<ConsoleWriter>(*self);
  self->v8_->web->set_console_sink(self->v8_->console.get());
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate->AddNearHeapLimitCallback(&JsIsolate::OnNearHeapLimit, self.get());
  const RuntimeOptions& runtime = CurrentRuntimeOptions();
  if (runtime.on_oom != nullptr) isolate->SetOOMErrorHandler(runtime.on_oom);
  if (runtime.on_fatal_error != nullptr) isolate->SetFatalErrorHandler(runtime.on_fatal_error);
  isolate->AddGCPrologueCallback(
      reinterpret_cast<v8::Isolate::GCCallbackWithData>(&JsIsolate::OnGcPrologue), self.get());
  isolate->AddGCEpilogueCallback(
      reinterpret_cast<v8::Isolate::GCCallbackWithData>(&JsIsolate::OnGcEpilogue), self.get());
  self->restore_duration_ = absl::Now() - start;
  return self;
}

JsIsolate::~JsIsolate() {
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  if (isolate == nullptr) return;
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope scope(isolate);
    v8_->spares.clear();  // Globals must be reset while the isolate is alive
    v8_->shared.Reset();
    // Destroyed, not only disposed, while the isolate lives: ~WebHost reads the isolate's data
    // slots, and V8State (its owner) is destroyed after isolate->Dispose() below (TSan found
    // the use after free in a worker process).
    v8_->web.reset();
  }
  isolate->Dispose();
}

int JsIsolate::spare_contexts() const { return static_cast<int>(v8_->spares.size()); }

absl::Status JsIsolate::PrepareContext() {
  const absl::Time start = absl::Now();
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  internal::EnteredIsolate entered(isolate, options_.stack_bytes);
  // Packed snapshots, and the runtime's blank one, already hold the lazy web globals and the
  // console (packing put them there). Only without a blank blob does a blank context get them
  // from the template (slower: V8 reconfigures the global object).
  const bool from_template = snapshot_->blank() && internal::BlankBlob() == nullptr;
  v8::Local<v8::Context> context =
      from_template ? v8::Context::New(isolate, nullptr, v8_->web->GlobalTemplate())
                    : v8::Context::New(isolate);
  if (context.IsEmpty()) return absl::InternalError("could not create a context");
  v8::Context::Scope context_scope(context);
  if (from_template && !v8_->web->InstallConsole(context)) {
    return absl::InternalError("could not install console");
  }
  v8_->spares.emplace_back(isolate, context);
  last_context_duration_ = absl::Now() - start;
  return absl::OkStatus();
}

absl::Status JsIsolate::LoadBundle(absl::string_view source, const PackOptions& options) {
  std::vector<std::string> exports;
  if (options.kind == BundleKind::kEsModule) {
    absl::Status listed = internal::ListModuleExports(source, options.bundle_name, &exports);
    if (!listed.ok()) return listed;
  }
  if (v8_->shared.IsEmpty()) {
    if (auto s = PrepareContext(); !s.ok()) return s;
    v8_->shared = std::move(v8_->spares.back());
    v8_->spares.pop_back();
  }
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  internal::EnteredIsolate entered(isolate, options_.stack_bytes);
  v8::Local<v8::Context> context = v8_->shared.Get(isolate);
  v8::Context::Scope context_scope(context);
  return internal::LoadBundle(isolate, context, source, options, exports);
}

size_t JsIsolate::OnNearHeapLimit(void* data, size_t current, size_t initial) {
  auto* self = static_cast<JsIsolate*>(data);
  if (self->active_call_ != nullptr) self->active_call_->memory_limit_hit = true;
  static_cast<v8::Isolate*>(self->isolate_)->TerminateExecution();
  // Headroom so the terminating call can unwind (the isolate is condemned afterwards), but
  // bounded: a builtin that ignores termination (a slow-path Array.prototype.fill) calls back
  // again and again, and granting each time let one isolate reach 11.6 GiB. Past the ceiling V8
  // declares a fatal OOM: a worker process dies and the supervisor answers MEMORY_LIMIT.
  return std::max(current, std::min(current + kNearHeapLimitStep, HeapCeiling(initial)));
}

void JsIsolate::OnGcPrologue(void* /*isolate*/, int /*type*/, int /*flags*/, void* data) {
  static_cast<JsIsolate*>(data)->gc_started_ = absl::Now();
}

void JsIsolate::OnGcEpilogue(void* raw_isolate, int type, int /*flags*/, void* data) {
  auto* self = static_cast<JsIsolate*>(data);
  self->observer_.OnGcPause(ToGcType(static_cast<v8::GCType>(type)),
                            absl::Now() - self->gc_started_);
  ActiveCall* call = self->active_call_;
  if (call != nullptr && call->heap_limit_bytes > 0) {
    v8::HeapStatistics stats;
    static_cast<v8::Isolate*>(raw_isolate)->GetHeapStatistics(&stats);
    if (stats.used_heap_size() > call->heap_limit_bytes) {
      call->memory_limit_hit = true;
      static_cast<v8::Isolate*>(raw_isolate)->TerminateExecution();
    }
  }
}

HeapStats JsIsolate::GetHeapStats() {
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  v8::Locker locker(isolate);
  v8::HeapStatistics v8_stats;
  isolate->GetHeapStatistics(&v8_stats);
  HeapStats stats;
  stats.used_bytes = v8_stats.used_heap_size();
  stats.total_bytes = v8_stats.total_heap_size();
  stats.limit_bytes = v8_stats.heap_size_limit();
  stats.external_bytes = v8_stats.external_memory();
  stats.malloced_bytes = v8_stats.malloced_memory();
  stats.native_contexts = v8_stats.number_of_native_contexts();
  stats.detached_contexts = v8_stats.number_of_detached_contexts();
  stats.array_buffer_bytes = allocator_->used();
  return stats;
}

bool JsIsolate::IdleCollect(absl::Duration budget) {
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  internal::EnteredIsolate entered(isolate, options_.stack_bytes);
  // V8's default platform measures idle deadlines in CLOCK_MONOTONIC seconds.
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double now_seconds = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
  return isolate->IdleNotificationDeadline(now_seconds + absl::ToDoubleSeconds(budget));
}

void JsIsolate::CollectAll() {
  auto* isolate = static_cast<v8::Isolate*>(isolate_);
  internal::EnteredIsolate entered(isolate, options_.stack_bytes);
  // A critical memory-pressure notification on the isolate's own thread runs one
  // memory-reducing full GC now (a second only if it freed a lot); LowMemoryNotification loops up
  // to seven full GCs, and cost a context-mode pool 10% of its CPU.
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kCritical);
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
}

void JsIsolate::MemoryPressure(bool critical) {
  static_cast<v8::Isolate*>(isolate_)->MemoryPressureNotification(
      critical ? v8::MemoryPressureLevel::kCritical : v8::MemoryPressureLevel::kModerate);
}

}  // namespace isopool::engine
