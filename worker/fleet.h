// fleet.h: the supervisor's worker processes, and the guarantees it keeps for callers when one
// of them dies. The default CallRunner of the server.
//
//   auto fleet = WorkerFleet::Start(options, loader, observer, engine_observer, pool_observer);
//   (*fleet)->Submit(call, done);
//
// Routing. Calls for one snapshot go to the same worker first (rendezvous hashing over the
// worker slots), and spill to the next in that order while it has no idle execute thread, so
// pools stay dense. Blank-snapshot calls go to the least busy worker. Each worker has at most
// `window` calls at once; beyond that, calls wait here, in order, until their acquire deadline.
//
// When a worker dies. Its reader threads report the exit with a reason (WorkerProcess):
//  - The culprit is known (a crash record names the call, or the call was unresponsive): it gets
//    a structured ScriptError (MEMORY_LIMIT for an out-of-memory, WORKER_CRASHED for a crash,
//    TIMEOUT "unresponsive"), and every other call the worker had is run again elsewhere.
//    Scripts have no I/O, so running one again has no effect outside its isolate.
//  - The culprit is unknown (killed from outside, or RSS over the cap with several calls in
//    flight; with one, that call is the culprit): every call it had is a suspect, and suspects run
//    again one at a time on a worker that runs nothing else (probation). One that kills that worker
//    too is the culprit; no healthy worker with other calls dies for it.
//  - A call runs at most 1 + max_reruns times.
// A spare process (started, V8 up, blank pool warm) takes the dead worker's slot at once and
// rewarms the snapshots the slot served recently; a new spare is started in the background, at
// once for the first deaths and then with exponential backoff while workers keep dying. A
// snapshot's function (or an inline source) whose calls killed `crash_loop_deaths` workers within
// `crash_loop_window` is refused with ResourceExhausted for `crash_loop_backoff` (doubling while it
// keeps happening); the snapshot's other functions are still served.
//
// Stuck calls: the worker reports a call that ignored termination past the unresponsive grace;
// the fleet answers it with TIMEOUT and kills the worker. A backstop per call (acquire deadline
// + wall limit + backstop_grace) catches a worker too wedged to report.
// Memory: a monitor thread samples each worker's RSS every `rss_interval` and kills one above
// memory_cap_bytes.
//
// Threads: every public method is thread-safe. `done` callbacks run on fleet threads (reader,
// monitor) or, for an immediate refusal, inside Submit. Ownership: the fleet owns its workers;
// destroying it kills them and answers waiting calls with Unavailable. The loader and observers
// must outlive it.
#ifndef ISOPOOL_WORKER_FLEET_H_
#define ISOPOOL_WORKER_FLEET_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "engine/observer.h"
#include "pool/pool_observer.h"
#include "pool/pool_policy.h"
#include "worker/call_runner.h"
#include "worker/protocol.pb.h"
#include "worker/worker_process.h"

namespace isopool::worker {

// What the fleet reports for metrics and logs. Defaults do nothing. Called from fleet threads
// (OnCrashLoopRefusal: from Submit, on its caller's thread), without fleet locks held except
// OnCrashLoop (which must not call back into the fleet).
class FleetObserver {
 public:
  virtual ~FleetObserver() = default;
  virtual void OnWorkerExit(int /*slot*/, const WorkerExit& /*exit*/) {}
  // A worker process was started and is ready (V8 up, locked down, blank pool warm); slot -1
  // is a spare.
  virtual void OnWorkerStarted(int /*slot*/, absl::Duration /*took*/) {}
  virtual void OnRerun() {}
  virtual void OnUnresponsiveCall() {}
  virtual void OnCrashLoop(const std::string& /*key*/, int /*deaths*/,
                           absl::Duration /*refused_for*/) {}
  virtual void OnCrashLoopRefusal() {}
};

class WorkerFleet : public CallRunner, private WorkerEvents {
 public:
  struct Options {
    int workers = 2;
    std::string binary;
    // Sent to every worker; its global policy is already one worker's share.
    wire::Init init;
    size_t memory_cap_bytes = 0;  // per worker; 0 = no cap
    int window = 4;               // calls in flight on one worker at most
    int spill_at = 1;             // in-flight calls from which a snapshot's calls go elsewhere
    int max_pending_calls = 1024;
    int max_reruns = 2;
    absl::Duration rss_interval = absl::Milliseconds(10);
    absl::Duration backstop_grace = absl::Seconds(2);
    absl::Duration max_wait = absl::Seconds(30);  // acquire budget of calls without a deadline
    int crash_loop_deaths = 3;
    absl::Duration crash_loop_window = absl::Seconds(60);
    absl::Duration crash_loop_backoff = absl::Seconds(30);
    absl::Duration max_respawn_backoff = absl::Seconds(10);
    // Processes kept started and idle, to take a dead worker's place at once.
    int spares = 1;
  };
  // A verified envelope and its pool policy, for a worker that needs the snapshot.
  struct EnvelopeAndPolicy {
    std::string envelope;
    pool::PoolPolicy policy;
  };
  using SnapshotLoader =
      std::function<absl::StatusOr<EnvelopeAndPolicy>(const std::string& snapshot_id)>;

  struct WorkerInfo {
    int slot = 0;
    pid_t pid = -1;
    bool up = false;
    bool probation = false;
    int in_flight = 0;
    size_t resident_bytes = 0;
    uint64_t restarts = 0;
  };

  static absl::StatusOr<std::unique_ptr<WorkerFleet>> Start(Options options, SnapshotLoader loader,
                                                            FleetObserver& observer,
                                                            engine::EngineObserver& engine_observer,
                                                            pool::PoolObserver& pool_observer);
  ~WorkerFleet() override;

  // CallRunner
  bool Submit(Call call, CallDone done) override;
  absl::Status Prewarm(const std::string& snapshot_id, absl::Time deadline) override;
  void Remove(const std::string& snapshot_id) override;
  pool::PoolStats Stats() override;

  std::vector<WorkerInfo> Workers() const;
  // Keys refused right now for crash looping.
  int CrashLooping() const;
  size_t memory_cap_bytes() const { return options_.memory_cap_bytes; }
  // True while at least one worker is up.
  bool Serving() const;

 private:
  struct InFlight;
  struct Slot;
  struct CrashLoop;
  using Completion = std::pair<CallDone, CallOutcome>;

  WorkerFleet(Options options, SnapshotLoader loader, FleetObserver& observer,
              engine::EngineObserver& engine_observer, pool::PoolObserver& pool_observer);

  // WorkerEvents (reader threads)
  void OnOutcome(WorkerProcess& worker, uint64_t call_id, CallOutcome outcome) override;
  void OnNeedSnapshot(WorkerProcess& worker, uint64_t request_id,
                      const std::string& snapshot_id) override;
  void OnStats(WorkerProcess& worker, const wire::Stats& stats) override;
  void OnUnresponsive(WorkerProcess& worker, uint64_t call_id) override;
  void OnWarmed(WorkerProcess& worker, const std::string& snapshot_id,
                absl::Status status) override;
  void OnExit(WorkerProcess& worker, const WorkerExit& exit) override;

  void MonitorLoop();
  void RespawnLoop();
  // Starts a process for `slot` (-1: a spare). Never with mu_ held.
  absl::StatusOr<std::shared_ptr<WorkerProcess>> Spawn(int slot);

  // Picks a worker for `call_id` and reserves room on it; -1 when none has room.
  int PickSlot(const InFlight& call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends what can be sent now: probation calls first, then waiting calls.
  struct Send {
    std::shared_ptr<WorkerProcess> process;
    uint64_t call_id;
    Call call;
  };
  void DispatchLocked(std::vector<Send>* sends) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Flush(std::vector<Send> sends, std::vector<Completion> completions);
  // The structured error of a call that killed its worker.
  CallOutcome CulpritOutcome(const InFlight& call, const WorkerExit& exit) const;
  // Counts a worker death against the call's crash-loop key.
  void RecordCrashLocked(const std::string& key, const WorkerExit& exit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts a just-started process in service (or back to respawn if it already died).
  void InstallLocked(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot `worker` is the live process of, or null (an old process, or not started yet).
  Slot* CurrentSlot(const WorkerProcess& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const SnapshotLoader loader_;
  FleetObserver& observer_;
  engine::EngineObserver& engine_observer_;
  pool::PoolObserver& pool_observer_;

  mutable base::Mutex mu_;
  base::CondVar changed_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_call_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::unique_ptr<InFlight>> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> waiting_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> suspects_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<WorkerProcess>> spares_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<WorkerProcess>> dead_ ABSL_GUARDED_BY(mu_);  // to destroy
  std::deque<absl::Time> deaths_ ABSL_GUARDED_BY(mu_);  // fleet-wide, for the spare's backoff
  absl::Time spare_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, std::unique_ptr<CrashLoop>> crash_loops_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int, std::string>, absl::Status> warmed_ ABSL_GUARDED_BY(mu_);
  int loaders_running_ ABSL_GUARDED_BY(mu_) = 0;
  int blank_turn_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread monitor_;
  std::thread respawner_;
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_FLEET_H_
