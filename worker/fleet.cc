#include "worker/fleet.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "worker/codec.h"
#include "worker/event_forwarder.h"

namespace isopool::worker {
namespace {

// Snapshots a respawned worker rewarms.
constexpr size_t kRecentSnapshots = 16;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// The crash-loop key: the snapshot's function, or the inline source, so that one bad entry point
// or script does not take the snapshot's other calls (or every blank call) down with it.
std::string CrashKey(const Call& call) {
  std::string what =
      call.request.function.empty()
          ? absl::StrFormat("source:%016x", std::hash<std::string>()(call.request.source))
          : "function:" + call.request.function;
  return (call.snapshot_id.empty() ? std::string("blank") : call.snapshot_id) + " " + what;
}

CallOutcome Refused(absl::Status status) {
  CallOutcome outcome;
  outcome.status = std::move(status);
  return outcome;
}

}  // namespace

struct WorkerFleet::InFlight {
  Call call;
  CallDone done;
  std::string key;
  int slot = -1;  // -1 while waiting
  uint64_t generation = 0;
  bool suspect = false;
  int reruns = 0;
  absl::Time backstop = absl::InfiniteFuture();
};

struct WorkerFleet::Slot {
  std::shared_ptr<WorkerProcess> process;
  uint64_t generation = 0;
  bool up = false;
  bool dying = false;  // being killed: takes no new calls until its exit is handled
  bool probation = false;
  uint64_t solo_call = 0;
  int in_flight = 0;
  absl::Time respawn_at = absl::InfiniteFuture();
  uint64_t restarts = 0;
  pool::PoolStats stats;
  size_t resident_bytes = 0;
  std::deque<std::string> recent;
};

struct WorkerFleet::CrashLoop {
  std::deque<absl::Time> deaths;
  absl::Time refused_until = absl::InfinitePast();
  int trips = 0;
  std::string last_reason;
};

WorkerFleet::WorkerFleet(Options options, SnapshotLoader loader, FleetObserver& observer,
                         engine::EngineObserver& engine_observer, pool::PoolObserver& pool_observer)
    : options_(std::move(options)),
      loader_(std::move(loader)),
      observer_(observer),
      engine_observer_(engine_observer),
      pool_observer_(pool_observer) {}

absl::StatusOr<std::unique_ptr<WorkerFleet>> WorkerFleet::Start(
    Options options, SnapshotLoader loader, FleetObserver& observer,
    engine::EngineObserver& engine_observer, pool::PoolObserver& pool_observer) {
  if (options.workers < 1) return absl::InvalidArgumentError("a fleet needs at least one worker");
  std::unique_ptr<WorkerFleet> fleet(new WorkerFleet(std::move(options), std::move(loader),
                                                     observer, engine_observer, pool_observer));
  // The slots exist before any worker does: a worker reports (stats) as soon as it is ready.
  {
    base::MutexLock lock(&fleet->mu_);
    for (int i = 0; i < fleet->options_.workers; ++i) {
      fleet->slots_.push_back(std::make_unique<Slot>());
    }
  }
  // Started on this thread: a worker dies with the thread that spawned it (PR_SET_PDEATHSIG),
  // and the caller's thread (main) lives as long as the server.
  for (int i = 0; i < fleet->options_.workers + fleet->options_.spares; ++i) {
    bool spare = i >= fleet->options_.workers;
    absl::StatusOr<std::shared_ptr<WorkerProcess>> process = fleet->Spawn(spare ? -1 : i);
    if (!process.ok()) return process.status();
    base::MutexLock lock(&fleet->mu_);
    if (spare) {
      fleet->spares_.push_back(*std::move(process));
      continue;
    }
    Slot& slot = *fleet->slots_[i];
    slot.process = *std::move(process);
    slot.generation = slot.process->generation();
    fleet->InstallLocked(slot);
  }
  WorkerFleet* raw = fleet.get();
  fleet->monitor_ = std::thread([raw] { raw->MonitorLoop(); });
  fleet->respawner_ = std::thread([raw] { raw->RespawnLoop(); });
  return fleet;
}

WorkerFleet::~WorkerFleet() {
  std::vector<Completion> completions;
  std::vector<std::shared_ptr<WorkerProcess>> processes;
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, call] : calls_) {
      completions.emplace_back(std::move(call->done),
                               Refused(absl::UnavailableError("the server is shutting down")));
    }
    calls_.clear();
    waiting_.clear();
    suspects_.clear();
  }
  changed_.SignalAll();
  if (monitor_.joinable()) monitor_.join();
  if (respawner_.joinable()) respawner_.join();
  {
    base::MutexLock lock(&mu_);
    while (loaders_running_ != 0) changed_.Wait(&mu_);
    for (auto& slot : slots_) {
      if (slot->process) processes.push_back(std::move(slot->process));
    }
    for (auto& spare : spares_) processes.push_back(std::move(spare));
    for (auto& dead : dead_) processes.push_back(std::move(dead));
    spares_.clear();
    dead_.clear();
  }
  processes.clear();  // kills the workers and joins their readers
  for (auto& [done, outcome] : completions) done(std::move(outcome));
}

absl::StatusOr<std::shared_ptr<WorkerProcess>> WorkerFleet::Spawn(int slot) {
  uint64_t generation;
  {
    base::MutexLock lock(&mu_);
    generation = next_generation_++;
  }
  WorkerProcess::Options options;
  options.binary = options_.binary;
  options.init = options_.init;
  options.slot = slot;
  options.generation = generation;
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<WorkerProcess>> process = WorkerProcess::Start(options, *this);
  if (!process.ok()) return process.status();
  observer_.OnWorkerStarted(slot, absl::Now() - start);
  return std::shared_ptr<WorkerProcess>(*std::move(process));
}

bool WorkerFleet::Submit(Call call, CallDone done) {
  std::vector<Send> sends;
  std::vector<Completion> completions;
  bool crash_loop_refusal = false;
  {
    base::MutexLock lock(&mu_);
    std::string key = CrashKey(call);
    auto loop = crash_loops_.find(key);
    if (stopping_) {
      completions.emplace_back(std::move(done),
                               Refused(absl::UnavailableError("the server is shutting down")));
    } else if (loop != crash_loops_.end() && loop->second->refused_until > absl::Now()) {
      const CrashLoop& state = *loop->second;
      completions.emplace_back(
          std::move(done),
          Refused(absl::ResourceExhaustedError(absl::StrCat(
              call.request.function.empty() ? "this inline source"
                                            : "function '" + call.request.function + "'",
              " killed ", state.deaths.size(), " worker processes within ",
              absl::FormatDuration(options_.crash_loop_window), " (last: ", state.last_reason,
              "), so its calls are refused until ", absl::FormatTime(state.refused_until),
              " (crash-loop backoff): fix the script, or upload a corrected bundle"))));
      crash_loop_refusal = true;
    } else {
      if (static_cast<int>(waiting_.size()) >= options_.max_pending_calls) return false;
      uint64_t id = next_call_id_++;
      auto in_flight = std::make_unique<InFlight>();
      in_flight->call = std::move(call);
      in_flight->done = std::move(done);
      in_flight->key = std::move(key);
      calls_[id] = std::move(in_flight);
      waiting_.push_back(id);
      DispatchLocked(&sends);
    }
  }
  if (crash_loop_refusal) observer_.OnCrashLoopRefusal();  // outside mu_, as FleetObserver says
  Flush(std::move(sends), std::move(completions));
  return true;
}

int WorkerFleet::PickSlot(const InFlight& call) {
  int best = -1;
  if (call.call.snapshot_id.empty()) {
    int n = static_cast<int>(slots_.size());
    for (int k = 0; k < n; ++k) {
      int i = (blank_turn_ + k) % n;
      const Slot& slot = *slots_[i];
      if (!slot.up || slot.dying || slot.probation || slot.in_flight >= options_.window) continue;
      if (best < 0 || slot.in_flight < slots_[best]->in_flight) best = i;
    }
    if (best >= 0) blank_turn_ = (best + 1) % n;
    return best;
  }
  // Rendezvous hashing: every snapshot ranks the slots in its own order.
  uint64_t id_hash = std::hash<std::string>()(call.call.snapshot_id);
  std::vector<std::pair<uint64_t, int>> ranked;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    ranked.emplace_back(Mix(id_hash ^ Mix(static_cast<uint64_t>(i) + 1)), i);
  }
  std::sort(ranked.rbegin(), ranked.rend());
  for (const auto& [score, i] : ranked) {
    const Slot& slot = *slots_[i];
    if (!slot.up || slot.dying || slot.probation || slot.in_flight >= options_.window) continue;
    if (slot.in_flight < options_.spill_at) return i;
    if (best < 0 || slot.in_flight < slots_[best]->in_flight) best = i;
  }
  return best;
}

void WorkerFleet::DispatchLocked(std::vector<Send>* sends) {
  absl::Time now = absl::Now();
  auto assign = [&](uint64_t id, InFlight& call, int s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Slot& slot = *slots_[s];
    call.slot = s;
    call.generation = slot.generation;
    ++slot.in_flight;
    absl::Time acquire_by = std::min(call.call.acquire_deadline, now + options_.max_wait);
    call.backstop = acquire_by + call.call.limits.wall + options_.backstop_grace;
    const std::string& snapshot = call.call.snapshot_id;
    if (!snapshot.empty()) {
      auto seen = std::find(slot.recent.begin(), slot.recent.end(), snapshot);
      if (seen != slot.recent.end()) slot.recent.erase(seen);
      slot.recent.push_front(snapshot);
      if (slot.recent.size() > kRecentSnapshots) slot.recent.pop_back();
    }
    sends->push_back({slot.process, id, call.call});
  };
  // Suspects first, one at a time, on a worker that runs nothing else.
  if (!suspects_.empty()) {
    bool have_probation = false;
    for (const auto& slot : slots_) have_probation |= slot->up && slot->probation;
    if (!have_probation) {  // take the least busy worker out of rotation
      int chosen = -1;
      for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
        if (!slots_[i]->up || slots_[i]->dying) continue;
        if (chosen < 0 || slots_[i]->in_flight < slots_[chosen]->in_flight) chosen = i;
      }
      if (chosen >= 0) slots_[chosen]->probation = true;
    }
  }
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    Slot& slot = *slots_[i];
    if (!slot.up || slot.dying || !slot.probation || slot.solo_call != 0 || slot.in_flight > 0) {
      continue;
    }
    while (!suspects_.empty() && slot.solo_call == 0) {
      uint64_t id = suspects_.front();
      suspects_.pop_front();
      auto it = calls_.find(id);
      if (it == calls_.end()) continue;
      slot.solo_call = id;
      assign(id, *it->second, i);
    }
    if (slot.solo_call == 0 && suspects_.empty()) slot.probation = false;
  }
  while (!waiting_.empty()) {
    auto it = calls_.find(waiting_.front());
    if (it == calls_.end()) {
      waiting_.pop_front();
      continue;
    }
    int s = PickSlot(*it->second);
    if (s < 0) break;
    waiting_.pop_front();
    assign(it->first, *it->second, s);
  }
}

void WorkerFleet::Flush(std::vector<Send> sends, std::vector<Completion> completions) {
  for (Send& send : sends) {
    // A send to a worker that just died fails; its exit handling re-runs the call.
    (void)send.process->SendCall(send.call_id, send.call);
  }
  for (auto& [done, outcome] : completions) done(std::move(outcome));
}

void WorkerFleet::InstallLocked(Slot& slot) {
  slot.in_flight = 0;
  slot.dying = false;
  if (slot.process->exited()) {  // died before it was installed: its exit was not handled
    slot.up = false;
    dead_.push_back(std::move(slot.process));
    slot.respawn_at = absl::Now();
    changed_.SignalAll();
    return;
  }
  slot.up = true;
}

WorkerFleet::Slot* WorkerFleet::CurrentSlot(const WorkerProcess& worker) {
  if (worker.slot() < 0 || worker.slot() >= static_cast<int>(slots_.size())) return nullptr;
  Slot* slot = slots_[worker.slot()].get();
  if (slot->generation != worker.generation() || !slot->up) return nullptr;
  return slot;
}

void WorkerFleet::OnOutcome(WorkerProcess& worker, uint64_t call_id, CallOutcome outcome) {
  std::vector<Send> sends;
  std::vector<Completion> completions;
  {
    base::MutexLock lock(&mu_);
    auto it = calls_.find(call_id);
    Slot* current = CurrentSlot(worker);
    if (it == calls_.end() || current == nullptr || it->second->slot != worker.slot() ||
        it->second->generation != worker.generation()) {
      return;  // answered already (unresponsive, backstop) or re-run elsewhere
    }
    Slot& slot = *current;
    --slot.in_flight;
    if (slot.solo_call == call_id) slot.solo_call = 0;
    outcome.reruns = it->second->reruns;
    outcome.worker = worker.slot();
    completions.emplace_back(std::move(it->second->done), std::move(outcome));
    calls_.erase(it);
    DispatchLocked(&sends);
  }
  Flush(std::move(sends), std::move(completions));
}

CallOutcome WorkerFleet::CulpritOutcome(const InFlight& call, const WorkerExit& exit) const {
  CallOutcome outcome;
  outcome.reruns = call.reruns;
  engine::ScriptError error;
  engine::CondemnReason condemned = engine::CondemnReason::kError;
  switch (exit.reason) {
    case ExitReason::kOutOfMemory:
      error.kind = engine::ErrorKind::kMemoryLimit;
      condemned = engine::CondemnReason::kMemoryLimit;
      error.message =
          "the script ran its worker process out of memory (V8 could not grow the heap past "
          "the isolate's limit); the worker was restarted and no other call was affected";
      break;
    case ExitReason::kMemoryCap:
      error.kind = engine::ErrorKind::kMemoryLimit;
      condemned = engine::CondemnReason::kMemoryLimit;
      error.message =
          absl::StrCat("the script pushed its worker process past its memory cap of ",
                       options_.memory_cap_bytes >> 20,
                       " MiB; the worker was killed and restarted, and no other call was affected");
      break;
    case ExitReason::kUnresponsive:
      error.kind = engine::ErrorKind::kTimeout;
      condemned = engine::CondemnReason::kUnresponsive;
      error.message =
          "the script ignored termination past its time limit (unresponsive, stuck in a "
          "builtin); its worker was killed and restarted";
      break;
    case ExitReason::kCrash:
      error.kind = engine::ErrorKind::kWorkerCrashed;
      error.message = absl::StrCat(
          "the script crashed its worker process",
          exit.signal != 0 ? absl::StrCat(" (signal ", exit.signal, ")") : " (V8 fatal error)",
          "; the worker was restarted and no other call was affected");
      break;
    case ExitReason::kKilled:
    case ExitReason::kExited:
      error.kind = engine::ErrorKind::kWorkerCrashed;
      error.message =
          absl::StrCat("the call was running alone on a worker process that died (",
                       exit.signal != 0 ? absl::StrCat("signal ", exit.signal)
                                        : absl::StrCat("exit code ", exit.exit_code),
                       ") after a first worker died under it; it is taken to be the cause");
      break;
  }
  outcome.result.error = std::move(error);
  outcome.result.condemned = condemned;
  return outcome;
}

void WorkerFleet::RecordCrashLocked(const std::string& key, const WorkerExit& exit) {
  absl::Time now = absl::Now();
  std::unique_ptr<CrashLoop>& state = crash_loops_[key];
  if (state == nullptr) state = std::make_unique<CrashLoop>();
  state->deaths.push_back(now);
  state->last_reason = ExitReasonName(exit.reason);
  while (!state->deaths.empty() && state->deaths.front() < now - options_.crash_loop_window) {
    state->deaths.pop_front();
  }
  if (static_cast<int>(state->deaths.size()) >= options_.crash_loop_deaths &&
      state->refused_until < now) {
    ++state->trips;
    absl::Duration backoff = options_.crash_loop_backoff * (1 << std::min(state->trips - 1, 5));
    state->refused_until = now + backoff;
    int deaths = static_cast<int>(state->deaths.size());
    std::string reported = key;
    // Reported outside the lock would be nicer; the observer only logs and counts.
    observer_.OnCrashLoop(reported, deaths, backoff);
  }
}

void WorkerFleet::OnUnresponsive(WorkerProcess& worker, uint64_t call_id) {
  std::vector<Completion> completions;
  std::vector<Send> sends;
  {
    base::MutexLock lock(&mu_);
    auto it = calls_.find(call_id);
    Slot* slot = CurrentSlot(worker);
    if (it == calls_.end() || slot == nullptr || it->second->slot != worker.slot() ||
        it->second->generation != worker.generation()) {
      return;
    }
    WorkerExit exit;
    exit.reason = ExitReason::kUnresponsive;
    completions.emplace_back(std::move(it->second->done), CulpritOutcome(*it->second, exit));
    RecordCrashLocked(it->second->key, exit);
    --slot->in_flight;
    slot->dying = true;
    calls_.erase(it);
  }
  observer_.OnUnresponsiveCall();
  worker.Kill(ExitReason::kUnresponsive, call_id);
  Flush(std::move(sends), std::move(completions));
}

void WorkerFleet::OnExit(WorkerProcess& worker, const WorkerExit& exit) {
  std::vector<Send> sends;
  std::vector<Completion> completions;
  std::shared_ptr<WorkerProcess> rewarm;
  std::vector<std::string> rewarm_ids;
  int reruns = 0;
  {
    base::MutexLock lock(&mu_);
    if (stopping_) return;
    Slot* current = CurrentSlot(worker);
    if (current == nullptr) {  // a spare died idle: drop it, the respawner makes another
      for (auto it = spares_.begin(); it != spares_.end(); ++it) {
        if (it->get() == &worker) {
          dead_.push_back(std::move(*it));
          spares_.erase(it);
          break;
        }
      }
      changed_.SignalAll();
      return;
    }
    Slot& slot = *current;
    absl::Time now = absl::Now();
    slot.up = false;
    dead_.push_back(std::move(slot.process));
    ++slot.restarts;
    deaths_.push_back(now);
    while (!deaths_.empty() && deaths_.front() < now - absl::Seconds(30)) deaths_.pop_front();
    // A new process at once for the first deaths in a while, then exponentially slower.
    int recent = static_cast<int>(deaths_.size());
    absl::Duration backoff = recent <= 2 * options_.workers
                                 ? absl::ZeroDuration()
                                 : std::min(options_.max_respawn_backoff,
                                            absl::Milliseconds(100) *
                                                (1 << std::min(recent - 2 * options_.workers, 10)));
    spare_at_ = now + backoff;
    slot.respawn_at = now + backoff;
    uint64_t culprit = exit.culprit;
    if (slot.probation && slot.solo_call != 0) culprit = slot.solo_call;  // it ran alone
    if (culprit == 0 && exit.reason == ExitReason::kMemoryCap) {
      // The memory was the one call's it had: no need to run it again to find out.
      uint64_t only = 0;
      int count = 0;
      for (const auto& [id, call] : calls_) {
        if (call->slot == worker.slot() && call->generation == worker.generation()) {
          only = id;
          ++count;
        }
      }
      if (count == 1) culprit = only;
    }
    slot.probation = false;
    slot.solo_call = 0;
    slot.in_flight = 0;
    slot.stats = pool::PoolStats();
    std::vector<uint64_t> rerun_now;
    for (auto it = calls_.begin(); it != calls_.end();) {
      InFlight& call = *it->second;
      if (call.slot != worker.slot() || call.generation != worker.generation()) {
        ++it;
        continue;
      }
      if (it->first == culprit) {
        completions.emplace_back(std::move(call.done), CulpritOutcome(call, exit));
        RecordCrashLocked(call.key, exit);
        it = calls_.erase(it);
        continue;
      }
      if (call.reruns >= options_.max_reruns) {
        WorkerExit unknown = exit;
        unknown.reason = ExitReason::kKilled;
        CallOutcome outcome = CulpritOutcome(call, unknown);
        outcome.result.error->message = absl::StrCat(
            "the worker process running this call died ", call.reruns + 1,
            " times while it ran (last: ", ExitReasonName(exit.reason), "); it was not run again");
        completions.emplace_back(std::move(call.done), std::move(outcome));
        it = calls_.erase(it);
        continue;
      }
      ++call.reruns;
      ++reruns;
      call.slot = -1;
      if (culprit == 0) {
        call.suspect = true;
        suspects_.push_back(it->first);
      } else {
        rerun_now.push_back(it->first);
      }
      ++it;
    }
    waiting_.insert(waiting_.begin(), rerun_now.begin(), rerun_now.end());
    // A spare takes the slot now, so callers never wait for a new process to start.
    if (!spares_.empty()) {
      slot.process = std::move(spares_.back());
      spares_.pop_back();
      slot.process->set_slot(worker.slot());
      slot.generation = slot.process->generation();
      InstallLocked(slot);
      if (slot.up) {
        rewarm = slot.process;
        rewarm_ids.assign(slot.recent.begin(), slot.recent.end());
      }
    }
    DispatchLocked(&sends);
  }
  changed_.SignalAll();
  if (rewarm != nullptr) {
    for (const std::string& id : rewarm_ids) rewarm->SendPrewarm(id);
  }
  observer_.OnWorkerExit(worker.slot(), exit);
  for (int i = 0; i < reruns; ++i) observer_.OnRerun();
  Flush(std::move(sends), std::move(completions));
}

void WorkerFleet::RespawnLoop() {
  base::MutexLock lock(&mu_);
  while (!stopping_) {
    // Destroy dead processes first (joins their reader threads, which have reported).
    if (!dead_.empty()) {
      std::vector<std::shared_ptr<WorkerProcess>> dead;
      dead.swap(dead_);
      mu_.Unlock();
      dead.clear();
      mu_.Lock();
      continue;
    }
    absl::Time now = absl::Now();
    absl::Time earliest = absl::InfiniteFuture();
    int due = -1;  // a slot with no process and no spare to take its place
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& slot = *slots_[i];
      if (slot.up) continue;
      if (slot.respawn_at <= now) {
        due = i;
        break;
      }
      earliest = std::min(earliest, slot.respawn_at);
    }
    bool spare_due = due < 0 && static_cast<int>(spares_.size()) < options_.spares;
    if (spare_due && spare_at_ > now) {
      earliest = std::min(earliest, spare_at_);
      spare_due = false;
    }
    if (due < 0 && !spare_due) {
      changed_.WaitWithDeadline(&mu_, earliest);
      continue;
    }
    if (due >= 0) slots_[due]->respawn_at = absl::InfiniteFuture();
    mu_.Unlock();
    absl::StatusOr<std::shared_ptr<WorkerProcess>> process = Spawn(due);
    std::vector<Send> sends;
    std::vector<std::string> rewarm;
    std::shared_ptr<WorkerProcess> fresh;
    mu_.Lock();
    if (stopping_) {
      if (process.ok()) dead_.push_back(*std::move(process));
      break;
    }
    if (!process.ok()) {
      absl::Time retry = absl::Now() + options_.max_respawn_backoff;
      if (due >= 0) slots_[due]->respawn_at = retry;
      spare_at_ = retry;
      mu_.Unlock();
      WorkerExit failed;
      failed.reason = ExitReason::kExited;
      failed.exit_code = -1;
      observer_.OnWorkerExit(due, failed);
      mu_.Lock();
      continue;
    }
    if (due < 0) {
      spares_.push_back(*std::move(process));
      continue;
    }
    Slot& slot = *slots_[due];
    slot.process = *process;
    slot.generation = slot.process->generation();
    InstallLocked(slot);
    if (!slot.up) continue;
    rewarm.assign(slot.recent.begin(), slot.recent.end());
    DispatchLocked(&sends);
    fresh = slot.process;
    mu_.Unlock();
    for (const std::string& id : rewarm) fresh->SendPrewarm(id);
    Flush(std::move(sends), {});
    mu_.Lock();
  }
}

void WorkerFleet::MonitorLoop() {
  base::MutexLock lock(&mu_);
  while (!stopping_) {
    std::vector<Completion> completions;
    std::vector<std::pair<std::shared_ptr<WorkerProcess>, uint64_t>> stuck;
    std::vector<std::pair<std::shared_ptr<WorkerProcess>, size_t>> over_cap;
    absl::Time now = absl::Now();
    for (auto it = crash_loops_.begin(); it != crash_loops_.end();) {
      const CrashLoop& state = *it->second;
      bool stale = state.refused_until < now &&
                   (state.deaths.empty() || state.deaths.back() < now - options_.crash_loop_window);
      it = stale ? crash_loops_.erase(it) : std::next(it);
    }
    for (auto& slot : slots_) {
      if (!slot->up) continue;
      slot->resident_bytes = slot->process->ResidentBytes();
      if (options_.memory_cap_bytes > 0 && slot->resident_bytes > options_.memory_cap_bytes &&
          !slot->dying) {
        slot->dying = true;
        over_cap.emplace_back(slot->process, slot->resident_bytes);
      }
    }
    for (auto it = calls_.begin(); it != calls_.end();) {
      InFlight& call = *it->second;
      if (call.slot < 0 && call.call.acquire_deadline < now) {
        completions.emplace_back(
            std::move(call.done),
            Refused(absl::DeadlineExceededError(
                "no worker had room for the call before its deadline: every worker is busy")));
        it = calls_.erase(it);
        continue;
      }
      if (call.slot >= 0 && call.backstop < now) {
        Slot& slot = *slots_[call.slot];
        if (slot.up && slot.generation == call.generation) {
          WorkerExit exit;
          exit.reason = ExitReason::kUnresponsive;
          completions.emplace_back(std::move(call.done), CulpritOutcome(call, exit));
          stuck.emplace_back(slot.process, it->first);
          --slot.in_flight;
          slot.dying = true;
          it = calls_.erase(it);
          continue;
        }
      }
      ++it;
    }
    mu_.Unlock();
    for (auto& [process, resident] : over_cap) {
      process->Kill(ExitReason::kMemoryCap, 0, resident);
    }
    for (auto& [process, call_id] : stuck) {
      observer_.OnUnresponsiveCall();
      process->Kill(ExitReason::kUnresponsive, call_id);
    }
    for (auto& [done, outcome] : completions) done(std::move(outcome));
    mu_.Lock();
    const absl::Time next_round = absl::Now() + options_.rss_interval;
    while (!stopping_ && !changed_.WaitWithDeadline(&mu_, next_round)) {
    }
  }
}

void WorkerFleet::OnNeedSnapshot(WorkerProcess& worker, uint64_t request_id,
                                 const std::string& snapshot_id) {
  std::shared_ptr<WorkerProcess> process;
  {
    base::MutexLock lock(&mu_);
    const Slot* slot = CurrentSlot(worker);
    if (stopping_ || slot == nullptr) return;
    process = slot->process;
    ++loaders_running_;
  }
  // The store may be slow (a remote object store): never on the worker's reader thread.
  std::thread([this, process, request_id, snapshot_id] {
    absl::StatusOr<EnvelopeAndPolicy> loaded = loader_(snapshot_id);
    wire::SnapshotReply reply;
    reply.set_request_id(request_id);
    if (loaded.ok()) {
      reply.set_envelope(std::move(loaded->envelope));
      *reply.mutable_policy() = EncodePoolPolicy(loaded->policy);
    } else {
      reply.set_status_code(static_cast<int32_t>(loaded.status().code()));
      reply.set_status_message(std::string(loaded.status().message()));
    }
    process->SendSnapshot(reply);
    base::MutexLock lock(&mu_);
    --loaders_running_;
    changed_.SignalAll();
  }).detach();
}

void WorkerFleet::OnStats(WorkerProcess& worker, const wire::Stats& stats) {
  ReplayStats(stats, engine_observer_, pool_observer_);
  if (!stats.has_pool()) return;  // events that came with an outcome
  base::MutexLock lock(&mu_);
  if (Slot* slot = CurrentSlot(worker)) slot->stats = DecodePoolStats(stats.pool());
}

void WorkerFleet::OnWarmed(WorkerProcess& worker, const std::string& snapshot_id,
                           absl::Status status) {
  {
    base::MutexLock lock(&mu_);
    warmed_[{worker.slot(), snapshot_id}] = std::move(status);
  }
  changed_.SignalAll();
}

absl::Status WorkerFleet::Prewarm(const std::string& snapshot_id, absl::Time deadline) {
  std::shared_ptr<WorkerProcess> process;
  int chosen;
  {
    base::MutexLock lock(&mu_);
    uint64_t id_hash = std::hash<std::string>()(snapshot_id);
    chosen = -1;
    uint64_t best = 0;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      if (!slots_[i]->up) continue;
      uint64_t score = Mix(id_hash ^ Mix(static_cast<uint64_t>(i) + 1));
      if (chosen < 0 || score > best) {
        chosen = i;
        best = score;
      }
    }
    if (chosen < 0) return absl::UnavailableError("no worker process is up");
    process = slots_[chosen]->process;
    warmed_.erase({chosen, snapshot_id});
    slots_[chosen]->recent.push_front(snapshot_id);
    if (slots_[chosen]->recent.size() > kRecentSnapshots) slots_[chosen]->recent.pop_back();
  }
  process->SendPrewarm(snapshot_id);
  base::MutexLock lock(&mu_);
  auto key = std::make_pair(chosen, snapshot_id);
  while (!stopping_ && warmed_.count(key) == 0 && !changed_.WaitWithDeadline(&mu_, deadline)) {
  }
  auto it = warmed_.find(key);
  if (it == warmed_.end()) return absl::DeadlineExceededError("no isolate was warm in time");
  absl::Status status = it->second;
  warmed_.erase(it);
  return status;
}

void WorkerFleet::Remove(const std::string& snapshot_id) {
  std::vector<std::shared_ptr<WorkerProcess>> processes;
  {
    base::MutexLock lock(&mu_);
    for (auto& slot : slots_) {
      auto seen = std::find(slot->recent.begin(), slot->recent.end(), snapshot_id);
      if (seen != slot->recent.end()) slot->recent.erase(seen);
      if (slot->up) processes.push_back(slot->process);
    }
  }
  for (auto& process : processes) process->SendRemove(snapshot_id);
}

pool::PoolStats WorkerFleet::Stats() {
  base::MutexLock lock(&mu_);
  pool::PoolStats total;
  for (const auto& slot : slots_) {
    const pool::PoolStats& s = slot->stats;
    total.pools += s.pools;
    total.warm += s.warm;
    total.busy += s.busy;
    total.restoring += s.restoring;
    total.waiting += s.waiting;
    total.heap_used_bytes += s.heap_used_bytes;
    total.heap_limit_bytes += s.heap_limit_bytes;
    total.memory_used_bytes += s.memory_used_bytes;
    total.memory_budget_bytes += s.memory_budget_bytes;
  }
  total.waiting += static_cast<int>(waiting_.size() + suspects_.size());
  return total;
}

std::vector<WorkerFleet::WorkerInfo> WorkerFleet::Workers() const {
  base::MutexLock lock(&mu_);
  std::vector<WorkerInfo> workers;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    const Slot& slot = *slots_[i];
    WorkerInfo info;
    info.slot = i;
    info.pid = slot.up ? slot.process->pid() : -1;
    info.up = slot.up;
    info.probation = slot.probation;
    info.in_flight = slot.in_flight;
    info.resident_bytes = slot.up ? slot.resident_bytes : 0;
    info.restarts = slot.restarts;
    workers.push_back(info);
  }
  return workers;
}

int WorkerFleet::CrashLooping() const {
  base::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  int n = 0;
  for (const auto& [key, state] : crash_loops_) n += state->refused_until > now ? 1 : 0;
  return n;
}

bool WorkerFleet::Serving() const {
  base::MutexLock lock(&mu_);
  for (const auto& slot : slots_) {
    if (slot->up) return true;
  }
  return false;
}

}  // namespace isopool::worker
