// executor.h: a fixed set of threads running queued tasks, with a bounded queue.
//
// The in-process runner runs JavaScript here, and the service builds snapshots here, rather than
// on gRPC's callback threads, which must not block for long (the service's inline store calls
// are the bounded exception: service/isopool_service.h). Threads are created with `stack_bytes` of
// stack, so V8's stack limit (set per call below the current frame) always has room.
//
// Thread-safety: TrySubmit may be called from any thread. The destructor drains the queue and
// joins the threads.
#ifndef ISOPOOL_WORKER_EXECUTOR_H_
#define ISOPOOL_WORKER_EXECUTOR_H_

#include <pthread.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace isopool::worker {

class Executor {
 public:
  Executor(std::string name, int threads, int max_queue, size_t stack_bytes = 8 << 20);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`; false (and nothing queued) when the queue is full.
  bool TrySubmit(std::function<void()> task);

  // One thread is stuck in a task that will not end soon (engine::Watchdog::Options::
  // on_unresponsive): start a replacement, so the executor keeps its size in working threads
  // (at most `max_stuck` replacements at once).
  void ThreadStuck(int max_stuck);
  // A task that was stuck has ended; one surplus thread leaves.
  void StuckTaskDone();

  // Threads running now (normal plus replacements).
  int threads() const;

 private:
  static void* ThreadMain(void* self);
  void Loop();
  void StartThread() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const int max_queue_;
  const int size_;
  const size_t stack_bytes_;
  mutable base::Mutex mu_;
  base::CondVar work_;  // a task was queued, or stopping_
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int stuck_ ABSL_GUARDED_BY(mu_) = 0;
  // Every thread ever started; joined at destruction (ended ones join at once).
  std::vector<pthread_t> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_EXECUTOR_H_
