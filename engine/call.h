// call.h: one call into JavaScript: what to run, under which limits, and what came back.
//
// Plain values, no V8 types. A `CallResult` separates the two ways a call can fail:
//   - `status` not OK: the request itself was wrong (args that are not JSON, an unknown
//     function, inline source on a snapshot that forbids it). Nothing ran. The service maps it
//     to a gRPC code.
//   - `error` set: the script ran and failed (threw, timed out, hit a limit). The RPC is OK.
#ifndef ISOPOOL_ENGINE_CALL_H_
#define ISOPOOL_ENGINE_CALL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace isopool::engine {

struct CallRequest {
  // Exactly one of `function` and `source` is non-empty.
  // A global function (classic scripts), a named export or a method of the default export
  // (ES modules); a dotted path ("default.fetch", "api.v1.handler") walks properties.
  std::string function;
  // A JSON array of arguments; empty means none.
  std::string args_json;
  // A classic script to evaluate; its completion value is the result.
  std::string source;
};

struct CallLimits {
  absl::Duration wall = absl::Seconds(1);
  absl::Duration cpu = absl::Seconds(1);
  // Soft per-call heap limit, checked after each GC; 0 = the isolate's hard limit only.
  size_t heap_bytes = 0;
  size_t max_result_bytes = 1 << 20;
  size_t max_log_bytes = 64 << 10;
};

enum class ErrorKind {
  kSyntax,
  kException,
  kTimeout,
  kCpuLimit,
  kMemoryLimit,
  kResultTooLarge,
  kResultNotJson,
  kPromiseNeverSettled,
  kTerminated,
  // The process running the call died (worker processes; reported by the supervisor).
  kWorkerCrashed,
};

// "syntax", "exception", "timeout", ... (also the service's metric label values).
const char* ErrorKindName(ErrorKind kind);

struct ScriptError {
  ErrorKind kind = ErrorKind::kException;
  std::string message;
  std::string stack;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
};

enum class LogLevel { kDebug, kInfo, kLog, kWarn, kError };

struct LogLine {
  LogLevel level = LogLevel::kLog;
  std::string message;
};

struct CallStats {
  absl::Duration wall;
  absl::Duration cpu;
  // Time spent asleep waiting for timers (part of `wall`, not of `cpu`).
  absl::Duration timer_sleep;
  size_t heap_before_bytes = 0;
  size_t heap_after_bytes = 0;
};

// Why an isolate must never run another call.
enum class CondemnReason {
  kNone,
  kTimeout,
  kCpuLimit,
  kMemoryLimit,
  kUnresponsive,  // termination did not take effect within the grace period
  kMaxUses,
  kMaxHeap,
  kMaxAge,
  kError,  // an internal failure left the isolate in an unknown state
};

// "timeout", "cpu_limit", ... (also the service's metric label values).
const char* CondemnReasonName(CondemnReason reason);

struct CallResult {
  absl::Status status;
  // JSON text of the result; "null" for undefined. Empty when `error` is set.
  std::string result_json;
  std::optional<ScriptError> error;
  std::vector<LogLine> logs;
  bool logs_truncated = false;
  CallStats stats;
  // Set when this call left the isolate unfit for another call.
  CondemnReason condemned = CondemnReason::kNone;
};

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_CALL_H_
