// Every infrastructure error code of the API, triggered for real, and script errors that stay
// gRPC OK.
#include <thread>

#include "gtest/gtest.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

v1::SnapshotSpec Spec(const std::string& name) {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  return spec;
}

class ErrorsTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> flags = {}) {
    auto server = ServerProcess::Start(NewTempDir("errors"), std::move(flags));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->Stub();
  }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Isopool::Stub> stub_;
};

TEST_F(ErrorsTest, InvalidArgumentSaysWhatWasWrong) {
  StartServer();
  v1::UploadSnapshotResponse uploaded;
  ASSERT_TRUE(Upload(*stub_, Spec("fns"), "function f(x) { return x; }", &uploaded).ok());
  struct Case {
    v1::ExecuteRequest request;
    std::string expect;
  };
  v1::ExecuteRequest empty;
  std::vector<Case> cases = {
      {empty, "either `function`"},
      {FunctionRequest("fns", ""), "function.name is empty"},
      {FunctionRequest("fns", "f", "{not json"), "args_json is not valid JSON"},
      {FunctionRequest("fns", "f", "{\"a\": 1}"), "must be a JSON array"},
      {FunctionRequest("fns", "nope"), "no global function 'nope'"},
      {FunctionRequest("", "f"), "blank snapshot has no functions"},
      {SourceRequest("1", "bad name!"), "snapshot"},
  };
  for (const Case& c : cases) {
    v1::ExecuteResponse response;
    grpc::Status status = Execute(*stub_, c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expect;
    EXPECT_NE(status.error_message().find(c.expect), std::string::npos) << status.error_message();
  }
}

TEST_F(ErrorsTest, BundlesThatDoNotBuildAreInvalidArgumentWithTheJsError) {
  StartServer();
  v1::UploadSnapshotResponse response;
  grpc::Status syntax = Upload(*stub_, Spec("broken"), "function (", &response);
  EXPECT_EQ(syntax.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(syntax.error_message().find("SyntaxError"), std::string::npos);
  EXPECT_NE(syntax.error_message().find("line 1"), std::string::npos) << syntax.error_message();
  grpc::Status throws =
      Upload(*stub_, Spec("thrower"), "\nthrow new TypeError('at load');", &response);
  EXPECT_EQ(throws.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(throws.error_message().find("TypeError: at load"), std::string::npos);
  EXPECT_NE(throws.error_message().find("line 2"), std::string::npos) << throws.error_message();
  v1::SnapshotSpec limited = Spec("runaway");
  limited.mutable_build_limits()->set_timeout_ms(300);
  grpc::Status runaway = Upload(*stub_, limited, "for (;;) {}", &response);
  EXPECT_EQ(runaway.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(runaway.error_message().find("build time limit"), std::string::npos);
  grpc::Status bad_name = Upload(*stub_, Spec("no spaces allowed"), "1", &response);
  EXPECT_EQ(bad_name.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status empty = Upload(*stub_, Spec("empty"), "", &response);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ErrorsTest, NotFound) {
  StartServer();
  v1::ExecuteResponse response;
  grpc::Status status = Execute(*stub_, FunctionRequest("missing", "f"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("UploadSnapshot"), std::string::npos);
  grpc::ClientContext context;
  v1::GetSnapshotRequest get;
  get.set_snapshot(std::string("sha256:") + std::string(64, 'a'));
  v1::Snapshot snapshot;
  EXPECT_EQ(stub_->GetSnapshot(&context, get, &snapshot).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ErrorsTest, PrebuiltEnvelopesAreRefusedByDefault) {
  StartServer();
  v1::SnapshotSpec spec = Spec("prebuilt");
  spec.set_prebuilt_envelope(true);
  v1::UploadSnapshotResponse response;
  grpc::Status status = Upload(*stub_, spec, "ISOPOOL\n...", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("--allow_prebuilt_envelopes"), std::string::npos);
}

TEST_F(ErrorsTest, UploadLargerThanTheLimitIsResourceExhausted) {
  StartServer({"--max_upload_bytes=1000"});
  v1::UploadSnapshotResponse response;
  grpc::Status status =
      Upload(*stub_, Spec("big"), "//" + std::string(5000, 'x') + "\n", &response, 100);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("--max_upload_bytes"), std::string::npos);
}

TEST_F(ErrorsTest, ExecuteLargerThanTheMessageLimitIsResourceExhausted) {
  StartServer({"--max_message_mib=1"});
  v1::ExecuteResponse response;
  grpc::Status status =
      Execute(*stub_, SourceRequest("'" + std::string(2 << 20, 'x') + "'.length"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  // Just under the limit still works.
  ASSERT_TRUE(
      Execute(*stub_, SourceRequest("'" + std::string(512 << 10, 'x') + "'.length"), &response)
          .ok());
  EXPECT_EQ(response.result_json(), "524288");
}

TEST_F(ErrorsTest, UploadsBeyondTheConcurrencyLimitAreRefusedButSequentialOnesNever) {
  StartServer({"--max_concurrent_uploads=1"});
  // Back to back, each upload starts as soon as the previous answered: the slot must be free.
  for (int i = 0; i < 8; ++i) {
    v1::UploadSnapshotResponse response;
    grpc::Status status = Upload(*stub_, Spec("seq-" + std::to_string(i)),
                                 "function f() { return " + std::to_string(i) + "; }", &response);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
  }
  // A slow build holds the only slot; an upload meanwhile is refused with what to do.
  std::thread slow([&] {
    auto stub = server_->Stub();
    v1::UploadSnapshotResponse response;
    EXPECT_TRUE(
        Upload(*stub, Spec("slow"), "let n = 0; for (let i = 0; i < 1e8; i++) n += i;", &response)
            .ok());
  });
  // The slow build holds the slot once the server counts it in progress.
  ASSERT_TRUE(server_
                  ->WaitForMetric("isopool_uploads_in_progress",
                                  [](double uploads) { return uploads >= 1; })
                  .ok());
  v1::UploadSnapshotResponse refused;
  grpc::Status status = Upload(*stub_, Spec("meanwhile"), "function g() {}", &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("retry"), std::string::npos);
  slow.join();
}

// A snapshot with one isolate and a long-running call: others wait in the queue until their
// deadline (DEADLINE_EXCEEDED), and beyond the server's pending-call limit they are refused
// (RESOURCE_EXHAUSTED).
TEST_F(ErrorsTest, BusyPoolGivesDeadlineExceededAndFullQueueResourceExhausted) {
  // One worker with one execute thread: the worker holds two calls (one running, one next in its
  // channel), the server queues one more, and refuses the one after.
  StartServer({"--workers=1", "--execute_threads=1", "--max_pending_calls=1"});
  v1::SnapshotSpec spec = Spec("single");
  spec.mutable_pool()->set_max_isolates(1);
  spec.mutable_pool()->set_min_warm(1);
  v1::UploadSnapshotResponse uploaded;
  ASSERT_TRUE(Upload(*stub_, spec,
                     "function spin(ms) { const end = Date.now() + ms; while (Date.now() < end) {} "
                     "return ms; }",
                     &uploaded)
                  .ok());
  std::thread holder([&] {
    auto stub = server_->Stub();
    v1::ExecuteRequest request = FunctionRequest("single", "spin", "[4000]");
    request.mutable_limits()->set_timeout_ms(8000);
    request.mutable_limits()->set_cpu_ms(8000);
    v1::ExecuteResponse response;
    grpc::Status status = Execute(*stub, request, &response, absl::Seconds(20));
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.result_json(), "4000");
  });
  auto busy = [](double isolates) { return isolates >= 1; };
  ASSERT_TRUE(server_->WaitForMetric("isopool_pool_isolates{state=\"busy\"}", busy).ok());
  // The second call waits behind the running one, past its deadline. It stays in the worker's
  // channel (so in its window) until the worker's only thread reads it.
  v1::ExecuteResponse waited;
  grpc::Status deadline =
      Execute(*stub_, FunctionRequest("single", "spin", "[1]"), &waited, absl::Milliseconds(300));
  EXPECT_EQ(deadline.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << deadline.error_message();
  // The worker's window is full, so the next call waits in the server's queue (of one)...
  std::thread queued([&] {
    auto stub = server_->Stub();
    v1::ExecuteResponse r;
    Execute(*stub, FunctionRequest("single", "spin", "[1]"), &r, absl::Seconds(20));
  });
  ASSERT_TRUE(
      server_->WaitForMetric("isopool_calls_waiting", [](double waiting) { return waiting >= 1; })
          .ok());
  // ...and the one after is refused, saying what to do.
  v1::ExecuteResponse refused;
  grpc::Status exhausted = Execute(*stub_, SourceRequest("1"), &refused);
  EXPECT_EQ(exhausted.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << exhausted.error_message();
  EXPECT_NE(exhausted.error_message().find("retry"), std::string::npos);
  holder.join();
  queued.join();
}

TEST_F(ErrorsTest, DeadlineShorterThanTheScriptTimeoutStopsTheScript) {
  StartServer();
  v1::ExecuteRequest request = SourceRequest("while (true) {}");
  request.mutable_limits()->set_timeout_ms(10000);
  request.mutable_limits()->set_cpu_ms(10000);
  v1::ExecuteResponse response;
  absl::Time start = absl::Now();
  grpc::Status status = Execute(*stub_, request, &response, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The client gives up at 300 ms whatever the server does; what shows the server stopped the
  // loop is its timeout outcome, recorded when the script ends: within seconds, not the 10 s
  // the script was allowed.
  EXPECT_TRUE(server_
                  ->WaitForMetric(
                      "isopool_executions_total{outcome=\"timeout\"}",
                      [](double timeouts) { return timeouts >= 1; }, absl::Seconds(3))
                  .ok())
      << server_->LogTail();
  // Its isolate was condemned and replaced: the next call works at once.
  v1::ExecuteResponse next;
  ASSERT_TRUE(Execute(*stub_, SourceRequest("'alive'"), &next, absl::Seconds(2)).ok());
  EXPECT_EQ(next.result_json(), "\"alive\"");
}

TEST_F(ErrorsTest, HostileScriptsAreStructuredResultsAndCondemnTheIsolate) {
  StartServer();
  struct Case {
    std::string source;
    uint32_t timeout_ms;
    uint32_t heap_mib;
    v1::ScriptError::Kind kind;
  };
  std::vector<Case> cases = {
      {"while (true) {}", 100, 0, v1::ScriptError::TIMEOUT},
      {"(async () => { for (;;) await 0; })()", 100, 0, v1::ScriptError::TIMEOUT},
      {"const a = []; for (;;) a.push({x: a.length, s: 'y' + a.length});", 5000, 16,
       v1::ScriptError::MEMORY_LIMIT},
      {"function f() { return f() + 1; } f()", 1000, 0, v1::ScriptError::EXCEPTION},
      {"new Promise(() => {})", 1000, 0, v1::ScriptError::PROMISE_NEVER_SETTLED},
      {"'x'.repeat(5 << 20)", 1000, 0, v1::ScriptError::RESULT_TOO_LARGE},
      {"10n", 1000, 0, v1::ScriptError::RESULT_NOT_JSON},
  };
  for (const Case& c : cases) {
    v1::ExecuteRequest request = SourceRequest(c.source);
    request.mutable_limits()->set_timeout_ms(c.timeout_ms);
    request.mutable_limits()->set_heap_mib(c.heap_mib);
    v1::ExecuteResponse response;
    grpc::Status status = Execute(*stub_, request, &response);
    ASSERT_TRUE(status.ok()) << c.source << ": " << status.error_message();
    ASSERT_TRUE(response.has_error()) << c.source;
    EXPECT_EQ(response.error().kind(), c.kind) << c.source << ": " << response.error().message();
    bool limit = c.kind == v1::ScriptError::TIMEOUT || c.kind == v1::ScriptError::MEMORY_LIMIT;
    EXPECT_EQ(response.stats().isolate_condemned(), limit) << c.source;
    v1::ExecuteResponse next;
    ASSERT_TRUE(Execute(*stub_, SourceRequest("6 * 7"), &next).ok());
    EXPECT_EQ(next.result_json(), "42") << "after " << c.source;
  }
}

}  // namespace
}  // namespace isopool::testing
