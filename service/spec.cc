#include "service/spec.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "store/snapshot_store.h"

namespace isopool::service {
namespace {

uint32_t Pick(uint32_t asked, uint32_t fallback, uint32_t maximum) {
  return std::min(asked == 0 ? fallback : asked, maximum);
}

template <typename Number>
absl::Status ReadNumber(const SettingText& setting, const std::string& name, Number* out) {
  absl::optional<std::string> text = setting(name);
  if (text && !absl::SimpleAtoi(*text, out)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be a number, not '", *text, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SettingEnvironmentVariable(absl::string_view name) {
  return absl::StrCat("ISOPOOL_", absl::AsciiStrToUpper(name));
}

absl::StatusOr<BuildSettings> ReadBuildSettings(const SettingText& setting) {
  BuildSettings settings;
  if (absl::optional<std::string> text = setting("v8_flags")) {
    settings.v8_flags = absl::StrSplit(*text, ' ', absl::SkipEmpty());
  }
  for (absl::Status s : {
           ReadNumber(setting, "default_build_timeout_ms", &settings.default_build_timeout_ms),
           ReadNumber(setting, "max_build_timeout_ms", &settings.max_build_timeout_ms),
           ReadNumber(setting, "default_build_heap_mib", &settings.default_build_heap_mib),
           ReadNumber(setting, "max_build_heap_mib", &settings.max_build_heap_mib),
           ReadNumber(setting, "max_isolates_per_snapshot", &settings.max_isolates_per_snapshot),
       }) {
    if (!s.ok()) return s;
  }
  return settings;
}

absl::Status SpecToPackOptions(const v1::SnapshotSpec& spec, const BuildSettings& settings,
                               engine::PackOptions* options) {
  if (!store::IsValidSnapshotName(spec.name())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.name '", spec.name(),
        "' is not a valid name: use 1-128 characters from [A-Za-z0-9._-], not 64 hex digits"));
  }
  switch (spec.kind()) {
    case v1::BUNDLE_KIND_UNSPECIFIED:
    case v1::CLASSIC_SCRIPT:
      options->kind = engine::BundleKind::kClassicScript;
      options->bundle_name = "bundle.js";  // not the name: names move, content does not
      break;
    case v1::ES_MODULE:
      options->kind = engine::BundleKind::kEsModule;
      options->bundle_name = "bundle.mjs";
      break;
    default:
      return absl::InvalidArgumentError("spec.kind is not a known BundleKind");
  }
  options->entry = spec.entry();
  options->deterministic = !spec.has_deterministic() || spec.deterministic();
  options->seed_time_ms =
      spec.seed_time_ms() == 0 ? engine::kDefaultSeedTimeMs : spec.seed_time_ms();
  options->function_code = spec.function_code() == v1::CLEAR ? engine::FunctionCode::kClear
                                                             : engine::FunctionCode::kKeep;
  options->warmup_script = spec.warmup_script();
  options->build_timeout_ms =
      Pick(spec.build_limits().timeout_ms(), settings.default_build_timeout_ms,
           settings.max_build_timeout_ms);
  options->build_heap_mib = Pick(spec.build_limits().heap_mib(), settings.default_build_heap_mib,
                                 settings.max_build_heap_mib);

  const v1::PoolPolicy& pool = spec.pool();
  auto& a = options->annotations;
  a.clear();
  switch (pool.isolation()) {
    case v1::FRESH:
      a[annotation::kIsolation] = "fresh";
      break;
    case v1::CONTEXT:
      a[annotation::kIsolation] = "context";
      break;
    case v1::SHARED:
      a[annotation::kIsolation] = "shared";
      break;
    case v1::ISOLATION_MODE_UNSPECIFIED:
      break;
    default:
      return absl::InvalidArgumentError("spec.pool.isolation is not a known IsolationMode");
  }
  if (pool.max_isolates() > static_cast<uint32_t>(settings.max_isolates_per_snapshot)) {
    return absl::InvalidArgumentError(absl::StrCat("spec.pool.max_isolates ", pool.max_isolates(),
                                                   " is above the server's ",
                                                   settings.max_isolates_per_snapshot));
  }
  if (pool.max_isolates() != 0 && pool.min_warm() > pool.max_isolates()) {
    return absl::InvalidArgumentError("spec.pool.min_warm is above spec.pool.max_isolates");
  }
  auto put = [&a](const char* key, uint32_t value) {
    if (value != 0) a[key] = absl::StrCat(value);
  };
  if (pool.min_warm() != 0) a[annotation::kMinWarm] = absl::StrCat(pool.min_warm());
  put(annotation::kMaxIsolates, pool.max_isolates());
  put(annotation::kTimeout, pool.default_limits().timeout_ms());
  put(annotation::kCpu, pool.default_limits().cpu_ms());
  put(annotation::kHeap, pool.default_limits().heap_mib());
  put(annotation::kResult, pool.default_limits().max_result_bytes());
  return absl::OkStatus();
}

}  // namespace isopool::service
