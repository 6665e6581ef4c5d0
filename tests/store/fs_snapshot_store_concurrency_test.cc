// FilesystemSnapshotStore under concurrent writers, deleters and readers: no torn reads, no
// spurious corruption, ids always right, and the end state survives a reopen.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "gtest/gtest.h"
#include "store/fs_snapshot_store.h"
#include "tests/store/test_util.h"

namespace isopool::store {

using ::isopool::base::Sha256Hex;
namespace {

using ::isopool::store::testing::CheckEnvelope;
using ::isopool::store::testing::FreshDataDir;
using ::isopool::store::testing::MakeEnvelope;
using ::isopool::store::testing::MakeMetadata;
using ::isopool::store::testing::RecordingObserver;

constexpr int kWriters = 4;
constexpr int kIterations = 30;
constexpr int kSharedSeeds = 8;  // writers upload the same envelopes, so Puts collide
constexpr size_t kEnvelopeBytes = 20000;

TEST(FsSnapshotStoreConcurrencyTest, WritersDeletersAndReadersAgree) {
  const std::string dir = FreshDataDir("concurrent");
  RecordingObserver observer;
  FilesystemSnapshotStoreOptions options;
  options.validator = CheckEnvelope;
  options.observer = &observer;
  auto opened = FilesystemSnapshotStore::Open(dir, options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  FilesystemSnapshotStore& store = **opened;

  std::vector<std::string> expected_id(kSharedSeeds);
  for (int s = 0; s < kSharedSeeds; ++s) {
    expected_id[s] = "sha256:" + Sha256Hex(MakeEnvelope(s, kEnvelopeBytes));
  }
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads_ok{0};
  // Each writer's names, and the seed each should end on (-1: deleted).
  std::vector<std::map<std::string, int>> final_seed(kWriters);

  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        std::string name = absl::StrCat("w", t, "-", i % 3);
        if (i % 5 == 4) {
          auto del = store.DeleteName(name);
          if (!del.ok() && !absl::IsNotFound(del.status())) ++failures;
          final_seed[t][name] = -1;
          continue;
        }
        int seed = (t * 3 + i) % kSharedSeeds;
        auto put = store.PutAndName(name, MakeEnvelope(seed, kEnvelopeBytes), MakeMetadata(seed));
        if (!put.ok() || put->id != expected_id[seed]) {
          ADD_FAILURE() << (put.ok() ? put->id : put.status().ToString());
          ++failures;
        }
        final_seed[t][name] = seed;
      }
    });
  }
  // A deleter with content of its own: every DeleteName must remove exactly its snapshot.
  threads.emplace_back([&] {
    for (int i = 0; i < 15; ++i) {
      std::string name = absl::StrCat("d-", i);
      auto put = store.PutAndName(name, MakeEnvelope(1000 + i, 5000), MakeMetadata(1000 + i));
      auto del = store.DeleteName(name);
      if (!put.ok() || !del.ok() || del->removed_id != put->id) {
        ADD_FAILURE() << "deleter " << i;
        ++failures;
      }
    }
  });
  // Readers: any envelope returned is whole; a vanished one is NotFound, never DataLoss.
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      int k = r;
      while (!done.load()) {
        std::string target = k % 4 == 0 ? expected_id[k % kSharedSeeds]
                                        : absl::StrCat("w", k % kWriters, "-", k % 3);
        ++k;
        auto id = store.Resolve(target);
        if (!id.ok()) {
          if (!absl::IsNotFound(id.status())) ++failures;
          continue;
        }
        auto bytes = store.ReadEnvelope(*id);
        if (bytes.ok()) {
          if (!CheckEnvelope(*bytes).ok() || "sha256:" + Sha256Hex(*bytes) != *id) ++failures;
          ++reads_ok;
        } else if (!absl::IsNotFound(bytes.status())) {
          ADD_FAILURE() << bytes.status();
          ++failures;
        }
        auto page = store.List(5, "");
        if (!page.ok()) ++failures;
        store.Stats();
      }
    });
  }
  for (int t = 0; t < kWriters + 1; ++t) threads[t].join();
  done = true;
  for (size_t t = kWriters + 1; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads_ok.load(), 0);
  EXPECT_TRUE(observer.events().empty());
  EXPECT_EQ(store.Stats().quarantined_count, 0u);

  auto check_names = [&](SnapshotStore& s) {
    for (int t = 0; t < kWriters; ++t) {
      for (const auto& [name, seed] : final_seed[t]) {
        auto id = s.Resolve(name);
        if (seed < 0) {
          EXPECT_EQ(id.status().code(), absl::StatusCode::kNotFound) << name;
          continue;
        }
        ASSERT_TRUE(id.ok()) << name << ": " << id.status();
        EXPECT_EQ(*id, expected_id[seed]) << name;
        auto bytes = s.ReadEnvelope(*id);
        ASSERT_TRUE(bytes.ok()) << bytes.status();
        EXPECT_EQ(*bytes, MakeEnvelope(seed, kEnvelopeBytes));
      }
    }
    EXPECT_EQ(s.Resolve("d-3").status().code(), absl::StatusCode::kNotFound);
  };
  check_names(store);
  StoreStats before = store.Stats();
  opened->reset();

  auto reopened = FilesystemSnapshotStore::Open(dir, options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->recovery().temp_files_removed, 0u);
  EXPECT_EQ((*reopened)->recovery().uncommitted_blobs_removed, 0u);
  check_names(**reopened);
  StoreStats after = (*reopened)->Stats();
  EXPECT_EQ(after.snapshot_count, before.snapshot_count);
  EXPECT_EQ(after.total_bytes, before.total_bytes);
}

}  // namespace
}  // namespace isopool::store
