// worker_process.h: the supervisor's handle on one isopool_worker process: it spawns the
// process, sends it calls and control messages, reads what it sends back on two threads of its
// own, samples its RSS, and reports its death with the reason and the crash records it left.
//
//   auto worker = WorkerProcess::Start(options, events);   // waits until the worker is ready
//   worker->SendCall(id, call);                            // any thread
//   ... events.OnOutcome(worker, id, outcome) on the calls thread ...
//   worker->Kill(ExitReason::kUnresponsive);               // the exit is still reported once
//
// Events arrive on the WorkerProcess's reader threads: OnExit exactly once, after which no other
// event comes. Destroy a WorkerProcess from any thread but those (the fleet's monitor thread):
// the destructor kills the process if it still runs and joins both readers.
//
// Thread-safety: every method may be called from any thread.
#ifndef ISOPOOL_WORKER_WORKER_PROCESS_H_
#define ISOPOOL_WORKER_WORKER_PROCESS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/call_runner.h"
#include "worker/channel.h"
#include "worker/crash_report.h"
#include "worker/protocol.pb.h"

namespace isopool::worker {

// Why a worker process ended (the isopool_worker_restarts_total label values).
enum class ExitReason {
  kOutOfMemory,   // V8 could not grow a heap (reported by the worker)
  kCrash,         // a fatal signal or V8 fatal error (reported by the worker)
  kMemoryCap,     // its RSS passed the cap; the supervisor killed it
  kUnresponsive,  // a call ignored termination; the supervisor killed it
  kKilled,        // killed from outside (SIGKILL, the kernel's OOM killer), no report
  kExited,        // exited on its own (it should not)
};
const char* ExitReasonName(ExitReason reason);

struct WorkerExit {
  ExitReason reason = ExitReason::kExited;
  // The call that caused it, when known (crash record, or the unresponsive call); 0 otherwise.
  uint64_t culprit = 0;
  int signal = 0;     // the terminating signal, if any
  int exit_code = 0;  // when it exited
  // Its resident memory when the supervisor decided to kill it for its cap (kMemoryCap).
  size_t resident_bytes = 0;
};

class WorkerProcess;

// What a worker reports. Called on its reader threads; must not block for long and must not
// destroy the WorkerProcess. WorkerFleet is its one implementation; it is an interface so that a
// WorkerProcess, which the fleet owns, depends on this contract and not on its owner.
class WorkerEvents {
 public:
  virtual ~WorkerEvents() = default;
  virtual void OnOutcome(WorkerProcess& worker, uint64_t call_id, CallOutcome outcome) = 0;
  // The worker wants an envelope: answer with worker.SendSnapshot (from any thread, later).
  virtual void OnNeedSnapshot(WorkerProcess& worker, uint64_t request_id,
                              const std::string& snapshot_id) = 0;
  // Observer events, and (when `stats.has_pool()`) the worker's pool totals.
  virtual void OnStats(WorkerProcess& worker, const wire::Stats& stats) = 0;
  virtual void OnUnresponsive(WorkerProcess& worker, uint64_t call_id) = 0;
  virtual void OnWarmed(WorkerProcess& worker, const std::string& snapshot_id,
                        absl::Status status) = 0;
  virtual void OnExit(WorkerProcess& worker, const WorkerExit& exit) = 0;
};

class WorkerProcess {
 public:
  struct Options {
    std::string binary;  // isopool_worker
    wire::Init init;
    int slot = 0;             // the fleet's index of this worker (-1: a spare), for events
    uint64_t generation = 0;  // which process of that slot this is
    absl::Duration start_timeout = absl::Seconds(30);
  };

  // Spawns the worker and waits until it is ready (V8 up, locked down).
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Start(const Options& options,
                                                              WorkerEvents& events);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  absl::Status SendCall(uint64_t call_id, const Call& call);
  void SendSnapshot(const wire::SnapshotReply& reply);
  void SendPrewarm(const std::string& snapshot_id);
  void SendRemove(const std::string& snapshot_id);

  // Kills the process with SIGKILL; its exit is reported with `reason` (and `culprit`, and the
  // RSS that made the supervisor decide) unless it had already died.
  void Kill(ExitReason reason, uint64_t culprit = 0, size_t resident_bytes = 0);

  // Resident set size now, from /proc (0 once it is gone).
  size_t ResidentBytes() const;

  // The fleet slot this process serves; -1 for a spare (events of a spare are ignored).
  int slot() const { return slot_.load(); }
  void set_slot(int slot) { slot_ = slot; }
  uint64_t generation() const { return generation_; }
  pid_t pid() const { return pid_; }
  absl::Time started_at() const { return started_at_; }
  bool exited() const { return exited_.load(); }

 private:
  WorkerProcess(int slot, uint64_t generation, WorkerEvents& events)
      : slot_(slot), generation_(generation), events_(events) {}
  void CallsLoop();
  void ControlLoop();
  void SendControl(const wire::ToWorker& message);
  // A reader saw the end: wakes the other; the last one out reaps the process and reports.
  void ReaderDone();

  std::atomic<int> slot_;
  const uint64_t generation_;
  WorkerEvents& events_;
  pid_t pid_ = -1;
  int crash_fd_ = -1;
  int statm_fd_ = -1;
  absl::Time started_at_;
  std::unique_ptr<MessageSocket> calls_;
  std::unique_ptr<MessageSocket> control_;
  std::thread calls_thread_;
  std::thread control_thread_;
  std::atomic<int> readers_running_{2};
  std::atomic<bool> exited_{false};
  std::atomic<int> kill_reason_{-1};
  std::atomic<uint64_t> kill_culprit_{0};
  std::atomic<size_t> kill_resident_bytes_{0};
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_WORKER_PROCESS_H_
