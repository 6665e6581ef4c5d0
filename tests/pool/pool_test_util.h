// Helpers for pool tests: an in-memory SnapshotSource fed with envelopes packed through the real
// isopool_pack child process, counting observers, and polling with a timeout.
#ifndef ISOPOOL_TESTS_POOL_POOL_TEST_UTIL_H_
#define ISOPOOL_TESTS_POOL_POOL_TEST_UTIL_H_

#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "engine/call.h"
#include "engine/observer.h"
#include "engine/pack_process.h"
#include "engine/snapshot.h"
#include "engine/watchdog.h"
#include "pool/pool_manager.h"
#include "pool/snapshot_source.h"

namespace isopool::pool::testing {

// Functions the packed test bundle offers (classic script).
inline constexpr char kTestBundle[] = R"js(
function inc(x) { return x + 1; }
function setLeak() { globalThis.leak = 42; return 1; }
function readLeak() { return typeof globalThis.leak; }
function garbage(n) {
  let keep = [];
  for (let i = 0; i < n; i++) keep.push({i, s: 'item-' + i, a: [i, i + 1, i + 2]});
  return keep.length;
}
)js";

// The hash seed shared by this test process's runtime and the pack child (engine/runtime.h:
// RuntimeOptions::hash_seed; they must agree for snapshots to restore).
inline constexpr uint64_t kTestHashSeed = 0x9001ba5eed;

inline std::string PackBinary() {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(dir ? dir : ".") + "/" + (workspace ? workspace : "isopool") +
         "/engine/isopool_pack";
}

// The test bundle's envelope, packed once per test process through the real child.
inline const std::string& TestEnvelope() {
  static const std::string* envelope = [] {
    engine::PackProcessOptions process;
    process.binary = PackBinary();
    process.hash_seed = kTestHashSeed;
    absl::StatusOr<std::string> packed =
        engine::PackInChildProcess(process, kTestBundle, engine::PackOptions{});
    if (!packed.ok()) {
      fprintf(stderr, "packing the test bundle failed: %s\n", packed.status().ToString().c_str());
      std::abort();
    }
    return new std::string(*std::move(packed));
  }();
  return *envelope;
}

// A thread-safe map of id -> (envelope or blank, policy). Load decodes the envelope each time,
// like the store-backed source does, and counts calls. An optional gate holds Load until opened.
class InMemorySource : public SnapshotSource {
 public:
  void Add(const std::string& id, const std::string& envelope, const PoolPolicy& policy) {
    base::MutexLock lock(&mu_);
    entries_[id] = Entry{envelope, policy};
  }
  // An id served by V8's blank snapshot.
  void AddBlank(const std::string& id, const PoolPolicy& policy) { Add(id, "", policy); }

  absl::StatusOr<LoadedSnapshot> Load(const std::string& id) override {
    Entry entry;
    {
      base::MutexLock lock(&mu_);
      ++loads_;
      while (!open_) opened_.Wait(&mu_);
      auto it = entries_.find(id);
      if (it == entries_.end()) return absl::NotFoundError("no snapshot " + id);
      entry = it->second;
    }
    LoadedSnapshot loaded;
    loaded.policy = entry.policy;
    if (entry.envelope.empty()) {
      loaded.snapshot = engine::Snapshot::Blank();
    } else {
      absl::StatusOr<std::shared_ptr<const engine::Snapshot>> snapshot =
          engine::Snapshot::FromEnvelope(entry.envelope);
      if (!snapshot.ok()) return snapshot.status();
      loaded.snapshot = *std::move(snapshot);
    }
    return loaded;
  }

  void Close() {
    base::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    base::MutexLock lock(&mu_);
    open_ = true;
    opened_.SignalAll();
  }
  int loads() const {
    base::MutexLock lock(&mu_);
    return loads_;
  }

 private:
  struct Entry {
    std::string envelope;
    PoolPolicy policy;
  };
  mutable base::Mutex mu_;
  base::CondVar opened_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  int loads_ ABSL_GUARDED_BY(mu_) = 0;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
};

class CountingPoolObserver : public PoolObserver {
 public:
  void OnRestore(absl::Duration, bool on_request_path) override {
    (on_request_path ? restores_on_path : restores_in_background)++;
  }
  void OnAcquireWait(absl::Duration) override { acquire_waits++; }
  void OnCondemned(engine::CondemnReason reason) override {
    condemned++;
    last_condemn_reason = reason;
  }
  void OnEviction() override { evictions++; }

  std::atomic<int> restores_on_path{0};
  std::atomic<int> restores_in_background{0};
  std::atomic<int> acquire_waits{0};
  std::atomic<int> condemned{0};
  std::atomic<engine::CondemnReason> last_condemn_reason{engine::CondemnReason::kNone};
  std::atomic<int> evictions{0};
};

class CountingEngineObserver : public engine::EngineObserver {
 public:
  void OnGcPause(engine::GcType type, absl::Duration) override {
    if (type == engine::GcType::kMarkSweepCompact) mark_sweeps++;
    all++;
  }
  std::atomic<int> mark_sweeps{0};
  std::atomic<int> all{0};
};

inline engine::Watchdog& TestWatchdog() {
  static engine::Watchdog* watchdog = new engine::Watchdog();
  return *watchdog;
}

// Policies that keep tests fast: quick maintenance, small pools.
inline GlobalPolicy TestGlobalPolicy() {
  GlobalPolicy global;
  global.restore_threads = 2;
  global.maintenance_interval = absl::Milliseconds(20);
  return global;
}

inline PoolPolicy TestPoolPolicy(IsolationMode mode = IsolationMode::kContext) {
  PoolPolicy policy;
  policy.isolation = mode;
  policy.min_warm = 1;
  policy.max_isolates = 2;
  policy.isolate.heap_limit_bytes = 32 << 20;
  return policy;
}

inline engine::CallLimits QuickLimits() {
  engine::CallLimits limits;
  limits.wall = absl::Milliseconds(500);
  limits.cpu = absl::Milliseconds(500);
  return limits;
}

inline engine::CallRequest Source(const std::string& source) {
  engine::CallRequest request;
  request.source = source;
  return request;
}

inline engine::CallRequest Function(const std::string& function, const std::string& args = "") {
  engine::CallRequest request;
  request.function = function;
  request.args_json = args;
  return request;
}

inline absl::Time Deadline(absl::Duration d = absl::Seconds(10)) { return absl::Now() + d; }

// Polls `done` every millisecond until it is true or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(5)) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return done();
}

}  // namespace isopool::pool::testing

#endif  // ISOPOOL_TESTS_POOL_POOL_TEST_UTIL_H_
