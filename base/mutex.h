// mutex.h: a mutex and condition variable that clang's thread-safety analysis checks and
// ThreadSanitizer sees.
//
// Why not absl::Mutex: Debian's libabsl is not built with ThreadSanitizer, so absl::Mutex's
// synchronisation is invisible to TSan and every access it orders shows up as a false race.
// Why not std::mutex alone: it carries no capability annotation, so clang rejects
// ABSL_GUARDED_BY(a std::mutex) and checks nothing. This is std::mutex (pthread, intercepted by
// TSan) under the names and annotations of absl::Mutex, so `-Wthread-safety` (every build:
// .bazelrc compiles with clang and -Werror=thread-safety) checks every ABSL_GUARDED_BY and
// ABSL_EXCLUSIVE_LOCKS_REQUIRED that names one.
//
// Use it for state shared between threads in every layer; wait in a loop that re-checks the
// condition, as with absl::CondVar:
//
//   base::MutexLock lock(&mu_);
//   while (queue_.empty() && !stopping_) wake_.Wait(&mu_);
//
// To run something without the lock in the middle of a locked scope, write `mu_.Unlock();` and
// `mu_.Lock();` around it: clang 14's analysis follows that (and rejects guarded reads between
// them), but not a scoped "unlocker" object.
//
// Thread-safety: that is the point. Not recursive; Unlock only on the thread that locked.
#ifndef ISOPOOL_BASE_MUTEX_H_
#define ISOPOOL_BASE_MUTEX_H_

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace isopool::base {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A reader-writer mutex (std::shared_mutex: pthread_rwlock, which TSan also sees), for state read
// far more often than written. No CondVar waits on it.
class ABSL_LOCKABLE SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds `mu` exclusively for its scope.
class ABSL_SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~WriterMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds `mu` shared (with other readers) for its scope.
class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu` until woken (or spuriously), then holds it again.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Like Wait, but returns at `deadline` at the latest; true when the deadline passed.
  // absl::InfiniteFuture() waits without a deadline.
  bool WaitWithDeadline(Mutex* mu, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Like WaitWithDeadline(mu, now + timeout).
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_MUTEX_H_
