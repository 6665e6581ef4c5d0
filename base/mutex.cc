#include "base/mutex.h"

#include <chrono>

#include "absl/time/clock.h"

namespace isopool::base {

void CondVar::Wait(Mutex* mu) {
  // The caller holds `mu`: lend it to the condition variable and take it back after.
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  cv_.wait(lock);
  lock.release();
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  // A deadline past any real wait (InfiniteFuture included) would overflow std::chrono.
  if (deadline - absl::Now() > absl::Hours(24 * 365)) {
    Wait(mu);
    return false;
  }
  std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
  const bool timed_out =
      cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout;
  lock.release();
  return timed_out;
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  return WaitWithDeadline(mu, absl::Now() + timeout);
}

}  // namespace isopool::base
