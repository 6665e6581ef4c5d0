// FilesystemSnapshotStore: what it does with damaged or leftover files. Corruption is never
// served: it is quarantined, reported, and returned as DataLoss.

#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/atomic_file.h"
#include "store/fs_snapshot_store.h"
#include "tests/store/test_util.h"

namespace isopool::store {
namespace {

using ::isopool::store::testing::CheckEnvelope;
using ::isopool::store::testing::FilesIn;
using ::isopool::store::testing::FlipByte;
using ::isopool::store::testing::FreshDataDir;
using ::isopool::store::testing::MakeEnvelope;
using ::isopool::store::testing::MakeMetadata;
using ::isopool::store::testing::RecordingObserver;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Hex(const std::string& id) { return id.substr(7); }

void WriteRaw(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

class IntegrityTest : public ::testing::Test {
 protected:
  std::unique_ptr<FilesystemSnapshotStore> Open(bool validate = true) {
    FilesystemSnapshotStoreOptions options;
    options.observer = &observer_;
    if (validate) options.validator = CheckEnvelope;
    auto store = FilesystemSnapshotStore::Open(dir_, std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  const std::string dir_ = FreshDataDir("integrity");
  RecordingObserver observer_;
};

TEST_F(IntegrityTest, FlippedByteIsQuarantinedReportedAndNeverServed) {
  auto store = Open();
  auto bad = store->Put(MakeEnvelope(1, 4096), MakeMetadata(1));
  auto good = store->Put(MakeEnvelope(2, 4096), MakeMetadata(2));
  ASSERT_TRUE(bad.ok() && good.ok());
  ASSERT_TRUE(store->SetName("bad", bad->id).ok());
  ASSERT_TRUE(store->SetName("good", good->id).ok());
  FlipByte(dir_ + "/snapshots/" + Hex(bad->id) + ".blob", 3000);

  auto read = store->ReadEnvelope(bad->id);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr("sha256 mismatch"));
  auto events = observer_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, bad->id);
  EXPECT_THAT(events[0].second, HasSubstr("sha256 mismatch"));
  EXPECT_THAT(events[0].second, HasSubstr("names dropped: bad"));

  // Gone from the store, files moved aside, the other snapshot untouched.
  EXPECT_EQ(store->ReadEnvelope(bad->id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Resolve("bad").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(FilesIn(dir_ + "/snapshots"),
              ElementsAre(Hex(good->id) + ".blob", Hex(good->id) + ".meta"));
  std::vector<std::string> q = FilesIn(dir_ + "/quarantine");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(q[0], Hex(bad->id)) && absl::EndsWith(q[0], ".blob"));
  EXPECT_TRUE(absl::EndsWith(q[1], ".meta"));
  EXPECT_TRUE(absl::EndsWith(q[2], ".reason"));
  EXPECT_EQ(store->Stats().quarantined_count, 1u);
  EXPECT_EQ(store->Stats().snapshot_count, 1u);
  EXPECT_TRUE(store->ReadEnvelope(good->id).ok());
  EXPECT_EQ(observer_.events().size(), 1u);  // reported once

  // The count survives a restart; the quarantined snapshot does not come back.
  store.reset();
  store = Open();
  EXPECT_EQ(store->Stats().quarantined_count, 1u);
  EXPECT_EQ(store->Get(bad->id).status().code(), absl::StatusCode::kNotFound);
  // Uploading the same bytes again restores it.
  auto again = store->Put(MakeEnvelope(1, 4096), MakeMetadata(1));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->created);
  EXPECT_TRUE(store->ReadEnvelope(bad->id).ok());
}

TEST_F(IntegrityTest, ValidatorRejectionQuarantines) {
  std::string envelope = MakeEnvelope(3, 2000);
  std::string id;
  {
    auto store = Open(/*validate=*/false);
    auto put = store->Put(envelope, MakeMetadata(3));
    ASSERT_TRUE(put.ok());
    id = put->id;
  }
  // Same bytes, same sha256, but this validator refuses them (e.g. a V8 upgrade).
  FilesystemSnapshotStoreOptions options;
  options.observer = &observer_;
  options.validator = [](absl::string_view) {
    return absl::FailedPreconditionError("built for another V8");
  };
  auto store = FilesystemSnapshotStore::Open(dir_, std::move(options));
  ASSERT_TRUE(store.ok());
  auto read = (*store)->ReadEnvelope(id);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr("built for another V8"));
  ASSERT_EQ(observer_.events().size(), 1u);
  EXPECT_THAT(observer_.events()[0].second, HasSubstr("validator"));
  EXPECT_EQ((*store)->Stats().quarantined_count, 1u);
  EXPECT_THAT(FilesIn(dir_ + "/snapshots"), IsEmpty());
}

TEST_F(IntegrityTest, PutRejectsWhatTheValidatorRejects) {
  auto store = Open();
  auto put = store->Put("not an envelope", MakeMetadata(4));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FilesIn(dir_ + "/snapshots"), IsEmpty());
  EXPECT_EQ(store->Stats().snapshot_count, 0u);
}

TEST_F(IntegrityTest, LeftoverTempFilesAreIgnoredAndCleaned) {
  std::string good_id;
  {
    auto store = Open();
    auto put = store->Put(MakeEnvelope(5, 100), MakeMetadata(5));
    ASSERT_TRUE(put.ok());
    good_id = put->id;
    ASSERT_TRUE(store->SetName("good", good_id).ok());
  }
  // What a writer killed mid-write leaves: half-written temp files in every directory.
  WriteRaw(dir_ + "/snapshots/.tmp-123-0-42", MakeEnvelope(6, 100).substr(0, 50));
  WriteRaw(dir_ + "/snapshots/.tmp-123-1-43", "isopool-snapshot-meta 1\nid sha");
  WriteRaw(dir_ + "/.tmp-123-2-44", "isopool-names 1\ngood sha256:");
  WriteRaw(dir_ + "/quarantine/.tmp-123-3-45", "id");
  auto store = Open();
  EXPECT_EQ(store->recovery().temp_files_removed, 4u);
  EXPECT_THAT(FilesIn(dir_ + "/snapshots"),
              ElementsAre(Hex(good_id) + ".blob", Hex(good_id) + ".meta"));
  EXPECT_THAT(FilesIn(dir_), ElementsAre("LOCK", "names"));
  EXPECT_THAT(FilesIn(dir_ + "/quarantine"), IsEmpty());
  EXPECT_EQ(*store->Resolve("good"), good_id);
  EXPECT_EQ(store->Stats().snapshot_count, 1u);
  EXPECT_THAT(observer_.events(), IsEmpty());
}

TEST_F(IntegrityTest, UncommittedBlobIsRemovedAtOpen) {
  // A Put killed between the .blob rename and the .meta rename.
  std::string envelope = MakeEnvelope(7, 100);
  auto store0 = Open();
  auto put = store0->Put(envelope, MakeMetadata(7));
  ASSERT_TRUE(put.ok());
  store0.reset();
  ASSERT_TRUE(RemoveFile(dir_ + "/snapshots/" + Hex(put->id) + ".meta").ok());
  auto store = Open();
  EXPECT_EQ(store->recovery().uncommitted_blobs_removed, 1u);
  EXPECT_EQ(store->Get(put->id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(FilesIn(dir_ + "/snapshots"), IsEmpty());
  EXPECT_THAT(observer_.events(), IsEmpty());  // debris, not corruption
}

TEST_F(IntegrityTest, DamageFoundAtOpenIsQuarantined) {
  std::string truncated, bad_meta, no_blob, ok;
  {
    auto store = Open();
    for (int i = 0; i < 4; ++i) {
      auto put = store->Put(MakeEnvelope(10 + i, 500), MakeMetadata(10 + i));
      ASSERT_TRUE(put.ok());
      ASSERT_TRUE(store->SetName(absl::StrCat("n", i), put->id).ok());
      (i == 0 ? truncated : i == 1 ? bad_meta : i == 2 ? no_blob : ok) = put->id;
    }
  }
  ASSERT_EQ(::truncate((dir_ + "/snapshots/" + Hex(truncated) + ".blob").c_str(), 100), 0);
  FlipByte(dir_ + "/snapshots/" + Hex(bad_meta) + ".meta", 40);
  ASSERT_TRUE(RemoveFile(dir_ + "/snapshots/" + Hex(no_blob) + ".blob").ok());

  auto store = Open();
  EXPECT_EQ(store->recovery().quarantined, 3u);
  EXPECT_EQ(store->recovery().dangling_names_dropped, 3u);
  EXPECT_EQ(store->Stats().quarantined_count, 3u);
  EXPECT_EQ(store->Stats().snapshot_count, 1u);
  auto events = observer_.events();
  std::map<std::string, std::string> reasons(events.begin(), events.end());
  EXPECT_THAT(reasons[truncated], HasSubstr("100 bytes, metadata says 500"));
  EXPECT_THAT(reasons[bad_meta], HasSubstr("checksum mismatch"));
  EXPECT_THAT(reasons[no_blob], HasSubstr("envelope file missing"));
  EXPECT_EQ(reasons.size(), 3u);
  auto list = store->List(0, "");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->entries.size(), 1u);
  EXPECT_EQ(list->entries[0].id, ok);
  // The dropped names were persisted: a second open has nothing left to repair.
  store.reset();
  store = Open();
  EXPECT_EQ(store->recovery().dangling_names_dropped, 0u);
  EXPECT_EQ(store->recovery().quarantined, 0u);
}

TEST_F(IntegrityTest, VerifyOnOpenCatchesSameSizeCorruption) {
  std::string id;
  {
    auto store = Open();
    auto put = store->Put(MakeEnvelope(20, 800), MakeMetadata(20));
    ASSERT_TRUE(put.ok());
    id = put->id;
  }
  FlipByte(dir_ + "/snapshots/" + Hex(id) + ".blob", 700);
  FilesystemSnapshotStoreOptions options;
  options.observer = &observer_;
  options.verify_on_open = true;
  auto store = FilesystemSnapshotStore::Open(dir_, std::move(options));
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->recovery().quarantined, 1u);
  ASSERT_EQ(observer_.events().size(), 1u);
  EXPECT_THAT(observer_.events()[0].second, HasSubstr("sha256 mismatch"));
}

TEST_F(IntegrityTest, CorruptNamesIndexFailsOpen) {
  {
    auto store = Open();
    auto put = store->Put(MakeEnvelope(30, 100), MakeMetadata(30));
    ASSERT_TRUE(put.ok());
    ASSERT_TRUE(store->SetName("name", put->id).ok());
  }
  FlipByte(dir_ + "/names", 20);
  auto store = FilesystemSnapshotStore::Open(dir_, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("move the file aside"));
}

}  // namespace
}  // namespace isopool::store
