// executor.h: a fixed set of threads running queued tasks, with a bounded queue.
//
// The service runs JavaScript and builds here rather than on gRPC's callback threads, which must
// never block. Threads are created with `stack_bytes` of stack, so V8's stack limit (set per
// call below the current frame) always has room.
//
// Thread-safety: TrySubmit may be called from any thread. The destructor drains the queue and
// joins the threads.
#ifndef ISOPOOL_SERVICE_EXECUTOR_H_
#define ISOPOOL_SERVICE_EXECUTOR_H_

#include <pthread.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace isopool::service {

class Executor {
 public:
  Executor(std::string name, int threads, int max_queue, size_t stack_bytes = 8 << 20);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`; false (and nothing queued) when the queue is full.
  bool TrySubmit(std::function<void()> task);

  int threads() const { return static_cast<int>(threads_.size()); }
  int queued() const;

 private:
  static void* ThreadMain(void* self);
  void Loop();

  const std::string name_;
  const int max_queue_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<pthread_t> threads_;
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_EXECUTOR_H_
