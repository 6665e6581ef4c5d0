// log.h: one structured line per event, as JSON on stderr.
//
//   Log(LogLevel::kInfo, "upload", {{"name", name}, {"id", id}, {"bytes", 1234}});
//   -> {"ts":"2026-11-27T23:01:02.345Z","level":"info","event":"upload","name":"...",...}
//
// Thread-safety: any thread; each line is written with one write(2), so lines never interleave.
#ifndef ISOPOOL_SERVICE_LOG_H_
#define ISOPOOL_SERVICE_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/string_view.h"

namespace isopool::service {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below this level are dropped. Set once at start-up ("debug", "info", "warn", "error").
void SetLogLevel(absl::string_view level);

using LogValue = std::variant<std::string, int64_t, double, bool>;

struct LogField {
  LogField(absl::string_view k, absl::string_view v) : key(k), value(std::string(v)) {}
  LogField(absl::string_view k, const char* v) : key(k), value(std::string(v)) {}
  LogField(absl::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(absl::string_view k, int v) : key(k), value(int64_t{v}) {}
  LogField(absl::string_view k, int64_t v) : key(k), value(v) {}
  LogField(absl::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(absl::string_view k, double v) : key(k), value(v) {}
  LogField(absl::string_view k, bool v) : key(k), value(v) {}
  std::string key;
  LogValue value;
};

void Log(LogLevel level, absl::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_LOG_H_
