// IsopoolService's handlers, called through gRPC on real parts (service_fixture.h): what each
// malformed request is refused with and that the message names the field, NOT_FOUND, the
// Upload -> Execute path, Get, List pagination and Delete. Deadlines and draining are in
// isopool_service_deadline_test.cc.
#include <string>
#include <vector>

#include "base/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/service_fixture.h"

namespace isopool::service::testing {
namespace {

using ::testing::HasSubstr;

v1::ExecuteRequest Call(const std::string& snapshot, const std::string& function,
                        const std::string& args_json) {
  v1::ExecuteRequest request;
  request.set_snapshot(snapshot);
  request.mutable_function()->set_name(function);
  request.mutable_function()->set_args_json(args_json);
  return request;
}

TEST_F(ServiceTest, InlineSourceRunsOnTheBlankSnapshot) {
  Start();
  v1::ExecuteRequest request;
  request.set_source("[1, 2, 3].map(x => x * 2)");
  v1::ExecuteResponse response;
  grpc::Status status = Execute(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result_json(), "[2,4,6]");
  EXPECT_EQ(response.snapshot_id(), "blank");
  EXPECT_FALSE(response.has_error());
}

TEST_F(ServiceTest, ExecuteRequestsThatAreMalformedNameTheFieldsToSet) {
  Start();
  v1::ExecuteResponse response;
  grpc::Status status = Execute(v1::ExecuteRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("`function`"));
  EXPECT_THAT(status.error_message(), HasSubstr("`source`"));

  status = Execute(Call("", "", "[]"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("function.name"));

  // A function needs a snapshot that has functions.
  status = Execute(Call("", "add", "[1, 2]"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("blank snapshot has no functions"));
  // Every refusal is counted, and none reached a script.
  EXPECT_EQ(Counter("isopool_executions_total", "outcome", "rejected"), 3);
  EXPECT_EQ(Counter("isopool_executions_total", "outcome", "ok"), 0);
}

TEST_F(ServiceTest, UploadThenExecuteByNameAndById) {
  Start();
  const std::string bundle = kCalcBundle;
  v1::UploadSnapshotResponse upload;
  grpc::Status status = Upload(Spec("calc"), bundle, &upload);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(upload.created());
  const std::string id = upload.snapshot().id();
  EXPECT_THAT(id, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(upload.snapshot().name(), "calc");
  EXPECT_EQ(upload.snapshot().source_bytes(), bundle.size());
  EXPECT_EQ(upload.snapshot().bundle_sha256(), base::Sha256Hex(bundle));
  EXPECT_EQ(Counter("isopool_snapshot_builds_total", "result", "created"), 1);

  for (const std::string& snapshot : {std::string("calc"), id}) {
    v1::ExecuteResponse response;
    status = Execute(Call(snapshot, "add", "[2, 3]"), &response);
    ASSERT_TRUE(status.ok()) << snapshot << ": " << status.error_message();
    EXPECT_EQ(response.result_json(), "5") << snapshot;
    EXPECT_EQ(response.snapshot_id(), id) << snapshot;
    ASSERT_EQ(response.logs_size(), 1) << snapshot;
    EXPECT_EQ(response.logs(0).message(), "adding 2 3");
    EXPECT_FALSE(response.has_error());
  }
  EXPECT_EQ(Counter("isopool_executions_total", "outcome", "ok"), 2);

  // The same bundle and spec again: the same id, nothing new stored.
  v1::UploadSnapshotResponse again;
  status = Upload(Spec("calc"), bundle, &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.snapshot().id(), id);
  EXPECT_EQ(Counter("isopool_snapshot_builds_total", "result", "existing"), 1);

  grpc::ClientContext context;
  v1::GetSnapshotRequest get;
  get.set_snapshot("calc");
  v1::Snapshot snapshot;
  status = stub_->GetSnapshot(&context, get, &snapshot);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(snapshot.id(), id);
  EXPECT_EQ(snapshot.name(), "calc");
  EXPECT_EQ(snapshot.spec().kind(), v1::CLASSIC_SCRIPT);
}

TEST_F(ServiceTest, CallsTheScriptCannotServeAreInvalidAndSayWhy) {
  Start();
  UploadCalc("calc");
  v1::ExecuteResponse response;
  grpc::Status status = Execute(Call("calc", "mul", "[2, 3]"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("no global function 'mul'"));

  status = Execute(Call("calc", "add", "[2, "), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("args_json is not valid JSON"));

  status = Execute(Call("calc", "add", "{\"a\": 1}"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("args_json must be a JSON array"));
}

TEST_F(ServiceTest, UploadSpecsThatAreInvalidNameTheFieldAndStoreNothing) {
  config_.build.max_isolates_per_snapshot = 4;
  Start();
  v1::UploadSnapshotResponse response;
  grpc::Status status = Upload(Spec("has space"), kCalcBundle, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.name 'has space'"));

  v1::SnapshotSpec too_many = Spec("calc");
  too_many.mutable_pool()->set_max_isolates(5);
  status = Upload(too_many, kCalcBundle, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("spec.pool.max_isolates 5 is above the server's 4"));

  status = Upload(Spec("calc"), "", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("the bundle is empty"));

  status = Upload(Spec("calc"), "function broken( {", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("the bundle does not build"));

  EXPECT_EQ(Counter("isopool_snapshot_builds_total", "result", "invalid"), 4);
  EXPECT_EQ(store_.store->Stats().snapshot_count, 0u);
}

TEST_F(ServiceTest, UploadStreamsInTheWrongShapeAreRefused) {
  config_.max_upload_bytes = 64;
  Start();
  v1::UploadSnapshotResponse response;
  std::vector<v1::UploadSnapshotRequest> chunk_first(1);
  chunk_first[0].set_chunk("1 + 1");
  grpc::Status status = UploadMessages(chunk_first, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("the first message must carry the spec"));

  status = UploadMessages({}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("the upload carried no spec"));

  std::vector<v1::UploadSnapshotRequest> two_specs(2);
  *two_specs[0].mutable_spec() = Spec("calc");
  *two_specs[1].mutable_spec() = Spec("calc");
  status = UploadMessages(two_specs, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("only the first message may carry a spec"));

  status = Upload(Spec("calc"), std::string(65, ' '), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--max_upload_bytes"));

  v1::SnapshotSpec prebuilt = Spec("calc");
  prebuilt.set_prebuilt_envelope(true);
  status = Upload(prebuilt, "not an envelope", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--allow_prebuilt_envelopes"));
  EXPECT_EQ(service_->uploads_in_progress(), 0);  // every refusal gave its slot back
}

TEST_F(ServiceTest, UnknownSnapshotsAreNotFound) {
  Start();
  v1::ExecuteResponse response;
  grpc::Status status = Execute(Call("nope", "add", "[1, 2]"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("no snapshot 'nope'"));
  EXPECT_THAT(status.error_message(), HasSubstr("UploadSnapshot"));

  const std::string unknown_id = "sha256:" + std::string(64, 'a');
  status = Execute(Call(unknown_id, "add", "[1, 2]"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  for (const std::string& snapshot : {std::string("nope"), unknown_id}) {
    grpc::ClientContext get_context;
    v1::GetSnapshotRequest get;
    get.set_snapshot(snapshot);
    v1::Snapshot got;
    EXPECT_EQ(stub_->GetSnapshot(&get_context, get, &got).error_code(), grpc::StatusCode::NOT_FOUND)
        << snapshot;
    grpc::ClientContext delete_context;
    v1::DeleteSnapshotRequest remove;
    remove.set_snapshot(snapshot);
    v1::DeleteSnapshotResponse removed;
    EXPECT_EQ(stub_->DeleteSnapshot(&delete_context, remove, &removed).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << snapshot;
  }
}

// Named snapshots in name order, page by page.
std::vector<std::string> ListPage(v1::Isopool::Stub& stub, uint32_t page_size,
                                  const std::string& token, std::string* next,
                                  grpc::Status* status) {
  grpc::ClientContext context;
  v1::ListSnapshotsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(token);
  v1::ListSnapshotsResponse response;
  *status = stub.ListSnapshots(&context, request, &response);
  std::vector<std::string> names;
  for (const v1::Snapshot& snapshot : response.snapshots()) names.push_back(snapshot.name());
  *next = response.next_page_token();
  return names;
}

TEST_F(ServiceTest, ListPaginatesAndDeleteRemovesTheSnapshotWithItsLastName) {
  Start();
  const std::string id = UploadCalc("c");
  ASSERT_EQ(UploadCalc("a"), id);  // one envelope, three names
  ASSERT_EQ(UploadCalc("b"), id);

  grpc::Status status;
  std::string next;
  EXPECT_EQ(ListPage(*stub_, 2, "", &next, &status), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(next.empty());
  std::string last;
  EXPECT_EQ(ListPage(*stub_, 2, next, &last, &status), (std::vector<std::string>{"c"}));
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(last.empty());

  ListPage(*stub_, 2, "not a token", &next, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));

  auto remove = [this](const std::string& snapshot, v1::DeleteSnapshotResponse* response) {
    grpc::ClientContext context;
    v1::DeleteSnapshotRequest request;
    request.set_snapshot(snapshot);
    return stub_->DeleteSnapshot(&context, request, response);
  };
  v1::DeleteSnapshotResponse removed;
  ASSERT_TRUE(remove("a", &removed).ok());
  EXPECT_EQ(removed.removed_id(), "");  // "b" and "c" still point at it
  ASSERT_TRUE(remove("b", &removed).ok());
  EXPECT_EQ(removed.removed_id(), "");
  v1::ExecuteResponse response;
  ASSERT_TRUE(Execute(Call("c", "add", "[1, 1]"), &response).ok());  // its pool is live
  ASSERT_TRUE(remove("c", &removed).ok());
  EXPECT_EQ(removed.removed_id(), id);

  EXPECT_TRUE(ListPage(*stub_, 2, "", &next, &status).empty());
  status = Execute(Call(id, "add", "[1, 1]"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_EQ(runner_->Stats().pools, 1);  // the blank one: the deleted snapshot's pool is gone
}

}  // namespace
}  // namespace isopool::service::testing
