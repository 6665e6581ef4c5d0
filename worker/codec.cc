#include "worker/codec.h"

#include <algorithm>
#include <string>

namespace isopool::worker {
namespace {

int64_t Us(absl::Duration d) { return absl::ToInt64Microseconds(d); }
absl::Duration FromUs(int64_t us) { return absl::Microseconds(us); }

template <typename Enum>
Enum ClampEnum(int32_t value, Enum last, Enum fallback) {
  if (value < 0 || value > static_cast<int32_t>(last)) return fallback;
  return static_cast<Enum>(value);
}

}  // namespace

int64_t EncodeTime(absl::Time time) {
  if (time == absl::InfiniteFuture()) return 0;
  return std::max<int64_t>(1, absl::ToUnixMicros(time));
}

absl::Time DecodeTime(int64_t unix_us) {
  return unix_us == 0 ? absl::InfiniteFuture() : absl::FromUnixMicros(unix_us);
}

absl::Status DecodeStatus(int32_t code, const std::string& message) {
  if (code < 0 || code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::InternalError(message);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

wire::Call EncodeCall(uint64_t id, const Call& call) {
  wire::Call m;
  m.set_id(id);
  m.set_snapshot_id(call.snapshot_id);
  m.set_function(call.request.function);
  m.set_args_json(call.request.args_json);
  m.set_source(call.request.source);
  wire::Limits* limits = m.mutable_limits();
  limits->set_wall_us(Us(call.limits.wall));
  limits->set_cpu_us(Us(call.limits.cpu));
  limits->set_heap_bytes(call.limits.heap_bytes);
  limits->set_max_result_bytes(call.limits.max_result_bytes);
  limits->set_max_log_bytes(call.limits.max_log_bytes);
  m.set_deadline_us(EncodeTime(call.deadline));
  m.set_acquire_deadline_us(EncodeTime(call.acquire_deadline));
  return m;
}

Call DecodeCall(const wire::Call& m) {
  Call call;
  call.snapshot_id = m.snapshot_id();
  call.request.function = m.function();
  call.request.args_json = m.args_json();
  call.request.source = m.source();
  call.limits.wall = FromUs(m.limits().wall_us());
  call.limits.cpu = FromUs(m.limits().cpu_us());
  call.limits.heap_bytes = m.limits().heap_bytes();
  call.limits.max_result_bytes = m.limits().max_result_bytes();
  call.limits.max_log_bytes = m.limits().max_log_bytes();
  call.deadline = DecodeTime(m.deadline_us());
  call.acquire_deadline = DecodeTime(m.acquire_deadline_us());
  return call;
}

wire::Outcome EncodeOutcome(uint64_t call_id, const CallOutcome& outcome) {
  wire::Outcome m;
  m.set_call_id(call_id);
  m.set_status_code(static_cast<int32_t>(outcome.status.code()));
  m.set_status_message(std::string(outcome.status.message()));
  const engine::CallResult& r = outcome.result;
  m.set_result_json(r.result_json);
  if (r.error) {
    wire::ScriptError* e = m.mutable_error();
    e->set_kind(static_cast<int32_t>(r.error->kind));
    e->set_message(r.error->message);
    e->set_stack(r.error->stack);
    e->set_line(r.error->line);
    e->set_column(r.error->column);
  }
  for (const engine::LogLine& line : r.logs) {
    wire::LogLine* l = m.add_logs();
    l->set_level(static_cast<int32_t>(line.level));
    l->set_message(line.message);
  }
  m.set_logs_truncated(r.logs_truncated);
  m.set_wall_us(Us(r.stats.wall));
  m.set_cpu_us(Us(r.stats.cpu));
  m.set_heap_before_bytes(r.stats.heap_before_bytes);
  m.set_heap_after_bytes(r.stats.heap_after_bytes);
  m.set_condemned(static_cast<int32_t>(r.condemned));
  m.set_queue_wait_us(Us(outcome.queue_wait));
  m.set_restore_us(Us(outcome.restore_on_path));
  m.set_warm(outcome.warm);
  m.set_capped_by_deadline(outcome.capped_by_deadline);
  return m;
}

CallOutcome DecodeOutcome(const wire::Outcome& m) {
  CallOutcome outcome;
  outcome.status = DecodeStatus(m.status_code(), m.status_message());
  engine::CallResult& r = outcome.result;
  r.result_json = m.result_json();
  if (m.has_error()) {
    engine::ScriptError error;
    error.kind = ClampEnum(m.error().kind(), engine::ErrorKind::kWorkerCrashed,
                           engine::ErrorKind::kException);
    error.message = m.error().message();
    error.stack = m.error().stack();
    error.line = m.error().line();
    error.column = m.error().column();
    r.error = std::move(error);
  }
  for (const wire::LogLine& l : m.logs()) {
    engine::LogLine line;
    line.level = ClampEnum(l.level(), engine::LogLevel::kError, engine::LogLevel::kLog);
    line.message = l.message();
    r.logs.push_back(std::move(line));
  }
  r.logs_truncated = m.logs_truncated();
  r.stats.wall = FromUs(m.wall_us());
  r.stats.cpu = FromUs(m.cpu_us());
  r.stats.heap_before_bytes = m.heap_before_bytes();
  r.stats.heap_after_bytes = m.heap_after_bytes();
  r.condemned =
      ClampEnum(m.condemned(), engine::CondemnReason::kError, engine::CondemnReason::kError);
  outcome.queue_wait = FromUs(m.queue_wait_us());
  outcome.restore_on_path = FromUs(m.restore_us());
  outcome.warm = m.warm();
  outcome.capped_by_deadline = m.capped_by_deadline();
  return outcome;
}

wire::PoolPolicy EncodePoolPolicy(const pool::PoolPolicy& p) {
  wire::PoolPolicy m;
  m.set_isolation(static_cast<int32_t>(p.isolation));
  m.set_min_warm(p.min_warm);
  m.set_max_isolates(p.max_isolates);
  m.set_max_queue(p.max_queue);
  m.set_idle_release_us(Us(p.idle_release));
  m.mutable_isolate()->set_heap_limit_bytes(p.isolate.heap_limit_bytes);
  m.mutable_isolate()->set_max_array_buffer_bytes(p.isolate.max_array_buffer_bytes);
  m.mutable_isolate()->set_stack_bytes(p.isolate.stack_bytes);
  m.set_max_uses(p.max_uses);
  m.set_max_heap_after_call_bytes(p.max_heap_after_call_bytes);
  m.set_max_age_us(Us(p.max_age));
  return m;
}

pool::PoolPolicy DecodePoolPolicy(const wire::PoolPolicy& m) {
  pool::PoolPolicy p;
  p.isolation =
      ClampEnum(m.isolation(), pool::IsolationMode::kShared, pool::IsolationMode::kContext);
  p.min_warm = m.min_warm();
  p.max_isolates = m.max_isolates();
  p.max_queue = m.max_queue();
  p.idle_release = FromUs(m.idle_release_us());
  p.isolate.heap_limit_bytes = m.isolate().heap_limit_bytes();
  p.isolate.max_array_buffer_bytes = m.isolate().max_array_buffer_bytes();
  p.isolate.stack_bytes = m.isolate().stack_bytes();
  p.max_uses = m.max_uses();
  p.max_heap_after_call_bytes = m.max_heap_after_call_bytes();
  p.max_age = FromUs(m.max_age_us());
  return p;
}

wire::GlobalPolicy EncodeGlobalPolicy(const pool::GlobalPolicy& p) {
  wire::GlobalPolicy m;
  m.set_max_isolates(p.max_isolates);
  m.set_memory_budget_bytes(p.memory_budget_bytes);
  m.set_per_isolate_overhead_bytes(p.per_isolate_overhead_bytes);
  m.set_restore_threads(p.restore_threads);
  m.set_maintenance_interval_us(Us(p.maintenance_interval));
  m.set_idle_gc_budget_us(Us(p.idle_gc_budget));
  m.set_prepare_context_inline(p.prepare_context_inline);
  return m;
}

pool::GlobalPolicy DecodeGlobalPolicy(const wire::GlobalPolicy& m) {
  pool::GlobalPolicy p;
  p.max_isolates = m.max_isolates();
  p.memory_budget_bytes = m.memory_budget_bytes();
  p.per_isolate_overhead_bytes = m.per_isolate_overhead_bytes();
  p.restore_threads = m.restore_threads();
  p.maintenance_interval = FromUs(m.maintenance_interval_us());
  p.idle_gc_budget = FromUs(m.idle_gc_budget_us());
  p.prepare_context_inline = m.prepare_context_inline();
  return p;
}

wire::PoolStats EncodePoolStats(const pool::PoolStats& s) {
  wire::PoolStats m;
  m.set_pools(s.pools);
  m.set_warm(s.warm);
  m.set_busy(s.busy);
  m.set_restoring(s.restoring);
  m.set_waiting(s.waiting);
  m.set_heap_used_bytes(s.heap_used_bytes);
  m.set_heap_limit_bytes(s.heap_limit_bytes);
  m.set_memory_used_bytes(s.memory_used_bytes);
  m.set_memory_budget_bytes(s.memory_budget_bytes);
  return m;
}

pool::PoolStats DecodePoolStats(const wire::PoolStats& m) {
  pool::PoolStats s;
  s.pools = m.pools();
  s.warm = m.warm();
  s.busy = m.busy();
  s.restoring = m.restoring();
  s.waiting = m.waiting();
  s.heap_used_bytes = m.heap_used_bytes();
  s.heap_limit_bytes = m.heap_limit_bytes();
  s.memory_used_bytes = m.memory_used_bytes();
  s.memory_budget_bytes = m.memory_budget_bytes();
  return s;
}

}  // namespace isopool::worker
