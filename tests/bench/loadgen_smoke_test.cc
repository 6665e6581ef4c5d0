// Runs the real loadgen binary for a few seconds against real gRPC servers in this process, and
// checks what it reports:
//   - against gRPC's built-in health service: requests happen, no errors, ordered percentiles;
//   - against a scripted Isopool service: exact request counts, the hostile mix and its
//     accounting (script-error kinds, condemned isolates), unexpected errors, the hard cap;
//   - that any target other than this machine's loopback is refused before any traffic.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "isopool/v1/isopool.grpc.pb.h"

extern char** environ;

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using isopool::v1::ExecuteRequest;
using isopool::v1::ExecuteResponse;
using isopool::v1::ScriptError;

// Answers like isopool would for the scripts loadgen sends, and refuses anything else, so a
// wrong request shape shows up as INVALID_ARGUMENT in the report.
class ScriptedIsopool final : public isopool::v1::Isopool::Service {
 public:
  // Notified when the `count`th Execute arrives (0: never), for a test to act mid-run.
  explicit ScriptedIsopool(int count = 0) : notify_at_(count) {}
  absl::Notification& reached() { return reached_; }

 private:
  grpc::Status Execute(grpc::ServerContext* ctx, const ExecuteRequest* req,
                       ExecuteResponse* resp) override {
    if (++executed_ == notify_at_) reached_.Notify();
    const std::string& src = req->source();
    if (src == "1+1" && req->limits().timeout_ms() == 0) {
      resp->set_result_json("2");
      return grpc::Status::OK;
    }
    if (absl::StrContains(src, "while (true) {}") && req->limits().timeout_ms() == 50) {
      resp->mutable_error()->set_kind(ScriptError::TIMEOUT);
      return grpc::Status::OK;
    }
    if (absl::StrContains(src, "keep.push") && req->limits().heap_mib() == 16) {
      resp->mutable_error()->set_kind(ScriptError::MEMORY_LIMIT);
      resp->mutable_stats()->set_isolate_condemned(true);
      return grpc::Status::OK;
    }
    if (src == "throw") {
      resp->mutable_error()->set_kind(ScriptError::EXCEPTION);
      return grpc::Status::OK;
    }
    if (src == "sleep") {  // never answers on its own; ends when the client cancels
      for (int i = 0; i < 1000 && !ctx->IsCancelled(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return grpc::Status(grpc::StatusCode::INTERNAL, "sleep was not cancelled");
    }
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unexpected request");
  }

  const int notify_at_;
  std::atomic<int> executed_{0};
  absl::Notification reached_;
};

class LoadgenSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    grpc::EnableDefaultHealthCheckService(true);
    service_ = new ScriptedIsopool();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_);
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  static void TearDownTestSuite() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    delete server_;
    delete service_;
  }

  struct Run {
    int exit_code = -1;
    double seconds = 0;
    std::string out, err;
    Struct json;
  };

  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Runs loadgen with `args` (plus --target and --json_out unless given) and parses its JSON.
  static Run Loadgen(std::vector<std::string> args, bool add_target = true) {
    const std::string dir = std::getenv("TEST_TMPDIR");
    const std::string json_path = dir + "/report.json";
    std::remove(json_path.c_str());
    const std::string binary =
        absl::StrCat(std::getenv("TEST_SRCDIR"), "/isopool/bench/loadgen/loadgen");
    std::vector<std::string> argv = {binary};
    if (add_target) argv.push_back(absl::StrCat("--target=127.0.0.1:", port_));
    argv.push_back("--json_out=" + json_path);
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, (dir + "/out.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (dir + "/err.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Run run;
    const auto start = std::chrono::steady_clock::now();
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "could not start " << binary;
    if (rc != 0) return run;
    int status = 0;
    waitpid(pid, &status, 0);
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = Slurp(dir + "/out.txt");
    run.err = Slurp(dir + "/err.txt");
    const std::string json = Slurp(json_path);
    if (!json.empty()) {
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &run.json).ok()) << json;
    }
    return run;
  }

  static const Value& Get(const Struct& s, const std::string& dotted) {
    static const Value kMissing;
    const Struct* at = &s;
    const std::vector<std::string> parts = absl::StrSplit(dotted, '.');
    for (size_t i = 0; i < parts.size(); ++i) {
      auto it = at->fields().find(parts[i]);
      if (it == at->fields().end()) {
        ADD_FAILURE() << "report has no " << dotted;
        return kMissing;
      }
      if (i + 1 == parts.size()) return it->second;
      at = &it->second.struct_value();
    }
    return kMissing;
  }
  static double Num(const Struct& s, const std::string& dotted) {
    return Get(s, dotted).number_value();
  }
  static size_t Size(const Struct& s, const std::string& dotted) {
    return Get(s, dotted).struct_value().fields().size();
  }

  static void ExpectOrderedLatency(const Struct& s, const std::string& prefix) {
    const double min = Num(s, prefix + ".min"), p50 = Num(s, prefix + ".p50"),
                 p90 = Num(s, prefix + ".p90"), p99 = Num(s, prefix + ".p99"),
                 p999 = Num(s, prefix + ".p999"), max = Num(s, prefix + ".max");
    EXPECT_GT(min, 0);
    EXPECT_LE(min, p50);
    EXPECT_LE(p50, p90);
    EXPECT_LE(p90, p99);
    EXPECT_LE(p99, p999);
    EXPECT_LE(p999, max);
    EXPECT_LT(max, 5e6) << "a health check took over 5 s";
  }

  static inline ScriptedIsopool* service_ = nullptr;
  static inline grpc::Server* server_ = nullptr;
  static inline int port_ = 0;
};

TEST_F(LoadgenSmokeTest, HealthRunForTwoSecondsReportsRequestsAndOrderedPercentiles) {
  Run run = Loadgen({"--rpc=health", "--label=smoke-health", "--concurrency=8", "--channels=2",
                     "--warmup_seconds=0.5", "--duration_seconds=2", "--hard_cap_seconds=20"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Struct& j = run.json;
  EXPECT_EQ(Get(j, "label").string_value(), "smoke-health");
  EXPECT_EQ(Get(j, "rpc").string_value(), "health");
  EXPECT_GT(Num(j, "requests"), 100);
  EXPECT_EQ(Num(j, "grpc_codes.OK"), Num(j, "requests"));
  EXPECT_EQ(Size(j, "errors_by_code"), 0u);
  EXPECT_EQ(Size(j, "script_errors"), 0u);
  EXPECT_EQ(Num(j, "unexpected_errors"), 0);
  EXPECT_FALSE(Get(j, "hard_cap_hit").bool_value());
  EXPECT_DOUBLE_EQ(Num(j, "measured_seconds"), 2.0);
  EXPECT_NEAR(Num(j, "requests_per_second"), Num(j, "requests") / 2.0, 1.0);
  EXPECT_EQ(Get(j, "latency_unit").string_value(), "us");
  EXPECT_GT(Num(j, "client_cpu_seconds"), 0);
  EXPECT_GE(Num(j, "loadavg_start"), 0);
  ExpectOrderedLatency(j, "latency");
  // Warm-up + measurement + connecting: well under the cap.
  EXPECT_GE(run.seconds, 2.5);
  EXPECT_LT(run.seconds, 10);
  EXPECT_TRUE(absl::StrContains(run.out, "smoke-health")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "req/s")) << run.out;
}

TEST_F(LoadgenSmokeTest, CallbackApiRunReportsTheSame) {
  Run run = Loadgen({"--rpc=health", "--api=callback", "--concurrency=8", "--requests=2000",
                     "--warmup_seconds=0.2", "--hard_cap_seconds=20"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Get(run.json, "api").string_value(), "callback");
  EXPECT_EQ(Num(run.json, "requests"), 2000);
  EXPECT_EQ(Num(run.json, "grpc_codes.OK"), 2000);
  ExpectOrderedLatency(run.json, "latency");
}

// The server goes away mid-run (after its 200th call, of a run that would make thousands): calls
// then fail at once (possibly completing inline, which must neither deadlock nor recurse), are
// counted by code, and the run still ends on time.
TEST_F(LoadgenSmokeTest, ServerGoingAwayIsCountedAndTheRunEndsOnTime) {
  constexpr int kCallsBeforeShutdown = 200;
  for (const char* api : {"async", "callback"}) {
    grpc::EnableDefaultHealthCheckService(true);
    ScriptedIsopool service(kCallsBeforeShutdown);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    ASSERT_NE(server, nullptr);
    std::thread killer([&] {
      // Bounded so a loadgen that never calls still lets the test end (and fail below).
      service.reached().WaitForNotificationWithTimeout(absl::Seconds(20));
      server->Shutdown(std::chrono::system_clock::now());
    });
    // No warm-up: every call counts, so the calls before the shutdown are in the report.
    Run run = Loadgen({absl::StrCat("--target=127.0.0.1:", port), "--rpc=execute", "--source=1+1",
                       absl::StrCat("--api=", api), "--warmup_seconds=0", "--duration_seconds=2",
                       "--hard_cap_seconds=20"},
                      /*add_target=*/false);
    killer.join();
    ASSERT_EQ(run.exit_code, 0) << api << ": " << run.err;
    EXPECT_TRUE(service.reached().HasBeenNotified()) << api;
    // Most of the calls before the shutdown were answered (the last few may be cut off).
    EXPECT_GT(Num(run.json, "grpc_codes.OK"), kCallsBeforeShutdown / 2) << api;
    EXPECT_GT(Num(run.json, "unexpected_errors"), 0) << api;
    EXPECT_EQ(Num(run.json, "unexpected_errors"),
              Num(run.json, "requests") - Num(run.json, "grpc_codes.OK"))
        << api;
    EXPECT_FALSE(Get(run.json, "hard_cap_hit").bool_value()) << api;
    EXPECT_LT(run.seconds, 8) << api;
  }
}

TEST_F(LoadgenSmokeTest, FixedRequestCountIsExact) {
  Run run = Loadgen({"--rpc=health", "--requests=777", "--concurrency=16", "--channels=3",
                     "--warmup_seconds=0.2", "--hard_cap_seconds=20"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Num(run.json, "requests"), 777);
  EXPECT_EQ(Num(run.json, "grpc_codes.OK"), 777);
  EXPECT_GT(Num(run.json, "requests_per_second"), 0);
  ExpectOrderedLatency(run.json, "latency");
}

TEST_F(LoadgenSmokeTest, MixedHostileLoadIsCountedApartFromWellBehavedCalls) {
  Run run = Loadgen({"--rpc=execute", "--source=1+1", "--hostile_fraction=0.1",
                     "--hostile=loop,heap", "--requests=1000", "--warmup_seconds=0",
                     "--concurrency=8", "--hard_cap_seconds=20"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Struct& j = run.json;
  EXPECT_EQ(Num(j, "requests"), 1000);
  EXPECT_EQ(Num(j, "unexpected_errors"), 0) << Get(j, "well_behaved.first_error").string_value();
  EXPECT_EQ(Size(j, "errors_by_code"), 0u);
  EXPECT_EQ(Num(j, "well_behaved.requests"), 900);
  EXPECT_EQ(Size(j, "well_behaved.script_errors"), 0u);
  EXPECT_EQ(Num(j, "hostile.requests"), 100);
  EXPECT_EQ(Num(j, "hostile.by_variant.loop"), 50);
  EXPECT_EQ(Num(j, "hostile.by_variant.heap"), 50);
  EXPECT_EQ(Num(j, "hostile.script_errors.TIMEOUT"), 50);
  EXPECT_EQ(Num(j, "hostile.script_errors.MEMORY_LIMIT"), 50);
  EXPECT_EQ(Num(j, "isolates_condemned"), 50);
  ExpectOrderedLatency(j, "well_behaved.latency");
  ExpectOrderedLatency(j, "hostile.latency");
}

TEST_F(LoadgenSmokeTest, ScriptErrorsOnWellBehavedCallsAreUnexpected) {
  Run run = Loadgen({"--rpc=execute", "--source=throw", "--requests=50", "--warmup_seconds=0",
                     "--fail_on_unexpected_errors", "--hard_cap_seconds=20"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_EQ(Num(run.json, "script_errors.EXCEPTION"), 50);
  EXPECT_EQ(Num(run.json, "unexpected_errors"), 50);
}

TEST_F(LoadgenSmokeTest, HardCapStopsARunThatWouldNotEnd) {
  Run run = Loadgen({"--rpc=execute", "--source=sleep", "--requests=100", "--warmup_seconds=0",
                     "--rpc_deadline_ms=60000", "--concurrency=4", "--hard_cap_seconds=1.5"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(Get(run.json, "hard_cap_hit").bool_value());
  EXPECT_EQ(Num(run.json, "errors_by_code.CANCELLED"), 4);
  EXPECT_LT(run.seconds, 5);
}

TEST_F(LoadgenSmokeTest, RefusesEveryTargetButLoopback) {
  for (const char* target :
       {"10.0.0.1:50051", "192.168.1.1:443", "8.8.8.8:53", "127.0.0.2:50051", "0.0.0.0:50051",
        "example.com:80", "dns:///127.0.0.1:50051", "ipv4:10.0.0.1:50051", "127.0.0.1",
        "127.0.0.1:0", "127.0.0.1:70000", "localhost.example.com:1"}) {
    Run run = Loadgen({absl::StrCat("--target=", target), "--rpc=health", "--duration_seconds=1",
                       "--warmup_seconds=0"},
                      /*add_target=*/false);
    EXPECT_EQ(run.exit_code, 2) << target << ": " << run.err;
    EXPECT_TRUE(absl::StrContains(run.err, target)) << run.err;
    EXPECT_TRUE(run.json.fields().empty()) << target;
  }
  // "localhost" is accepted. Whether it then connects depends on the machine naming it: a
  // bare chroot without /etc/hosts cannot resolve it (gRPC's c-ares has no built-in entry).
  Run ok = Loadgen({absl::StrCat("--target=localhost:", port_), "--rpc=health", "--requests=10",
                    "--warmup_seconds=0"},
                   /*add_target=*/false);
  EXPECT_NE(ok.exit_code, 2) << "localhost was refused: " << ok.err;
  addrinfo* resolved = nullptr;
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  if (getaddrinfo("localhost", nullptr, &hints, &resolved) == 0) {
    freeaddrinfo(resolved);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(Num(ok.json, "requests"), 10);
  } else {
    std::cerr << "note: this machine does not resolve localhost; checked only that the loadgen "
                 "accepts it\n";
    EXPECT_EQ(ok.exit_code, 1) << ok.err;  // accepted, then could not connect
  }
}

}  // namespace
