#include "cli/spec_flags.h"

#include "absl/strings/str_cat.h"
#include "cli/cli.h"

namespace isopool::cli {

const char kSpecFlagsHelp[] = R"(Snapshot spec flags:
  --name NAME             the name callers use ([A-Za-z0-9._-], at most 128); required
  --esm                   the bundle is an ES module (default: a classic script)
  --entry FUNCTION        classic scripts: the global function called by default
  --isolation MODE        fresh | context | shared (default: the server's)
  --min_warm N            isolates kept restored and ready
  --max_isolates N        most isolates at once (0 = the server's default)
  --timeout_ms N          default (and maximum) wall time of a call
  --cpu_ms N              default (and maximum) CPU time of a call
  --heap_mib N            default (and maximum) heap of an isolate
  --max_result_bytes N    default (and maximum) size of a JSON result
  --prewarm               restore min_warm isolates right after the upload
  --warmup FILE           a script run after the bundle, before the snapshot is taken
  --no-deterministic      do not pin Date.now()/Math.random() while packing
  --seed_time_ms N        the pinned time in deterministic mode (Unix ms)
  --clear-code            drop compiled function code from the snapshot (smaller blob)
  --build_timeout_ms N    wall time allowed for building
  --build_heap_mib N      heap allowed for building
)";

std::vector<FlagSpec> SpecFlags() {
  return {{"name", true},
          {"esm", false},
          {"entry", true},
          {"isolation", true},
          {"min_warm", true},
          {"max_isolates", true},
          {"timeout_ms", true},
          {"cpu_ms", true},
          {"heap_mib", true},
          {"max_result_bytes", true},
          {"prewarm", false},
          {"warmup", true},
          {"no-deterministic", false},
          {"seed_time_ms", true},
          {"clear-code", false},
          {"build_timeout_ms", true},
          {"build_heap_mib", true}};
}

absl::StatusOr<v1::SnapshotSpec> SpecFromFlags(const CommandLine& line) {
  v1::SnapshotSpec spec;
  if (!line.Has("name") || line.Get("name").empty()) {
    return absl::InvalidArgumentError("--name is required");
  }
  spec.set_name(line.Get("name"));
  spec.set_kind(line.Has("esm") ? v1::ES_MODULE : v1::CLASSIC_SCRIPT);
  spec.set_entry(line.Get("entry"));
  if (line.Has("no-deterministic")) spec.set_deterministic(false);
  absl::StatusOr<int64_t> seed = line.GetI64("seed_time_ms", 0);
  if (!seed.ok()) return seed.status();
  spec.set_seed_time_ms(*seed);
  spec.set_function_code(line.Has("clear-code") ? v1::CLEAR : v1::KEEP);
  if (line.Has("warmup")) {
    absl::StatusOr<std::string> warmup = ReadWholeFile(line.Get("warmup"));
    if (!warmup.ok()) return warmup.status();
    spec.set_warmup_script(*warmup);
  }
  spec.set_prewarm(line.Has("prewarm"));

  // Every numeric flag and the field it sets.
  struct Numeric {
    const char* flag;
    void (*set)(v1::SnapshotSpec*, uint32_t);
  };
  static const Numeric kNumeric[] = {
      {"min_warm", [](v1::SnapshotSpec* s, uint32_t v) { s->mutable_pool()->set_min_warm(v); }},
      {"max_isolates",
       [](v1::SnapshotSpec* s, uint32_t v) { s->mutable_pool()->set_max_isolates(v); }},
      {"timeout_ms",
       [](v1::SnapshotSpec* s, uint32_t v) {
         s->mutable_pool()->mutable_default_limits()->set_timeout_ms(v);
       }},
      {"cpu_ms", [](v1::SnapshotSpec* s,
                    uint32_t v) { s->mutable_pool()->mutable_default_limits()->set_cpu_ms(v); }},
      {"heap_mib",
       [](v1::SnapshotSpec* s, uint32_t v) {
         s->mutable_pool()->mutable_default_limits()->set_heap_mib(v);
       }},
      {"max_result_bytes",
       [](v1::SnapshotSpec* s, uint32_t v) {
         s->mutable_pool()->mutable_default_limits()->set_max_result_bytes(v);
       }},
      {"build_timeout_ms",
       [](v1::SnapshotSpec* s, uint32_t v) { s->mutable_build_limits()->set_timeout_ms(v); }},
      {"build_heap_mib",
       [](v1::SnapshotSpec* s, uint32_t v) { s->mutable_build_limits()->set_heap_mib(v); }},
  };
  for (const Numeric& numeric : kNumeric) {
    if (!line.Has(numeric.flag)) continue;
    absl::StatusOr<uint32_t> value = line.GetU32(numeric.flag, 0);
    if (!value.ok()) return value.status();
    numeric.set(&spec, *value);
  }

  if (line.Has("isolation")) {
    std::string mode = line.Get("isolation");
    if (mode == "fresh") {
      spec.mutable_pool()->set_isolation(v1::FRESH);
    } else if (mode == "context") {
      spec.mutable_pool()->set_isolation(v1::CONTEXT);
    } else if (mode == "shared") {
      spec.mutable_pool()->set_isolation(v1::SHARED);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--isolation wants fresh, context or shared, not '", mode, "'"));
    }
  }
  return spec;
}

}  // namespace isopool::cli
