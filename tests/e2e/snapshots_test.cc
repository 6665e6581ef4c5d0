// Uploading, executing and managing snapshots through the real server.
#include "gtest/gtest.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

constexpr char kScript[] = R"JS(
const rates = {EUR: 0.9, GBP: 0.8};
function convert(amount, currency) {
  console.log('converting', amount, currency);
  return {amount: amount * rates[currency], currency};
}
)JS";

constexpr char kModule[] = R"JS(
export function add(a, b) { return a + b; }
export default {
  async handler(request) { await null; return {path: request.path, ok: true}; },
};
)JS";

v1::SnapshotSpec Spec(const std::string& name, v1::BundleKind kind = v1::CLASSIC_SCRIPT) {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  spec.set_kind(kind);
  return spec;
}

class SnapshotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start(NewTempDir("snapshots"));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->Stub();
  }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Isopool::Stub> stub_;
};

TEST_F(SnapshotsTest, UploadScriptAndModuleThenExecuteBoth) {
  v1::UploadSnapshotResponse script;
  ASSERT_TRUE(Upload(*stub_, Spec("rates"), kScript, &script).ok());
  EXPECT_TRUE(script.created());
  EXPECT_EQ(script.snapshot().name(), "rates");
  EXPECT_EQ(script.snapshot().id().rfind("sha256:", 0), 0u);
  EXPECT_EQ(script.snapshot().source_bytes(), sizeof(kScript) - 1);
  EXPECT_GT(script.snapshot().blob_bytes(), 1000u);
  EXPECT_EQ(script.snapshot().bundle_sha256().size(), 64u);
  EXPECT_FALSE(script.snapshot().v8_version().empty());

  v1::UploadSnapshotResponse module;
  v1::SnapshotSpec module_spec = Spec("router", v1::ES_MODULE);
  module_spec.set_prewarm(true);
  ASSERT_TRUE(Upload(*stub_, module_spec, kModule, &module, /*chunk_bytes=*/16).ok());

  v1::ExecuteResponse converted;
  grpc::Status status =
      Execute(*stub_, FunctionRequest("rates", "convert", "[100, \"EUR\"]"), &converted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(converted.has_error()) << converted.error().message();
  EXPECT_EQ(converted.result_json(), R"({"amount":90,"currency":"EUR"})");
  EXPECT_EQ(converted.snapshot_id(), script.snapshot().id());
  ASSERT_EQ(converted.logs_size(), 1);
  EXPECT_EQ(converted.logs(0).level(), v1::LogLine::LOG);
  EXPECT_EQ(converted.logs(0).message(), "converting 100 EUR");

  v1::ExecuteResponse handled;
  ASSERT_TRUE(
      Execute(*stub_, FunctionRequest("router", "handler", R"([{"path":"/x"}])"), &handled).ok());
  EXPECT_EQ(handled.result_json(), R"({"path":"/x","ok":true})");
  v1::ExecuteResponse added;
  ASSERT_TRUE(
      Execute(*stub_, FunctionRequest(module.snapshot().id(), "add", "[2, 3]"), &added).ok());
  EXPECT_EQ(added.result_json(), "5");
  // Inline source against a snapshot sees its globals.
  v1::ExecuteResponse inline_source;
  ASSERT_TRUE(
      Execute(*stub_, SourceRequest("convert(10, 'GBP').amount", "rates"), &inline_source).ok());
  EXPECT_EQ(inline_source.result_json(), "8");
}

TEST_F(SnapshotsTest, SameUploadTwiceGivesTheSameIdAndStoresNothingNew) {
  v1::UploadSnapshotResponse first, second, renamed;
  ASSERT_TRUE(Upload(*stub_, Spec("a"), kScript, &first).ok());
  ASSERT_TRUE(Upload(*stub_, Spec("a"), kScript, &second).ok());
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(second.created());
  EXPECT_EQ(first.snapshot().id(), second.snapshot().id());
  ASSERT_TRUE(Upload(*stub_, Spec("b"), kScript, &renamed).ok());
  EXPECT_EQ(renamed.snapshot().id(), first.snapshot().id());
  // Another pool policy is another snapshot.
  v1::SnapshotSpec shared = Spec("c");
  shared.mutable_pool()->set_isolation(v1::SHARED);
  v1::UploadSnapshotResponse other;
  ASSERT_TRUE(Upload(*stub_, shared, kScript, &other).ok());
  EXPECT_NE(other.snapshot().id(), first.snapshot().id());
}

TEST_F(SnapshotsTest, ListGetDeleteAndMovingANameLikeATag) {
  v1::UploadSnapshotResponse v1_upload, v2_upload;
  ASSERT_TRUE(Upload(*stub_, Spec("tagged"), "function version() { return 1; }", &v1_upload).ok());
  for (const char* name : {"n1", "n2", "n3"}) {
    v1::UploadSnapshotResponse r;
    ASSERT_TRUE(Upload(*stub_, Spec(name), kScript, &r).ok());
  }
  // Pagination: two pages of 2 cover all 4 names, in order.
  std::vector<std::string> names;
  std::string token;
  do {
    grpc::ClientContext context;
    v1::ListSnapshotsRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListSnapshotsResponse page;
    ASSERT_TRUE(stub_->ListSnapshots(&context, request, &page).ok());
    EXPECT_LE(page.snapshots_size(), 2);
    for (const auto& s : page.snapshots()) names.push_back(s.name());
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(names, (std::vector<std::string>{"n1", "n2", "n3", "tagged"}));

  // Move the name to a new bundle: executions follow it.
  ASSERT_TRUE(Upload(*stub_, Spec("tagged"), "function version() { return 2; }", &v2_upload).ok());
  EXPECT_NE(v2_upload.snapshot().id(), v1_upload.snapshot().id());
  v1::ExecuteResponse version;
  ASSERT_TRUE(Execute(*stub_, FunctionRequest("tagged", "version"), &version).ok());
  EXPECT_EQ(version.result_json(), "2");
  // The old snapshot is still there by id.
  ASSERT_TRUE(
      Execute(*stub_, FunctionRequest(v1_upload.snapshot().id(), "version"), &version).ok());
  EXPECT_EQ(version.result_json(), "1");

  grpc::ClientContext get_context;
  v1::GetSnapshotRequest get;
  get.set_snapshot("tagged");
  v1::Snapshot got;
  ASSERT_TRUE(stub_->GetSnapshot(&get_context, get, &got).ok());
  EXPECT_EQ(got.id(), v2_upload.snapshot().id());
  EXPECT_EQ(got.name(), "tagged");
  EXPECT_EQ(got.spec().kind(), v1::CLASSIC_SCRIPT);

  grpc::ClientContext delete_context;
  v1::DeleteSnapshotRequest del;
  del.set_snapshot("tagged");
  v1::DeleteSnapshotResponse deleted;
  grpc::Status delete_status = stub_->DeleteSnapshot(&delete_context, del, &deleted);
  ASSERT_TRUE(delete_status.ok()) << delete_status.error_message();
  EXPECT_EQ(deleted.removed_id(), v2_upload.snapshot().id());
  v1::ExecuteResponse gone;
  EXPECT_EQ(Execute(*stub_, FunctionRequest("tagged", "version"), &gone).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SnapshotsTest, StatsAndWarmth) {
  v1::SnapshotSpec spec = Spec("warm");
  spec.set_prewarm(true);
  v1::UploadSnapshotResponse uploaded;
  ASSERT_TRUE(Upload(*stub_, spec, kScript, &uploaded).ok());
  // Prewarm answers once an isolate is warm: the very first call finds it.
  v1::ExecuteResponse response;
  ASSERT_TRUE(Execute(*stub_, FunctionRequest("warm", "convert", "[1, \"EUR\"]"), &response).ok());
  EXPECT_TRUE(response.stats().warm());
  EXPECT_EQ(response.stats().restore_us(), 0u);
  EXPECT_GT(response.stats().wall_us(), 0u);
  EXPECT_GT(response.stats().heap_before_bytes(), 0u);
  EXPECT_GT(response.stats().heap_after_bytes(), 0u);
  EXPECT_FALSE(response.stats().isolate_condemned());
}

TEST_F(SnapshotsTest, ContextModeForgetsGlobalsSharedModeKeepsThem) {
  const char* bundle = "function bump() { globalThis.n = (globalThis.n || 0) + 1; return n; }";
  v1::SnapshotSpec context = Spec("ctx");
  context.mutable_pool()->set_isolation(v1::CONTEXT);
  context.mutable_pool()->set_max_isolates(1);
  v1::SnapshotSpec shared = Spec("shr");
  shared.mutable_pool()->set_isolation(v1::SHARED);
  shared.mutable_pool()->set_max_isolates(1);
  v1::UploadSnapshotResponse r;
  ASSERT_TRUE(Upload(*stub_, context, bundle, &r).ok());
  ASSERT_TRUE(Upload(*stub_, shared, bundle, &r).ok());
  for (int i = 1; i <= 3; ++i) {
    v1::ExecuteResponse a, b;
    ASSERT_TRUE(Execute(*stub_, FunctionRequest("ctx", "bump"), &a).ok());
    ASSERT_TRUE(Execute(*stub_, FunctionRequest("shr", "bump"), &b).ok());
    EXPECT_EQ(a.result_json(), "1");
    EXPECT_EQ(b.result_json(), std::to_string(i));
  }
}

}  // namespace
}  // namespace isopool::testing
