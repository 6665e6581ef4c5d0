#include "tests/service/service_fixture.h"

#include <grpcpp/server_builder.h>
#include <grpcpp/test/default_reactor_test_peer.h>
#include <prometheus/registry.h>

#include <cstdlib>
#include <thread>

#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "base/mutex.h"
#include "base/sibling_binary.h"
#include "engine/runtime.h"
#include "service/spec.h"
#include "service/translate.h"

namespace isopool::service::testing {
namespace {

constexpr uint64_t kHashSeed = 0x5e57ce;

// A fresh directory for this test's store.
std::string DataDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", test->test_suite_name(), ".",
                      test->name());
}

}  // namespace

void ServiceTest::SetUpTestSuite() {
  engine::RuntimeOptions runtime;
  runtime.hash_seed = kHashSeed;
  runtime.platform_threads = 2;
  absl::Status status = engine::InitializeRuntime(runtime);
  ASSERT_TRUE(status.ok()) << status;
}

void ServiceTest::StartService() {
  config_.data_dir = DataDir();
  config_.execute_threads = 2;
  StoreHooks hooks;
  hooks.observer = &metrics_;
  absl::StatusOr<OpenedStore> opened = OpenSnapshotStore(config_.data_dir, config_.store, hooks);
  ASSERT_TRUE(opened.ok()) << opened.status();
  store_ = *std::move(opened);
  catalog_ = std::make_unique<SnapshotCatalog>(*store_.store, config_);

  worker::CallHost::Options host;
  host.global = config_.global;
  host.blank_policy = PolicyFromAnnotations({}, config_);
  host.watchdog.unresponsive_grace = config_.unresponsive_grace;
  runner_ = std::make_unique<worker::InProcessRunner>(*catalog_, host, config_.execute_threads,
                                                      config_.max_pending_calls, metrics_, metrics_,
                                                      metrics_);
  absl::Status prewarmed = runner_->Prewarm("", absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(prewarmed.ok()) << prewarmed;

  pack_.binary = base::FindSiblingBinary("isopool_pack", "engine/isopool_pack");
  pack_.v8_flags = config_.build.v8_flags;
  pack_.hash_seed = kHashSeed;
  service_ = std::make_unique<IsopoolService>(config_, *store_.store, *catalog_, *runner_, metrics_,
                                              pack_);
}

void ServiceTest::Start() {
  StartService();
  if (HasFatalFailure()) return;
  grpc::ServerBuilder builder;
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  stub_ = v1::Isopool::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
}

void ServiceTest::TearDown() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  service_.reset();
  runner_.reset();
  catalog_.reset();
  store_ = OpenedStore();
}

v1::SnapshotSpec ServiceTest::Spec(const std::string& name) {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  spec.set_kind(v1::CLASSIC_SCRIPT);
  return spec;
}

grpc::Status ServiceTest::UploadMessages(const std::vector<v1::UploadSnapshotRequest>& messages,
                                         v1::UploadSnapshotResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  std::unique_ptr<grpc::ClientWriter<v1::UploadSnapshotRequest>> writer =
      stub_->UploadSnapshot(&context, response);
  for (const v1::UploadSnapshotRequest& message : messages) {
    if (!writer->Write(message)) break;  // the server answered early; Finish says why
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status ServiceTest::Upload(const v1::SnapshotSpec& spec, const std::string& bundle,
                                 v1::UploadSnapshotResponse* response) {
  std::vector<v1::UploadSnapshotRequest> messages(3);
  *messages[0].mutable_spec() = spec;
  messages[1].set_chunk(bundle.substr(0, bundle.size() / 2));
  messages[2].set_chunk(bundle.substr(bundle.size() / 2));
  return UploadMessages(messages, response);
}

std::string ServiceTest::UploadCalc(const std::string& name) {
  v1::UploadSnapshotResponse response;
  grpc::Status status = Upload(Spec(name), kCalcBundle, &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  return response.snapshot().id();
}

grpc::Status ServiceTest::Execute(const v1::ExecuteRequest& request, v1::ExecuteResponse* response,
                                  absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return stub_->Execute(&context, request, response);
}

std::string ServiceTest::PutSnapshot(const v1::SnapshotSpec& spec, const std::string& bundle) {
  engine::PackOptions options;
  absl::Status status = SpecToPackOptions(spec, config_.build, &options);
  EXPECT_TRUE(status.ok()) << status;
  absl::StatusOr<std::string> envelope = engine::PackInChildProcess(pack_, bundle, options);
  EXPECT_TRUE(envelope.ok()) << envelope.status();
  if (!envelope.ok()) return "";
  store::SnapshotMetadata metadata;
  metadata.source_bytes = bundle.size();
  absl::StatusOr<store::PutResult> put = store_.store->PutAndName(spec.name(), *envelope, metadata);
  EXPECT_TRUE(put.ok()) << put.status();
  return put.ok() ? put->id : "";
}

namespace {

// Calls one unary handler as gRPC would, on this thread, and waits for its Finish.
template <typename Handler>
grpc::Status CallDirectly(Handler handler) {
  base::Mutex mu;
  base::CondVar finished;
  absl::optional<grpc::Status> status;
  grpc::CallbackServerContext context;
  grpc::testing::DefaultReactorTestPeer peer(&context, [&](grpc::Status s) {
    base::MutexLock lock(&mu);
    status = std::move(s);
    finished.SignalAll();
  });
  handler(&context);
  {
    base::MutexLock lock(&mu);
    while (!status) finished.Wait(&mu);
  }
  // The test reactor marks itself finished after our callback returns: the context must live
  // until then.
  while (!peer.test_status_set()) std::this_thread::yield();
  return *status;
}

}  // namespace

grpc::Status ServiceTest::DirectExecute(const v1::ExecuteRequest& request,
                                        v1::ExecuteResponse* response) {
  return CallDirectly([&](grpc::CallbackServerContext* context) {
    service_->Execute(context, &request, response);
  });
}

grpc::Status ServiceTest::DirectGet(const std::string& snapshot, v1::Snapshot* response) {
  v1::GetSnapshotRequest request;
  request.set_snapshot(snapshot);
  return CallDirectly([&](grpc::CallbackServerContext* context) {
    service_->GetSnapshot(context, &request, response);
  });
}

grpc::Status ServiceTest::DirectList(uint32_t page_size, const std::string& page_token,
                                     v1::ListSnapshotsResponse* response) {
  v1::ListSnapshotsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return CallDirectly([&](grpc::CallbackServerContext* context) {
    service_->ListSnapshots(context, &request, response);
  });
}

grpc::Status ServiceTest::DirectDelete(const std::string& snapshot,
                                       v1::DeleteSnapshotResponse* response) {
  v1::DeleteSnapshotRequest request;
  request.set_snapshot(snapshot);
  return CallDirectly([&](grpc::CallbackServerContext* context) {
    service_->DeleteSnapshot(context, &request, response);
  });
}

double ServiceTest::Counter(const std::string& family, const std::string& label,
                            const std::string& value) {
  for (const prometheus::MetricFamily& f : metrics_.registry().Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& metric : f.metric) {
      for (const prometheus::ClientMetric::Label& l : metric.label) {
        if (l.name == label && l.value == value) return metric.counter.value;
      }
    }
  }
  return 0;
}

bool ServiceTest::WaitForCounter(const std::string& family, const std::string& label,
                                 const std::string& value, double at_least,
                                 absl::Duration timeout) {
  absl::Time give_up = absl::Now() + timeout;
  while (Counter(family, label, value) < at_least) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));  // polling an observable value, not staging
  }
  return true;
}

}  // namespace isopool::service::testing
