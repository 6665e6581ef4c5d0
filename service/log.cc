#include "service/log.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/text_format.h"

namespace isopool::service {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void SetLogLevel(absl::string_view level) {
  LogLevel parsed = LogLevel::kInfo;
  if (level == "debug") parsed = LogLevel::kDebug;
  if (level == "warn") parsed = LogLevel::kWarn;
  if (level == "error") parsed = LogLevel::kError;
  min_level = static_cast<int>(parsed);
}

void Log(LogLevel level, absl::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < min_level.load()) return;
  std::string line = absl::StrCat(
      "{\"ts\":",
      base::JsonQuote(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())),
      ",\"level\":\"", LevelName(level), "\",\"event\":", base::JsonQuote(event));
  for (const LogField& field : fields) {
    absl::StrAppend(&line, ",", base::JsonQuote(field.key), ":");
    if (const auto* s = std::get_if<std::string>(&field.value)) {
      line += base::JsonQuote(*s);
    } else if (const auto* i = std::get_if<int64_t>(&field.value)) {
      absl::StrAppend(&line, *i);
    } else if (const auto* d = std::get_if<double>(&field.value)) {
      absl::StrAppend(&line, *d);
    } else {
      line += std::get<bool>(field.value) ? "true" : "false";
    }
  }
  line += "}\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace isopool::service
