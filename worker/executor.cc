#include "worker/executor.h"

#include <string>

namespace isopool::worker {

Executor::Executor(std::string name, int threads, int max_queue, size_t stack_bytes)
    : name_(std::move(name)), max_queue_(max_queue), size_(threads), stack_bytes_(stack_bytes) {
  base::MutexLock lock(&mu_);
  for (int i = 0; i < threads; ++i) StartThread();
}

Executor::~Executor() {
  std::vector<pthread_t> threads;
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
    threads = threads_;
    work_.SignalAll();
  }
  for (pthread_t thread : threads) pthread_join(thread, nullptr);
}

void Executor::StartThread() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes_);
  pthread_t thread;
  if (pthread_create(&thread, &attr, &Executor::ThreadMain, this) == 0) {
    std::string thread_name = (name_ + "-" + std::to_string(threads_.size())).substr(0, 15);
    pthread_setname_np(thread, thread_name.c_str());
    threads_.push_back(thread);
    ++running_;
  }
  pthread_attr_destroy(&attr);
}

bool Executor::TrySubmit(std::function<void()> task) {
  base::MutexLock lock(&mu_);
  if (stopping_ || static_cast<int>(queue_.size()) >= max_queue_) return false;
  queue_.push_back(std::move(task));
  work_.Signal();
  return true;
}

void Executor::ThreadStuck(int max_stuck) {
  base::MutexLock lock(&mu_);
  if (stopping_ || stuck_ >= max_stuck) return;
  ++stuck_;
  if (running_ - stuck_ < size_) StartThread();
}

void Executor::StuckTaskDone() {
  base::MutexLock lock(&mu_);
  if (stuck_ > 0) --stuck_;
}

int Executor::threads() const {
  base::MutexLock lock(&mu_);
  return running_;
}

void* Executor::ThreadMain(void* self) {
  static_cast<Executor*>(self)->Loop();
  return nullptr;
}

void Executor::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      base::MutexLock lock(&mu_);
      // Once a stuck thread came back, its replacement is surplus: one thread leaves.
      if (running_ - stuck_ > size_) {
        --running_;
        return;
      }
      while (!stopping_ && queue_.empty()) work_.Wait(&mu_);
      if (queue_.empty()) {  // stopping, and drained
        --running_;
        return;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace isopool::worker
