#include "engine/watchdog.h"

#include <v8.h>

#include <ctime>

#include "absl/time/clock.h"

namespace isopool::engine {
namespace {

int64_t ThreadCpuNanos(clockid_t clock) {
  timespec ts;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

Watchdog::Watch::Watch(Watchdog& watchdog, void* isolate, absl::Duration wall, absl::Duration cpu)
    : watchdog_(watchdog), isolate_(isolate), thread_(pthread_self()) {
  if (pthread_getcpuclockid(pthread_self(), &cpu_clock_) != 0) cpu_clock_ = CLOCK_THREAD_CPUTIME_ID;
  absl::Time now = absl::Now();
  wall_deadline_ = now + wall;
  cpu_start_ns_ = ThreadCpuNanos(cpu_clock_);
  cpu_budget_ns_ = absl::ToInt64Nanoseconds(cpu);
  next_check_ = std::min(wall_deadline_, now + cpu);
  watchdog_.Register(this);
}

Watchdog::Watch::~Watch() { watchdog_.Unregister(this); }

Watchdog::Fired Watchdog::Watch::fired() const { return fired_.load(); }

bool Watchdog::Watch::unresponsive() const { return unresponsive_.load(); }

absl::Duration Watchdog::Watch::cpu_used() const {
  return absl::Nanoseconds(ThreadCpuNanos(cpu_clock_) - cpu_start_ns_);
}

Watchdog::Watchdog() : Watchdog(Options()) {}

Watchdog::Watchdog(Options options) : options_(std::move(options)), thread_([this] { Run(); }) {}

Watchdog::~Watchdog() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.Signal();
  thread_.join();
}

int Watchdog::active() const {
  base::MutexLock lock(&mu_);
  return static_cast<int>(watches_.size());
}

void Watchdog::Register(Watch* watch) {
  {
    base::MutexLock lock(&mu_);
    watches_[watch] = true;
  }
  wake_.Signal();  // the new deadline may be the nearest
}

void Watchdog::Unregister(Watch* watch) {
  base::MutexLock lock(&mu_);
  watches_.erase(watch);
}

absl::Time Watchdog::Check(Watch* watch, absl::Time now,
                           std::vector<pthread_t>* became_unresponsive) {
  if (watch->fired_.load() != Fired::kNone) {
    // Already terminated; escalate if the thread is still in JavaScript after the grace.
    absl::Time escalate_at = watch->fired_at_ + options_.unresponsive_grace;
    if (now < escalate_at) return escalate_at;
    if (!watch->unresponsive_.exchange(true)) {
      static_cast<v8::Isolate*>(watch->isolate_)->TerminateExecution();
      became_unresponsive->push_back(watch->thread_);
    }
    return absl::InfiniteFuture();
  }
  Fired fire = Fired::kNone;
  absl::Time next = watch->wall_deadline_;
  if (now >= watch->wall_deadline_) {
    fire = Fired::kWall;
  } else {
    int64_t used = ThreadCpuNanos(watch->cpu_clock_) - watch->cpu_start_ns_;
    int64_t left = watch->cpu_budget_ns_ - used;
    if (left <= 0) {
      fire = Fired::kCpu;
    } else {
      next = std::min(next, now + absl::Nanoseconds(left));
    }
  }
  if (fire == Fired::kNone) return next;
  watch->fired_at_ = now;
  watch->fired_.store(fire);
  static_cast<v8::Isolate*>(watch->isolate_)->TerminateExecution();
  return now + options_.unresponsive_grace;
}

void Watchdog::Run() {
  base::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time now = absl::Now();
    absl::Time nearest = absl::InfiniteFuture();
    std::vector<pthread_t> became_unresponsive;
    for (auto& [watch, unused] : watches_) {
      if (watch->next_check_ <= now) {
        watch->next_check_ = Check(watch, now, &became_unresponsive);
      }
      nearest = std::min(nearest, watch->next_check_);
    }
    if (!became_unresponsive.empty() && options_.on_unresponsive) {
      mu_.Unlock();
      for (pthread_t thread : became_unresponsive) options_.on_unresponsive(thread);
      mu_.Lock();
      continue;  // the watch set may have changed meanwhile
    }
    wake_.WaitWithDeadline(&mu_, nearest);
  }
}

}  // namespace isopool::engine
