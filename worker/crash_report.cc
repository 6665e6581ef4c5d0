#include "worker/crash_report.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace isopool::worker {
namespace {

int crash_fd = -1;
thread_local uint64_t current_call = 0;

void Report(CrashKind kind, int signal_number) {
  CrashRecord record;
  record.call_id = current_call;
  record.kind = kind;
  record.signal = signal_number;
  if (crash_fd >= 0) {
    ssize_t ignored = write(crash_fd, &record, sizeof(record));
    (void)ignored;
  }
}

void OnFatalSignal(int signal_number) {
  Report(CrashKind::kSignal, signal_number);
  // Die of the same signal (the handler was reset by SA_RESETHAND).
  raise(signal_number);
}

}  // namespace

void SetCurrentCall(uint64_t call_id) { current_call = call_id; }
uint64_t CurrentCall() { return current_call; }

void InstallCrashHandlers(int fd) {
  crash_fd = fd;
  struct sigaction action = {};
  action.sa_handler = &OnFatalSignal;
  action.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP}) sigaction(s, &action, nullptr);
}

void OnV8OutOfMemory(const char* /*location*/, bool /*is_heap_oom*/) {
  Report(CrashKind::kOutOfMemory, 0);
  _exit(kWorkerExitFatal);
}

void OnV8FatalError(const char* /*location*/, const char* /*message*/) {
  Report(CrashKind::kV8Fatal, 0);
  _exit(kWorkerExitFatal);
}

std::vector<CrashRecord> ReadCrashRecords(int fd) {
  std::vector<CrashRecord> records;
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    CrashRecord record;
    ssize_t n = read(fd, &record, sizeof(record));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(record))) break;
    records.push_back(record);
  }
  return records;
}

}  // namespace isopool::worker
