// call_scope.h: the state of the one call a JsIsolate runs, and the scope that makes it the
// running call. The state lives on JsIsolate::Run's stack and the scope ends with the call
// (workerd enters its limits the same way), so nothing per call is kept in JsIsolate's members
// to be set and reset by hand, and no callback can write into a call that is over.
//
// Threads: only the thread running the call touches them; V8 runs the console, GC and
// near-heap-limit callbacks that read JsIsolate::active_call_ on that same thread.
#ifndef ISOPOOL_ENGINE_INTERNAL_CALL_SCOPE_H_
#define ISOPOOL_ENGINE_INTERNAL_CALL_SCOPE_H_

#include <string>
#include <vector>

#include "engine/call.h"
#include "engine/js_isolate.h"

namespace isopool::engine {

struct JsIsolate::ActiveCall {
  ActiveCall(const CallLimits& limits, std::vector<LogLine>& logs)
      : heap_limit_bytes(limits.heap_bytes), max_log_bytes(limits.max_log_bytes), logs(logs) {}
  ActiveCall(const ActiveCall&) = delete;
  ActiveCall& operator=(const ActiveCall&) = delete;

  // False once the call's console output reached its byte cap (the console then skips
  // formatting, and the logs are marked truncated).
  bool ConsoleHasRoom() {
    if (log_bytes < max_log_bytes) return true;
    logs_truncated = true;
    return false;
  }
  // Keeps one console line, cut to the room left.
  void ConsoleWrite(LogLevel level, std::string text) {
    if (!ConsoleHasRoom()) return;
    size_t room = max_log_bytes - log_bytes;
    if (text.size() > room) {
      text.resize(room);
      logs_truncated = true;
    }
    log_bytes += text.size();
    logs.push_back(LogLine{level, std::move(text)});
  }

  // The call's own heap limit, checked after each GC; 0 = only the isolate's.
  const size_t heap_limit_bytes;
  // Set by the heap callbacks, which also terminate the call, when it ran over a heap limit.
  bool memory_limit_hit = false;
  const size_t max_log_bytes;
  size_t log_bytes = 0;
  bool logs_truncated = false;
  std::vector<LogLine>& logs;
};

class JsIsolate::CallScope {
 public:
  CallScope(JsIsolate& isolate, ActiveCall& call) : isolate_(isolate) {
    isolate_.active_call_ = &call;
  }
  ~CallScope() { isolate_.active_call_ = nullptr; }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  JsIsolate& isolate_;
};

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_INTERNAL_CALL_SCOPE_H_
