// pack_options.h: what a bundle is and how to pack it (the input of engine::Pack).
//
// Plain values, copyable, no V8 types; also carried inside the envelope so a restore knows how
// to find the entry points.
#ifndef ISOPOOL_ENGINE_PACK_OPTIONS_H_
#define ISOPOOL_ENGINE_PACK_OPTIONS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace isopool::engine {

enum class BundleKind { kClassicScript, kEsModule };

enum class FunctionCode { kKeep, kClear };

// 2024-01-01T00:00:00Z, the default seed time of deterministic mode.
inline constexpr int64_t kDefaultSeedTimeMs = 1704067200000;

struct PackOptions {
  BundleKind kind = BundleKind::kClassicScript;
  // Classic scripts: the name of the main global function, for documentation only: it is kept
  // in the envelope's options, but nothing calls it (a call with neither a function nor source
  // is refused). ES modules: unused (every export is an entry point).
  std::string entry;
  // Pin Date.now(), new Date(), Math.random() and performance.now() while the bundle and the
  // warm-up run, so the same inputs give byte-identical envelopes. The live functions are back
  // in the snapshot: pinning only covers values computed while packing.
  bool deterministic = true;
  int64_t seed_time_ms = kDefaultSeedTimeMs;
  FunctionCode function_code = FunctionCode::kKeep;
  // Runs after the bundle, before serialising, to compile what the first call will use.
  std::string warmup_script;
  // Packing runs user code: bound it.
  int64_t build_timeout_ms = 10000;
  int64_t build_heap_mib = 256;
  // The bundle's file name in stack traces.
  std::string bundle_name = "bundle.js";
  // Caller data carried in the envelope and covered by its digest (the service keeps the
  // snapshot's pool policy here, so a different policy is a different snapshot id). The engine
  // does not interpret it.
  std::map<std::string, std::string> annotations;
};

// Options as sorted "key=value" pairs, the form stored in envelopes and sent to the pack
// process. `ParsePackOptions` is its inverse.
std::map<std::string, std::string> PackOptionsToFields(const PackOptions& options);
absl::StatusOr<PackOptions> ParsePackOptions(const std::map<std::string, std::string>& fields);

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_PACK_OPTIONS_H_
