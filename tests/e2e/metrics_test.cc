// /metrics after real traffic: every family is there with sensible values, and Prometheus's
// own linter (promtool check metrics, from Debian's prometheus package) finds no problem.
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

// The value of the first sample line starting with `prefix` (name plus labels), or -1.
TEST(MetricsTest, FamiliesAfterRealTrafficAndPromtoolPasses) {
  auto server = ServerProcess::Start(NewTempDir("metrics"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->Stub();
  v1::SnapshotSpec spec;
  spec.set_name("m");
  spec.set_prewarm(true);
  v1::UploadSnapshotResponse uploaded;
  ASSERT_TRUE(Upload(*stub, spec,
                     "function f(n) { return Array.from({length: n}, (_, i) => ({i})).length; }",
                     &uploaded)
                  .ok());
  v1::UploadSnapshotResponse broken;
  spec.set_name("broken");
  EXPECT_FALSE(Upload(*stub, spec, "syntax error here", &broken).ok());
  for (int i = 0; i < 20; ++i) {
    v1::ExecuteResponse response;
    ASSERT_TRUE(Execute(*stub, FunctionRequest("m", "f", "[20000]"), &response).ok());
  }
  v1::ExecuteResponse response;
  v1::ExecuteRequest loop = SourceRequest("while (true) {}");
  loop.mutable_limits()->set_timeout_ms(50);
  ASSERT_TRUE(Execute(*stub, loop, &response).ok());
  EXPECT_EQ(Execute(*stub, FunctionRequest("nope", "f"), &response).error_code(),
            grpc::StatusCode::NOT_FOUND);

  absl::StatusOr<std::string> metrics = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string& m = *metrics;
  for (const char* family :
       {"isopool_execute_duration_seconds", "isopool_executions_total",
        "isopool_queue_wait_seconds", "isopool_pool_isolates",
        "isopool_isolate_restore_duration_seconds", "isopool_isolates_condemned_total",
        "isopool_heap_used_bytes", "isopool_heap_limit_bytes", "isopool_gc_pause_seconds",
        "isopool_snapshots", "isopool_snapshot_store_bytes", "isopool_snapshot_builds_total",
        "isopool_memory_budget_bytes", "isopool_memory_used_bytes", "grpc_server_handled_total",
        "grpc_server_handling_seconds", "grpc_server_started_total"}) {
    EXPECT_NE(m.find(absl::StrCat("# TYPE ", family, " ")), std::string::npos) << family;
  }
  EXPECT_EQ(MetricSample(m, "isopool_executions_total{outcome=\"ok\"}"), 20);
  EXPECT_EQ(MetricSample(m, "isopool_executions_total{outcome=\"timeout\"}"), 1);
  EXPECT_EQ(MetricSample(m, "isopool_executions_total{outcome=\"rejected\"}"), 1);
  EXPECT_EQ(MetricSample(m, "isopool_execute_duration_seconds_count{outcome=\"ok\"}"), 20);
  EXPECT_EQ(MetricSample(m, "isopool_isolates_condemned_total{reason=\"timeout\"}"), 1);
  EXPECT_EQ(MetricSample(m, "isopool_snapshot_builds_total{result=\"created\"}"), 1);
  EXPECT_EQ(MetricSample(m, "isopool_snapshot_builds_total{result=\"invalid\"}"), 1);
  EXPECT_EQ(MetricSample(m, "isopool_snapshots"), 1);
  EXPECT_GT(MetricSample(m, "isopool_snapshot_store_bytes"), 100000);
  EXPECT_GT(MetricSample(m, "isopool_heap_used_bytes"), 0);
  EXPECT_GT(MetricSample(m, "isopool_heap_limit_bytes"),
            MetricSample(m, "isopool_heap_used_bytes"));
  EXPECT_EQ(MetricSample(m, "isopool_memory_budget_bytes"), 1024.0 * 1024 * 1024);
  EXPECT_GT(MetricSample(m, "isopool_memory_used_bytes"), 0);
  EXPECT_GE(MetricSample(m, "isopool_pool_isolates{state=\"warm\"}"), 1);
  EXPECT_GE(MetricSample(m, "isopool_isolate_restore_duration_seconds_count{path=\"background\"}"),
            1);
  EXPECT_GE(MetricSample(m, "isopool_gc_pause_seconds_count{type=\"scavenge\"}"), 1);
  EXPECT_EQ(
      MetricSample(m,
                   "grpc_server_handled_total{grpc_code=\"NOT_FOUND\",grpc_method=\"Execute\","
                   "grpc_service=\"isopool.v1.Isopool\"}"),
      1)
      << m;
  EXPECT_EQ(
      MetricSample(m,
                   "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"UploadSnapshot\","
                   "grpc_service=\"isopool.v1.Isopool\"}"),
      1);

  std::string path = NewTempDir("promtool") + "/metrics.txt";
  std::ofstream(path) << m;
  std::string command = "/usr/bin/promtool check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  EXPECT_EQ(status, 0) << "promtool check metrics:\n" << output;
}

}  // namespace
}  // namespace isopool::testing
