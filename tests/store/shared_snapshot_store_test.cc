// SharedSnapshotStore against a real PostgreSQL 15 and a real Ceph radosgw (started once for
// this binary by tests/fixtures:real_services). Each case has its own database and bucket.
// Several store instances on one database and bucket stand for several replicas.
#include "store/shared_snapshot_store.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/atomic_file.h"
#include "tests/fixtures/real_services.h"
#include "tests/store/test_util.h"

namespace isopool::store {
namespace {

using ::isopool::store::testing::FreshDataDir;
using ::isopool::store::testing::MakeEnvelope;
using ::isopool::store::testing::MakeMetadata;
using ::isopool::store::testing::RecordingObserver;
using ::isopool::testing::SharedServices;
using ::testing::HasSubstr;

// Calls on_snapshot_removed records, waitable.
class Removals {
 public:
  void Add(const std::string& id) {
    base::MutexLock lock(&mu_);
    ids_.push_back(id);
    added_.SignalAll();
  }
  // True once `id` was reported, false at the deadline.
  bool WaitFor(const std::string& id, absl::Duration timeout) {
    base::MutexLock lock(&mu_);
    absl::Time deadline = absl::Now() + timeout;
    while (std::find(ids_.begin(), ids_.end(), id) == ids_.end()) {
      if (added_.WaitWithDeadline(&mu_, deadline) && absl::Now() >= deadline) return false;
    }
    return true;
  }

 private:
  base::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  base::CondVar added_;
};

class SharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(SharedServices().postgres, nullptr);
    ASSERT_NE(SharedServices().ceph, nullptr);
    absl::StatusOr<std::string> db = SharedServices().postgres->NewDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    conninfo_ = *db;
    bucket_ = SharedServices().ceph->NewBucketName();
  }

  SharedSnapshotStoreOptions Options(const std::string& label) {
    SharedSnapshotStoreOptions o;
    o.pg_conninfo = conninfo_;
    o.s3 = SharedServices().ceph->S3Options(bucket_);
    o.create_bucket = true;
    o.cache_dir = FreshDataDir(label);
    o.observer = &observer_;
    o.operation_timeout = absl::Seconds(3);
    o.transfer_timeout = absl::Seconds(5);
    o.sweep_interval = absl::Hours(1);  // sweeps run when the test says
    o.probe_interval = absl::Milliseconds(200);
    return o;
  }

  std::unique_ptr<SharedSnapshotStore> OpenStore(SharedSnapshotStoreOptions o) {
    auto store = SharedSnapshotStore::Open(std::move(o));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    absl::Status ready = (*store)->WaitReady(absl::Now() + absl::Seconds(20));
    EXPECT_TRUE(ready.ok()) << ready;
    return *std::move(store);
  }
  std::unique_ptr<SharedSnapshotStore> OpenStore(const std::string& label) {
    return OpenStore(Options(label));
  }

  std::unique_ptr<S3Client> Bucket() {
    auto s3 = S3Client::Create(SharedServices().ceph->S3Options(bucket_));
    EXPECT_TRUE(s3.ok());
    return *std::move(s3);
  }

  std::string Sql(const std::string& sql) {
    size_t at = conninfo_.find("dbname=") + 7;
    std::string dbname = conninfo_.substr(at, conninfo_.find(' ', at) - at);
    auto out = SharedServices().postgres->Psql(dbname, sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  }

  std::string conninfo_;
  std::string bucket_;
  RecordingObserver observer_;
};

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

TEST_F(SharedStoreTest, UploadIsStoredAsObjectAndRowsAndReadsBackVerified) {
  auto store = OpenStore("a");
  ASSERT_NE(store, nullptr);
  const std::string envelope = MakeEnvelope(1, 200000);
  auto put = store->PutAndName("hello", envelope, MakeMetadata(1));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(put->created);
  EXPECT_EQ(put->id, "sha256:" + base::Sha256Hex(envelope));
  EXPECT_EQ(put->previous_id, "");
  // The object holds exactly the envelope, under its hash.
  auto object = Bucket()->Get(store->ObjectKey(put->id), Soon());
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ(*object, envelope);
  EXPECT_EQ(*store->Resolve("hello"), put->id);
  EXPECT_EQ(*store->Resolve(put->id), put->id);
  auto meta = store->Get(put->id);
  ASSERT_TRUE(meta.ok()) << meta.status();
  SnapshotMetadata expected = MakeMetadata(1);
  expected.id = put->id;
  expected.blob_bytes = envelope.size();
  EXPECT_EQ(*meta, expected);
  EXPECT_EQ(*store->ReadEnvelope(put->id), envelope);
  // The same bytes again: nothing new, the first record.
  SnapshotMetadata other = MakeMetadata(1);
  other.created_ms = 999;
  auto again = store->PutAndName("hello2", envelope, other);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->metadata, expected);
  EXPECT_TRUE(absl::IsNotFound(store->Resolve("nope").status()));
  EXPECT_TRUE(absl::IsNotFound(store->ReadEnvelope("sha256:" + std::string(64, 'a')).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Resolve("bad name!").status()));
}

TEST_F(SharedStoreTest, MigrationsRunOnceWhenReplicasStartTogether) {
  std::vector<std::unique_ptr<SharedSnapshotStore>> stores(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { stores[i] = OpenStore(absl::StrCat("m", i)); });
  }
  for (auto& t : threads) t.join();
  for (auto& s : stores) ASSERT_NE(s, nullptr);
  EXPECT_EQ(Sql("SELECT string_agg(version::text, ',') FROM schema_migrations"), "1\n");
  // And a restart applies nothing new.
  stores.clear();
  auto again = OpenStore("m-again");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Sql("SELECT count(*) FROM schema_migrations"), "1\n");
}

TEST_F(SharedStoreTest, SixteenConcurrentUploadsOfOneBundleCreateOnce) {
  std::vector<std::unique_ptr<SharedSnapshotStore>> replicas;
  for (int i = 0; i < 4; ++i) replicas.push_back(OpenStore(absl::StrCat("r", i)));
  const std::string envelope = MakeEnvelope(7, 300000);
  std::atomic<int> created{0}, ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto put = replicas[i % 4]->PutAndName(absl::StrCat("n", i % 3), envelope, MakeMetadata(7));
      if (put.ok()) ++ok;
      if (put.ok() && put->created) ++created;
      EXPECT_TRUE(put.ok()) << put.status();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_EQ(created.load(), 1);
  auto listed = Bucket()->List("snapshots/", Soon());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
  EXPECT_EQ(Sql("SELECT count(*) FROM snapshots"), "1\n");
  EXPECT_EQ(Sql("SELECT count(*) FROM sweep_queue"), "0\n");
}

TEST_F(SharedStoreTest, NameMoveOnOneReplicaIsSeenByAnotherWithinOneSecond) {
  auto a = OpenStore("a");
  auto b = OpenStore("b");
  auto v1 = a->PutAndName("rules", MakeEnvelope(1, 1000), MakeMetadata(1));
  auto v2 = a->Put(MakeEnvelope(2, 1000), MakeMetadata(2));
  ASSERT_TRUE(v1.ok() && v2.ok());
  // B caches the name...
  ASSERT_EQ(*b->Resolve("rules"), v1->id);
  ASSERT_EQ(*b->Resolve("rules"), v1->id);
  // ...and sees the move once A's SetName has returned.
  // A too has the name cached...
  ASSERT_EQ(*a->Resolve("rules"), v1->id);
  ASSERT_EQ(*a->Resolve("rules"), v1->id);
  absl::StatusOr<std::string> previous = a->SetName("rules", v2->id);
  ASSERT_TRUE(previous.ok()) << previous.status();
  EXPECT_EQ(*previous, v1->id);
  // ...and reads its own write at once, not after its notification comes back.
  EXPECT_EQ(*a->Resolve("rules"), v2->id);
  absl::Time moved = absl::Now();
  absl::Duration took = absl::InfiniteDuration();
  while (absl::Now() - moved < absl::Seconds(1)) {
    if (*b->Resolve("rules") == v2->id) {
      took = absl::Now() - moved;
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_LT(took, absl::Seconds(1)) << "replica B still resolves the old id";
  EXPECT_EQ(Sql("SELECT version FROM names WHERE name = 'rules'"), "2\n");
  // A new upload under the name moves it too.
  auto v3 = a->PutAndName("rules", MakeEnvelope(3, 1000), MakeMetadata(3));
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3->previous_id, v2->id);
  EXPECT_EQ(*a->Resolve("rules"), v3->id);
  moved = absl::Now();
  took = absl::InfiniteDuration();
  while (absl::Now() - moved < absl::Seconds(1)) {
    if (*b->Resolve("rules") == v3->id) {
      took = absl::Now() - moved;
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_LT(took, absl::Seconds(1));
}

TEST_F(SharedStoreTest, DeleteOnOneReplicaDrainsEveryReplicaThatServedIt) {
  Removals removed_on_b;
  auto a = OpenStore("a");
  auto options = Options("b");
  options.on_snapshot_removed = [&](const std::string& id) { removed_on_b.Add(id); };
  auto b = OpenStore(std::move(options));
  auto put = a->PutAndName("gone", MakeEnvelope(4, 5000), MakeMetadata(4));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(b->ReadEnvelope(put->id).ok());  // B has a pool for it now
  ASSERT_EQ(*b->Resolve("gone"), put->id);
  auto deleted = a->DeleteName("gone");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->removed_id, put->id);
  EXPECT_TRUE(removed_on_b.WaitFor(put->id, absl::Seconds(1)));
  EXPECT_TRUE(absl::IsNotFound(b->Resolve("gone").status()));
  EXPECT_TRUE(absl::IsNotFound(b->Resolve(put->id).status()));
  EXPECT_EQ(b->SharedStats().cache.entries, 0u);
}

TEST_F(SharedStoreTest, DeleteNameKeepsSnapshotWhileAnotherNamePointsAtIt) {
  auto store = OpenStore("a");
  auto put = store->PutAndName("one", MakeEnvelope(5, 100), MakeMetadata(5));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(store->SetName("two", put->id).ok());
  auto first = store->DeleteName("one");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->removed_id, "");
  EXPECT_EQ(*store->Resolve("two"), put->id);
  auto by_id = store->Delete(put->id);
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->names_removed, std::vector<std::string>{"two"});
  EXPECT_EQ(by_id->removed_id, put->id);
  EXPECT_TRUE(absl::IsNotFound(store->Get(put->id).status()));
  EXPECT_TRUE(absl::IsNotFound(store->DeleteName("two").status()));
  EXPECT_TRUE(absl::IsNotFound(store->SetName("three", put->id).status()));
}

TEST_F(SharedStoreTest, ListPagesInNameOrderWithKeysetTokens) {
  auto store = OpenStore("a");
  auto put = store->Put(MakeEnvelope(6, 100), MakeMetadata(6));
  ASSERT_TRUE(put.ok());
  std::vector<std::string> names;
  for (int i = 0; i < 25; ++i) names.push_back(absl::StrCat(i % 2 ? "B" : "a", "-", 100 + i));
  for (const auto& n : names) ASSERT_TRUE(store->SetName(n, put->id).ok());
  std::sort(names.begin(), names.end());  // byte order: upper case first
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store->List(10, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& e : page->entries) {
      seen.push_back(e.name);
      EXPECT_EQ(e.id, put->id);
      EXPECT_EQ(e.metadata.bundle_sha256, MakeMetadata(6).bundle_sha256);
    }
    token = page->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, names);
  EXPECT_TRUE(absl::IsInvalidArgument(store->List(10, "bad token!").status()));
}

TEST_F(SharedStoreTest, SweepRemovesObjectsOnlyAfterGraceAndNeverOneUploadedAgain) {
  auto options = Options("a");
  options.sweep_grace = absl::Milliseconds(300);
  auto store = OpenStore(std::move(options));
  auto s3 = Bucket();
  auto kept = store->PutAndName("kept", MakeEnvelope(8, 1000), MakeMetadata(8));
  auto gone = store->PutAndName("gone", MakeEnvelope(9, 1000), MakeMetadata(9));
  ASSERT_TRUE(kept.ok() && gone.ok());
  ASSERT_TRUE(store->DeleteName("kept").ok());
  ASSERT_TRUE(store->DeleteName("gone").ok());
  // Within the grace period nothing is swept.
  EXPECT_EQ(*store->SweepOnce(), 0);
  EXPECT_TRUE(*s3->Exists(store->ObjectKey(gone->id), Soon()));
  // The same bytes as "kept" are uploaded again before the sweep runs.
  auto again = store->PutAndName("kept", MakeEnvelope(8, 1000), MakeMetadata(8));
  ASSERT_TRUE(again.ok());
  absl::SleepFor(absl::Milliseconds(400));  // the grace period is the thing under test
  EXPECT_EQ(*store->SweepOnce(), 1);
  EXPECT_FALSE(*s3->Exists(store->ObjectKey(gone->id), Soon()));
  EXPECT_TRUE(*s3->Exists(store->ObjectKey(kept->id), Soon()));
  auto fresh = OpenStore("fresh-cache");
  EXPECT_EQ(*fresh->ReadEnvelope(*fresh->Resolve("kept")), MakeEnvelope(8, 1000));
  EXPECT_EQ(Sql("SELECT count(*) FROM sweep_queue"), "0\n");
}

TEST_F(SharedStoreTest, AnUploadThatDiedBeforeItsCommitLeavesNothingVisibleAndIsSwept) {
  auto options = Options("a");
  options.sweep_grace = absl::Milliseconds(1);
  auto store = OpenStore(std::move(options));
  // What a process killed between the PUT and the commit leaves: an intent and an object.
  const std::string envelope = MakeEnvelope(10, 1000);
  const std::string id = "sha256:" + base::Sha256Hex(envelope);
  Sql(absl::StrCat("INSERT INTO sweep_queue (id, reason) VALUES ('", id, "', 'upload')"));
  ASSERT_TRUE(Bucket()->PutIfAbsent(store->ObjectKey(id), envelope, Soon()).ok());
  EXPECT_TRUE(absl::IsNotFound(store->Resolve(id).status()));
  auto list = store->List(0, "");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->entries.empty());
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(*store->SweepOnce(), 1);
  EXPECT_FALSE(*Bucket()->Exists(store->ObjectKey(id), Soon()));
}

TEST_F(SharedStoreTest, CorruptObjectIsNeverServedAndIsQuarantinedEverywhere) {
  auto a = OpenStore("a");
  const std::string envelope = MakeEnvelope(11, 50000);
  auto put = a->PutAndName("victim", envelope, MakeMetadata(11));
  ASSERT_TRUE(put.ok());
  std::string damaged = envelope;
  damaged[100] ^= 1;
  ASSERT_TRUE(Bucket()->PutIfAbsent(a->ObjectKey(put->id), damaged, Soon(), true).ok());
  auto b = OpenStore("b");  // empty cache: must download
  auto read = b->ReadEnvelope(put->id);
  EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("sha256 mismatch"));
  ASSERT_EQ(observer_.events().size(), 1u);
  EXPECT_EQ(observer_.events()[0].first, put->id);
  EXPECT_THAT(observer_.events()[0].second, HasSubstr("victim"));
  EXPECT_TRUE(absl::IsNotFound(a->Resolve("victim").status()));
  EXPECT_EQ(Sql("SELECT count(*) FROM quarantine"), "1\n");
  EXPECT_EQ(b->SharedStats().cache.entries, 0u);
  // Uploading the bundle again replaces the damaged object.
  auto again = a->PutAndName("victim", envelope, MakeMetadata(11));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*b->ReadEnvelope(put->id), envelope);
}

TEST_F(SharedStoreTest, CacheReverifiesLocalFilesAndSharesConcurrentMisses) {
  auto options = Options("a");
  const std::string cache_dir = options.cache_dir;
  auto store = OpenStore(std::move(options));
  const std::string envelope = MakeEnvelope(12, 400000);
  auto put = store->PutAndName("x", envelope, MakeMetadata(12));
  ASSERT_TRUE(put.ok());
  std::vector<std::thread> readers;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&] {
      auto r = store->ReadEnvelope(put->id);
      if (r.ok() && *r == envelope) ++good;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(good.load(), 8);
  BlobCacheStats stats = store->SharedStats().cache;
  EXPECT_EQ(stats.misses, 1u);
  // Damage the cached file: it is dropped and fetched again, never served.
  testing::FlipByte(cache_dir + "/" + put->id.substr(7) + ".blob", 10);
  EXPECT_EQ(*store->ReadEnvelope(put->id), envelope);
  EXPECT_EQ(store->SharedStats().cache.local_corruptions, 1u);
  EXPECT_EQ(store->SharedStats().cache.misses, 2u);
  EXPECT_TRUE(observer_.events().empty());
}

TEST_F(SharedStoreTest, CacheEvictsLeastRecentlyUsedButNeverPinned) {
  std::string pinned_id;
  auto options = Options("a");
  options.cache_max_bytes = 250000;  // room for two 100 kB envelopes
  options.is_pinned = [&](const std::string& id) { return id == pinned_id; };
  auto store = OpenStore(std::move(options));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto put =
        store->PutAndName(absl::StrCat("e", i), MakeEnvelope(20 + i, 100000), MakeMetadata(20 + i));
    ASSERT_TRUE(put.ok());
    ids.push_back(put->id);
  }
  pinned_id = ids[0];
  for (const auto& id : ids) ASSERT_TRUE(store->ReadEnvelope(id).ok());
  BlobCacheStats stats = store->SharedStats().cache;
  EXPECT_LE(stats.bytes, 250000u);
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_EQ(stats.evictions, 2u);
  // ids[0] is pinned (oldest but kept), ids[3] is newest; 1 and 2 were evicted.
  uint64_t misses = stats.misses;
  ASSERT_TRUE(store->ReadEnvelope(ids[0]).ok());
  ASSERT_TRUE(store->ReadEnvelope(ids[3]).ok());
  EXPECT_EQ(store->SharedStats().cache.misses, misses);
  ASSERT_TRUE(store->ReadEnvelope(ids[1]).ok());
  EXPECT_EQ(store->SharedStats().cache.misses, misses + 1);
}

TEST_F(SharedStoreTest, StartsNotReadyWhileDatabaseIsUnreachableAndSaysWhy) {
  auto options = Options("a");
  options.pg_conninfo = absl::StrCat("host=127.0.0.1 port=", isopool::testing::FreePort(),
                                     " user=isopool dbname=x connect_timeout=1");
  std::vector<std::string> reasons;
  base::Mutex mu;
  options.on_ready_changed = [&](bool ready, const std::string& why) {
    base::MutexLock lock(&mu);
    if (!ready) reasons.push_back(why);
  };
  auto store = SharedSnapshotStore::Open(std::move(options));
  ASSERT_TRUE(store.ok());
  absl::Status ready = (*store)->WaitReady(absl::Now() + absl::Milliseconds(500));
  EXPECT_TRUE(absl::IsUnavailable(ready));
  EXPECT_THAT(std::string(ready.message()), HasSubstr("PostgreSQL 127.0.0.1"));
  auto put = (*store)->PutAndName("x", MakeEnvelope(1, 10), MakeMetadata(1));
  EXPECT_TRUE(absl::IsUnavailable(put.status()));
  base::MutexLock lock(&mu);
  ASSERT_FALSE(reasons.empty());
  EXPECT_THAT(reasons[0], HasSubstr("cannot connect"));
}

TEST_F(SharedStoreTest, DatabaseDownWhileServingKeepsCachedNamesAndBlobsAndFailsWritesFast) {
  auto store = OpenStore("a");
  auto put = store->PutAndName("warm", MakeEnvelope(30, 10000), MakeMetadata(30));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(store->ReadEnvelope(*store->Resolve("warm")).ok());
  // The name is cached once a lookup no notification overtook has returned (the upload's own
  // NOTIFY may arrive after the first one).
  absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (store->SharedStats().cached_names == 0 && absl::Now() < give_up) {
    ASSERT_TRUE(store->Resolve("warm").ok());
  }
  ASSERT_EQ(store->SharedStats().cached_names, 1u);
  SharedServices().postgres->Stop();
  // Cached name and blob keep working.
  auto resolved = store->Resolve("warm");
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_TRUE(store->ReadEnvelope(put->id).ok());
  // Writes fail fast, naming the database.
  absl::Time start = absl::Now();
  auto write = store->PutAndName("new", MakeEnvelope(31, 100), MakeMetadata(31));
  EXPECT_TRUE(absl::IsUnavailable(write.status())) << write.status();
  EXPECT_THAT(std::string(write.status().message()), HasSubstr("PostgreSQL"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_FALSE(store->SharedStats().postgres.up);
  ASSERT_TRUE(SharedServices().postgres->Restart().ok());
  // Back: writes work again once the prober or a call sees the database.
  give_up = absl::Now() + absl::Seconds(10);
  absl::StatusOr<PutResult> retry = absl::UnavailableError("not tried");
  while (absl::Now() < give_up) {
    retry = store->PutAndName("new", MakeEnvelope(31, 100), MakeMetadata(31));
    if (retry.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(retry.ok()) << retry.status();
}

TEST_F(SharedStoreTest, HungDatabaseNeverHoldsACallPastItsDeadline) {
  auto options = Options("a");
  options.operation_timeout = absl::Seconds(1);
  auto store = OpenStore(std::move(options));
  auto put = store->PutAndName("h", MakeEnvelope(40, 100), MakeMetadata(40));
  ASSERT_TRUE(put.ok());
  SharedServices().postgres->Pause();
  absl::Time start = absl::Now();
  auto get = store->Get(put->id);
  absl::Duration took = absl::Now() - start;
  SharedServices().postgres->Resume();
  EXPECT_FALSE(get.ok());
  EXPECT_TRUE(absl::IsUnavailable(get.status()) || absl::IsDeadlineExceeded(get.status()))
      << get.status();
  EXPECT_LT(took, absl::Seconds(2));
}

TEST_F(SharedStoreTest, ObjectStoreDownServesCachedBlobsAndFailsColdLoadsFast) {
  auto store = OpenStore("a");
  auto cached = store->PutAndName("cached", MakeEnvelope(50, 10000), MakeMetadata(50));
  auto cold = store->PutAndName("cold", MakeEnvelope(51, 10000), MakeMetadata(51));
  ASSERT_TRUE(cached.ok() && cold.ok());
  ASSERT_TRUE(store->ReadEnvelope(cached->id).ok());
  SharedServices().ceph->StopGateway();
  EXPECT_TRUE(store->ReadEnvelope(cached->id).ok());
  absl::Time start = absl::Now();
  auto miss = store->ReadEnvelope(cold->id);
  EXPECT_TRUE(absl::IsUnavailable(miss.status())) << miss.status();
  EXPECT_THAT(std::string(miss.status().message()), HasSubstr("object store"));
  auto upload = store->PutAndName("new", MakeEnvelope(52, 100), MakeMetadata(52));
  EXPECT_TRUE(absl::IsUnavailable(upload.status())) << upload.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // Nothing visible from the failed upload.
  EXPECT_TRUE(absl::IsNotFound(store->Resolve("new").status()));
  ASSERT_TRUE(SharedServices().ceph->StartGateway().ok());
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  absl::StatusOr<std::string> read = absl::UnavailableError("not tried");
  while (absl::Now() < give_up) {
    read = store->ReadEnvelope(cold->id);
    if (read.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(read.ok()) << read.status();
  // A replica starting now, on a new bucket, is ready as usual.
  bucket_ = SharedServices().ceph->NewBucketName();
  absl::Time opened = absl::Now();
  auto next = OpenStore("after-restart");
  EXPECT_NE(next, nullptr);
  EXPECT_LT(absl::Now() - opened, absl::Seconds(5));
}

}  // namespace
}  // namespace isopool::store
