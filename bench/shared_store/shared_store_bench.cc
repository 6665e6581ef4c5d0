// shared_store_bench: the same calls against a server on the filesystem store and against two
// replicas on the shared store (PostgreSQL 15 + Ceph radosgw, both real, on this machine), in
// one run. Prints a Markdown table (stdout) for bench/RESULTS.md.
//
//   bazel run -c opt //bench/shared_store:shared_store_bench -- [--rounds N] [--calls N]
//
// Rows:
//   upload          UploadSnapshot of a new bundle, to the response (build + store)
//   warm call       Execute on a warm pool, sequential, concurrency 1
//   cold call       the first Execute of a snapshot on a server that has no pool for it:
//                   fs: right after its upload on the same server (restore from local disk);
//                   shared: on replica B after the upload on replica A (B never saw it: name
//                   lookup in PostgreSQL, download from the bucket, sha256, restore)
// SHARED_STORE_BENCH_DEBUG=1 also prints replica A's time per store operation (from its
// isopool_store_dependency_request_seconds) and the shared uploads in order, to stderr.
// Each server runs with --restore_threads=1 --v8_platform_threads=1 (ServerProcess), and the
// client shares the 2 cores with the servers, PostgreSQL and Ceph.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/fixtures/real_services.h"
#include "tests/harness/server_process.h"

namespace isopool::testing {
namespace {

// A bundle of `functions` small functions plus version(); distinct per `seed`.
std::string Bundle(int seed, int functions) {
  std::string out;
  for (int i = 0; i < functions; ++i) {
    absl::StrAppend(&out, "function f", i, "(x) { return x * ", i + seed, " + ", seed, "; }\n");
  }
  absl::StrAppend(&out, "function version() { return ", seed, "; }\n");
  return out;
}

struct Stats {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  size_t n = 0;
};
Stats Summarize(std::vector<double> ms) {
  Stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  s.p50_ms = at(0.5);
  s.p90_ms = at(0.9);
  s.p99_ms = at(0.99);
  s.n = ms.size();
  return s;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

v1::SnapshotSpec Spec(const std::string& name) {
  v1::SnapshotSpec spec;
  spec.set_name(name);
  spec.set_kind(v1::CLASSIC_SCRIPT);
  return spec;
}

bool Check(const grpc::Status& status, const char* what) {
  if (status.ok()) return true;
  std::fprintf(stderr, "%s failed: %s\n", what, status.error_message().c_str());
  return false;
}

int Main(int argc, char** argv) {
  int rounds = 15, calls = 1000, functions = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int value = 0;
    if (!absl::SimpleAtoi(argv[i + 1], &value)) continue;
    if (flag == "--rounds") rounds = value;
    if (flag == "--calls") calls = value;
    if (flag == "--functions") functions = value;
  }
  // Runfiles for ServerProcess and the Ceph script, under `bazel run`.
  if (std::getenv("TEST_SRCDIR") == nullptr) {
    setenv("TEST_SRCDIR", absl::StrCat(argv[0], ".runfiles").c_str(), 1);
    setenv("TEST_WORKSPACE", "isopool", 1);
  }
  if (std::getenv("TEST_TMPDIR") == nullptr) setenv("TEST_TMPDIR", "/tmp", 1);

  absl::Time t0 = absl::Now();
  auto pg = RealPostgres::Start();
  if (!pg.ok()) return std::fprintf(stderr, "%s\n", pg.status().ToString().c_str()), 1;
  auto ceph = RealCeph::Start();
  if (!ceph.ok()) return std::fprintf(stderr, "%s\n", ceph.status().ToString().c_str()), 1;
  std::fprintf(stderr, "PostgreSQL and Ceph up in %.1f s\n",
               absl::ToDoubleSeconds(absl::Now() - t0));
  auto db = (*pg)->NewDatabase();
  if (!db.ok()) return 1;
  store::S3ClientOptions s3 = (*ceph)->S3Options((*ceph)->NewBucketName());
  setenv("ISOPOOL_HASH_SEED", "81985529216486895", 1);
  setenv("ISOPOOL_S3_ACCESS_KEY", s3.access_key.c_str(), 1);
  setenv("ISOPOOL_S3_SECRET_KEY", s3.secret_key.c_str(), 1);
  std::vector<std::string> shared = {"--snapshot_store=shared", "--pg_conninfo=" + *db,
                                     "--s3_endpoint=" + s3.endpoint, "--s3_bucket=" + s3.bucket,
                                     "--s3_create_bucket"};
  auto fs = ServerProcess::Start(NewTempDir("bench-fs"), {});
  auto a = ServerProcess::Start(NewTempDir("bench-a"), shared);
  auto b = ServerProcess::Start(NewTempDir("bench-b"), shared);
  if (!fs.ok() || !a.ok() || !b.ok()) {
    std::fprintf(stderr, "a server did not start\n");
    return 1;
  }
  auto fs_stub = (*fs)->Stub();
  auto a_stub = (*a)->Stub();
  auto b_stub = (*b)->Stub();
  // Wait until the shared replicas are ready (their store reached both dependencies).
  for (auto* server : {a->get(), b->get()}) {
    absl::Status ready = WaitUntil(
        [&] {
          return server->Health(ServerProcess::kApiService) ==
                 grpc::health::v1::HealthCheckResponse::SERVING;
        },
        absl::Seconds(30), "replica never ready", absl::Milliseconds(50));
    if (!ready.ok()) return std::fprintf(stderr, "%s\n", ready.ToString().c_str()), 1;
  }

  std::vector<double> up_fs, up_shared, cold_fs, cold_shared, warm_fs, warm_shared;
  size_t bundle_bytes = Bundle(1, functions).size();
  uint64_t blob_bytes = 0;
  // Interleaved so that background load hits both stores alike.
  for (int round = 0; round < rounds; ++round) {
    for (int which = 0; which < 2; ++which) {
      const bool is_fs = which == 0;
      const int seed = round * 2 + which + 100;
      const std::string name = absl::StrCat(is_fs ? "fs" : "shared", round);
      v1::UploadSnapshotResponse uploaded;
      absl::Time start = absl::Now();
      if (!Check(Upload(is_fs ? *fs_stub : *a_stub, Spec(name), Bundle(seed, functions), &uploaded),
                 "upload")) {
        return 1;
      }
      (is_fs ? up_fs : up_shared).push_back(Ms(absl::Now() - start));
      blob_bytes = uploaded.snapshot().blob_bytes();
      v1::ExecuteResponse response;
      // fs: the same server; shared: replica B, which has never seen this snapshot.
      v1::Isopool::Stub& caller = is_fs ? *fs_stub : *b_stub;
      start = absl::Now();
      if (!Check(Execute(caller, FunctionRequest(name, "version"), &response), "cold call"))
        return 1;
      (is_fs ? cold_fs : cold_shared).push_back(Ms(absl::Now() - start));
      if (response.result_json() != std::to_string(seed)) {
        std::fprintf(stderr, "cold call answered %s\n", response.result_json().c_str());
        return 1;
      }
    }
  }
  // Warm calls, alternating blocks of 100, on the last snapshot of each store.
  const std::string fs_name = absl::StrCat("fs", rounds - 1);
  const std::string shared_name = absl::StrCat("shared", rounds - 1);
  for (int block = 0; block < calls / 100; ++block) {
    for (int which = 0; which < 2; ++which) {
      for (int i = 0; i < 100; ++i) {
        v1::ExecuteResponse response;
        absl::Time start = absl::Now();
        bool ok = which == 0
                      ? Execute(*fs_stub, FunctionRequest(fs_name, "version"), &response).ok()
                      : Execute(*b_stub, FunctionRequest(shared_name, "version"), &response).ok();
        if (!ok) return std::fprintf(stderr, "warm call failed\n"), 1;
        (which == 0 ? warm_fs : warm_shared).push_back(Ms(absl::Now() - start));
      }
    }
  }

  if (std::getenv("SHARED_STORE_BENCH_DEBUG") != nullptr) {
    auto text = HttpGet((*a)->metrics_port(), "/metrics");
    if (text.ok()) {
      for (absl::string_view line : absl::StrSplit(*text, '\n')) {
        if (absl::StartsWith(line, "isopool_store_dependency_request_seconds_sum")) {
          std::fprintf(stderr, "%s\n", std::string(line).c_str());
        }
      }
    }
  }
  std::string order;
  for (double ms : up_shared) absl::StrAppend(&order, static_cast<int>(ms), " ");
  std::fprintf(stderr, "shared uploads in order (ms): %s\n", order.c_str());
  auto row = [](const char* what, const char* store, const Stats& s) {
    std::printf("| %s | %s | %zu | %.2f | %.2f | %.2f |\n", what, store, s.n, s.p50_ms, s.p90_ms,
                s.p99_ms);
  };
  std::printf("Bundle: %d functions, %zu bytes of source, %llu bytes of envelope.\n\n", functions,
              bundle_bytes, static_cast<unsigned long long>(blob_bytes));
  std::printf("| measure | store | n | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|---|\n");
  row("upload", "fs", Summarize(up_fs));
  row("upload", "shared (PostgreSQL + Ceph)", Summarize(up_shared));
  row("cold call (no pool yet)", "fs: same server, local disk", Summarize(cold_fs));
  row("cold call (no pool yet)", "shared: other replica, never saw it", Summarize(cold_shared));
  row("warm call", "fs", Summarize(warm_fs));
  row("warm call", "shared (replica B)", Summarize(warm_shared));
  return 0;
}

}  // namespace
}  // namespace isopool::testing

int main(int argc, char** argv) { return isopool::testing::Main(argc, argv); }
