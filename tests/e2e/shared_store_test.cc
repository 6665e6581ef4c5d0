// Three real isopool_server processes on one PostgreSQL 15 and one Ceph radosgw bucket
// (--snapshot_store=shared), as replicas behind a Service would run. The database and Ceph are
// real and started once for this binary (tests/fixtures:real_services).
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/s3_client.h"
#include "tests/fixtures/real_services.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kHashSeed[] = "81985529216486895";  // every replica must share it
constexpr auto kServing = grpc::health::v1::HealthCheckResponse::SERVING;
constexpr char kWarm[] = "isopool_pool_isolates{state=\"warm\"}";
constexpr char kPostgresUp[] = "isopool_store_dependency_up{dependency=\"postgres\"}";

std::string Bundle(int version) {
  return absl::StrCat("function version() { return ", version, "; }\n",
                      "function add(a, b) { return a + b + ", version * 1000, "; }\n");
}

v1::SnapshotSpec Spec(const std::string& name) {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  spec.set_kind(v1::CLASSIC_SCRIPT);
  return spec;
}

class SharedStoreE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(SharedServices().postgres, nullptr);
    ASSERT_NE(SharedServices().ceph, nullptr);
    auto db = SharedServices().postgres->NewDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
    bucket_ = SharedServices().ceph->NewBucketName();
    store::S3ClientOptions s3 = SharedServices().ceph->S3Options(bucket_);
    // Secrets through the environment, as from a Kubernetes Secret.
    setenv("ISOPOOL_HASH_SEED", kHashSeed, 1);
    setenv("ISOPOOL_S3_ACCESS_KEY", s3.access_key.c_str(), 1);
    setenv("ISOPOOL_S3_SECRET_KEY", s3.secret_key.c_str(), 1);
  }

  std::vector<std::string> Flags() const {
    return {"--snapshot_store=shared",
            "--pg_conninfo=" + conninfo_,
            "--s3_endpoint=" + SharedServices().ceph->endpoint(),
            "--s3_bucket=" + bucket_,
            "--s3_create_bucket",
            "--store_timeout_ms=3000",
            "--store_transfer_timeout_ms=5000",
            "--max_concurrent_uploads=16",
            "--workers=2"};
  }

  std::unique_ptr<ServerProcess> StartReplica(const std::string& label,
                                              std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = Flags();
    for (auto& f : extra) flags.push_back(std::move(f));
    auto server = ServerProcess::Start(NewTempDir(label), flags);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    // Ready once the store has migrated and reached both dependencies.
    absl::Status ready =
        WaitUntil([&] { return (*server)->Health(ServerProcess::kApiService) == kServing; },
                  absl::Seconds(20), "the API never became SERVING");
    EXPECT_TRUE(ready.ok()) << ready << "\n" << (*server)->LogTail();
    return *std::move(server);
  }

  void StartThree() {
    for (int i = 0; i < 3; ++i) {
      replicas_.push_back(StartReplica(absl::StrCat("replica", i)));
      ASSERT_NE(replicas_.back(), nullptr);
      stubs_.push_back(replicas_.back()->Stub());
    }
  }

  // Calls `function` of `snapshot` on replica `r` until it answers `want` or `within` passes;
  // how long that took (InfiniteDuration if never).
  absl::Duration TimeUntil(int r, const std::string& snapshot, const std::string& want,
                           absl::Duration within) {
    absl::Time start = absl::Now();
    auto answered = [&] {
      v1::ExecuteResponse response;
      grpc::Status status =
          Execute(*stubs_[r], FunctionRequest(snapshot, "version"), &response, absl::Seconds(2));
      return status.ok() && response.result_json() == want;
    };
    if (!WaitUntil(answered, within, "no answer", absl::Milliseconds(10)).ok()) {
      return absl::InfiniteDuration();
    }
    return absl::Now() - start;
  }

  std::string conninfo_;
  std::string bucket_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::vector<std::unique_ptr<v1::Isopool::Stub>> stubs_;
};

TEST_F(SharedStoreE2eTest, UploadMoveAndDeleteReachEveryReplica) {
  StartThree();
  // Each replica's warm isolates before any upload: the blank snapshot's, one per worker
  // process (--workers=2), once both workers have reported.
  std::vector<double> blank_warm;
  for (auto& r : replicas_) {
    ASSERT_TRUE(r->WaitForMetric(
                     kWarm, [](double warm) { return warm >= 2; }, absl::Seconds(10))
                    .ok())
        << "blank pools never warmed";
    blank_warm.push_back(r->Metric(kWarm));
    ASSERT_EQ(blank_warm.back(), 2);
  }
  // Upload on replica 0; a call by name on 1 and 2 works within 1 s of the upload returning.
  v1::UploadSnapshotResponse v1_upload;
  ASSERT_TRUE(Upload(*stubs_[0], Spec("rules"), Bundle(1), &v1_upload).ok());
  for (int r : {1, 2}) {
    EXPECT_LT(TimeUntil(r, "rules", "1", absl::Seconds(1)), absl::Seconds(1)) << "replica " << r;
  }
  // By id too, at once.
  v1::ExecuteResponse by_id;
  ASSERT_TRUE(
      Execute(*stubs_[2], FunctionRequest(v1_upload.snapshot().id(), "version"), &by_id).ok());
  EXPECT_EQ(by_id.result_json(), "1");
  // Move the name with an upload on replica 1: all three follow within 1 s.
  v1::UploadSnapshotResponse v2_upload;
  ASSERT_TRUE(Upload(*stubs_[1], Spec("rules"), Bundle(2), &v2_upload).ok());
  for (int r : {0, 1, 2}) {
    EXPECT_LT(TimeUntil(r, "rules", "2", absl::Seconds(1)), absl::Seconds(1)) << "replica " << r;
  }
  // Every replica has a warm pool for v2 now; delete it on replica 2: all three drain.
  grpc::ClientContext context;
  v1::DeleteSnapshotRequest del;
  del.set_snapshot(v2_upload.snapshot().id());
  v1::DeleteSnapshotResponse deleted;
  ASSERT_TRUE(stubs_[2]->DeleteSnapshot(&context, del, &deleted).ok());
  // v1 still has pools from the first calls: delete it as well (by name, now unnamed: by id).
  grpc::ClientContext context1;
  del.set_snapshot(v1_upload.snapshot().id());
  ASSERT_TRUE(stubs_[0]->DeleteSnapshot(&context1, del, &deleted).ok());
  // Every replica drains: both ids and the name are gone, and its warm isolates are back to
  // the blank pools alone, within a second or two (each replica hears it through LISTEN).
  for (int r = 0; r < 3; ++r) {
    double warm = -1;
    grpc::StatusCode by_name = grpc::StatusCode::OK, by_id = grpc::StatusCode::OK;
    auto drained = [&] {
      v1::ExecuteResponse response;
      by_name = Execute(*stubs_[r], FunctionRequest("rules", "version"), &response).error_code();
      by_id = Execute(*stubs_[r], FunctionRequest(v2_upload.snapshot().id(), "version"), &response)
                  .error_code();
      warm = replicas_[r]->Metric(kWarm);
      return by_name == grpc::StatusCode::NOT_FOUND && by_id == grpc::StatusCode::NOT_FOUND &&
             warm == blank_warm[r];
    };
    (void)WaitUntil(drained, absl::Seconds(2), "drained", absl::Milliseconds(20));
    EXPECT_EQ(by_name, grpc::StatusCode::NOT_FOUND) << "replica " << r;
    EXPECT_EQ(by_id, grpc::StatusCode::NOT_FOUND) << "replica " << r;
    EXPECT_EQ(warm, blank_warm[r]) << "replica " << r << " kept a pool of a deleted snapshot";
  }
}

TEST_F(SharedStoreE2eTest, SixteenConcurrentUploadsToDifferentReplicasCreateOnce) {
  StartThree();
  std::atomic<int> created{0}, ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      v1::UploadSnapshotResponse response;
      grpc::Status status = Upload(*stubs_[i % 3], Spec("same"), Bundle(7), &response);
      if (status.ok()) ++ok;
      if (status.ok() && response.created()) ++created;
      EXPECT_TRUE(status.ok()) << status.error_message();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_EQ(created.load(), 1);
  auto s3 = store::S3Client::Create(SharedServices().ceph->S3Options(bucket_));
  auto objects = (*s3)->List("snapshots/", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_EQ(objects->size(), 1u);
}

TEST_F(SharedStoreE2eTest, KillNineMidUploadLeavesNothingVisible) {
  StartThree();
  // A bundle whose build takes a while (busy top level), so the kill lands while it is being
  // packed, after the whole bundle was received.
  std::string slow = "let n = 0; while (n < 3e9) n++;\n" + Bundle(9);
  std::thread upload([&] {
    v1::UploadSnapshotResponse response;
    grpc::Status status = Upload(*stubs_[0], Spec("doomed"), slow, &response);
    EXPECT_FALSE(status.ok());
  });
  // The event: the server has an isopool_pack child (the build started).
  absl::Status building =
      WaitUntil([&] { return !replicas_[0]->ChildPids("isopool_pack").empty(); }, absl::Seconds(10),
                "the build never started", absl::Milliseconds(2));
  replicas_[0]->Signal(SIGKILL);
  replicas_[0]->Wait();
  upload.join();
  ASSERT_TRUE(building.ok()) << building;
  for (int r : {1, 2}) {
    grpc::ClientContext context;
    v1::ListSnapshotsRequest list;
    v1::ListSnapshotsResponse listed;
    ASSERT_TRUE(stubs_[r]->ListSnapshots(&context, list, &listed).ok());
    EXPECT_EQ(listed.snapshots_size(), 0) << "replica " << r;
    v1::ExecuteResponse response;
    EXPECT_EQ(Execute(*stubs_[r], FunctionRequest("doomed", "version"), &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(SharedStoreE2eTest, CorruptObjectIsNeverGivenToV8) {
  StartThree();
  v1::UploadSnapshotResponse upload;
  ASSERT_TRUE(Upload(*stubs_[0], Spec("fragile"), Bundle(3), &upload).ok());
  const std::string id = upload.snapshot().id();
  auto s3 = store::S3Client::Create(SharedServices().ceph->S3Options(bucket_));
  const std::string key = "snapshots/" + id.substr(7);
  auto bytes = (*s3)->Get(key, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(bytes.ok());
  std::string damaged = *bytes;
  damaged[damaged.size() / 2] ^= 0x40;  // inside V8's snapshot data
  ASSERT_TRUE((*s3)->PutIfAbsent(key, damaged, absl::Now() + absl::Seconds(5), true).ok());
  // Replica 2 never loaded it: a cold load downloads the damaged bytes.
  v1::ExecuteResponse response;
  grpc::Status status = Execute(*stubs_[2], FunctionRequest("fragile", "version"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("quarantined"));
  EXPECT_EQ(replicas_[2]->Metric("isopool_snapshot_quarantined_total"), 1);
  EXPECT_THAT(replicas_[2]->Stderr(), HasSubstr("sha256 mismatch"));
  // The server is alive and serving, and the name is gone everywhere.
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(Execute(*stubs_[r], SourceRequest("1 + 1"), &response).error_code(),
              grpc::StatusCode::OK);
  }
}

TEST_F(SharedStoreE2eTest, DependenciesDownWhileServing) {
  StartThree();
  v1::UploadSnapshotResponse warm;
  ASSERT_TRUE(Upload(*stubs_[0], Spec("warm"), Bundle(4), &warm).ok());
  v1::UploadSnapshotResponse cold;
  ASSERT_TRUE(Upload(*stubs_[0], Spec("cold"), Bundle(5), &cold).ok());
  // Replica 1 warms "warm" (and keeps calling it until its name cache holds it).
  ASSERT_LT(TimeUntil(1, "warm", "4", absl::Seconds(1)), absl::Seconds(1));
  for (int i = 0; i < 20; ++i)
    ASSERT_LT(TimeUntil(1, "warm", "4", absl::Seconds(1)), absl::Seconds(1));

  // PostgreSQL down: warm calls keep working; uploads fail fast, naming the database.
  SharedServices().postgres->Stop();
  EXPECT_LT(TimeUntil(1, "warm", "4", absl::Seconds(1)), absl::Seconds(1));
  absl::Time start = absl::Now();
  v1::UploadSnapshotResponse refused;
  grpc::Status status = Upload(*stubs_[1], Spec("new"), Bundle(6), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("PostgreSQL"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(replicas_[1]->Metric(kPostgresUp), 0);
  ASSERT_TRUE(SharedServices().postgres->Restart().ok());
  // Each replica notices the database is back within a second or so (its prober).
  for (int r = 0; r < 3; ++r) {
    (void)replicas_[r]->WaitForMetric(
        kPostgresUp, [](double up) { return up == 1; }, absl::Seconds(5));
  }

  // The object store down: warm calls keep working; a cold load on a replica that never had
  // the blob fails fast with UNAVAILABLE naming the object store.
  ASSERT_LT(TimeUntil(1, "warm", "4", absl::Seconds(5)), absl::Seconds(5));  // PG back
  SharedServices().ceph->StopGateway();
  EXPECT_LT(TimeUntil(1, "warm", "4", absl::Seconds(1)), absl::Seconds(1));
  start = absl::Now();
  v1::ExecuteResponse response;
  status = Execute(*stubs_[2], FunctionRequest("cold", "version"), &response, absl::Seconds(10));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("object store"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  status = Upload(*stubs_[2], Spec("new"), Bundle(6), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  ASSERT_TRUE(SharedServices().ceph->StartGateway().ok());
  EXPECT_LT(TimeUntil(2, "cold", "5", absl::Seconds(10)), absl::Seconds(10));
}

TEST_F(SharedStoreE2eTest, StartsNotServingWhileTheDatabaseIsDownAndSaysWhy) {
  SharedServices().postgres->Stop();
  std::vector<std::string> flags = Flags();
  auto server = ServerProcess::Start(NewTempDir("notready"), flags);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->Health(ServerProcess::kApiService),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // The process as a whole stays SERVING: a liveness probe must not restart it for this.
  EXPECT_EQ((*server)->Health(), kServing);
  v1::ExecuteResponse response;
  grpc::Status status = Execute(*(*server)->Stub(), FunctionRequest("x", "f"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // The log says why, once the first attempt failed.
  (void)(*server)->WaitForLog("store_not_ready", absl::Seconds(5));
  EXPECT_THAT((*server)->Stderr(), HasSubstr("store_not_ready"));
  EXPECT_THAT((*server)->Stderr(), HasSubstr("PostgreSQL 127.0.0.1"));
  // Credentials never reach the logs.
  EXPECT_THAT((*server)->Stderr(), ::testing::Not(HasSubstr(getenv("ISOPOOL_S3_SECRET_KEY"))));
  ASSERT_TRUE(SharedServices().postgres->Restart().ok());
  absl::Status serving =
      WaitUntil([&] { return (*server)->Health(ServerProcess::kApiService) == kServing; },
                absl::Seconds(15), "the API never became SERVING after PostgreSQL came back");
  EXPECT_TRUE(serving.ok()) << serving << "\n" << (*server)->LogTail();
}

// HAProxy in front of three replicas, hashing x-isopool-snapshot, with isopoolctl (which sets
// the header) as the client: every name lands on one backend, and the others never build a
// pool for it.
TEST_F(SharedStoreE2eTest, AffinityRouterKeepsEachNameOnOneReplica) {
  StartThree();
  std::vector<int> ports;
  for (auto& r : replicas_) ports.push_back(r->port());
  auto router = RealHaproxy::Start(ports);
  ASSERT_TRUE(router.ok()) << router.status();
  const std::string ctl = Runfile("cli/isopoolctl");
  auto run = [&](const std::string& args) {
    std::string command =
        absl::StrCat(ctl, " --addr ", (*router)->address(), " ", args, " >/dev/null 2>&1");
    return std::system(command.c_str());
  };
  const std::vector<std::string> names = {"alpha", "bravo", "charlie", "delta", "echo", "fox"};
  const std::string bundle = NewTempDir("bundle") + "/bundle.js";
  for (const std::string& name : names) {
    std::ofstream(bundle) << Bundle(static_cast<int>(name.size()) * 7 + name[0]);
    ASSERT_EQ(run(absl::StrCat("upload ", bundle, " --name ", name)), 0) << name;
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(run(absl::StrCat("exec ", name, " --function version")), 0) << name;
    }
  }
  // The router's log: which server each request (upload or exec) went to, by header.
  std::map<std::string, std::set<std::string>> servers_of;
  std::map<std::string, int> execs_on;
  for (absl::string_view line : absl::StrSplit((*router)->Log(), '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 2) continue;
    servers_of[parts[1]].insert(parts[0]);
  }
  std::set<std::string> used;
  for (const std::string& name : names) {
    ASSERT_EQ(servers_of[name].size(), 1u) << name << " reached several replicas";
    std::string server = *servers_of[name].begin();
    used.insert(server);
    execs_on[server] += 4;
  }
  EXPECT_GE(used.size(), 2u) << "every name hashed to one replica: no spread";
  // Each replica ran exactly the calls routed to it, so the others never warmed those names.
  for (size_t r = 0; r < replicas_.size(); ++r) {
    double ok = replicas_[r]->Metric("isopool_executions_total{outcome=\"ok\"}");
    int want = execs_on[absl::StrCat("s", r)];
    EXPECT_EQ(ok < 0 ? 0 : ok, want) << "replica " << r;
  }
}

}  // namespace
}  // namespace isopool::testing
