// translate.cc: proto <-> domain, without a server. The end-to-end tests cover the same paths
// through gRPC; these pin each rule (defaults, caps, errors) where it is written. (An upload's
// spec -> pack options is spec_test.cc.)
#include "service/translate.h"

#include <string>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "service/spec.h"

namespace isopool::service {
namespace {

v1::SnapshotSpec Spec(const std::string& name = "rules") {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  return spec;
}

// What a spec asks for survives the trip through the envelope's annotations.
TEST(PolicyFromAnnotationsTest, RoundTripsThePoolPolicyOfASpec) {
  ServerConfig config;
  v1::SnapshotSpec spec = Spec();
  spec.mutable_pool()->set_isolation(v1::SHARED);
  spec.mutable_pool()->set_min_warm(2);
  spec.mutable_pool()->set_max_isolates(3);
  spec.mutable_pool()->mutable_default_limits()->set_heap_mib(32);
  engine::PackOptions options;
  ASSERT_TRUE(SpecToPackOptions(spec, config.build, &options).ok());
  pool::PoolPolicy policy = PolicyFromAnnotations(options.annotations, config);
  EXPECT_EQ(policy.isolation, pool::IsolationMode::kShared);
  EXPECT_EQ(policy.min_warm, 2);
  EXPECT_EQ(policy.max_isolates, 3);
  EXPECT_EQ(policy.isolate.heap_limit_bytes, size_t{32} << 20);
  EXPECT_EQ(policy.isolate.max_array_buffer_bytes, size_t{32} << 20);
  EXPECT_EQ(policy.max_heap_after_call_bytes, (size_t{32} << 20) / 4 * 3);
}

TEST(PolicyFromAnnotationsTest, TheServersDefaultsAndCapsFillTheRest) {
  ServerConfig config;
  config.default_isolation = pool::IsolationMode::kFresh;
  config.default_min_warm = 3;
  config.default_max_isolates = 2;  // min_warm is capped by max_isolates
  pool::PoolPolicy blank = PolicyFromAnnotations({}, config);
  EXPECT_EQ(blank.isolation, pool::IsolationMode::kFresh);
  EXPECT_EQ(blank.max_isolates, 2);
  EXPECT_EQ(blank.min_warm, 2);
  EXPECT_EQ(blank.isolate.heap_limit_bytes, size_t{config.default_heap_mib} << 20);

  // Annotations from a server with higher caps (or garbage) never exceed this server's.
  config.build.max_isolates_per_snapshot = 4;
  config.max_heap_mib = 128;
  pool::PoolPolicy capped = PolicyFromAnnotations(
      {{"pool.isolation", "bogus"}, {"pool.max_isolates", "100"}, {"limits.heap_mib", "4096"}},
      config);
  EXPECT_EQ(capped.isolation, pool::IsolationMode::kFresh);
  EXPECT_EQ(capped.max_isolates, 4);
  EXPECT_EQ(capped.isolate.heap_limit_bytes, size_t{128} << 20);
}

TEST(SnapshotLimitsTest, ASnapshotsDefaultIsAlsoItsMaximum) {
  ServerConfig config;
  config.default_timeout_ms = 1000;
  config.max_timeout_ms = 30000;
  SnapshotLimits limits = SnapshotLimitsFromAnnotations({{"limits.timeout_ms", "250"}}, config);
  EXPECT_EQ(limits.defaults.timeout_ms, 250u);
  EXPECT_EQ(limits.maxima.timeout_ms, 250u);
  // Unset: the server's default, up to the server's maximum.
  EXPECT_EQ(limits.defaults.cpu_ms, config.default_cpu_ms);
  EXPECT_EQ(limits.maxima.cpu_ms, config.max_cpu_ms);
  // The heap is the isolate's own limit, so its default and maximum are one number.
  EXPECT_EQ(limits.defaults.heap_mib, config.default_heap_mib);
  EXPECT_EQ(limits.maxima.heap_mib, config.default_heap_mib);
  // Above the server's maximum: the maximum.
  EXPECT_EQ(
      SnapshotLimitsFromAnnotations({{"limits.timeout_ms", "99999"}}, config).defaults.timeout_ms,
      30000u);
}

TEST(ResolveLimitsTest, AskedDefaultedCappedAndBoundByTheDeadline) {
  ServerConfig config;
  config.max_log_bytes = 1234;
  SnapshotLimits policy;
  policy.defaults = {/*timeout_ms=*/1000, /*cpu_ms=*/500, /*heap_mib=*/64,
                     /*max_result_bytes=*/100};
  policy.maxima = {/*timeout_ms=*/2000, /*cpu_ms=*/800, /*heap_mib=*/64,
                   /*max_result_bytes=*/200};

  engine::CallLimits defaulted = ResolveLimits(v1::Limits(), policy, config, absl::Hours(1));
  EXPECT_EQ(defaulted.wall, absl::Milliseconds(1000));
  EXPECT_EQ(defaulted.cpu, absl::Milliseconds(500));
  EXPECT_EQ(defaulted.heap_bytes, 0u);  // the isolate's own limit: nothing per call
  EXPECT_EQ(defaulted.max_result_bytes, 100u);
  EXPECT_EQ(defaulted.max_log_bytes, 1234u);

  v1::Limits asked;
  asked.set_timeout_ms(60000);
  asked.set_cpu_ms(700);
  asked.set_heap_mib(16);
  asked.set_max_result_bytes(1000);
  engine::CallLimits capped = ResolveLimits(asked, policy, config, absl::Hours(1));
  EXPECT_EQ(capped.wall, absl::Milliseconds(2000));
  EXPECT_EQ(capped.cpu, absl::Milliseconds(700));
  EXPECT_EQ(capped.heap_bytes, size_t{16} << 20);  // below the isolate's: checked per call
  EXPECT_EQ(capped.max_result_bytes, 200u);

  // The caller's deadline caps the wall clock.
  EXPECT_EQ(ResolveLimits(asked, policy, config, absl::Milliseconds(300)).wall,
            absl::Milliseconds(300));
}

// Every engine error kind has the API kind of the same name (the table is indexed by the enum:
// a kind added to the engine but not to the table would read past it).
TEST(FillExecuteResponseTest, EveryErrorKindMapsToTheApiKindOfTheSameName) {
  int kinds = 0;
  for (int k = 0;; ++k) {
    const auto kind = static_cast<engine::ErrorKind>(k);
    const std::string name = engine::ErrorKindName(kind);
    if (name == "unknown") break;
    engine::CallResult result;
    result.error = engine::ScriptError{};
    result.error->kind = kind;
    result.error->message = "m";
    v1::ExecuteResponse response;
    FillExecuteResponse(result, &response);
    EXPECT_EQ(v1::ScriptError::Kind_Name(response.error().kind()), absl::AsciiStrToUpper(name));
    ++kinds;
  }
  EXPECT_GE(kinds, 9);
}

TEST(FillExecuteResponseTest, ResultLogsAndStats) {
  engine::CallResult result;
  result.result_json = "42";
  result.logs.push_back({engine::LogLevel::kWarn, "careful"});
  result.stats.wall = absl::Microseconds(1500);
  result.stats.cpu = absl::Microseconds(700);
  result.condemned = engine::CondemnReason::kTimeout;
  v1::ExecuteResponse response;
  FillExecuteResponse(result, &response);
  EXPECT_EQ(response.result_json(), "42");
  ASSERT_EQ(response.logs_size(), 1);
  EXPECT_EQ(response.logs(0).level(), v1::LogLine::WARN);
  EXPECT_EQ(response.logs(0).message(), "careful");
  EXPECT_EQ(response.stats().wall_us(), 1500);
  EXPECT_EQ(response.stats().cpu_us(), 700);
  EXPECT_TRUE(response.stats().isolate_condemned());
  EXPECT_FALSE(response.has_error());
}

TEST(ToSnapshotProtoTest, CopiesTheMetadataAndTheNameWinsOverTheStoredSpec) {
  store::SnapshotMetadata metadata;
  metadata.id = "sha256:" + std::string(64, 'a');
  metadata.source_bytes = 10;
  metadata.blob_bytes = 20;
  metadata.bundle_sha256 = std::string(64, 'b');
  metadata.v8_version = "10.2";
  metadata.build_ms = 30;
  metadata.created_ms = 40;
  v1::SnapshotSpec stored = Spec("old-name");
  stored.set_entry("main");
  metadata.spec = stored.SerializeAsString();
  v1::Snapshot snapshot = ToSnapshotProto("new-name", metadata);
  EXPECT_EQ(snapshot.id(), metadata.id);
  EXPECT_EQ(snapshot.name(), "new-name");
  EXPECT_EQ(snapshot.source_bytes(), 10u);
  EXPECT_EQ(snapshot.blob_bytes(), 20u);
  EXPECT_EQ(snapshot.bundle_sha256(), metadata.bundle_sha256);
  EXPECT_EQ(snapshot.v8_version(), "10.2");
  EXPECT_EQ(snapshot.build_ms(), 30u);
  EXPECT_EQ(snapshot.created_ms(), 40);
  EXPECT_EQ(snapshot.spec().name(), "new-name");
  EXPECT_EQ(snapshot.spec().entry(), "main");
  // By id: no name, the stored spec's name stays.
  EXPECT_EQ(ToSnapshotProto("", metadata).spec().name(), "old-name");
}

TEST(ToGrpcStatusTest, KeepsTheCodeAndTheMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  grpc::Status status = ToGrpcStatus(absl::ResourceExhaustedError("queue full: retry later"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "queue full: retry later");
}

}  // namespace
}  // namespace isopool::service
