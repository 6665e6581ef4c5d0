#include "engine/call.h"

namespace isopool::engine {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSyntax:
      return "syntax";
    case ErrorKind::kException:
      return "exception";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kCpuLimit:
      return "cpu_limit";
    case ErrorKind::kMemoryLimit:
      return "memory_limit";
    case ErrorKind::kResultTooLarge:
      return "result_too_large";
    case ErrorKind::kResultNotJson:
      return "result_not_json";
    case ErrorKind::kPromiseNeverSettled:
      return "promise_never_settled";
    case ErrorKind::kTerminated:
      return "terminated";
    case ErrorKind::kWorkerCrashed:
      return "worker_crashed";
  }
  return "unknown";
}

const char* CondemnReasonName(CondemnReason reason) {
  switch (reason) {
    case CondemnReason::kNone:
      return "none";
    case CondemnReason::kTimeout:
      return "timeout";
    case CondemnReason::kCpuLimit:
      return "cpu_limit";
    case CondemnReason::kMemoryLimit:
      return "memory_limit";
    case CondemnReason::kUnresponsive:
      return "unresponsive";
    case CondemnReason::kMaxUses:
      return "max_uses";
    case CondemnReason::kMaxHeap:
      return "max_heap";
    case CondemnReason::kMaxAge:
      return "max_age";
    case CondemnReason::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace isopool::engine
