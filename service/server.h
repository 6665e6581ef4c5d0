// server.h: the isopool server, the supervisor: store, worker processes (or, with --workers=0,
// the pools in this process), gRPC service (with health and reflection) and the metrics
// endpoint, started together and drained together.
//
//   auto server = Server::Start(config, argv0);
//   ...wait for SIGTERM...
//   (*server)->Drain();  // NOT_SERVING, refuse new calls, finish in-flight ones, stop
//
// Ownership: Server owns every part. Thread-safety: Start, Drain and the accessors may be called
// from any thread; Drain once.
#ifndef ISOPOOL_SERVICE_SERVER_H_
#define ISOPOOL_SERVICE_SERVER_H_

#include <grpcpp/server.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "service/config.h"
#include "service/isopool_service.h"
#include "service/metrics.h"
#include "service/snapshot_catalog.h"
#include "service/store_factory.h"
#include "service/store_metrics.h"
#include "store/shared_snapshot_store.h"
#include "worker/call_runner.h"
#include "worker/fleet.h"

namespace isopool::service {

class Server {
 public:
  // Initialises V8 (once per process), opens the store, starts listening.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config,
                                                       const std::string& argv0);
  ~Server();

  // The ports actually bound (useful with port 0).
  int port() const { return port_; }
  int metrics_port() const { return metrics_.port(); }

  // Health NOT_SERVING, new calls UNAVAILABLE, in-flight calls finish within the drain grace,
  // then the gRPC server stops. Returns true when every call finished in time.
  bool Drain();

 private:
  explicit Server(const ServerConfig& config);
  // The store's readiness (store_factory.h): the API service is NOT_SERVING until it is ready.
  void SetStoreReady(bool ready);

  const ServerConfig config_;
  Metrics metrics_;
  OpenedStore opened_store_;  // owns the store (and, shared, its metrics); outlives the rest
  store::SnapshotStore* store_ = nullptr;
  // What the store's hooks reach (a snapshot deleted on another replica); nulled before the
  // runner goes.
  std::atomic<worker::CallRunner*> hook_runner_{nullptr};
  std::atomic<SnapshotCatalog*> hook_catalog_{nullptr};
  base::Mutex health_mu_;
  bool store_ready_ ABSL_GUARDED_BY(health_mu_) = true;
  bool draining_ ABSL_GUARDED_BY(health_mu_) = false;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(health_mu_) = nullptr;
  std::unique_ptr<SnapshotCatalog> catalog_;
  // Worker processes (--workers > 0; then fleet_ points at it) or the in-process runner.
  std::unique_ptr<worker::CallRunner> runner_;
  worker::WorkerFleet* fleet_ = nullptr;
  std::unique_ptr<IsopoolService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_SERVER_H_
