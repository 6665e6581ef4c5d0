// pool_bench: what the pool costs.
//
//   WarmPath/<mode>   acquire + trivial call ("1+1") + release on a warm pool, one thread;
//                     counters give p50/p99 of acquire alone and of the whole round trip.
//   Refill/<threads>/<bundle>  restores per second into an empty pool (min_warm = N), with 1
//                     or 2 restore threads, blank snapshot (0) or the ~750 KiB bundle (1).
//   Memory            RSS with 100, 500 and 1000 warm blank isolates, the least-squares slope
//                     (bytes per isolate), V8's own heap figures per isolate, and RSS after the
//                     isolates are released (before and after malloc_trim).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "engine/pack_process.h"
#include "engine/runtime.h"
#include "engine/snapshot.h"
#include "engine/watchdog.h"
#include "pool/pool_manager.h"

namespace isopool::pool {
namespace {

std::string g_pack_binary;
// Shared by this process's runtime and the pack child (engine/runtime.h: they must agree).
constexpr uint64_t kBenchHashSeed = 0xbe9c4;

engine::Watchdog& BenchWatchdog() {
  static engine::Watchdog* watchdog = new engine::Watchdog();
  return *watchdog;
}

// The seed's synthetic bundle: 15,000 named arrow functions and a coordinator, ~750 KiB.
std::string GenerateBundle() {
  std::string source;
  source.reserve(800 << 10);
  for (int i = 0; i < 15000; ++i) {
    absl::StrAppendFormat(&source, "const f%05d = (x, y) => (x * %d + y + 1) %% 10007;\n", i,
                          i % 97 + 1);
  }
  source += "const table = [";
  for (int i = 0; i < 15000; i += 100) absl::StrAppendFormat(&source, "f%05d,", i);
  source += "];\nfunction handler(n) { let s = 0; for (let i = 0; i < table.length; i++) ";
  source += "s = table[i](s, n); return s; }\n";
  return source;
}

const std::string& BundleEnvelope() {
  static const std::string* envelope = [] {
    engine::PackProcessOptions process;
    process.binary = g_pack_binary;
    process.hash_seed = kBenchHashSeed;
    absl::StatusOr<std::string> packed =
        engine::PackInChildProcess(process, GenerateBundle(), engine::PackOptions{});
    if (!packed.ok()) {
      fprintf(stderr, "packing the bundle failed: %s\n", packed.status().ToString().c_str());
      std::exit(1);
    }
    fprintf(stderr, "bundle: %zu KiB source, envelope %zu KiB\n", GenerateBundle().size() >> 10,
            packed->size() >> 10);
    return new std::string(*std::move(packed));
  }();
  return *envelope;
}

// Serves "blank" (V8's snapshot) and "bundle" (the generated bundle), each with the policy
// given at construction.
class BenchSource : public SnapshotSource {
 public:
  explicit BenchSource(PoolPolicy policy) : policy_(policy) {}
  absl::StatusOr<LoadedSnapshot> Load(const std::string& id) override {
    LoadedSnapshot loaded;
    loaded.policy = policy_;
    if (id == "blank") {
      loaded.snapshot = engine::Snapshot::Blank();
      return loaded;
    }
    absl::StatusOr<std::shared_ptr<const engine::Snapshot>> snapshot =
        engine::Snapshot::FromEnvelope(BundleEnvelope());
    if (!snapshot.ok()) return snapshot.status();
    loaded.snapshot = *std::move(snapshot);
    return loaded;
  }

 private:
  const PoolPolicy policy_;
};

size_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

bool WaitWarm(PoolManager& pools, const std::string& id, int n, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (pools.Stats(id).warm < n) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Microseconds(100));
  }
  return true;
}

// Arg 0: 0 fresh, 1 context (spare context made on a restore thread), 2 shared,
// 3 context with the spare context made on the releasing thread.
// Arg 1: idle gap between calls in microseconds (0 = closed loop, saturating one caller; with a
// gap, background work such as context preparation and refill can finish between calls).
void BM_WarmPath(benchmark::State& state) {
  PoolPolicy policy;
  const int mode = static_cast<int>(state.range(0));
  policy.isolation = mode == 0   ? IsolationMode::kFresh
                     : mode == 2 ? IsolationMode::kShared
                                 : IsolationMode::kContext;
  policy.min_warm = mode == 0 ? 8 : 2;
  policy.max_isolates = mode == 0 ? 16 : 2;
  GlobalPolicy global;
  global.prepare_context_inline = mode == 3;
  BenchSource source(policy);
  PoolManager pools(source, global, PoolPolicy{}, BenchWatchdog());
  if (!pools.Prewarm("blank").ok() ||
      !WaitWarm(pools, "blank", policy.min_warm, absl::Seconds(10))) {
    state.SkipWithError("prewarm failed");
    return;
  }
  engine::CallRequest request;
  request.source = "1+1";
  engine::CallLimits limits;
  std::vector<double> acquire_us, total_us;
  int warm_hits = 0;
  const absl::Duration gap = absl::Microseconds(state.range(1));
  for (auto _ : state) {
    if (gap > absl::ZeroDuration()) {
      state.PauseTiming();
      absl::SleepFor(gap);
      state.ResumeTiming();
    }
    absl::Time t0 = absl::Now();
    absl::StatusOr<Lease> lease = pools.Acquire("blank", t0 + absl::Seconds(10));
    absl::Time t1 = absl::Now();
    if (!lease.ok()) {
      state.SkipWithError(lease.status().ToString().c_str());
      return;
    }
    warm_hits += lease->warm() ? 1 : 0;
    engine::CallResult r = lease->Run(request, limits);
    benchmark::DoNotOptimize(r.result_json);
    lease = absl::CancelledError("released");  // ~Lease gives the isolate back
    absl::Time t2 = absl::Now();
    acquire_us.push_back(absl::ToDoubleMicroseconds(t1 - t0));
    total_us.push_back(absl::ToDoubleMicroseconds(t2 - t0));
  }
  state.counters["acq_p50_us"] = Percentile(acquire_us, 0.50);
  state.counters["acq_p99_us"] = Percentile(acquire_us, 0.99);
  state.counters["rt_p50_us"] = Percentile(total_us, 0.50);
  state.counters["rt_p99_us"] = Percentile(total_us, 0.99);
  state.counters["warm_hit_%"] = 100.0 * warm_hits / std::max<size_t>(1, acquire_us.size());
  state.SetLabel(absl::StrCat(
      mode == 3 ? "context(inline prepare)" : IsolationModeName(policy.isolation),
      gap > absl::ZeroDuration() ? absl::StrCat(", gap ", absl::FormatDuration(gap)) : ""));
}
BENCHMARK(BM_WarmPath)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 2000}})
    ->MinTime(2.0)
    ->Unit(benchmark::kMicrosecond);

// Args: restore threads, 0 blank / 1 bundle.
void BM_Refill(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bool bundle = state.range(1) == 1;
  const int n = bundle ? 40 : 200;
  PoolPolicy policy;
  policy.min_warm = n;
  policy.max_isolates = n;
  GlobalPolicy global;
  global.restore_threads = threads;
  global.max_isolates = 4 * n;
  global.memory_budget_bytes = size_t{16} << 30;
  BenchSource source(policy);
  const std::string id = bundle ? "bundle" : "blank";
  if (bundle) BundleEnvelope();
  double restores = 0;
  for (auto _ : state) {
    PoolManager pools(source, global, PoolPolicy{}, BenchWatchdog());
    absl::Time start = absl::Now();
    if (!pools.Prewarm(id).ok() || !WaitWarm(pools, id, n, absl::Seconds(60))) {
      state.SkipWithError("refill failed");
      return;
    }
    state.SetIterationTime(absl::ToDoubleSeconds(absl::Now() - start));
    restores += n;
  }
  state.counters["restores_per_s"] = benchmark::Counter(restores, benchmark::Counter::kIsRate);
  state.SetLabel(absl::StrCat(bundle ? "bundle" : "blank", ", ", threads, " restore thread(s)"));
}
BENCHMARK(BM_Refill)
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

void BM_Memory(benchmark::State& state) {
  PoolPolicy policy;
  policy.isolation = IsolationMode::kContext;
  GlobalPolicy global;
  global.max_isolates = 2000;
  global.memory_budget_bytes = size_t{64} << 30;
  global.per_isolate_overhead_bytes = 0;  // so memory_used = V8's own heap figures
  global.restore_threads = 2;
  // Maintenance runs (it trims freed memory after disposals); its idle GC touches one isolate
  // per tick, too few to matter here.
  global.maintenance_interval = absl::Milliseconds(200);
  const int sizes[] = {100, 500, 1000};
  for (auto _ : state) {
    malloc_trim(0);
    const double rss_start = static_cast<double>(RssBytes());
    std::vector<double> xs, ys;
    double v8_total = 0, v8_used = 0;
    BenchSource source(policy);
    for (int n : sizes) {
      policy.min_warm = policy.max_isolates = n;
      BenchSource sized(policy);
      auto pools = std::make_unique<PoolManager>(sized, global, PoolPolicy{}, BenchWatchdog());
      if (!pools->Prewarm("blank").ok() || !WaitWarm(*pools, "blank", n, absl::Seconds(120))) {
        state.SkipWithError("prewarm failed");
        return;
      }
      absl::SleepFor(absl::Milliseconds(200));  // let platform workers settle
      const double rss = static_cast<double>(RssBytes());
      xs.push_back(n);
      ys.push_back(rss);
      v8_total = static_cast<double>(pools->Stats().memory_used_bytes) / n;
      v8_used = static_cast<double>(pools->Stats().heap_used_bytes) / n;
      state.counters[absl::StrCat("rss_", n, "_MiB")] = rss / (1 << 20);
      // Release every isolate through the pool (disposed in the background, then trimmed by
      // maintenance), and see where RSS lands.
      pools->Remove("blank");
      absl::Time end = absl::Now() + absl::Seconds(30);
      while (pools->Stats().memory_used_bytes > 0 && absl::Now() < end) {
        absl::SleepFor(absl::Milliseconds(10));
      }
      absl::SleepFor(absl::Milliseconds(600));  // a few maintenance ticks
      state.counters[absl::StrCat("rss_released_", n, "_MiB")] =
          static_cast<double>(RssBytes()) / (1 << 20);
      pools.reset();
    }
    state.counters["rss_start_MiB"] = rss_start / (1 << 20);
    double mx = 0, my = 0;
    for (size_t i = 0; i < xs.size(); ++i) mx += xs[i] / xs.size(), my += ys[i] / ys.size();
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      sxy += (xs[i] - mx) * (ys[i] - my);
      sxx += (xs[i] - mx) * (xs[i] - mx);
    }
    const double slope = sxy / sxx;
    state.counters["rss_per_isolate_MiB"] = slope / (1 << 20);
    state.counters["v8_total_per_isolate_MiB"] = v8_total / (1 << 20);
    state.counters["v8_used_per_isolate_MiB"] = v8_used / (1 << 20);
    // What RSS costs beyond V8's used heap: the per_isolate_overhead_bytes to configure when
    // accounting by used heap; negative when V8's committed total overstates residency.
    state.counters["rss_minus_used_MiB"] = (slope - v8_used) / (1 << 20);
  }
}
BENCHMARK(BM_Memory)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace isopool::pool

int main(int argc, char** argv) {
  using isopool::pool::g_pack_binary;
  if (const char* dir = std::getenv("RUNFILES_DIR")) {
    g_pack_binary = std::string(dir) + "/isopool/engine/isopool_pack";
  } else if (access("engine/isopool_pack", X_OK) == 0) {
    g_pack_binary = "engine/isopool_pack";  // `bazel run` starts in the runfiles tree
  } else {
    g_pack_binary = std::string(argv[0]) + ".runfiles/isopool/engine/isopool_pack";
  }
  isopool::engine::RuntimeOptions options;
  options.argv0 = argv[0];
  options.hash_seed = isopool::pool::kBenchHashSeed;
  if (auto s = isopool::engine::InitializeRuntime(options); !s.ok()) {
    fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
