// js_isolate.h: one V8 isolate restored from a Snapshot, with its limits, contexts and console.
//
//   auto isolate = engine::JsIsolate::Create(snapshot, options, watchdog);
//   engine::CallResult r = (*isolate)->Run({.function = "handler", .args_json = "[1]"},
//                                          limits, engine::JsIsolate::ContextUse::kFresh);
//   if (r.condemned != engine::CondemnReason::kNone) { /* dispose, never reuse */ }
//
// Limits. The heap limit is per isolate (V8 ResourceConstraints); a NearHeapLimitCallback
// terminates the running call and grants headroom so V8 never aborts the process. Wall and CPU
// limits are enforced by the shared Watchdog. ArrayBuffer memory is capped by the isolate's own
// allocator. Stack depth is bounded by `stack_bytes`, so deep recursion is a RangeError.
// A call that hit a limit condemns the isolate: its state is unknown, and the owner must
// dispose of it.
//
// ContextUse. `ContextUse::kFresh` runs each call in a new context from the snapshot (taking a
// spare made earlier by PrepareContext when there is one) and drops it after the call;
// `kShared` keeps one context across calls, so globals persist.
//
// Ownership and threads: the creator owns the JsIsolate (unique_ptr) and destroying it
// disposes of the isolate. Only one thread may use it at a time (the pool's lease guarantees
// it), but successive calls may come from different threads: every entry takes a v8::Locker and
// sets the stack limit for the calling thread, whose stack must exceed `stack_bytes` by a
// margin (512 KiB is plenty). `MemoryPressure` may be called from any thread at any time.
#ifndef ISOPOOL_ENGINE_JS_ISOLATE_H_
#define ISOPOOL_ENGINE_JS_ISOLATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/call.h"
#include "engine/observer.h"
#include "engine/snapshot.h"
#include "engine/watchdog.h"

namespace isopool::engine {

struct IsolateOptions {
  // V8 heap size limit (old + young generation).
  size_t heap_limit_bytes = 64 << 20;
  // Total live ArrayBuffer memory; allocations beyond it fail with a RangeError.
  size_t max_array_buffer_bytes = 64 << 20;
  // JavaScript stack depth, in bytes of the calling thread's stack.
  size_t stack_bytes = 984 << 10;
};

struct HeapStats {
  size_t used_bytes = 0;
  size_t total_bytes = 0;
  size_t limit_bytes = 0;
  size_t external_bytes = 0;
  size_t malloced_bytes = 0;
  size_t native_contexts = 0;
  size_t detached_contexts = 0;
  size_t array_buffer_bytes = 0;
};

class JsIsolate {
 public:
  enum class ContextUse { kFresh, kShared };

  // Restores an isolate from `snapshot` (no context yet). Requires an initialised runtime.
  // `watchdog` and `observer` must outlive the JsIsolate.
  static absl::StatusOr<std::unique_ptr<JsIsolate>> Create(
      std::shared_ptr<const Snapshot> snapshot, const IsolateOptions& options, Watchdog& watchdog,
      EngineObserver& observer = NoopEngineObserver());

  ~JsIsolate();
  JsIsolate(const JsIsolate&) = delete;
  JsIsolate& operator=(const JsIsolate&) = delete;

  // Creates a context from the snapshot and keeps it as a spare for the next kFresh call, so
  // context creation is off the request path.
  absl::Status PrepareContext();
  int spare_contexts() const;

  // Loads a bundle from source into the shared context (the cold path, without a snapshot).
  absl::Status LoadBundle(absl::string_view source, const PackOptions& options);

  // Runs one call. See CallResult for the two ways it can fail.
  CallResult Run(const CallRequest& request, const CallLimits& limits, ContextUse use);

  HeapStats GetHeapStats();

  // Garbage collection while idle: `IdleNotificationDeadline` within `budget`. Returns true when
  // V8 has nothing more to do.
  bool IdleCollect(absl::Duration budget);
  // A full, memory-reducing GC: one critical memory-pressure notification (not
  // LowMemoryNotification, which loops up to seven full GCs).
  void CollectAll();
  // Tells V8 that memory is tight. Thread-safe; callable while a call runs.
  void MemoryPressure(bool critical);

  // Condemned isolates must not run again. Set by Run when a limit was hit, or by the owner.
  CondemnReason condemned() const { return condemned_; }
  void Condemn(CondemnReason reason) {
    if (condemned_ == CondemnReason::kNone) condemned_ = reason;
  }

  // A process-unique number, for logs and tests.
  uint64_t id() const { return id_; }
  int uses() const { return uses_; }
  absl::Time created_at() const { return created_at_; }
  // How long Create took (the isolate, without contexts).
  absl::Duration restore_duration() const { return restore_duration_; }
  // How long the last PrepareContext took (a context from the snapshot, console included).
  absl::Duration last_context_duration() const { return last_context_duration_; }
  const Snapshot& snapshot() const { return *snapshot_; }

 private:
  class ArrayBufferAllocator;
  struct V8State;
  JsIsolate(std::shared_ptr<const Snapshot> snapshot, const IsolateOptions& options,
            Watchdog& watchdog, EngineObserver& observer);

  static size_t OnNearHeapLimit(void* data, size_t current, size_t initial);
  static void OnGcPrologue(void* isolate, int type, int flags, void* data);
  static void OnGcEpilogue(void* isolate, int type, int flags, void* data);
  class ConsoleWriter;

  const std::shared_ptr<const Snapshot> snapshot_;
  const IsolateOptions options_;
  Watchdog& watchdog_;
  EngineObserver& observer_;
  const uint64_t id_;
  const absl::Time created_at_;
  absl::Duration restore_duration_;
  absl::Duration last_context_duration_;
  std::unique_ptr<ArrayBufferAllocator> allocator_;
  void* isolate_ = nullptr;  // v8::Isolate*, kept opaque so V8 stays out of this header
  std::unique_ptr<V8State> v8_;

  CondemnReason condemned_ = CondemnReason::kNone;
  int uses_ = 0;
  // The call running now, or null (internal/call_scope.h). Only a CallScope sets and clears it,
  // on the thread running the call; the console and the heap callbacks, which V8 runs on that
  // thread, read it.
  struct ActiveCall;
  class CallScope;
  ActiveCall* active_call_ = nullptr;
  absl::Time gc_started_;
};

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_JS_ISOLATE_H_
