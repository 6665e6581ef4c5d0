// A script stuck in a builtin V8 cannot interrupt (a slow-path Array.prototype.fill, a huge
// regexp replace) ignores termination for seconds.
//  - With worker processes (the default) the call is answered at its timeout plus the
//    unresponsive grace (100 ms) with TIMEOUT "unresponsive", and its worker is killed rather
//    than left spinning a core.
//  - In-process (--workers=0) the server starts a replacement execute thread, so other callers
//    are still served while the stuck one finishes.
#include <algorithm>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

TEST(StuckWorkerTest, UnresponsiveCallIsAnsweredAtItsTimeoutAndItsWorkerKilled) {
  auto server = ServerProcess::Start(NewTempDir("stuck"), {"--default_heap_mib=512"});
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<pid_t> workers_before = (*server)->WorkerPids();
  ASSERT_EQ(workers_before.size(), 3u);  // two workers and a spare
  auto stub = (*server)->Stub();
  v1::ExecuteRequest request = SourceRequest("new Array(2**29).fill(0).length");
  request.mutable_limits()->set_timeout_ms(300);
  request.mutable_limits()->set_cpu_ms(300);
  v1::ExecuteResponse response;
  absl::Time start = absl::Now();
  grpc::Status status = Execute(*stub, request, &response, absl::Seconds(60));
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(response.has_error());
  EXPECT_EQ(response.error().kind(), v1::ScriptError::TIMEOUT) << response.error().message();
  EXPECT_NE(response.error().message().find("unresponsive"), std::string::npos)
      << response.error().message();
  EXPECT_LT(took, absl::Milliseconds(300 + 250)) << "answered too late";
  // Its worker was killed, not left spinning: the log says so and a new process replaced it.
  ASSERT_TRUE((*server)->WaitForLog("\"reason\":\"unresponsive\"").ok());
  ASSERT_TRUE((*server)
                  ->WaitForMetric("isopool_worker_restarts_total{reason=\"unresponsive\"}",
                                  [](double v) { return v == 1; })
                  .ok());
  ASSERT_TRUE((*server)
                  ->WaitForMetric("isopool_workers{state=\"up\"}", [](double v) { return v == 2; })
                  .ok());
  // The spare took the dead worker's place, and a new spare was started.
  std::vector<pid_t> workers_after;
  (void)WaitUntil([&] { return (workers_after = (*server)->WorkerPids()).size() == 3; },
                  absl::Seconds(30), "a new spare");
  int gone = 0;
  for (pid_t pid : workers_before) {
    gone += std::find(workers_after.begin(), workers_after.end(), pid) == workers_after.end();
  }
  EXPECT_EQ(gone, 1);
  EXPECT_EQ(workers_after.size(), 3u);
  v1::ExecuteResponse next;
  ASSERT_TRUE(Execute(*stub, SourceRequest("6 * 7"), &next).ok());
  EXPECT_EQ(next.result_json(), "42");
}

TEST(StuckWorkerTest, InProcessOtherCallsAreServedWhileAThreadIsStuck) {
  auto server = ServerProcess::Start(
      NewTempDir("stuck-inproc"), {"--workers=0", "--execute_threads=1", "--default_heap_mib=512"});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Time start = absl::Now();
  absl::Duration hostile_took;
  std::thread hostile([&] {
    auto stub = (*server)->Stub();
    // One regexp replace over 12M characters: a single builtin that ignores termination.
    v1::ExecuteRequest request = SourceRequest("'x'.repeat(12e6).replace(/x/g, 'yy').length");
    request.mutable_limits()->set_timeout_ms(50);
    v1::ExecuteResponse response;
    grpc::Status status = Execute(*stub, request, &response, absl::Seconds(60));
    hostile_took = absl::Now() - start;
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(response.has_error());
    EXPECT_EQ(response.error().kind(), v1::ScriptError::TIMEOUT);
    EXPECT_TRUE(response.stats().isolate_condemned());
  });
  // Once the watchdog calls the call unresponsive, a replacement thread exists.
  ASSERT_TRUE(
      (*server)
          ->WaitForMetric("isopool_calls_unresponsive_total", [](double v) { return v == 1; })
          .ok());
  auto stub = (*server)->Stub();
  v1::ExecuteResponse response;
  absl::Time asked = absl::Now();
  grpc::Status status = Execute(*stub, SourceRequest("6 * 7"), &response, absl::Seconds(30));
  absl::Duration served_in = absl::Now() - asked;
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result_json(), "42");
  hostile.join();
  // The point of the test only holds if the hostile call really outlived the second one.
  ASSERT_GT(hostile_took, (asked - start) + served_in)
      << "the builtin finished too fast to prove anything; make it bigger";
  EXPECT_LT(served_in, absl::Milliseconds(500));
}

}  // namespace
}  // namespace isopool::testing
