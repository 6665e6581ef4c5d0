// v8_state.h: the V8 objects a JsIsolate keeps, and how its methods enter it (engine-private,
// V8 types inside).
#ifndef ISOPOOL_ENGINE_INTERNAL_V8_STATE_H_
#define ISOPOOL_ENGINE_INTERNAL_V8_STATE_H_

#include <v8.h>

#include <deque>
#include <memory>

#include "engine/internal/web.h"
#include "engine/js_isolate.h"

namespace isopool::engine {

namespace internal {

// Enters `isolate` for the calling thread, as every JsIsolate method that runs V8 must: the lock,
// the stack limit for this thread's stack (successive calls may come from different threads),
// and a HandleScope.
class EnteredIsolate {
 public:
  EnteredIsolate(v8::Isolate* isolate, size_t stack_bytes)
      : locker_(isolate), scope_(isolate), handles_(isolate) {
    char here;
    isolate->SetStackLimit(reinterpret_cast<uintptr_t>(&here) - stack_bytes);
  }

 private:
  v8::Locker locker_;
  v8::Isolate::Scope scope_;
  v8::HandleScope handles_;
};

}  // namespace internal

struct JsIsolate::V8State {
  // V8 keeps a pointer to this struct (not just the bytes) for as long as the isolate lives.
  v8::StartupData blob{nullptr, 0};
  // Made ahead of time by PrepareContext, consumed by kFresh calls.
  std::deque<v8::Global<v8::Context>> spares;
  // The context kShared calls reuse.
  v8::Global<v8::Context> shared;
  // Where the contexts' console writes (this isolate's running call).
  std::unique_ptr<internal::ConsoleSink> console;
  // The web runtime's per-isolate state (clock, randomness, templates).
  std::unique_ptr<internal::WebHost> web;
};

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_INTERNAL_V8_STATE_H_
