// FilesystemSnapshotStore: the operations of the SnapshotStore contract, and that a reopened
// store finds everything it had.

#include "store/fs_snapshot_store.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/store/test_util.h"

namespace isopool::store {

using ::isopool::base::Sha256Hex;
namespace {

using ::isopool::store::testing::FilesIn;
using ::isopool::store::testing::FreshDataDir;
using ::isopool::store::testing::MakeEnvelope;
using ::isopool::store::testing::MakeMetadata;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<FilesystemSnapshotStore> OpenOrDie(const std::string& dir) {
  auto store = FilesystemSnapshotStore::Open(dir, {});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(FsSnapshotStoreTest, PutComputesIdAndGetReturnsMetadata) {
  auto store = OpenOrDie(FreshDataDir("put"));
  std::string envelope = MakeEnvelope(1, 5000);
  auto put = store->Put(envelope, MakeMetadata(1));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->id, "sha256:" + Sha256Hex(envelope));
  EXPECT_TRUE(put->created);

  auto meta = store->Get(put->id);
  ASSERT_TRUE(meta.ok()) << meta.status();
  SnapshotMetadata want = MakeMetadata(1);
  want.id = put->id;
  want.blob_bytes = envelope.size();
  EXPECT_EQ(*meta, want);
  EXPECT_EQ(put->metadata, want);
  // Bare hex works as well as the prefixed form.
  EXPECT_TRUE(store->Get(put->id.substr(7)).ok());
  auto bytes = store->ReadEnvelope(put->id);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, envelope);
}

TEST(FsSnapshotStoreTest, PutIsIdempotentAndKeepsTheFirstRecord) {
  std::string dir = FreshDataDir("idem");
  auto store = OpenOrDie(dir);
  std::string envelope = MakeEnvelope(2, 3000);
  auto first = store->Put(envelope, MakeMetadata(2));
  ASSERT_TRUE(first.ok());
  auto files_before = FilesIn(dir + "/snapshots");
  auto second = store->Put(envelope, MakeMetadata(99));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->id, first->id);
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->metadata, first->metadata);  // created_ms etc. of the first upload
  EXPECT_EQ(FilesIn(dir + "/snapshots"), files_before);
  EXPECT_EQ(store->Stats().snapshot_count, 1u);
  EXPECT_EQ(store->Stats().total_bytes, envelope.size());
}

TEST(FsSnapshotStoreTest, ResolveNamesAndIds) {
  auto store = OpenOrDie(FreshDataDir("resolve"));
  auto put = store->Put(MakeEnvelope(3, 100), MakeMetadata(3));
  ASSERT_TRUE(put.ok());
  auto prev = store->SetName("rules.v1", put->id);
  ASSERT_TRUE(prev.ok()) << prev.status();
  EXPECT_EQ(*prev, "");
  EXPECT_EQ(*store->Resolve("rules.v1"), put->id);
  EXPECT_EQ(*store->Resolve(put->id), put->id);
  EXPECT_EQ(*store->Resolve(put->id.substr(7)), put->id);

  EXPECT_EQ(store->Resolve("nope").status().code(), absl::StatusCode::kNotFound);
  std::string absent = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(store->Resolve(absent).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Get(absent).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadEnvelope(absent).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->SetName("x", absent).status().code(), absl::StatusCode::kNotFound);
}

TEST(FsSnapshotStoreTest, MalformedNamesAndIdsAreInvalidArgument) {
  auto store = OpenOrDie(FreshDataDir("invalid"));
  auto put = store->Put(MakeEnvelope(4, 100), MakeMetadata(4));
  ASSERT_TRUE(put.ok());
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  for (const std::string& bad :
       {std::string(""), std::string("has space"), std::string("slash/name"),
        std::string("\xc3\xa9"), std::string(129, 'a'), std::string(64, 'b'),
        std::string(64, 'B')}) {
    EXPECT_EQ(store->SetName(bad, put->id).status().code(), kInvalid) << bad;
    EXPECT_EQ(store->DeleteName(bad).status().code(), kInvalid) << bad;
    EXPECT_EQ(store->Resolve(bad).status().code(), bad.size() == 64 && bad[0] == 'b'
                                                       ? absl::StatusCode::kNotFound  // an id
                                                       : kInvalid)
        << bad;
  }
  EXPECT_TRUE(store->SetName(std::string(128, 'a'), put->id).ok());
  EXPECT_TRUE(store->SetName("A-z_0.9", put->id).ok());
  for (const std::string& bad_id :
       {std::string("sha256:abc"), "sha256:" + std::string(64, 'A'), "md5:" + std::string(64, 'a'),
        "sha256:" + std::string(65, 'a')}) {
    EXPECT_EQ(store->Get(bad_id).status().code(), kInvalid) << bad_id;
    EXPECT_EQ(store->ReadEnvelope(bad_id).status().code(), kInvalid) << bad_id;
    EXPECT_EQ(store->Delete(bad_id).status().code(), kInvalid) << bad_id;
    EXPECT_EQ(store->SetName("ok", bad_id).status().code(), kInvalid) << bad_id;
  }
  EXPECT_EQ(store->List(10, "bad token!").status().code(), kInvalid);
}

TEST(FsSnapshotStoreTest, SetNameMovesLikeATag) {
  auto store = OpenOrDie(FreshDataDir("move"));
  auto a = store->Put(MakeEnvelope(5, 100), MakeMetadata(5));
  auto b = store->Put(MakeEnvelope(6, 100), MakeMetadata(6));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store->SetName("prod", a->id).ok());
  auto prev = store->SetName("prod", b->id);
  ASSERT_TRUE(prev.ok());
  EXPECT_EQ(*prev, a->id);
  EXPECT_EQ(*store->Resolve("prod"), b->id);
  // Moving a name does not delete the old snapshot.
  EXPECT_TRUE(store->ReadEnvelope(a->id).ok());
  EXPECT_EQ(store->Stats().snapshot_count, 2u);
  // Re-pointing at the same id is a no-op that reports the same id.
  EXPECT_EQ(*store->SetName("prod", b->id), b->id);
}

TEST(FsSnapshotStoreTest, PutAndNameStoresAndNamesInOneStep) {
  auto store = OpenOrDie(FreshDataDir("putname"));
  auto first = store->PutAndName("api", MakeEnvelope(7, 100), MakeMetadata(7));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->previous_id, "");
  EXPECT_EQ(*store->Resolve("api"), first->id);
  // Same bytes again: nothing new stored, name already there.
  auto same = store->PutAndName("api", MakeEnvelope(7, 100), MakeMetadata(7));
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->created);
  EXPECT_EQ(same->previous_id, first->id);
  auto moved = store->PutAndName("api", MakeEnvelope(8, 100), MakeMetadata(8));
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(moved->created);
  EXPECT_EQ(moved->previous_id, first->id);
  EXPECT_EQ(*store->Resolve("api"), moved->id);
  EXPECT_EQ(store->PutAndName("bad name", MakeEnvelope(9, 100), MakeMetadata(9)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Stats().snapshot_count, 2u);  // the bad name stored nothing
}

TEST(FsSnapshotStoreTest, ListPaginatesInNameOrder) {
  auto store = OpenOrDie(FreshDataDir("list"));
  std::vector<std::string> names;
  for (int i = 0; i < 7; ++i) {
    auto put = store->Put(MakeEnvelope(10 + i, 200), MakeMetadata(10 + i));
    ASSERT_TRUE(put.ok());
    std::string name = absl::StrFormat("snap-%02d", 6 - i);  // inserted in reverse order
    ASSERT_TRUE(store->SetName(name, put->id).ok());
    names.push_back(name);
  }
  // One unnamed snapshot: counted, not listed.
  ASSERT_TRUE(store->Put(MakeEnvelope(99, 200), MakeMetadata(99)).ok());
  std::sort(names.begin(), names.end());

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store->List(3, token);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->entries.size(), 3u);
    for (const ListEntry& e : page->entries) {
      seen.push_back(e.name);
      EXPECT_EQ(e.metadata.id, e.id);
      EXPECT_EQ(*store->Resolve(e.name), e.id);
    }
    token = page->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, names);
  EXPECT_EQ(pages, 3);

  auto all = store->List(0, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->entries.size(), 7u);
  EXPECT_EQ(all->next_page_token, "");
  EXPECT_EQ(store->Stats().snapshot_count, 8u);
}

TEST(FsSnapshotStoreTest, DeleteNameRemovesTheSnapshotOnlyWhenUnreferenced) {
  std::string dir = FreshDataDir("delname");
  auto store = OpenOrDie(dir);
  auto put = store->Put(MakeEnvelope(20, 300), MakeMetadata(20));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(store->SetName("one", put->id).ok());
  ASSERT_TRUE(store->SetName("two", put->id).ok());

  auto first = store->DeleteName("one");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->names_removed, ElementsAre("one"));
  EXPECT_EQ(first->removed_id, "");
  EXPECT_TRUE(store->ReadEnvelope(put->id).ok());
  EXPECT_EQ(store->Resolve("one").status().code(), absl::StatusCode::kNotFound);

  auto second = store->DeleteName("two");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->removed_id, put->id);
  EXPECT_EQ(store->Get(put->id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(FilesIn(dir + "/snapshots"), IsEmpty());
  EXPECT_EQ(store->DeleteName("two").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Stats().snapshot_count, 0u);
  EXPECT_EQ(store->Stats().total_bytes, 0u);
}

TEST(FsSnapshotStoreTest, DeleteByIdRemovesEveryName) {
  std::string dir = FreshDataDir("delid");
  auto store = OpenOrDie(dir);
  auto keep = store->Put(MakeEnvelope(30, 300), MakeMetadata(30));
  auto gone = store->Put(MakeEnvelope(31, 300), MakeMetadata(31));
  ASSERT_TRUE(keep.ok() && gone.ok());
  ASSERT_TRUE(store->SetName("b", gone->id).ok());
  ASSERT_TRUE(store->SetName("a", gone->id).ok());
  ASSERT_TRUE(store->SetName("k", keep->id).ok());

  auto result = store->Delete(gone->id);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->names_removed, ElementsAre("a", "b"));
  EXPECT_EQ(result->removed_id, gone->id);
  auto list = store->List(0, "");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->entries.size(), 1u);
  EXPECT_EQ(list->entries[0].name, "k");
  EXPECT_THAT(FilesIn(dir + "/snapshots"),
              ElementsAre(keep->id.substr(7) + ".blob", keep->id.substr(7) + ".meta"));
  EXPECT_EQ(store->Delete(gone->id).status().code(), absl::StatusCode::kNotFound);
  // An unnamed snapshot can be deleted by id as well.
  auto orphan = store->Put(MakeEnvelope(32, 10), MakeMetadata(32));
  ASSERT_TRUE(orphan.ok());
  auto r2 = store->Delete(orphan->id);
  ASSERT_TRUE(r2.ok());
  EXPECT_THAT(r2->names_removed, IsEmpty());
  EXPECT_EQ(r2->removed_id, orphan->id);
}

TEST(FsSnapshotStoreTest, ReopenFindsEverything) {
  std::string dir = FreshDataDir("reopen");
  std::vector<PutResult> puts;
  {
    auto store = OpenOrDie(dir);
    for (int i = 0; i < 5; ++i) {
      auto put = store->Put(MakeEnvelope(40 + i, 1000 + i), MakeMetadata(40 + i));
      ASSERT_TRUE(put.ok());
      puts.push_back(*put);
      if (i < 4) {
        ASSERT_TRUE(store->SetName(absl::StrCat("n", i), put->id).ok());
      }
    }
    ASSERT_TRUE(store->SetName("alias", puts[0].id).ok());
    ASSERT_TRUE(store->DeleteName("n3").ok());  // removes puts[3]
  }
  auto store = OpenOrDie(dir);
  EXPECT_EQ(store->recovery().snapshots, 4u);
  EXPECT_EQ(store->recovery().names, 4u);
  EXPECT_EQ(store->recovery().temp_files_removed, 0u);
  for (int i : {0, 1, 2, 4}) {
    auto meta = store->Get(puts[i].id);
    ASSERT_TRUE(meta.ok()) << i;
    EXPECT_EQ(*meta, puts[i].metadata);
    auto bytes = store->ReadEnvelope(puts[i].id);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(*bytes, MakeEnvelope(40 + i, 1000 + i));
  }
  EXPECT_EQ(store->Get(puts[3].id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store->Resolve("alias"), puts[0].id);
  EXPECT_EQ(*store->Resolve("n2"), puts[2].id);
  EXPECT_EQ(store->Resolve("n3").status().code(), absl::StatusCode::kNotFound);
  StoreStats stats = store->Stats();
  EXPECT_EQ(stats.snapshot_count, 4u);
  EXPECT_EQ(stats.total_bytes, 1000u + 1001 + 1002 + 1004);
  EXPECT_EQ(stats.quarantined_count, 0u);
}

TEST(FsSnapshotStoreTest, OneStorePerDataDir) {
  std::string dir = FreshDataDir("lock");
  auto first = OpenOrDie(dir);
  auto second = FilesystemSnapshotStore::Open(dir, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(FilesystemSnapshotStore::Open(dir, {}).ok());
}

TEST(FsSnapshotStoreTest, OpenCreatesNestedDirectories) {
  std::string dir = FreshDataDir("nested") + "/a/b/c/";
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Put(MakeEnvelope(50, 10), MakeMetadata(50)).ok());
}

}  // namespace
}  // namespace isopool::store
