// isopool_service.h: the isopool.v1.Isopool gRPC service (callback API).
//
// Execute resolves the snapshot and its limits, hands the call to the CallRunner (worker
// processes, or in-process with --workers=0) and answers when the runner reports the outcome;
// no JavaScript ever runs on gRPC's callback threads. UploadSnapshot streams the bundle in, then
// builds it in the isopool_pack child process on the build executor, stores it, and optionally
// prewarms. Get/List/Delete are store operations answered inline.
//
// What blocks a callback thread: store calls. Get/List/Delete, and Execute's store.Resolve and
// catalog.Limits (whose first call for an id reads and verifies the envelope; later ones are a
// map lookup), run on gRPC's callback thread. With the filesystem store that is local file I/O.
// With the shared store it is PostgreSQL (each query bounded by operation_timeout, 10 s by
// default) and, for an envelope missing from the local blob cache, an S3 GET (transfer_timeout,
// 60 s; once more if the bytes fail verification); a dependency already known to be down
// answers UNAVAILABLE at once. So a slow database or bucket can hold a callback thread for up to
// those bounds (Execute's own deadline does not cut them); moving these calls to an executor
// would lift that.
//
// Draining (SIGTERM): after StartDraining, new Execute and UploadSnapshot calls get UNAVAILABLE
// while calls already accepted finish; WaitIdle waits for them.
//
// Ownership: the server owns this service and everything it references, which must outlive
// it. Thread-safety: gRPC calls the handlers from any thread; all state is synchronised.
#ifndef ISOPOOL_SERVICE_ISOPOOL_SERVICE_H_
#define ISOPOOL_SERVICE_ISOPOOL_SERVICE_H_

#include <atomic>

#include "base/mutex.h"
#include "engine/pack_process.h"
#include "isopool/v1/isopool.grpc.pb.h"
#include "service/config.h"
#include "service/metrics.h"
#include "service/snapshot_catalog.h"
#include "store/snapshot_store.h"
#include "worker/call_runner.h"
#include "worker/executor.h"

namespace isopool::service {

class IsopoolService final : public v1::Isopool::CallbackService {
 public:
  IsopoolService(const ServerConfig& config, store::SnapshotStore& store, SnapshotCatalog& catalog,
                 worker::CallRunner& runner, Metrics& metrics,
                 const engine::PackProcessOptions& pack_process);
  ~IsopoolService() override;

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const v1::ExecuteRequest* request,
                                    v1::ExecuteResponse* response) override;
  grpc::ServerReadReactor<v1::UploadSnapshotRequest>* UploadSnapshot(
      grpc::CallbackServerContext* context, v1::UploadSnapshotResponse* response) override;
  grpc::ServerUnaryReactor* GetSnapshot(grpc::CallbackServerContext* context,
                                        const v1::GetSnapshotRequest* request,
                                        v1::Snapshot* response) override;
  grpc::ServerUnaryReactor* ListSnapshots(grpc::CallbackServerContext* context,
                                          const v1::ListSnapshotsRequest* request,
                                          v1::ListSnapshotsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSnapshot(grpc::CallbackServerContext* context,
                                           const v1::DeleteSnapshotRequest* request,
                                           v1::DeleteSnapshotResponse* response) override;

  // Refuse new Execute/UploadSnapshot calls with UNAVAILABLE from now on.
  void StartDraining();
  // Waits until no accepted call is in flight, or `deadline`; true when idle.
  bool WaitIdle(absl::Time deadline);
  // UploadSnapshot calls holding an upload slot now (a refused one holds it for an instant).
  int uploads_in_progress() const { return uploads_.load(); }

 private:
  class UploadReactor;
  // Counts an accepted call for the drain; false when draining (the call must be refused).
  bool BeginCall();
  void EndCall();
  // Maps a call's outcome to the response, the metrics and the drain count.
  void Answer(worker::CallOutcome outcome, const std::string& snapshot_id, const std::string& name,
              absl::Time received, grpc::ServerUnaryReactor* reactor,
              v1::ExecuteResponse* response);
  // Builds, stores and (maybe) prewarms one upload; the result for UploadSnapshot.
  grpc::Status BuildSnapshot(const v1::SnapshotSpec& spec, const std::string& bundle,
                             v1::UploadSnapshotResponse* response);

  const ServerConfig& config_;
  store::SnapshotStore& store_;
  SnapshotCatalog& catalog_;
  worker::CallRunner& runner_;
  Metrics& metrics_;
  const engine::PackProcessOptions pack_process_;
  worker::Executor build_executor_;
  std::atomic<int> uploads_{0};

  base::Mutex mu_;
  base::CondVar idle_;  // signalled when in_flight_ drops to 0
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_ISOPOOL_SERVICE_H_
