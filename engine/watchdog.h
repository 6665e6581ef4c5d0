// watchdog.h: one thread that enforces wall-clock and CPU-time limits for every running call.
//
// A call registers a `Watchdog::Watch` (RAII) on the thread that runs the JavaScript. The
// watchdog thread sleeps until the nearest deadline, then calls v8::Isolate::TerminateExecution
// on calls that passed their wall deadline or used up their CPU budget (the executing thread's
// CLOCK_THREAD_CPUTIME_ID). No polling: CPU time never outruns wall time, so a call's CPU is
// next checked when its remaining budget could first have run out.
//
// Some V8 operations do not check for termination (a huge Array.prototype.fill, parsing a
// gigantic BigInt literal). When a terminated call is still running after `unresponsive_grace`,
// the watch is marked unresponsive (the isolate must be condemned) and termination is
// requested again; the watchdog never kills threads.
//
// Ownership: the owner of the Watchdog (one per process, normally) must keep it alive longer
// than every Watch. Thread-safety: Watch may be created on any thread; the Watchdog's methods
// are thread-safe.
#ifndef ISOPOOL_ENGINE_WATCHDOG_H_
#define ISOPOOL_ENGINE_WATCHDOG_H_

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace isopool::engine {

class Watchdog {
 public:
  struct Options {
    // How long a terminated call may keep running before it is called unresponsive.
    absl::Duration unresponsive_grace = absl::Milliseconds(500);
    // Called on the watchdog thread, with no lock held, each time a call becomes unresponsive,
    // with the thread that runs it: that thread is stuck inside V8 for as long as the builtin
    // takes (measured: up to tens of seconds), so its owner may want to replace it, or kill
    // the process it runs in.
    std::function<void(pthread_t stuck_thread)> on_unresponsive;
  };

  enum class Fired { kNone, kWall, kCpu };

  // Watches the JavaScript running on the calling thread in `isolate` (a v8::Isolate*, kept
  // opaque so V8 stays out of this header, as in js_isolate.h), until destroyed.
  class Watch {
   public:
    Watch(Watchdog& watchdog, void* isolate, absl::Duration wall, absl::Duration cpu);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    // Which limit fired, if any. Final once the Watch is destroyed; read it before that from
    // the watched thread only after JavaScript returned.
    Fired fired() const;
    // True when termination did not take effect within the grace period.
    bool unresponsive() const;
    // CPU time the watched thread used since the Watch was made. Call on the watched thread.
    absl::Duration cpu_used() const;

   private:
    friend class Watchdog;
    Watchdog& watchdog_;
    void* const isolate_;  // v8::Isolate*
    const pthread_t thread_;
    clockid_t cpu_clock_;
    absl::Time wall_deadline_;
    int64_t cpu_start_ns_;
    int64_t cpu_budget_ns_;
    // Set before Register, then read and written only by the watchdog thread under its mu_.
    // (Not ABSL_GUARDED_BY(watchdog_.mu_): the analysis cannot tell that Run's `mu_` is the
    // same mutex, so it would reject the correct code.)
    absl::Time next_check_;
    std::atomic<Fired> fired_{Fired::kNone};
    absl::Time fired_at_;
    std::atomic<bool> unresponsive_{false};
  };

  Watchdog();
  explicit Watchdog(Options options);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Number of calls being watched right now.
  int active() const;

 private:
  void Register(Watch* watch);
  void Unregister(Watch* watch);
  void Run();
  // Returns when `watch` should next be looked at; counts new unresponsive calls.
  absl::Time Check(Watch* watch, absl::Time now, std::vector<pthread_t>* became_unresponsive)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  // base::Mutex, not absl::Mutex: ThreadSanitizer sees it (see base/mutex.h).
  mutable base::Mutex mu_;
  base::CondVar wake_;
  std::map<Watch*, bool> watches_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_WATCHDOG_H_
