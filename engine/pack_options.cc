#include "engine/pack_options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace isopool::engine {
namespace {

absl::Status ParseInt(const std::map<std::string, std::string>& fields, const std::string& key,
                      int64_t* out) {
  auto it = fields.find(key);
  if (it == fields.end()) return absl::OkStatus();
  if (!absl::SimpleAtoi(it->second, out)) {
    return absl::InvalidArgumentError(absl::StrCat("pack option ", key, " is not an integer"));
  }
  return absl::OkStatus();
}

std::string Get(const std::map<std::string, std::string>& fields, const std::string& key) {
  auto it = fields.find(key);
  return it == fields.end() ? "" : it->second;
}

constexpr char kAnnotationPrefix[] = "annotation.";

}  // namespace

std::map<std::string, std::string> PackOptionsToFields(const PackOptions& options) {
  std::map<std::string, std::string> fields = {
      {"kind", options.kind == BundleKind::kEsModule ? "esm" : "script"},
      {"entry", options.entry},
      {"deterministic", options.deterministic ? "1" : "0"},
      {"seed_time_ms", absl::StrCat(options.seed_time_ms)},
      {"function_code", options.function_code == FunctionCode::kClear ? "clear" : "keep"},
      {"warmup_script", options.warmup_script},
      {"build_timeout_ms", absl::StrCat(options.build_timeout_ms)},
      {"build_heap_mib", absl::StrCat(options.build_heap_mib)},
      {"bundle_name", options.bundle_name},
  };
  for (const auto& [key, value] : options.annotations) fields[kAnnotationPrefix + key] = value;
  return fields;
}

absl::StatusOr<PackOptions> ParsePackOptions(const std::map<std::string, std::string>& fields) {
  PackOptions options;
  std::string kind = Get(fields, "kind");
  if (kind == "esm") {
    options.kind = BundleKind::kEsModule;
  } else if (kind != "script" && !kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown bundle kind: ", kind));
  }
  options.entry = Get(fields, "entry");
  options.deterministic = Get(fields, "deterministic") != "0";
  std::string function_code = Get(fields, "function_code");
  if (function_code == "clear") {
    options.function_code = FunctionCode::kClear;
  } else if (function_code != "keep" && !function_code.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown function_code: ", function_code));
  }
  options.warmup_script = Get(fields, "warmup_script");
  if (fields.count("bundle_name")) options.bundle_name = Get(fields, "bundle_name");
  for (const auto& [key, value] : fields) {
    if (key.rfind(kAnnotationPrefix, 0) == 0) {
      options.annotations[key.substr(sizeof(kAnnotationPrefix) - 1)] = value;
    }
  }
  if (auto s = ParseInt(fields, "seed_time_ms", &options.seed_time_ms); !s.ok()) return s;
  if (auto s = ParseInt(fields, "build_timeout_ms", &options.build_timeout_ms); !s.ok()) return s;
  if (auto s = ParseInt(fields, "build_heap_mib", &options.build_heap_mib); !s.ok()) return s;
  return options;
}

}  // namespace isopool::engine
