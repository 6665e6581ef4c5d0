// inputs.h: what every cold-start benchmark works on, prepared once in main() before any
// benchmark runs: the generated bundles and their packed snapshots (packed in the isopool_pack
// child process, as the service does).
//
// Ownership: `Inputs()` returns a process-wide object that main() fills and never frees.
// Thread-safety: written by main() before benchmarks start, read-only afterwards.
#ifndef ISOPOOL_BENCH_COLD_START_INPUTS_H_
#define ISOPOOL_BENCH_COLD_START_INPUTS_H_

#include <map>
#include <memory>
#include <string>

#include "engine/pack_options.h"
#include "engine/snapshot.h"
#include "engine/watchdog.h"

namespace isopool::bench {

struct PackedBundle {
  std::string envelope;
  std::shared_ptr<const engine::Snapshot> snapshot;
};

struct BenchInputs {
  std::string script;
  std::string module;
  // Keyed by (kind, function code handling).
  std::map<std::pair<engine::BundleKind, engine::FunctionCode>, PackedBundle> packed;
  std::unique_ptr<engine::Watchdog> watchdog;

  const std::string& Source(engine::BundleKind kind) const {
    return kind == engine::BundleKind::kClassicScript ? script : module;
  }
  const PackedBundle& Packed(engine::BundleKind kind, engine::FunctionCode code) const {
    return packed.at({kind, code});
  }
};

BenchInputs& Inputs();

// The heap limit every benchmark isolate gets (engine and raw V8 alike), so GC behaves the same.
inline constexpr size_t kBenchHeapBytes = size_t{256} << 20;

// Registers the raw-V8 benchmarks (raw_v8_bench.cc).
void RegisterRawV8Benchmarks();

}  // namespace isopool::bench

#endif  // ISOPOOL_BENCH_COLD_START_INPUTS_H_
