// A script stuck in a builtin V8 cannot interrupt holds its execute thread until the builtin
// returns (seconds). The server notices (the watchdog's grace passes), starts a replacement
// thread, so other callers are still served, and condemns the isolate when the builtin returns.
#include <thread>

#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace isopool::testing {
namespace {

TEST(StuckWorkerTest, OtherCallsAreServedWhileAThreadIsStuck) {
  auto server =
      ServerProcess::Start(NewTempDir("stuck"), {"--execute_threads=1", "--default_heap_mib=512"});
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
  // Past the watchdog's 500 ms grace the replacement thread exists; with one execute thread and
  // no replacement, this call would wait for the whole replace.
  absl::SleepFor(absl::Milliseconds(900));
  auto stub = (*server)->Stub();
  v1::ExecuteResponse response;
  absl::Time asked = absl::Now();
  grpc::Status status = Execute(*stub, SourceRequest("6 * 7"), &response, absl::Seconds(30));
  absl::Duration served_in = absl::Now() - asked;
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result_json(), "42");
  hostile.join();
  // The point of the test only holds if the hostile call really outlived the second one.
  ASSERT_GT(hostile_took, absl::Milliseconds(900) + served_in)
      << "the builtin finished too fast to prove anything; make it bigger";
  EXPECT_LT(served_in, absl::Milliseconds(500));
  EXPECT_NE((*server)->Stderr().find("\"event\":\"worker_stuck\""), std::string::npos);
}

}  // namespace
}  // namespace isopool::testing
