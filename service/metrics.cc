#include "service/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/mutex.h"
#include "base/text_format.h"
#include "service/log.h"

namespace isopool::service {
namespace {

using prometheus::Histogram;

const Histogram::BucketBoundaries kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                     1,      2.5,     5,      10,    30};
const Histogram::BucketBoundaries kGcBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

struct Metrics::Families {
  explicit Families(prometheus::Registry& r)
      : executions(prometheus::BuildCounter()
                       .Name("isopool_executions_total")
                       .Help("Execute calls by outcome: ok, a script error kind, or rejected")
                       .Register(r)),
        execute_duration(prometheus::BuildHistogram()
                             .Name("isopool_execute_duration_seconds")
                             .Help("Execute handling time, from request to response, by outcome")
                             .Register(r)),
        queue_wait(prometheus::BuildHistogram()
                       .Name("isopool_queue_wait_seconds")
                       .Help("Time Execute calls waited for an isolate")
                       .Register(r)
                       .Add({}, kLatencyBuckets)),
        pool_isolates(prometheus::BuildGauge()
                          .Name("isopool_pool_isolates")
                          .Help("Isolates by state, across all snapshot pools")
                          .Register(r)),
        calls_waiting(prometheus::BuildGauge()
                          .Name("isopool_calls_waiting")
                          .Help("Execute calls waiting for a worker or an isolate (the queue)")
                          .Register(r)
                          .Add({})),
        uploads_in_progress(prometheus::BuildGauge()
                                .Name("isopool_uploads_in_progress")
                                .Help("UploadSnapshot calls accepted and not yet answered")
                                .Register(r)
                                .Add({})),
        restore_duration(prometheus::BuildHistogram()
                             .Name("isopool_isolate_restore_duration_seconds")
                             .Help("Time to restore one isolate from its snapshot")
                             .Register(r)),
        condemned(prometheus::BuildCounter()
                      .Name("isopool_isolates_condemned_total")
                      .Help("Isolates condemned (disposed, never reused), by reason")
                      .Register(r)),
        evictions(prometheus::BuildCounter()
                      .Name("isopool_pool_evictions_total")
                      .Help("Idle snapshot pools evicted to stay within the memory budget")
                      .Register(r)
                      .Add({})),
        memory_budget(prometheus::BuildGauge()
                          .Name("isopool_memory_budget_bytes")
                          .Help("The memory budget for all isolates")
                          .Register(r)
                          .Add({})),
        memory_used(prometheus::BuildGauge()
                        .Name("isopool_memory_used_bytes")
                        .Help("Memory accounted against the budget: V8 heaps plus overhead")
                        .Register(r)
                        .Add({})),
        heap_used(prometheus::BuildGauge()
                      .Name("isopool_heap_used_bytes")
                      .Help("V8 heap used, summed over live isolates")
                      .Register(r)
                      .Add({})),
        heap_limit(prometheus::BuildGauge()
                       .Name("isopool_heap_limit_bytes")
                       .Help("V8 heap limits, summed over live isolates")
                       .Register(r)
                       .Add({})),
        gc_pause(prometheus::BuildHistogram()
                     .Name("isopool_gc_pause_seconds")
                     .Help("Garbage-collection pauses of isolates, by type")
                     .Register(r)),
        snapshots(prometheus::BuildGauge()
                      .Name("isopool_snapshots")
                      .Help("Snapshots in the store")
                      .Register(r)
                      .Add({})),
        store_bytes(prometheus::BuildGauge()
                        .Name("isopool_snapshot_store_bytes")
                        .Help("Bytes of envelopes in the store")
                        .Register(r)
                        .Add({})),
        quarantined(prometheus::BuildCounter()
                        .Name("isopool_snapshot_quarantined_total")
                        .Help("Snapshots found corrupted and quarantined")
                        .Register(r)
                        .Add({})),
        builds(prometheus::BuildCounter()
                   .Name("isopool_snapshot_builds_total")
                   .Help("UploadSnapshot builds by result: created, existing, invalid, error")
                   .Register(r)),
        worker_restarts(prometheus::BuildCounter()
                            .Name("isopool_worker_restarts_total")
                            .Help("Worker processes that died and were replaced, by reason")
                            .Register(r)),
        worker_rss(prometheus::BuildGauge()
                       .Name("isopool_worker_resident_bytes")
                       .Help("Resident memory of each worker process (label: its slot)")
                       .Register(r)),
        worker_cap(prometheus::BuildGauge()
                       .Name("isopool_worker_memory_cap_bytes")
                       .Help("The RSS cap of one worker process; above it the worker is killed")
                       .Register(r)
                       .Add({})),
        workers_up(prometheus::BuildGauge()
                       .Name("isopool_workers")
                       .Help("Worker processes by state: up, down (being respawned)")
                       .Register(r)),
        worker_start(prometheus::BuildHistogram()
                         .Name("isopool_worker_start_seconds")
                         .Help("Time to start a worker process until it is ready (V8 up, locked "
                               "down, blank pool warm)")
                         .Register(r)
                         .Add({}, kLatencyBuckets)),
        reruns(prometheus::BuildCounter()
                   .Name("isopool_calls_rerun_total")
                   .Help("Calls run again because the worker running them died under them")
                   .Register(r)
                   .Add({})),
        unresponsive(prometheus::BuildCounter()
                         .Name("isopool_calls_unresponsive_total")
                         .Help("Calls answered as unresponsive (they ignored termination); "
                               "their worker was killed")
                         .Register(r)
                         .Add({})),
        crash_loops(prometheus::BuildCounter()
                        .Name("isopool_crash_loops_total")
                        .Help("Times a snapshot (or inline source) was put in crash-loop backoff")
                        .Register(r)
                        .Add({})),
        crash_loop_refusals(prometheus::BuildCounter()
                                .Name("isopool_crash_loop_refusals_total")
                                .Help("Calls refused because their snapshot is in crash-loop "
                                      "backoff")
                                .Register(r)
                                .Add({})),
        crash_looping(prometheus::BuildGauge()
                          .Name("isopool_crash_looping_snapshots")
                          .Help("Snapshots (or inline sources) in crash-loop backoff now")
                          .Register(r)
                          .Add({})),
        grpc_started(prometheus::BuildCounter()
                         .Name("grpc_server_started_total")
                         .Help("RPCs started on the server")
                         .Register(r)),
        grpc_handled(prometheus::BuildCounter()
                         .Name("grpc_server_handled_total")
                         .Help("RPCs completed on the server, by code")
                         .Register(r)),
        grpc_handling(prometheus::BuildHistogram()
                          .Name("grpc_server_handling_seconds")
                          .Help("RPC handling time on the server")
                          .Register(r)) {
    for (const char* state : {"warm", "busy", "restoring"}) {
      pool_isolates.Add({{"state", state}});
    }
    for (bool on_path : {false, true}) {
      restore_duration.Add({{"path", on_path ? "request" : "background"}}, kLatencyBuckets);
    }
    for (engine::GcType type :
         {engine::GcType::kScavenge, engine::GcType::kMarkSweepCompact,
          engine::GcType::kIncrementalMarking, engine::GcType::kWeakProcessing}) {
      gc_pause.Add({{"type", engine::GcTypeName(type)}}, kGcBuckets);
    }
    for (worker::ExitReason reason :
         {worker::ExitReason::kOutOfMemory, worker::ExitReason::kCrash,
          worker::ExitReason::kMemoryCap, worker::ExitReason::kUnresponsive,
          worker::ExitReason::kKilled, worker::ExitReason::kExited}) {
      worker_restarts.Add({{"reason", worker::ExitReasonName(reason)}});
    }
    for (const char* state : {"up", "down"}) workers_up.Add({{"state", state}});
  }

  prometheus::Family<prometheus::Counter>& executions;
  prometheus::Family<prometheus::Histogram>& execute_duration;
  prometheus::Histogram& queue_wait;
  prometheus::Family<prometheus::Gauge>& pool_isolates;
  prometheus::Gauge& calls_waiting;
  prometheus::Gauge& uploads_in_progress;
  prometheus::Family<prometheus::Histogram>& restore_duration;
  prometheus::Family<prometheus::Counter>& condemned;
  prometheus::Counter& evictions;
  prometheus::Gauge& memory_budget;
  prometheus::Gauge& memory_used;
  prometheus::Gauge& heap_used;
  prometheus::Gauge& heap_limit;
  prometheus::Family<prometheus::Histogram>& gc_pause;
  prometheus::Gauge& snapshots;
  prometheus::Gauge& store_bytes;
  prometheus::Counter& quarantined;
  prometheus::Family<prometheus::Counter>& builds;
  prometheus::Family<prometheus::Counter>& worker_restarts;
  prometheus::Family<prometheus::Gauge>& worker_rss;
  prometheus::Gauge& worker_cap;
  prometheus::Family<prometheus::Gauge>& workers_up;
  prometheus::Histogram& worker_start;
  prometheus::Counter& reruns;
  prometheus::Counter& unresponsive;
  prometheus::Counter& crash_loops;
  prometheus::Counter& crash_loop_refusals;
  prometheus::Gauge& crash_looping;
  prometheus::Family<prometheus::Counter>& grpc_started;
  prometheus::Family<prometheus::Counter>& grpc_handled;
  prometheus::Family<prometheus::Histogram>& grpc_handling;
};

// Refreshes the sampled gauges, then collects the registry: what /metrics serves.
class Metrics::Collector : public prometheus::Collectable {
 public:
  explicit Collector(Metrics& metrics) : metrics_(metrics) {}
  void SetSource(std::function<GaugeSnapshot()> source) {
    base::MutexLock lock(&mu_);
    source_ = std::move(source);
  }
  void AddHook(std::function<void()> hook) {
    base::MutexLock lock(&mu_);
    hooks_.push_back(std::move(hook));
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::function<GaugeSnapshot()> source;
    std::vector<std::function<void()>> hooks;
    {
      base::MutexLock lock(&mu_);
      source = source_;
      hooks = hooks_;
    }
    for (const auto& hook : hooks) hook();
    if (source) {
      GaugeSnapshot g = source();
      Families& f = *metrics_.families_;
      f.pool_isolates.Add({{"state", "warm"}}).Set(g.pool.warm);
      f.pool_isolates.Add({{"state", "busy"}}).Set(g.pool.busy);
      f.pool_isolates.Add({{"state", "restoring"}}).Set(g.pool.restoring);
      f.calls_waiting.Set(g.pool.waiting);
      f.uploads_in_progress.Set(g.uploads_in_progress);
      f.memory_budget.Set(static_cast<double>(g.pool.memory_budget_bytes));
      f.memory_used.Set(static_cast<double>(g.pool.memory_used_bytes));
      f.heap_used.Set(static_cast<double>(g.pool.heap_used_bytes));
      f.heap_limit.Set(static_cast<double>(g.pool.heap_limit_bytes));
      f.snapshots.Set(static_cast<double>(g.store.snapshot_count));
      f.store_bytes.Set(static_cast<double>(g.store.total_bytes));
      int up = 0;
      for (const worker::WorkerFleet::WorkerInfo& w : g.workers) {
        up += w.up ? 1 : 0;
        f.worker_rss.Add({{"worker", std::to_string(w.slot)}})
            .Set(static_cast<double>(w.resident_bytes));
      }
      f.workers_up.Add({{"state", "up"}}).Set(up);
      f.workers_up.Add({{"state", "down"}}).Set(static_cast<double>(g.workers.size()) - up);
      f.worker_cap.Set(static_cast<double>(g.worker_memory_cap_bytes));
      f.crash_looping.Set(g.crash_looping);
    }
    return metrics_.registry_->Collect();
  }

 private:
  Metrics& metrics_;
  mutable base::Mutex mu_;
  std::function<GaugeSnapshot()> source_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> hooks_ ABSL_GUARDED_BY(mu_);
};

class Metrics::Interceptor : public grpc::experimental::Interceptor {
 public:
  Interceptor(Families& families, const char* full_method) : families_(families) {
    // "/isopool.v1.Isopool/Execute" -> service, method.
    std::vector<std::string> parts = absl::StrSplit(full_method ? full_method : "", '/');
    service_ = parts.size() == 3 ? parts[1] : "unknown";
    method_ = parts.size() == 3 ? parts[2] : "unknown";
    families_.grpc_started.Add({{"grpc_service", service_}, {"grpc_method", method_}}).Increment();
  }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      families_.grpc_handled
          .Add({{"grpc_service", service_},
                {"grpc_method", method_},
                {"grpc_code", base::StatusCodeName(status.error_code())}})
          .Increment();
      families_.grpc_handling
          .Add({{"grpc_service", service_}, {"grpc_method", method_}}, kLatencyBuckets)
          .Observe(Seconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  Families& families_;
  std::string service_;
  std::string method_;
  absl::Time start_ = absl::Now();
};

class Metrics::InterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(Families& families) : families_(families) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new Interceptor(families_, info->method());
  }

 private:
  Families& families_;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      families_(std::make_unique<Families>(*registry_)),
      collector_(std::make_shared<Collector>(*this)) {}

Metrics::~Metrics() = default;

void Metrics::StopServing() { exposer_.reset(); }

absl::Status Metrics::Serve(const std::string& address) {
  try {  // prometheus-cpp (civetweb) reports a busy port by throwing
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(collector_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (exposer_ == nullptr) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

void Metrics::SetGaugeSource(std::function<GaugeSnapshot()> source) {
  collector_->SetSource(std::move(source));
}

void Metrics::AddScrapeHook(std::function<void()> hook) { collector_->AddHook(std::move(hook)); }

void Metrics::RecordExecution(const std::string& outcome, absl::Duration duration) {
  families_->executions.Add({{"outcome", outcome}}).Increment();
  families_->execute_duration.Add({{"outcome", outcome}}, kLatencyBuckets)
      .Observe(Seconds(duration));
}

void Metrics::RecordBuild(const std::string& result) {
  families_->builds.Add({{"result", result}}).Increment();
}

void Metrics::OnGcPause(engine::GcType type, absl::Duration pause) {
  families_->gc_pause.Add({{"type", engine::GcTypeName(type)}}, kGcBuckets).Observe(Seconds(pause));
}

void Metrics::OnRestore(absl::Duration duration, bool on_request_path) {
  families_->restore_duration
      .Add({{"path", on_request_path ? "request" : "background"}}, kLatencyBuckets)
      .Observe(Seconds(duration));
}

void Metrics::OnAcquireWait(absl::Duration wait) { families_->queue_wait.Observe(Seconds(wait)); }

void Metrics::OnCondemned(engine::CondemnReason reason) {
  families_->condemned.Add({{"reason", engine::CondemnReasonName(reason)}}).Increment();
  if (reason != engine::CondemnReason::kMaxUses && reason != engine::CondemnReason::kMaxAge) {
    Log(LogLevel::kInfo, "condemned", {{"reason", engine::CondemnReasonName(reason)}});
  }
}

void Metrics::OnWorkerExit(int slot, const worker::WorkerExit& exit) {
  families_->worker_restarts.Add({{"reason", worker::ExitReasonName(exit.reason)}}).Increment();
  Log(LogLevel::kWarn, "worker_exit",
      {{"worker", slot},
       {"reason", worker::ExitReasonName(exit.reason)},
       {"signal", exit.signal},
       {"exit_code", exit.exit_code},
       {"resident_mib_at_kill", static_cast<uint64_t>(exit.resident_bytes >> 20)},
       {"culprit_known", exit.culprit != 0}});
}

void Metrics::OnWorkerStarted(int slot, absl::Duration took) {
  families_->worker_start.Observe(Seconds(took));
  Log(LogLevel::kInfo, "worker_start",
      {{"worker", slot}, {"spare", slot < 0}, {"ms", absl::ToDoubleMilliseconds(took)}});
}

void Metrics::OnRerun() { families_->reruns.Increment(); }

void Metrics::OnUnresponsiveCall() { families_->unresponsive.Increment(); }

void Metrics::OnCrashLoop(const std::string& key, int deaths, absl::Duration refused_for) {
  families_->crash_loops.Increment();
  Log(LogLevel::kError, "crash_loop",
      {{"snapshot", key},
       {"worker_deaths", deaths},
       {"refused_s", absl::ToInt64Seconds(refused_for)},
       {"detail", "its calls keep killing worker processes; refusing them for a while"}});
}

void Metrics::OnCrashLoopRefusal() { families_->crash_loop_refusals.Increment(); }

void Metrics::OnEviction() { families_->evictions.Increment(); }

void Metrics::OnQuarantine(absl::string_view id, absl::string_view reason) {
  families_->quarantined.Increment();
  Log(LogLevel::kError, "quarantine", {{"id", id}, {"reason", reason}});
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::MakeGrpcInterceptorFactory() {
  return std::make_unique<InterceptorFactory>(*families_);
}

}  // namespace isopool::service
