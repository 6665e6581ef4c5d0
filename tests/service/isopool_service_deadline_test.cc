// IsopoolService and time: the caller's deadline caps a call's wall limit and its wait for an
// isolate, and a draining service refuses new calls. Through gRPC on real parts
// (service_fixture.h).
//
// When the deadline passes, the client's own gRPC deadline ends the call at the same moment the
// server answers, so the status alone cannot show what the server did: these tests also wait on
// what the server records (isopool_executions_total by outcome) and on the runner's pools.
#include <future>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/service_fixture.h"

namespace isopool::service::testing {
namespace {

using ::testing::HasSubstr;

v1::ExecuteRequest Spin(uint32_t timeout_ms) {
  v1::ExecuteRequest request;
  request.set_source("for (;;) {}");
  request.mutable_limits()->set_timeout_ms(timeout_ms);
  request.mutable_limits()->set_cpu_ms(timeout_ms);
  return request;
}

TEST_F(ServiceTest, TheDeadlineStopsAScriptThatMayRunLonger) {
  Start();
  v1::ExecuteResponse response;
  // The script may run 20 s; the caller waits 300 ms.
  grpc::Status status = Execute(Spin(20000), &response, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server stopped the script at the deadline (as a timeout), long before its own limit,
  // and the isolate came back.
  EXPECT_TRUE(
      WaitForCounter("isopool_executions_total", "outcome", "timeout", 1, absl::Seconds(5)));
  EXPECT_EQ(runner_->Stats().busy, 0);
}

TEST_F(ServiceTest, WithoutADeadlineTheScriptsOwnTimeoutAnswers) {
  Start();
  v1::ExecuteResponse response;
  grpc::Status status = Execute(Spin(200), &response, absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.error_message();  // a script failure is not an RPC failure
  EXPECT_EQ(response.error().kind(), v1::ScriptError::TIMEOUT);
  EXPECT_TRUE(response.stats().isolate_condemned());
}

TEST_F(ServiceTest, NoIsolateFreeBeforeTheDeadlineIsRefused) {
  config_.default_max_isolates = 1;
  config_.default_min_warm = 1;
  Start();
  // The blank snapshot's only isolate is busy for 1.5 s.
  std::future<grpc::Status> blocker = std::async(std::launch::async, [this] {
    v1::ExecuteResponse response;
    grpc::Status status = Execute(Spin(1500), &response, absl::Seconds(30));
    if (status.ok() && response.error().kind() != v1::ScriptError::TIMEOUT) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "the blocker did not time out");
    }
    return status;
  });
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (runner_->Stats().busy == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));  // polling the pool for the blocker to start
  }
  ASSERT_EQ(runner_->Stats().busy, 1);

  v1::ExecuteRequest quick;
  quick.set_source("1 + 1");
  v1::ExecuteResponse response;
  grpc::Status status = Execute(quick, &response, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server gave up waiting for an isolate at the deadline (a refusal), not when the blocker
  // finished.
  EXPECT_TRUE(
      WaitForCounter("isopool_executions_total", "outcome", "rejected", 1, absl::Seconds(1)));
  EXPECT_EQ(Counter("isopool_executions_total", "outcome", "timeout"), 0);

  grpc::Status blocked = blocker.get();
  EXPECT_TRUE(blocked.ok()) << blocked.error_message();
  EXPECT_EQ(Counter("isopool_executions_total", "outcome", "ok"), 0);  // the quick call never ran
}

TEST_F(ServiceTest, ADrainingServiceRefusesNewCallsAndIsIdle) {
  Start();
  service_->StartDraining();
  v1::ExecuteRequest request;
  request.set_source("1 + 1");
  v1::ExecuteResponse response;
  grpc::Status status = Execute(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("draining"));
  v1::UploadSnapshotResponse upload;
  status = Upload(Spec("calc"), kCalcBundle, &upload);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(service_->WaitIdle(absl::Now()));
}

}  // namespace
}  // namespace isopool::service::testing
