// IsopoolService under concurrent calls, with its handlers called directly on the test's threads
// (service_fixture.h: no gRPC thread involved), so that tools/sanitize.sh tsan checks the
// service's own synchronisation (drain bookkeeping, the snapshot catalog, the runner, the store)
// rather than reporting what it cannot see inside Debian's uninstrumented gRPC.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/service_fixture.h"

namespace isopool::service::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

v1::ExecuteRequest Add(const std::string& snapshot) {
  v1::ExecuteRequest request;
  request.set_snapshot(snapshot);
  request.mutable_function()->set_name("add");
  request.mutable_function()->set_args_json("[2, 3]");
  return request;
}

TEST_F(ServiceTest, HandlersCalledDirectlyAnswerAsThroughGrpc) {
  StartService();
  const std::string id = PutSnapshot(Spec("calc"), kCalcBundle);
  v1::ExecuteResponse response;
  grpc::Status status = DirectExecute(Add("calc"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result_json(), "5");
  EXPECT_EQ(response.snapshot_id(), id);
  v1::Snapshot snapshot;
  ASSERT_TRUE(DirectGet("calc", &snapshot).ok());
  EXPECT_EQ(snapshot.id(), id);
  status = DirectExecute(v1::ExecuteRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("`function`"));
}

TEST_F(ServiceTest, ConcurrentCallsListsAndDeletesThenADrain) {
  StartService();
  PutSnapshot(Spec("calc"), kCalcBundle);
  // Another envelope (other content), deleted while calls to it may be running.
  const std::string doomed_bundle = std::string(kCalcBundle) + "\n// doomed\n";
  const std::string doomed_id = PutSnapshot(Spec("doomed"), doomed_bundle);

  constexpr int kThreads = 4;
  constexpr int kRounds = 12;
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::vector<std::string> failures[kThreads];
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        v1::ExecuteResponse response;
        grpc::Status status = DirectExecute(Add(i % 2 == 0 ? "calc" : "doomed"), &response);
        if (status.ok() && response.result_json() == "5") {
          ++ok;
        } else if (i % 2 == 1 && (status.error_code() == grpc::StatusCode::NOT_FOUND ||
                                  status.error_code() == grpc::StatusCode::UNAVAILABLE)) {
          ++refused;  // "doomed": deleted, or its pool removed while the call waited for it
        } else {
          failures[t].push_back(status.error_message() + response.result_json());
        }
        v1::ExecuteRequest inline_source;
        inline_source.set_source("[1, 2].map(x => x + 1)");
        status = DirectExecute(inline_source, &response);
        if (!status.ok() || response.result_json() != "[2,3]") {
          failures[t].push_back("inline: " + status.error_message());
        }
        v1::ListSnapshotsResponse page;
        status = DirectList(1, "", &page);
        if (!status.ok()) failures[t].push_back("list: " + status.error_message());
        v1::Snapshot snapshot;
        status = DirectGet("doomed", &snapshot);
        if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
          failures[t].push_back("get: " + status.error_message());
        }
        if (t == 0 && i == kRounds / 2) {
          v1::DeleteSnapshotResponse removed;
          status = DirectDelete("doomed", &removed);
          if (!status.ok() || removed.removed_id() != doomed_id) {
            failures[t].push_back("delete: " + status.error_message());
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_THAT(failures[t], ::testing::IsEmpty()) << t;
  EXPECT_EQ(ok + refused, kThreads * kRounds);
  EXPECT_GE(ok, kThreads * kRounds / 2);  // every call to "calc" at least

  // A drain started while calls run: the ones accepted finish, later ones are refused.
  std::vector<std::thread> last;
  last.reserve(kThreads);
  std::vector<grpc::Status> statuses(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    last.emplace_back([&, t] {
      v1::ExecuteResponse response;
      statuses[t] = DirectExecute(Add("calc"), &response);
    });
  }
  service_->StartDraining();
  EXPECT_TRUE(service_->WaitIdle(absl::Now() + absl::Seconds(30)));
  for (std::thread& thread : last) thread.join();
  for (const grpc::Status& status : statuses) {
    EXPECT_THAT(status.error_code(), AnyOf(grpc::StatusCode::OK, grpc::StatusCode::UNAVAILABLE));
  }
  v1::ExecuteResponse response;
  EXPECT_EQ(DirectExecute(Add("calc"), &response).error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace isopool::service::testing
