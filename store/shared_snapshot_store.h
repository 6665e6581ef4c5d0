// SharedSnapshotStore: the SnapshotStore for N replicas. Envelopes live in an S3-compatible
// object store, names and metadata in PostgreSQL, and each replica keeps a verified local cache
// of the envelopes it has restored. The filesystem store (fs_snapshot_store.h) stays the
// embedded default for one machine.
//
//   SharedSnapshotStoreOptions options;
//   options.pg_conninfo = "host=db.internal dbname=isopool user=isopool";  // password: PGPASSWORD
//   options.s3 = {.endpoint = "https://s3.eu-west-1.amazonaws.com", .bucket = "isopool", ...};
//   options.cache_dir = "/var/cache/isopool";
//   options.validator = ...;                      // as for the filesystem store
//   options.on_snapshot_removed = [&](const std::string& id) { pools.Remove(id); };
//   auto store = SharedSnapshotStore::Open(std::move(options));  // never waits for the network
//   (*store)->WaitReady(absl::Now() + absl::Seconds(5));
//
// Layout:
//   object store   <prefix>snapshots/<hex>        an envelope, written once with If-None-Match: *
//   PostgreSQL     schema_migrations(version)     versions applied (migrations run at start,
//                                                 under an advisory lock, so replicas that start
//                                                 together apply each once)
//                  snapshots(id, metadata...)     one row per stored envelope: its commit record
//                  names(name, id, version)       movable tags; version counts moves
//                  sweep_queue(id, enqueued_at)   objects that may be garbage
//                  quarantine(id, reason, at)     envelopes whose bytes failed their sha256
//
// How each operation stays correct with many replicas:
//   - Upload (PutAndName): record the object in sweep_queue (an intent), PUT it (412 means the
//     same bytes are already there: the key is their hash), then one transaction inserts the
//     snapshot row (ON CONFLICT DO NOTHING: exactly one concurrent uploader sees created=true),
//     points the name, removes the intent and NOTIFYs. A process killed before the commit
//     leaves an object that nothing references, whose intent the sweep collects.
//   - A name move is one transaction that locks the name row; names point only at existing rows
//     (foreign key), and the snapshot row is locked so a concurrent delete cannot interleave.
//   - Delete removes the rows in one transaction and queues the object. The sweep, after a
//     grace period, locks the queue row, re-checks that no snapshot row exists, and only then
//     deletes the object; an upload of the same bytes meanwhile refreshes (or waits for) that
//     queue row, so it never loses its blob.
//   - Listing is keyset pagination in byte order of names (COLLATE "C"): the page token is the
//     last name returned.
//
// Freshness: name and id lookups are cached in memory and invalidated by LISTEN/NOTIFY on
// channel "isopool_store" (payload "n <name>" for a name that changed, "d <id>" for a snapshot
// removed). NOTIFY is delivered at commit, so a change that returned on replica A reaches B's
// listener within milliseconds. A removed id also drops B's cached blob and calls
// on_snapshot_removed (the server drains that pool). While the listener is disconnected the
// cache is not trusted: lookups go to the database, and only if the database cannot answer
// are cached answers served (warm pools keep working through an outage). After reconnecting,
// the cache is cleared and every id this replica has served is re-checked, so deletes missed
// during the outage still drain.
//
// Faults: every network call has a deadline and retries with backoff. A dependency whose call
// failed with Unavailable/DeadlineExceeded is marked down; while down, calls that need it fail
// at once with Unavailable naming it ("PostgreSQL db:5432/isopool is unavailable: ...") and a
// prober re-checks it every second. Cached blobs and cached names keep being served.
// Verification: every envelope is checked against its sha256 (and the validator) before it is
// returned. Bytes from the object store that fail their sha256 are fetched once more; if they
// fail again the snapshot is quarantined for every replica (rows removed, quarantine row
// written, object left for inspection; a re-upload of the same bundle overwrites it). An
// envelope that is intact but which the validator rejects (e.g. packed by another V8 during a
// rolling upgrade) is FailedPrecondition on this replica and quarantined nowhere.
//
// Threads: every method may be called from any thread. Two background threads: the listener
// (start-up, LISTEN, dependency probes) and the sweeper (sweep, statistics). Callbacks run on
// those threads or the caller's, without the store's locks held. Ownership: the caller owns the
// store; the observer (borrowed) and callbacks must outlive it.
#ifndef ISOPOOL_STORE_SHARED_SNAPSHOT_STORE_H_
#define ISOPOOL_STORE_SHARED_SNAPSHOT_STORE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "store/blob_cache.h"
#include "store/pg.h"
#include "store/s3_client.h"
#include "store/snapshot_store.h"

namespace isopool::store {

struct SharedSnapshotStoreOptions {
  std::string pg_conninfo;  // libpq conninfo or URI; the password is better in PGPASSWORD
  int pg_pool_size = 4;
  S3ClientOptions s3;
  std::string object_prefix;   // prepended to every key, e.g. "prod/"
  bool create_bucket = false;  // create it at start if missing (development, tests)

  std::string cache_dir;
  uint64_t cache_max_bytes = uint64_t{1} << 30;
  // Ids whose blobs must not be evicted (live pools). May be empty.
  std::function<bool(const std::string& id)> is_pinned;

  EnvelopeValidator validator;
  SnapshotStoreObserver* observer = nullptr;  // quarantines; not owned; may be null
  // A snapshot was removed (here or on another replica): drain its pools. Any thread.
  std::function<void(const std::string& id)> on_snapshot_removed;
  // Ready (true) once the database is migrated and the bucket reachable; `why` says what is
  // missing while not ready. Called on the listener thread on every change.
  std::function<void(bool ready, const std::string& why)> on_ready_changed;
  // Diagnostics: (event, detail), e.g. ("dependency_down", "PostgreSQL ...: ..."). Any thread.
  std::function<void(const std::string& event, const std::string& detail)> on_event;
  // Every call to a dependency: ("postgres" | "s3", op, duration, status).
  std::function<void(absl::string_view dependency, absl::string_view op, absl::Duration took,
                     const absl::Status& status)>
      on_dependency_call;

  absl::Duration operation_timeout = absl::Seconds(10);  // metadata and name operations
  absl::Duration transfer_timeout = absl::Seconds(60);   // an envelope PUT or GET
  absl::Duration sweep_grace = absl::Minutes(10);
  absl::Duration sweep_interval = absl::Minutes(1);
  absl::Duration stats_interval = absl::Seconds(15);
  absl::Duration probe_interval = absl::Seconds(1);
  // Largest envelope accepted from the object store.
  uint64_t max_envelope_bytes = uint64_t{1} << 30;
};

struct DependencyHealth {
  bool up = false;
  std::string error;  // the last failure while down
  absl::Time last_failure = absl::InfinitePast();
  absl::Time last_trial = absl::InfinitePast();  // last call let through while down
};

struct SharedStoreStats {
  BlobCacheStats cache;
  DependencyHealth postgres;
  DependencyHealth s3;
  bool ready = false;
  bool listening = false;
  // Seconds since the name cache was last known to be fresh (0 while the listener is live).
  double name_cache_staleness_seconds = 0;
  uint64_t stale_name_answers = 0;
  uint64_t cached_names = 0;  // answers from the cache while the database was down
  uint64_t swept_objects = 0;
};

class SharedSnapshotStore final : public SnapshotStore {
 public:
  // Opens the local cache and starts the background threads; never waits for the network.
  static absl::StatusOr<std::unique_ptr<SharedSnapshotStore>> Open(
      SharedSnapshotStoreOptions options);
  ~SharedSnapshotStore() override;

  // Stops the background threads (listener, sweeper): no callback runs from them afterwards.
  // Operations still work, without freshness. Idempotent; the destructor calls it.
  void StopBackground();

  // OK once ready; else Unavailable saying why, once the deadline passes.
  absl::Status WaitReady(absl::Time deadline);

  absl::StatusOr<PutResult> Put(absl::string_view envelope,
                                const SnapshotMetadata& metadata) override;
  absl::StatusOr<PutResult> PutAndName(absl::string_view name, absl::string_view envelope,
                                       const SnapshotMetadata& metadata) override;
  absl::StatusOr<std::string> SetName(absl::string_view name, absl::string_view id) override;
  absl::StatusOr<std::string> Resolve(absl::string_view name_or_id) override;
  absl::StatusOr<SnapshotMetadata> Get(absl::string_view id) override;
  absl::StatusOr<std::string> ReadEnvelope(absl::string_view id) override;
  absl::StatusOr<ListResult> List(uint32_t page_size, absl::string_view page_token) override;
  absl::StatusOr<DeleteResult> DeleteName(absl::string_view name) override;
  absl::StatusOr<DeleteResult> Delete(absl::string_view id) override;
  StoreStats Stats() override;

  SharedStoreStats SharedStats();
  // One sweep pass now (the sweeper thread also runs them); returns objects deleted.
  absl::StatusOr<int> SweepOnce();
  // The object key of an id (for tests and operators).
  std::string ObjectKey(absl::string_view canonical_id) const;

 private:
  enum class Dep { kPostgres, kS3 };
  explicit SharedSnapshotStore(SharedSnapshotStoreOptions options);

  absl::Status StartUp(absl::Time deadline);
  absl::Status Migrate(absl::Time deadline);
  void ListenerLoop();
  void SweeperLoop();
  void HandleNotification(const std::string& payload);
  // Records that `key` (a name or an id; "" = everything) may have changed.
  void InvalidateLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mu_);
  // Whether `key` may have changed since the invalidation counter read `since`.
  bool InvalidatedSinceLocked(const std::string& key, uint64_t since) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mu_);
  void RecheckKnownIds();

  // Unavailable at once if not ready or `dep` is marked down.
  absl::Status Admit(Dep dep);
  // Records a call's outcome: marks the dependency down/up, reports it.
  void Note(Dep dep, absl::string_view op, absl::Time start, const absl::Status& status);
  void SetDependency(Dep dep, bool up, const std::string& error);
  void SetReady(bool ready, const std::string& why);
  void Event(const std::string& event, const std::string& detail);

  absl::StatusOr<PutResult> PutImpl(absl::string_view name, absl::string_view envelope,
                                    const SnapshotMetadata& metadata);
  // Inside a transaction: points `name` at `id`, returns the previous id ("" if new).
  absl::StatusOr<std::string> SetNameTx(PgConnection& c, const std::string& name,
                                        const std::string& id, absl::Time deadline);
  // Inside a transaction: if snapshot `id` exists, locks its row, fills *result (created =
  // false, its stored metadata) and points `name` (unless empty) at it. *found says whether
  // it existed.
  absl::Status NameExistingTx(PgConnection& c, const std::string& id, const std::string& name,
                              absl::Time deadline, PutResult* result, bool* found);
  absl::StatusOr<std::string> ResolveFromDb(const std::string& key, bool is_name);
  absl::StatusOr<std::string> Download(const std::string& id);
  std::string VerifyProblem(const std::string& id, absl::string_view bytes) const;
  absl::Status Quarantine(const std::string& id, const std::string& reason);
  void ForgetId(const std::string& id);
  // Drops `name` from this replica's cache after this replica moved it ("" = nothing).
  void NameChangedHere(const std::string& name);

  const SharedSnapshotStoreOptions options_;
  std::unique_ptr<PgPool> pg_;
  std::unique_ptr<S3Client> s3_;
  std::unique_ptr<BlobCache> cache_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  base::Mutex state_mu_;
  std::string not_ready_why_ ABSL_GUARDED_BY(state_mu_) = "starting";
  base::CondVar ready_cv_;  // with state_mu_: ready_ changed
  DependencyHealth postgres_ ABSL_GUARDED_BY(state_mu_);
  DependencyHealth s3_health_ ABSL_GUARDED_BY(state_mu_);
  StoreStats store_stats_ ABSL_GUARDED_BY(state_mu_);
  uint64_t swept_ ABSL_GUARDED_BY(state_mu_) = 0;

  // The name/id cache (see "Freshness").
  base::Mutex cache_mu_;
  bool listening_ ABSL_GUARDED_BY(cache_mu_) = false;
  absl::Time fresh_until_ ABSL_GUARDED_BY(cache_mu_);  // last time the listener was known live
  uint64_t invalidations_ ABSL_GUARDED_BY(cache_mu_) = 0;
  static constexpr size_t kRecentInvalidations = 4096;
  std::deque<std::pair<uint64_t, std::string>> recent_invalidations_ ABSL_GUARDED_BY(cache_mu_);
  absl::flat_hash_map<std::string, std::string> names_ ABSL_GUARDED_BY(cache_mu_);
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(cache_mu_);
  absl::flat_hash_set<std::string> served_ids_ ABSL_GUARDED_BY(cache_mu_);
  uint64_t stale_answers_ ABSL_GUARDED_BY(cache_mu_) = 0;

  base::Mutex wake_mu_;
  base::CondVar wake_cv_;  // with wake_mu_: stopping_ was set
  std::thread listener_;
  std::thread sweeper_;
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_SHARED_SNAPSHOT_STORE_H_
