// lockdown.h: a seccomp-bpf filter for processes that run untrusted JavaScript (worker processes
// and the isopool_pack child), installed once V8 is up.
//
//   if (absl::Status s = base::LockDown(); !s.ok()) { /* refuse to serve */ }
//
// What stays allowed is what V8, glibc's threads and allocator, and a message socket need:
// memory (mmap, mprotect, madvise, brk), threads (clone with CLONE_THREAD only, futex, signals
// to this process only), clocks and sleeps, getrandom, memfd_create, and I/O on descriptors the
// process already holds (read, write, sendmsg, recvmsg, pread, ...). Everything else fails with
// EPERM: no open/openat (no new files), socket/connect (no network), execve, ptrace, fork, kill
// of other processes. clone3 fails with ENOSYS so glibc falls back to clone, whose flags the
// filter can check.
//
// The filter is inherited by every thread and child and cannot be removed. Open every file the
// process needs before calling LockDown. Refusals seen in a worker under strace, all harmless:
// V8 reads /proc/self/maps to place each isolate's code range near the binary (it places it
// elsewhere), and ICU looks up the host's time zone (scripts then see UTC). V8's Math.random
// seeds come from getrandom (engine::InitializeRuntime sets the entropy source), not
// /dev/urandom.
//
// Thread-safety: call once, before or after starting threads (TSYNC applies it to all of them).
#ifndef ISOPOOL_BASE_LOCKDOWN_H_
#define ISOPOOL_BASE_LOCKDOWN_H_

#include "absl/status/status.h"

namespace isopool::base {

struct LockdownOptions {
  // Debugging aid: print each refused syscall's number to stderr (SIGSYS handler) before
  // failing it with EPERM.
  bool log_refused = false;
};

absl::Status LockDown(const LockdownOptions& options = {});

// True in sanitizer builds (tests only), where callers skip LockDown: ThreadSanitizer
// symbolizes its reports, and matches suppressions, by reading the binaries, and LeakSanitizer
// stops the process with ptrace at exit; a locked-down process may do neither.
inline constexpr bool kSanitizerBuild =
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_LOCKDOWN_H_
