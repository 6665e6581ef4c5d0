// crash_report.h: how a dying worker process names the call that killed it.
//
// A worker's execute threads mark the call they run (SetCurrentCall). When V8 declares a fatal
// OOM or error, or the process takes a fatal signal (SIGSEGV, SIGABRT from a failed CHECK, ...),
// a handler writes one fixed-size CrashRecord with that thread's call to the crash pipe and
// ends the process. A write of at most PIPE_BUF bytes to a pipe is atomic, and the handlers
// only use write(), _exit() and thread-local reads: they are async-signal-safe.
//
// The supervisor reads the pipe once it sees the worker gone (ReadCrashRecords). No record
// means the worker was killed from outside (SIGKILL) or by the supervisor itself.
//
// Thread-safety: SetCurrentCall is per thread; InstallCrashHandlers once, at worker start.
#ifndef ISOPOOL_WORKER_CRASH_REPORT_H_
#define ISOPOOL_WORKER_CRASH_REPORT_H_

#include <cstdint>
#include <vector>

namespace isopool::worker {

enum class CrashKind : int32_t {
  kOutOfMemory = 1,  // V8 could not grow a heap
  kV8Fatal = 2,      // V8 declared a fatal error
  kSignal = 3,       // a fatal signal (SIGSEGV, SIGABRT, ...)
};

struct CrashRecord {
  uint64_t call_id = 0;  // 0 when the crash was not on an execute thread
  CrashKind kind = CrashKind::kSignal;
  int32_t signal = 0;
};
static_assert(sizeof(CrashRecord) == 16, "one atomic pipe write");

// Exit code of a worker that reported a V8 fatal OOM or error.
inline constexpr int kWorkerExitFatal = 86;

// The call the calling thread runs now (0 = none).
void SetCurrentCall(uint64_t call_id);
uint64_t CurrentCall();

// Installs the V8 hooks (pass OnV8OutOfMemory / OnV8FatalError in engine::RuntimeOptions) and
// signal handlers that report to `crash_fd`.
void InstallCrashHandlers(int crash_fd);
void OnV8OutOfMemory(const char* location, bool is_heap_oom);
void OnV8FatalError(const char* location, const char* message);

// Supervisor side: every whole record in the pipe (non-blocking read until empty).
std::vector<CrashRecord> ReadCrashRecords(int fd);

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_CRASH_REPORT_H_
