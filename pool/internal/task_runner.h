// task_runner.h: a fixed set of background threads running move-only tasks in FIFO order.
//
// The pool's restore, context-preparation and disposal work runs here, off the request path.
// Ownership: the owner destroys it after Shutdown(). Thread-safety: Schedule may be called from
// any thread, including from a task and while holding other locks (it only takes its own).
#ifndef ISOPOOL_POOL_INTERNAL_TASK_RUNNER_H_
#define ISOPOOL_POOL_INTERNAL_TASK_RUNNER_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "base/mutex.h"

namespace isopool::pool::internal {

class TaskRunner {
 public:
  // `threads` must be at least 1.
  explicit TaskRunner(int threads);
  // Calls Shutdown().
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  // Queues `task`. After Shutdown() has finished, runs it on the calling thread instead.
  void Schedule(absl::AnyInvocable<void() &&> task);

  // Runs every queued task (and any they queue meanwhile), then joins the threads. Idempotent.
  void Shutdown();

  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  base::Mutex mu_;
  base::CondVar wake_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace isopool::pool::internal

#endif  // ISOPOOL_POOL_INTERNAL_TASK_RUNNER_H_
