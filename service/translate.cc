#include "service/translate.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/spec.h"
#include "store/snapshot_store.h"

namespace isopool::service {
namespace {

using annotation::kCpu;
using annotation::kHeap;
using annotation::kIsolation;
using annotation::kMaxIsolates;
using annotation::kMinWarm;
using annotation::kResult;
using annotation::kTimeout;

uint32_t GetU32(const std::map<std::string, std::string>& annotations, const char* key,
                uint32_t fallback) {
  auto it = annotations.find(key);
  uint32_t value;
  if (it == annotations.end() || !absl::SimpleAtoi(it->second, &value) || value == 0) {
    return fallback;
  }
  return value;
}

uint32_t Pick(uint32_t asked, uint32_t fallback, uint32_t maximum) {
  return std::min(asked == 0 ? fallback : asked, maximum);
}

}  // namespace

pool::PoolPolicy PolicyFromAnnotations(const std::map<std::string, std::string>& annotations,
                                       const ServerConfig& config) {
  pool::PoolPolicy policy;
  policy.isolation = config.default_isolation;
  auto isolation = annotations.find(kIsolation);
  if (isolation != annotations.end()) {
    absl::StatusOr<pool::IsolationMode> mode = ParseIsolationMode(isolation->second);
    if (mode.ok()) policy.isolation = *mode;
  }
  auto min_warm = annotations.find(kMinWarm);
  uint32_t parsed_min_warm;
  policy.min_warm =
      min_warm != annotations.end() && absl::SimpleAtoi(min_warm->second, &parsed_min_warm)
          ? static_cast<int>(parsed_min_warm)
          : config.default_min_warm;
  policy.max_isolates = static_cast<int>(
      std::min<uint32_t>(GetU32(annotations, kMaxIsolates, config.default_max_isolates),
                         config.build.max_isolates_per_snapshot));
  policy.min_warm = std::min(policy.min_warm, policy.max_isolates);
  uint32_t heap_mib =
      std::min(GetU32(annotations, kHeap, config.default_heap_mib), config.max_heap_mib);
  policy.isolate.heap_limit_bytes = static_cast<size_t>(heap_mib) << 20;
  policy.isolate.max_array_buffer_bytes = static_cast<size_t>(heap_mib) << 20;
  // Recycle an isolate whose heap stays above three quarters of its limit after a call.
  policy.max_heap_after_call_bytes = policy.isolate.heap_limit_bytes / 4 * 3;
  return policy;
}

SnapshotLimits SnapshotLimitsFromAnnotations(const std::map<std::string, std::string>& annotations,
                                             const ServerConfig& config) {
  SnapshotLimits d;
  auto both = [&](const char* key, uint32_t server_default, uint32_t server_max,
                  uint32_t* default_out, uint32_t* max_out) {
    uint32_t snapshot = GetU32(annotations, key, 0);
    *default_out = std::min(snapshot != 0 ? snapshot : server_default, server_max);
    *max_out = snapshot != 0 ? *default_out : server_max;
  };
  both(kTimeout, config.default_timeout_ms, config.max_timeout_ms, &d.defaults.timeout_ms,
       &d.maxima.timeout_ms);
  both(kCpu, config.default_cpu_ms, config.max_cpu_ms, &d.defaults.cpu_ms, &d.maxima.cpu_ms);
  // The heap limit is the isolate's (set when it is restored), so it is also the maximum.
  d.defaults.heap_mib = d.maxima.heap_mib =
      std::min(GetU32(annotations, kHeap, config.default_heap_mib), config.max_heap_mib);
  both(kResult, config.default_max_result_bytes, config.max_result_bytes,
       &d.defaults.max_result_bytes, &d.maxima.max_result_bytes);
  return d;
}

engine::CallLimits ResolveLimits(const v1::Limits& asked, const SnapshotLimits& policy,
                                 const ServerConfig& config, absl::Duration time_left) {
  const CallLimitsPolicy& d = policy.defaults;
  const CallLimitsPolicy& m = policy.maxima;
  engine::CallLimits limits;
  limits.wall =
      std::min(absl::Milliseconds(Pick(asked.timeout_ms(), d.timeout_ms, m.timeout_ms)), time_left);
  limits.cpu = absl::Milliseconds(Pick(asked.cpu_ms(), d.cpu_ms, m.cpu_ms));
  uint32_t heap_mib = Pick(asked.heap_mib(), d.heap_mib, m.heap_mib);
  // Below the isolate's hard limit, the per-call limit is enforced after each GC.
  limits.heap_bytes = heap_mib < m.heap_mib ? static_cast<size_t>(heap_mib) << 20 : 0;
  limits.max_result_bytes = Pick(asked.max_result_bytes(), d.max_result_bytes, m.max_result_bytes);
  limits.max_log_bytes = config.max_log_bytes;
  return limits;
}

void FillExecuteResponse(const engine::CallResult& result, v1::ExecuteResponse* response) {
  response->set_result_json(result.result_json);
  for (const engine::LogLine& line : result.logs) {
    v1::LogLine* out = response->add_logs();
    out->set_message(line.message);
    switch (line.level) {
      case engine::LogLevel::kDebug:
        out->set_level(v1::LogLine::DEBUG);
        break;
      case engine::LogLevel::kInfo:
        out->set_level(v1::LogLine::INFO);
        break;
      case engine::LogLevel::kLog:
        out->set_level(v1::LogLine::LOG);
        break;
      case engine::LogLevel::kWarn:
        out->set_level(v1::LogLine::WARN);
        break;
      case engine::LogLevel::kError:
        out->set_level(v1::LogLine::ERROR);
        break;
    }
  }
  v1::ExecuteStats* stats = response->mutable_stats();
  stats->set_wall_us(absl::ToInt64Microseconds(result.stats.wall));
  stats->set_cpu_us(absl::ToInt64Microseconds(result.stats.cpu));
  stats->set_heap_before_bytes(result.stats.heap_before_bytes);
  stats->set_heap_after_bytes(result.stats.heap_after_bytes);
  stats->set_isolate_condemned(result.condemned != engine::CondemnReason::kNone);
  if (!result.error) return;
  v1::ScriptError* error = response->mutable_error();
  static const v1::ScriptError::Kind kKinds[] = {
      v1::ScriptError::SYNTAX,          v1::ScriptError::EXCEPTION,
      v1::ScriptError::TIMEOUT,         v1::ScriptError::CPU_LIMIT,
      v1::ScriptError::MEMORY_LIMIT,    v1::ScriptError::RESULT_TOO_LARGE,
      v1::ScriptError::RESULT_NOT_JSON, v1::ScriptError::PROMISE_NEVER_SETTLED,
      v1::ScriptError::TERMINATED,      v1::ScriptError::WORKER_CRASHED};
  error->set_kind(kKinds[static_cast<int>(result.error->kind)]);
  error->set_message(result.error->message);
  error->set_stack(result.error->stack);
  error->set_line(result.error->line);
  error->set_column(result.error->column);
}

v1::Snapshot ToSnapshotProto(const std::string& name, const store::SnapshotMetadata& metadata) {
  v1::Snapshot snapshot;
  snapshot.set_id(metadata.id);
  snapshot.set_name(name);
  snapshot.set_source_bytes(metadata.source_bytes);
  snapshot.set_blob_bytes(metadata.blob_bytes);
  snapshot.set_bundle_sha256(metadata.bundle_sha256);
  snapshot.set_v8_version(metadata.v8_version);
  snapshot.set_build_ms(metadata.build_ms);
  snapshot.set_created_ms(metadata.created_ms);
  snapshot.mutable_spec()->ParseFromString(metadata.spec);
  if (!name.empty()) snapshot.mutable_spec()->set_name(name);
  return snapshot;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace isopool::service
