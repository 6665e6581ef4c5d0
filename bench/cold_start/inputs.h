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

// The bundle forms measured (bundle.h): the script, the ES module with only
// `export default { handler }`, and the ES module that also exports all 15,000 functions by name
// (so they stay alive in the snapshot, as the script's global consts do).
enum class Variant { kScript, kEsm, kEsmAllExported };
inline constexpr Variant kVariants[] = {Variant::kScript, Variant::kEsm, Variant::kEsmAllExported};

inline const char* VariantName(Variant v) {
  switch (v) {
    case Variant::kScript:
      return "script";
    case Variant::kEsm:
      return "esm";
    case Variant::kEsmAllExported:
      return "esm_all_exported";
  }
  return "?";
}

inline engine::BundleKind VariantKind(Variant v) {
  return v == Variant::kScript ? engine::BundleKind::kClassicScript : engine::BundleKind::kEsModule;
}

struct BenchInputs {
  std::map<Variant, std::string> sources;
  // Keyed by (variant, function code handling).
  std::map<std::pair<Variant, engine::FunctionCode>, PackedBundle> packed;
  std::unique_ptr<engine::Watchdog> watchdog;

  const std::string& Source(Variant v) const { return sources.at(v); }
  const PackedBundle& Packed(Variant v, engine::FunctionCode code) const {
    return packed.at({v, code});
  }
};

BenchInputs& Inputs();

// The heap limit every benchmark isolate gets (engine and raw V8 alike), so GC behaves the same.
inline constexpr size_t kBenchHeapBytes = size_t{256} << 20;

// Registers the raw-V8 benchmarks (raw_v8_bench.cc).
void RegisterRawV8Benchmarks();

}  // namespace isopool::bench

#endif  // ISOPOOL_BENCH_COLD_START_INPUTS_H_
