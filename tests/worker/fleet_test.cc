// WorkerFleet with real isopool_worker processes: routing keeps a snapshot's calls on one worker
// and spills when it is busy, calls wait in order until their deadline, and Remove drops pools.
// Envelopes are packed through the real isopool_pack child with the workers' hash seed.
#include "worker/fleet.h"

#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "engine/pack_process.h"
#include "gtest/gtest.h"
#include "worker/codec.h"

namespace isopool::worker {
namespace {

constexpr uint64_t kHashSeed = 0x5eed0f1ee7;
constexpr char kBundle[] =
    "function inc(x) { return x + 1; }\n"
    "function spin(ms) { const end = Date.now() + ms; while (Date.now() < end) {} return ms; }\n";

std::string Runfile(const std::string& path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  return std::string(dir ? dir : ".") + "/isopool/" + path;
}

const std::string& Envelope() {
  static const std::string* envelope = [] {
    engine::PackProcessOptions process;
    process.binary = Runfile("engine/isopool_pack");
    process.hash_seed = kHashSeed;
    absl::StatusOr<std::string> packed =
        engine::PackInChildProcess(process, kBundle, engine::PackOptions{});
    if (!packed.ok()) {
      fprintf(stderr, "packing failed: %s\n", packed.status().ToString().c_str());
      std::abort();
    }
    return new std::string(*std::move(packed));
  }();
  return *envelope;
}

// Counts loads per id, so tests can see which snapshots reached a worker.
class Loader {
 public:
  absl::StatusOr<WorkerFleet::EnvelopeAndPolicy> operator()(const std::string& id) {
    base::MutexLock lock(&mu_);
    ++loads_[id];
    if (id.rfind("missing", 0) == 0) return absl::NotFoundError("no such snapshot");
    WorkerFleet::EnvelopeAndPolicy loaded;
    loaded.envelope = Envelope();
    loaded.policy.min_warm = 1;
    loaded.policy.max_isolates = 2;
    return loaded;
  }
  int loads(const std::string& id) {
    base::MutexLock lock(&mu_);
    return loads_[id];
  }

 private:
  base::Mutex mu_;
  std::map<std::string, int> loads_ ABSL_GUARDED_BY(mu_);
};

class FleetTest : public ::testing::Test {
 protected:
  void Start(int workers, int threads_per_worker) {
    WorkerFleet::Options options;
    options.workers = workers;
    options.binary = Runfile("worker/isopool_worker");
    pool::GlobalPolicy global;
    global.restore_threads = 1;
    *options.init.mutable_global() = EncodeGlobalPolicy(global);
    *options.init.mutable_blank_policy() = EncodePoolPolicy(pool::PoolPolicy());
    options.init.set_hash_seed(kHashSeed);
    options.init.set_platform_threads(1);
    options.init.set_execute_threads(threads_per_worker);
    options.init.set_unresponsive_grace_us(100000);
    options.init.set_lockdown(true);
    options.window = threads_per_worker * 2;
    options.spill_at = threads_per_worker;
    auto fleet = WorkerFleet::Start(
        options, [this](const std::string& id) { return loader_(id); }, observer_,
        engine::NoopEngineObserver(), pool::NoopPoolObserver());
    ASSERT_TRUE(fleet.ok()) << fleet.status();
    fleet_ = *std::move(fleet);
  }

  // Runs one call and waits for its outcome.
  CallOutcome Run(const std::string& id, const std::string& function, const std::string& args,
                  absl::Duration deadline = absl::Seconds(30)) {
    Call call;
    call.snapshot_id = id;
    call.request.function = function;
    call.request.args_json = args;
    call.limits.wall = absl::Seconds(10);
    call.limits.cpu = absl::Seconds(10);
    call.deadline = absl::Now() + deadline;
    call.acquire_deadline = call.deadline;
    // A std::promise, not absl::Notification: TSan sees std:: synchronisation, and Debian's absl
    // is not instrumented.
    auto answered = std::make_shared<std::promise<CallOutcome>>();
    std::future<CallOutcome> outcome = answered->get_future();
    EXPECT_TRUE(fleet_->Submit(std::move(call),
                               [answered](CallOutcome o) { answered->set_value(std::move(o)); }));
    return outcome.get();
  }

  Loader loader_;
  FleetObserver observer_;
  std::unique_ptr<WorkerFleet> fleet_;
};

TEST_F(FleetTest, OneSnapshotsCallsStayOnOneWorkerAndSnapshotsSpread) {
  Start(3, 1);
  std::set<int> used;
  for (const char* id : {"a", "b", "c", "d", "e", "f"}) {
    std::set<int> workers;
    for (int i = 0; i < 4; ++i) {
      CallOutcome outcome = Run(id, "inc", "[1]");
      ASSERT_TRUE(outcome.status.ok()) << outcome.status;
      EXPECT_EQ(outcome.result.result_json, "2");
      workers.insert(outcome.worker);
    }
    EXPECT_EQ(workers.size(), 1u) << id << " ran on several workers one call at a time";
    EXPECT_EQ(loader_.loads(id), 1) << id << " was loaded by more than one worker";
    used.insert(*workers.begin());
  }
  EXPECT_GE(used.size(), 2u) << "six snapshots all hashed to one worker";
}

TEST_F(FleetTest, ABusyWorkersSnapshotSpillsToAnother) {
  Start(2, 1);
  CallOutcome first = Run("a", "inc", "[1]");  // warms "a" on its preferred worker
  ASSERT_TRUE(first.status.ok());
  CallOutcome slow_outcome;
  std::thread slow([&] { slow_outcome = Run("a", "spin", "[800]"); });
  // Once the preferred worker's only thread spins, the next call for "a" goes elsewhere.
  for (absl::Time give_up = absl::Now() + absl::Seconds(10);
       fleet_->Workers()[first.worker].in_flight == 0 && absl::Now() < give_up;) {
    std::this_thread::yield();
  }
  CallOutcome spilled = Run("a", "inc", "[5]");
  slow.join();
  ASSERT_TRUE(slow_outcome.status.ok());
  EXPECT_EQ(slow_outcome.worker, first.worker);
  EXPECT_NE(spilled.worker, first.worker);
  EXPECT_EQ(spilled.result.result_json, "6");
}

TEST_F(FleetTest, CallsWaitForRoomUntilTheirDeadline) {
  Start(1, 1);  // a window of two calls
  std::vector<std::thread> busy;
  for (int i = 0; i < 2; ++i) {
    busy.emplace_back([&] { EXPECT_TRUE(Run("a", "spin", "[600]").status.ok()); });
  }
  // Once both are in flight, a third waits in the fleet and its deadline passes there.
  for (absl::Time give_up = absl::Now() + absl::Seconds(10);
       fleet_->Workers()[0].in_flight < 2 && absl::Now() < give_up;) {
    std::this_thread::yield();
  }
  CallOutcome waited = Run("a", "inc", "[1]", absl::Milliseconds(100));
  EXPECT_EQ(waited.status.code(), absl::StatusCode::kDeadlineExceeded) << waited.status;
  for (std::thread& t : busy) t.join();
}

TEST_F(FleetTest, UnknownSnapshotIsNotFoundAndRemoveDropsPools) {
  Start(2, 1);
  CallOutcome missing = Run("missing-1", "inc", "[1]");
  EXPECT_EQ(missing.status.code(), absl::StatusCode::kNotFound) << missing.status;
  ASSERT_TRUE(Run("a", "inc", "[1]").status.ok());
  EXPECT_EQ(loader_.loads("a"), 1);
  fleet_->Remove("a");
  // The pool is gone: a later call loads the snapshot again. (Remove travels on the control
  // channel; a call racing it may still find the old pool, or see it going: Unavailable.)
  for (absl::Time give_up = absl::Now() + absl::Seconds(10);
       loader_.loads("a") < 2 && absl::Now() < give_up;) {
    CallOutcome outcome = Run("a", "inc", "[1]");
    ASSERT_TRUE(outcome.status.ok() || outcome.status.code() == absl::StatusCode::kUnavailable)
        << outcome.status;
  }
  EXPECT_EQ(loader_.loads("a"), 2);
}

}  // namespace
}  // namespace isopool::worker
