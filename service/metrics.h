// metrics.h: isopool's Prometheus metrics, and the observers that feed them.
//
// One Metrics object per server. It implements the engine's, the pool's and the store's
// observer interfaces (GC pauses, restores, condemnations, quarantines), takes explicit records
// from the service (executions, builds), and exposes gauges that are computed when Prometheus
// scrapes (pool sizes, heap, budget, store size) through `SetGaugeSource`.
// `MakeGrpcInterceptorFactory` adds the go-grpc-prometheus families
// (grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds).
//
// Label cardinality is bounded: no snapshot ids or names in labels.
// Thread-safety: every method is thread-safe. Ownership: the server owns Metrics; it must
// outlive the gRPC server, the pool manager and the store that report to it.
#ifndef ISOPOOL_SERVICE_METRICS_H_
#define ISOPOOL_SERVICE_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/observer.h"
#include "pool/pool_manager.h"
#include "pool/pool_observer.h"
#include "store/snapshot_store.h"
#include "worker/fleet.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace isopool::service {

// Values sampled at scrape time.
struct GaugeSnapshot {
  pool::PoolStats pool;
  store::StoreStats store;
  std::vector<worker::WorkerFleet::WorkerInfo> workers;  // empty with --workers=0
  size_t worker_memory_cap_bytes = 0;
  int crash_looping = 0;
  int uploads_in_progress = 0;
};

class Metrics : public engine::EngineObserver,
                public pool::PoolObserver,
                public store::SnapshotStoreObserver,
                public worker::FleetObserver {
 public:
  Metrics();
  ~Metrics() override;

  // Serves /metrics on `address` ("host:port"; port 0 picks one). Call once.
  absl::Status Serve(const std::string& address);
  // The port /metrics listens on (after Serve).
  int port() const;
  // Closes /metrics and waits for scrapes in progress (civetweb joins its threads): after it
  // returns, the gauge source and scrape hooks are never called again, so what they read may go.
  void StopServing();

  // Called at every scrape to fill the gauges.
  void SetGaugeSource(std::function<GaugeSnapshot()> source);
  // Also called at every scrape, before collecting (e.g. StoreMetrics::Sample). Any thread.
  void AddScrapeHook(std::function<void()> hook);
  // Where other components register their families (the registry /metrics serves).
  prometheus::Registry& registry() { return *registry_; }

  // One Execute that reached the script (outcome: "ok" or an engine::ErrorKindName), or was
  // refused before it ("rejected").
  void RecordExecution(const std::string& outcome, absl::Duration duration);
  // One UploadSnapshot build: "created", "existing", "invalid" or "error".
  void RecordBuild(const std::string& result);

  // engine::EngineObserver
  void OnGcPause(engine::GcType type, absl::Duration pause) override;
  // pool::PoolObserver
  void OnRestore(absl::Duration duration, bool on_request_path) override;
  void OnAcquireWait(absl::Duration wait) override;
  void OnCondemned(engine::CondemnReason reason) override;
  void OnEviction() override;
  // worker::FleetObserver (also writes the log lines for worker deaths and crash loops)
  void OnWorkerExit(int slot, const worker::WorkerExit& exit) override;
  void OnWorkerStarted(int slot, absl::Duration took) override;
  void OnRerun() override;
  void OnUnresponsiveCall() override;
  void OnCrashLoop(const std::string& key, int deaths, absl::Duration refused_for) override;
  void OnCrashLoopRefusal() override;
  // store::SnapshotStoreObserver
  void OnQuarantine(absl::string_view id, absl::string_view reason) override;

  // The grpc_server_* families, for ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  MakeGrpcInterceptorFactory();

 private:
  struct Families;
  class Collector;
  class Interceptor;
  class InterceptorFactory;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_METRICS_H_
