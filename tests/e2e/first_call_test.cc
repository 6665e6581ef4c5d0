// The first end-to-end slice: the real server on port 0, called by a real gRPC client.
#include "gtest/gtest.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

class FirstCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start(NewTempDir("first-call"));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->Stub();
  }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Isopool::Stub> stub_;
};

TEST_F(FirstCallTest, HealthIsServing) {
  for (const char* service : {"", ServerProcess::kApiService}) {
    EXPECT_EQ(server_->Health(service), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(FirstCallTest, ExecuteInlineSource) {
  v1::ExecuteResponse response;
  grpc::Status status = Execute(*stub_, SourceRequest("1+2"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.has_error()) << response.error().message();
  EXPECT_EQ(response.result_json(), "3");
  EXPECT_EQ(response.snapshot_id(), "blank");
}

TEST_F(FirstCallTest, SyntaxErrorIsStructuredAndServerStaysUp) {
  v1::ExecuteResponse bad;
  ASSERT_TRUE(Execute(*stub_, SourceRequest("function ("), &bad).ok());
  ASSERT_TRUE(bad.has_error());
  EXPECT_EQ(bad.error().kind(), v1::ScriptError::SYNTAX);
  EXPECT_NE(bad.error().message().find("SyntaxError"), std::string::npos);
  EXPECT_EQ(bad.error().line(), 1u);
  EXPECT_TRUE(bad.result_json().empty());
  v1::ExecuteResponse good;
  ASSERT_TRUE(Execute(*stub_, SourceRequest("[1, 2].map(x => x * 10)"), &good).ok());
  EXPECT_EQ(good.result_json(), "[10,20]");
}

TEST_F(FirstCallTest, MetricsEndpointCountsExecutions) {
  v1::ExecuteResponse response;
  ASSERT_TRUE(Execute(*stub_, SourceRequest("1"), &response).ok());
  absl::StatusOr<std::string> metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->find("isopool_executions_total{outcome=\"ok\"} 1"), std::string::npos)
      << *metrics;
}

}  // namespace
}  // namespace isopool::testing
