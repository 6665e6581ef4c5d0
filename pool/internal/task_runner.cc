#include "pool/internal/task_runner.h"

#include <utility>

namespace isopool::pool::internal {

TaskRunner::TaskRunner(int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskRunner::~TaskRunner() { Shutdown(); }

void TaskRunner::Schedule(absl::AnyInvocable<void() &&> task) {
  {
    base::MutexLock lock(&mu_);
    if (!stopped_) {
      tasks_.push_back(std::move(task));
      wake_.Signal();
      return;
    }
  }
  std::move(task)();
}

void TaskRunner::Shutdown() {
  {
    base::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    wake_.SignalAll();
  }
  for (std::thread& thread : threads_) thread.join();
  // Threads exit only when the queue is empty; anything queued after that runs here.
  std::deque<absl::AnyInvocable<void() &&>> rest;
  {
    base::MutexLock lock(&mu_);
    stopped_ = true;
    rest.swap(tasks_);
  }
  for (auto& task : rest) std::move(task)();
}

void TaskRunner::Loop() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      base::MutexLock lock(&mu_);
      while (tasks_.empty() && !stopping_) wake_.Wait(&mu_);
      if (tasks_.empty()) return;  // stopping, and nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace isopool::pool::internal
