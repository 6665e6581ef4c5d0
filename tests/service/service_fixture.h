// ServiceTest: the isopool.v1.Isopool service (service/isopool_service.h) on real parts, without
// the server binary: the filesystem store (through the server's own OpenSnapshotStore) in a fresh
// directory under TEST_TMPDIR, the in-process CallRunner (real V8 isolates in this process), the
// real isopool_pack child, and Metrics.
//
// Two ways to call it:
// - Start(): served by an in-process gRPC server (BuildAndStart without a port) and called
//   through its InProcessChannel (stub_), so every request goes through gRPC's callback API as in
//   production. Debian's gRPC is not built with ThreadSanitizer, so such tests are tagged no_tsan.
// - StartService() and Direct*(): the unary handlers called on the test's own threads through
//   grpc::testing::DefaultReactorTestPeer, with no gRPC thread involved, so ThreadSanitizer sees
//   every synchronisation. Snapshots are then put in the store with PutSnapshot (UploadSnapshot
//   is a streaming call and needs gRPC).
//
// A test may change config_ before starting. Everything is torn down in TearDown.
// Thread-safety: the fixture's methods are for the test's thread; the stub is thread-safe.
#ifndef ISOPOOL_TESTS_SERVICE_SERVICE_FIXTURE_H_
#define ISOPOOL_TESTS_SERVICE_SERVICE_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/pack_process.h"
#include "gtest/gtest.h"
#include "isopool/v1/isopool.grpc.pb.h"
#include "service/config.h"
#include "service/isopool_service.h"
#include "service/metrics.h"
#include "service/snapshot_catalog.h"
#include "service/store_factory.h"
#include "service/store_metrics.h"  // OpenedStore owns one
#include "worker/in_process_runner.h"

namespace isopool::service::testing {

// A classic-script bundle: add(a, b) logs and adds; spin() never returns.
inline constexpr char kCalcBundle[] = R"js(
function add(a, b) { console.log('adding', a, b); return a + b; }
function spin() { for (;;) {} }
)js";

class ServiceTest : public ::testing::Test {
 protected:
  // V8, once per test process (the hash seed is the one the pack child gets too).
  static void SetUpTestSuite();

  // Builds the store, catalog, runner and service from config_.
  void StartService();
  // StartService(), then the in-process gRPC server and stub_.
  void Start();
  void TearDown() override;

  // A spec named `name` for kCalcBundle (a classic script).
  static v1::SnapshotSpec Spec(const std::string& name);
  // Sends `messages` as one UploadSnapshot stream.
  grpc::Status UploadMessages(const std::vector<v1::UploadSnapshotRequest>& messages,
                              v1::UploadSnapshotResponse* response);
  // The spec, then `bundle` in two chunks.
  grpc::Status Upload(const v1::SnapshotSpec& spec, const std::string& bundle,
                      v1::UploadSnapshotResponse* response);
  // Uploads kCalcBundle as `name`; fails the test unless it succeeds. Returns the id.
  std::string UploadCalc(const std::string& name);
  grpc::Status Execute(const v1::ExecuteRequest& request, v1::ExecuteResponse* response,
                       absl::Duration deadline = absl::Seconds(30));

  // Packs `bundle` under `spec` as the service would (no prewarm) and stores it; the id.
  std::string PutSnapshot(const v1::SnapshotSpec& spec, const std::string& bundle);
  // The unary handlers, called directly on this thread; each waits for the handler's Finish
  // (which may come from a runner thread).
  grpc::Status DirectExecute(const v1::ExecuteRequest& request, v1::ExecuteResponse* response);
  grpc::Status DirectGet(const std::string& snapshot, v1::Snapshot* response);
  grpc::Status DirectList(uint32_t page_size, const std::string& page_token,
                          v1::ListSnapshotsResponse* response);
  grpc::Status DirectDelete(const std::string& snapshot, v1::DeleteSnapshotResponse* response);

  // The value of a counter of metrics_'s registry with one label, or 0 when it has no such
  // series yet.
  double Counter(const std::string& family, const std::string& label, const std::string& value);
  // Waits until Counter(...) reaches `at_least`, at most `timeout`; true when it did.
  bool WaitForCounter(const std::string& family, const std::string& label, const std::string& value,
                      double at_least, absl::Duration timeout);

  ServerConfig config_;
  Metrics metrics_;
  OpenedStore store_;
  std::unique_ptr<SnapshotCatalog> catalog_;
  std::unique_ptr<worker::InProcessRunner> runner_;
  std::unique_ptr<IsopoolService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Isopool::Stub> stub_;
  engine::PackProcessOptions pack_;
};

}  // namespace isopool::service::testing

#endif  // ISOPOOL_TESTS_SERVICE_SERVICE_FIXTURE_H_
