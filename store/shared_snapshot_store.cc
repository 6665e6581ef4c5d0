#include "store/shared_snapshot_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/sha256.h"

namespace isopool::store {
namespace {

using ::isopool::base::Sha256Hex;
using Params = std::vector<absl::optional<std::string>>;

constexpr absl::string_view kIdPrefix = "sha256:";
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;
constexpr char kChannel[] = "isopool_store";
// pg_advisory_xact_lock key serialising migrations across replicas ("isopool" in ASCII).
constexpr char kMigrationLockKey[] = "6905712633900903";

// Each migration is a list of single statements (the extended protocol takes one at a time),
// applied in one transaction with its row in schema_migrations. Never edit a released one:
// append a new version.
struct Migration {
  int version;
  std::vector<const char*> statements;
};
const std::vector<Migration>& Migrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1,
       {R"sql(CREATE TABLE snapshots (
             id text PRIMARY KEY,
             bundle_sha256 text NOT NULL,
             source_bytes bigint NOT NULL,
             blob_bytes bigint NOT NULL,
             v8_version text NOT NULL,
             build_ms bigint NOT NULL,
             created_ms bigint NOT NULL,
             spec bytea NOT NULL,
             stored_at timestamptz NOT NULL DEFAULT now()))sql",
        R"sql(CREATE TABLE names (
             name text COLLATE "C" PRIMARY KEY,
             id text NOT NULL REFERENCES snapshots (id),
             version bigint NOT NULL DEFAULT 1,
             updated_at timestamptz NOT NULL DEFAULT now()))sql",
        "CREATE INDEX names_by_id ON names (id)",
        R"sql(CREATE TABLE sweep_queue (
             id text PRIMARY KEY,
             enqueued_at timestamptz NOT NULL DEFAULT now(),
             reason text NOT NULL))sql",
        R"sql(CREATE TABLE quarantine (
             id text NOT NULL,
             reason text NOT NULL,
             at timestamptz NOT NULL DEFAULT now()))sql",
        "CREATE INDEX quarantine_by_id ON quarantine (id)"}},
  };
  return *migrations;
}

constexpr char kSnapshotColumns[] =
    "s.id, s.bundle_sha256, s.source_bytes, s.blob_bytes, s.v8_version, s.build_ms, "
    "s.created_ms, s.spec";

absl::StatusOr<SnapshotMetadata> MetadataFromRow(const PgResult& r, int row, int first) {
  SnapshotMetadata m;
  m.id = r.Get(row, first);
  m.bundle_sha256 = r.Get(row, first + 1);
  bool ok = absl::SimpleAtoi(r.Get(row, first + 2), &m.source_bytes) &&
            absl::SimpleAtoi(r.Get(row, first + 3), &m.blob_bytes) &&
            absl::SimpleAtoi(r.Get(row, first + 5), &m.build_ms) &&
            absl::SimpleAtoi(r.Get(row, first + 6), &m.created_ms);
  if (!ok) return absl::InternalError("snapshots row with a malformed number");
  m.v8_version = r.Get(row, first + 4);
  absl::StatusOr<std::string> spec = DecodeBytea(r.Get(row, first + 7));
  if (!spec.ok()) return spec.status();
  m.spec = *std::move(spec);
  return m;
}

absl::Status InvalidName(absl::string_view name) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid snapshot name \"", absl::CHexEscape(name.substr(0, 200)),
                   "\": use 1-128 characters from [A-Za-z0-9._-], not 64 hex digits"));
}

absl::Status NotFoundId(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("snapshot ", id, " not found"));
}

absl::Status NotFoundName(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no snapshot named \"", name, "\""));
}

bool IsOutage(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

absl::Status Notify(PgConnection& c, const std::string& payload, absl::Time deadline) {
  return c.Exec("SELECT pg_notify($1, $2)", {std::string(kChannel), payload}, deadline).status();
}

}  // namespace

SharedSnapshotStore::SharedSnapshotStore(SharedSnapshotStoreOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<SharedSnapshotStore>> SharedSnapshotStore::Open(
    SharedSnapshotStoreOptions options) {
  if (options.pg_conninfo.empty()) {
    return absl::InvalidArgumentError("shared store: no PostgreSQL connection (--pg_conninfo)");
  }
  if (options.cache_dir.empty()) return absl::InvalidArgumentError("shared store: no cache_dir");
  std::unique_ptr<SharedSnapshotStore> store(new SharedSnapshotStore(std::move(options)));
  const SharedSnapshotStoreOptions& o = store->options_;
  absl::StatusOr<std::unique_ptr<S3Client>> s3 = S3Client::Create(o.s3);
  if (!s3.ok()) return s3.status();
  store->s3_ = *std::move(s3);
  store->pg_ = std::make_unique<PgPool>(PgPoolOptions{o.pg_conninfo, o.pg_pool_size});
  BlobCacheOptions cache;
  cache.dir = o.cache_dir;
  cache.max_bytes = o.cache_max_bytes;
  cache.is_pinned = o.is_pinned;
  SharedSnapshotStore* raw = store.get();
  cache.verify = [raw](const std::string& id, absl::string_view bytes) {
    return raw->VerifyProblem(id, bytes);
  };
  absl::StatusOr<std::unique_ptr<BlobCache>> blob_cache = BlobCache::Open(std::move(cache));
  if (!blob_cache.ok()) return blob_cache.status();
  store->cache_ = *std::move(blob_cache);
  store->listener_ = std::thread([raw] { raw->ListenerLoop(); });
  store->sweeper_ = std::thread([raw] { raw->SweeperLoop(); });
  return store;
}

SharedSnapshotStore::~SharedSnapshotStore() { StopBackground(); }

void SharedSnapshotStore::StopBackground() {
  {
    base::MutexLock lock(&wake_mu_);
    stopping_ = true;
    wake_cv_.SignalAll();
  }
  if (listener_.joinable()) listener_.join();
  if (sweeper_.joinable()) sweeper_.join();
}

std::string SharedSnapshotStore::ObjectKey(absl::string_view canonical_id) const {
  return absl::StrCat(options_.object_prefix, "snapshots/", canonical_id.substr(kIdPrefix.size()));
}

void SharedSnapshotStore::Event(const std::string& event, const std::string& detail) {
  if (options_.on_event) options_.on_event(event, detail);
}

// ---- Readiness and dependency health ----------------------------------------------------------

void SharedSnapshotStore::SetReady(bool ready, const std::string& why) {
  bool changed;
  {
    base::MutexLock lock(&state_mu_);
    changed = ready_.load() != ready || (!ready && not_ready_why_ != why);
    ready_ = ready;
    not_ready_why_ = why;
    ready_cv_.SignalAll();
  }
  if (changed && options_.on_ready_changed) options_.on_ready_changed(ready, why);
}

void SharedSnapshotStore::SetDependency(Dep dep, bool up, const std::string& error) {
  bool changed;
  {
    base::MutexLock lock(&state_mu_);
    DependencyHealth& h = dep == Dep::kPostgres ? postgres_ : s3_health_;
    changed = h.up != up;
    h.up = up;
    if (!up) {
      h.error = error;
      h.last_failure = absl::Now();
    }
  }
  if (changed) {
    const char* name = dep == Dep::kPostgres ? "postgres" : "s3";
    Event(up ? "dependency_up" : "dependency_down", up ? name : error);
  }
}

absl::Status SharedSnapshotStore::Admit(Dep dep) {
  base::MutexLock lock(&state_mu_);
  if (!ready_) {
    return absl::UnavailableError(
        absl::StrCat("the shared snapshot store is not ready yet: ", not_ready_why_));
  }
  DependencyHealth& h = dep == Dep::kPostgres ? postgres_ : s3_health_;
  if (h.up) return absl::OkStatus();
  // Half-open: one call per probe interval goes through, so recovery is seen at once by
  // traffic, not only by the prober.
  absl::Time now = absl::Now();
  if (now - std::max(h.last_failure, h.last_trial) >= options_.probe_interval) {
    h.last_trial = now;
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(dep == Dep::kPostgres ? "PostgreSQL " : "",
                                             dep == Dep::kPostgres ? pg_->describe() : "",
                                             dep == Dep::kPostgres ? "" : s3_->describe(),
                                             " is unavailable (", h.error, "); retry later"));
}

void SharedSnapshotStore::Note(Dep dep, absl::string_view op, absl::Time start,
                               const absl::Status& status) {
  if (options_.on_dependency_call) {
    options_.on_dependency_call(dep == Dep::kPostgres ? "postgres" : "s3", op, absl::Now() - start,
                                status);
  }
  if (IsOutage(status)) {
    SetDependency(dep, false, std::string(status.message()));
  } else {
    SetDependency(dep, true, "");
  }
}

absl::Status SharedSnapshotStore::WaitReady(absl::Time deadline) {
  base::MutexLock lock(&state_mu_);
  // CondVars rather than Mutex::Await here and below: see PgPool::Borrow.
  while (!ready_.load()) {
    if (ready_cv_.WaitWithDeadline(&state_mu_, deadline) && absl::Now() >= deadline) break;
  }
  if (ready_.load()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("the shared snapshot store is not ready: ", not_ready_why_));
}

absl::Status SharedSnapshotStore::Migrate(absl::Time deadline) {
  return pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    for (const char* sql :
         {"SELECT pg_advisory_xact_lock(6905712633900903)",
          "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
          "applied_at timestamptz NOT NULL DEFAULT now())"}) {
      if (absl::Status s = c.Exec(sql, deadline).status(); !s.ok()) return s;
    }
    (void)kMigrationLockKey;
    absl::StatusOr<PgResult> current =
        c.Exec("SELECT coalesce(max(version), 0) FROM schema_migrations", deadline);
    if (!current.ok()) return current.status();
    int version = 0;
    if (!absl::SimpleAtoi(current->Get(0, 0), &version)) {
      return absl::InternalError("schema_migrations: malformed version");
    }
    int newest = Migrations().back().version;
    if (version > newest) {
      // A newer binary migrated already; migrations only ever add, so carry on.
      Event("schema_newer", absl::StrCat("database schema version ", version,
                                         ", this binary knows up to ", newest));
    }
    for (const Migration& m : Migrations()) {
      if (m.version <= version) continue;
      for (const char* sql : m.statements) {
        if (absl::Status s = c.Exec(sql, deadline).status(); !s.ok()) return s;
      }
      absl::Status s = c.Exec("INSERT INTO schema_migrations (version) VALUES ($1)",
                              {absl::StrCat(m.version)}, deadline)
                           .status();
      if (!s.ok()) return s;
      Event("schema_migrated", absl::StrCat("applied migration ", m.version));
    }
    return absl::OkStatus();
  });
}

absl::Status SharedSnapshotStore::StartUp(absl::Time deadline) {
  absl::Time start = absl::Now();
  absl::Status pg = Migrate(deadline);
  Note(Dep::kPostgres, "migrate", start, pg);
  start = absl::Now();
  absl::Status s3 = options_.create_bucket
                        ? s3_->CreateBucket(deadline)
                        : s3_->Exists(ObjectKey("sha256:probe"), deadline).status();
  Note(Dep::kS3, options_.create_bucket ? "create_bucket" : "head", start, s3);
  if (pg.ok() && s3.ok()) return absl::OkStatus();
  std::string why;
  if (!pg.ok()) why = std::string(pg.message());
  if (!s3.ok()) absl::StrAppend(&why, why.empty() ? "" : "; ", s3.message());
  return absl::UnavailableError(why);
}

// ---- Listener: start-up, LISTEN/NOTIFY, probes -----------------------------------------------

void SharedSnapshotStore::ListenerLoop() {
  absl::Duration backoff = absl::Milliseconds(100);
  auto pause = [&](absl::Duration d) {
    base::MutexLock lock(&wake_mu_);
    if (!stopping_) wake_cv_.WaitWithTimeout(&wake_mu_, d);
  };
  // Start-up: keep trying until both dependencies answer and the schema is current.
  while (!stopping_) {
    absl::Status status = StartUp(absl::Now() + options_.operation_timeout);
    if (status.ok()) break;
    SetReady(false, std::string(status.message()));
    Event("not_ready", std::string(status.message()));
    pause(backoff);
    backoff = std::min(backoff * 2, options_.probe_interval);
  }
  std::unique_ptr<PgConnection> listen;
  absl::Time last_probe = absl::InfinitePast();
  backoff = absl::Milliseconds(100);
  while (!stopping_) {
    if (listen == nullptr || !listen->healthy()) {
      if (listen != nullptr) {
        listen.reset();
        base::MutexLock lock(&cache_mu_);
        listening_ = false;  // entries kept, but only as a fallback from now on
        Event("listener_lost", "name cache no longer trusted until the listener reconnects");
      }
      absl::Time start = absl::Now();
      absl::StatusOr<std::unique_ptr<PgConnection>> c =
          PgConnection::Connect(options_.pg_conninfo, absl::Now() + options_.operation_timeout);
      absl::Status s = c.status();
      if (s.ok())
        s = (*c)->Exec(absl::StrCat("LISTEN ", kChannel), absl::Now() + options_.operation_timeout)
                .status();
      Note(Dep::kPostgres, "listen", start, s);
      if (!s.ok()) {
        if (!ready_) SetReady(false, std::string(s.message()));
        pause(backoff);
        backoff = std::min(backoff * 2, options_.probe_interval);
        continue;
      }
      listen = *std::move(c);
      backoff = absl::Milliseconds(100);
      {
        // Notifications may have been missed: start from an empty cache.
        base::MutexLock lock(&cache_mu_);
        names_.clear();
        ids_.clear();
        InvalidateLocked("");  // everything
        listening_ = true;
        fresh_until_ = absl::Now();
      }
      SetReady(true, "");
      RecheckKnownIds();
    }
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> notes =
        listen->WaitForNotifications(absl::Now() + absl::Milliseconds(500));
    if (!notes.ok()) continue;  // unhealthy now; reconnects above
    for (const auto& [channel, payload] : *notes) HandleNotification(payload);
    // A half-open TCP connection would never report anything: ping it.
    if (absl::Now() - last_probe >= options_.probe_interval) {
      last_probe = absl::Now();
      absl::Time start = absl::Now();
      absl::Status ping = listen->Exec("SELECT 1", absl::Now() + absl::Seconds(2)).status();
      Note(Dep::kPostgres, "ping", start, ping);
      if (ping.ok()) {
        base::MutexLock lock(&cache_mu_);
        fresh_until_ = absl::Now();
      }
      bool s3_down;
      {
        base::MutexLock lock(&state_mu_);
        s3_down = !s3_health_.up;
      }
      if (s3_down) {
        start = absl::Now();
        Note(Dep::kS3, "head", start,
             s3_->Exists(ObjectKey("sha256:probe"), absl::Now() + absl::Seconds(2)).status());
      }
    }
  }
}

void SharedSnapshotStore::InvalidateLocked(const std::string& key) {
  ++invalidations_;
  recent_invalidations_.emplace_back(invalidations_, key);
  while (recent_invalidations_.size() > kRecentInvalidations) recent_invalidations_.pop_front();
}

bool SharedSnapshotStore::InvalidatedSinceLocked(const std::string& key, uint64_t since) const {
  if (invalidations_ == since) return false;
  // Older than what the ring remembers: assume the worst.
  if (recent_invalidations_.empty() || recent_invalidations_.front().first > since + 1) return true;
  for (auto it = recent_invalidations_.rbegin();
       it != recent_invalidations_.rend() && it->first > since; ++it) {
    if (it->second == key || it->second.empty()) return true;
  }
  return false;
}

void SharedSnapshotStore::HandleNotification(const std::string& payload) {
  if (absl::StartsWith(payload, "n ")) {
    base::MutexLock lock(&cache_mu_);
    std::string name = payload.substr(2);
    names_.erase(name);
    InvalidateLocked(name);
  } else if (absl::StartsWith(payload, "d ")) {
    ForgetId(payload.substr(2));
  }
}

void SharedSnapshotStore::ForgetId(const std::string& id) {
  bool served;
  {
    base::MutexLock lock(&cache_mu_);
    ids_.erase(id);
    for (auto it = names_.begin(); it != names_.end();) {
      if (it->second == id) {
        InvalidateLocked(it->first);
        names_.erase(it++);
      } else {
        ++it;
      }
    }
    InvalidateLocked(id);
    served = served_ids_.erase(id) > 0;
  }
  cache_->Erase(id);
  if (served && options_.on_snapshot_removed) options_.on_snapshot_removed(id);
}

void SharedSnapshotStore::RecheckKnownIds() {
  std::vector<std::string> ids;
  {
    base::MutexLock lock(&cache_mu_);
    ids.assign(served_ids_.begin(), served_ids_.end());
  }
  for (const std::string& id : ids) {
    absl::StatusOr<PgResult> r = pg_->Query("SELECT 1 FROM snapshots WHERE id = $1", {id},
                                            absl::Now() + options_.operation_timeout);
    if (r.ok() && r->rows() == 0) ForgetId(id);
  }
}

// ---- Sweeper ----------------------------------------------------------------------------------

void SharedSnapshotStore::SweeperLoop() {
  absl::Time next_sweep = absl::Now() + options_.sweep_interval;
  while (!stopping_) {
    {
      base::MutexLock lock(&wake_mu_);
      if (!stopping_) {
        wake_cv_.WaitWithTimeout(&wake_mu_,
                                 std::min(options_.stats_interval, options_.sweep_interval));
      }
    }
    if (stopping_ || !ready_) continue;
    absl::StatusOr<PgResult> r = pg_->Query(
        "SELECT count(*), coalesce(sum(blob_bytes), 0), (SELECT count(DISTINCT id) FROM "
        "quarantine) FROM snapshots",
        {}, absl::Now() + options_.operation_timeout);
    if (r.ok()) {
      StoreStats stats;
      if (absl::SimpleAtoi(r->Get(0, 0), &stats.snapshot_count) &&
          absl::SimpleAtoi(r->Get(0, 1), &stats.total_bytes) &&
          absl::SimpleAtoi(r->Get(0, 2), &stats.quarantined_count)) {
        base::MutexLock lock(&state_mu_);
        store_stats_ = stats;
      }
    }
    if (absl::Now() >= next_sweep) {
      next_sweep = absl::Now() + options_.sweep_interval;
      absl::StatusOr<int> swept = SweepOnce();
      if (!swept.ok()) Event("sweep_failed", std::string(swept.status().message()));
    }
  }
}

absl::StatusOr<int> SharedSnapshotStore::SweepOnce() {
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  if (absl::Status s = Admit(Dep::kS3); !s.ok()) return s;
  const std::string grace = absl::StrCat(absl::ToInt64Milliseconds(options_.sweep_grace));
  absl::Time start = absl::Now();
  absl::StatusOr<PgResult> due = pg_->Query(
      "SELECT id FROM sweep_queue WHERE enqueued_at < now() - $1 * interval '1 millisecond' "
      "ORDER BY enqueued_at LIMIT 100",
      {grace}, absl::Now() + options_.operation_timeout);
  Note(Dep::kPostgres, "sweep_list", start, due.status());
  if (!due.ok()) return due.status();
  int deleted = 0;
  for (int i = 0; i < due->rows(); ++i) {
    const std::string id = due->Get(i, 0);
    absl::Time deadline = absl::Now() + options_.operation_timeout;
    bool removed = false;
    start = absl::Now();
    absl::Status status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
      removed = false;
      // Re-check under the queue row's lock: an upload of the same bytes refreshes this row
      // (and so waits for this transaction), so it cannot slip between check and delete.
      absl::StatusOr<PgResult> still = c.Exec(
          "SELECT 1 FROM sweep_queue WHERE id = $1 AND enqueued_at < now() - $2 * interval "
          "'1 millisecond' FOR UPDATE SKIP LOCKED",
          {id, grace}, deadline);
      if (!still.ok()) return still.status();
      if (still->rows() == 0) return absl::OkStatus();
      absl::StatusOr<PgResult> live =
          c.Exec("SELECT 1 FROM snapshots WHERE id = $1", {id}, deadline);
      if (!live.ok()) return live.status();
      if (live->rows() == 0) {
        absl::Time s3_start = absl::Now();
        absl::Status gone = s3_->Delete(ObjectKey(id), deadline);
        Note(Dep::kS3, "delete", s3_start, gone);
        if (!gone.ok()) return gone;
        removed = true;
      }
      return c.Exec("DELETE FROM sweep_queue WHERE id = $1", {id}, deadline).status();
    });
    Note(Dep::kPostgres, "sweep", start, status);
    if (!status.ok()) return status;
    if (removed) ++deleted;
  }
  if (deleted > 0) {
    base::MutexLock lock(&state_mu_);
    swept_ += deleted;
  }
  return deleted;
}

// ---- Verification ---------------------------------------------------------------------------

std::string SharedSnapshotStore::VerifyProblem(const std::string& id,
                                               absl::string_view bytes) const {
  std::string actual = Sha256Hex(bytes);
  if (actual != absl::string_view(id).substr(kIdPrefix.size())) {
    return absl::StrCat("sha256 mismatch: ", bytes.size(), " bytes hash to ", actual);
  }
  return "";
}

// ---- Writes ---------------------------------------------------------------------------------

absl::StatusOr<PutResult> SharedSnapshotStore::Put(absl::string_view envelope,
                                                   const SnapshotMetadata& metadata) {
  return PutImpl("", envelope, metadata);
}

absl::StatusOr<PutResult> SharedSnapshotStore::PutAndName(absl::string_view name,
                                                          absl::string_view envelope,
                                                          const SnapshotMetadata& metadata) {
  if (!IsValidSnapshotName(name)) return InvalidName(name);
  return PutImpl(name, envelope, metadata);
}

absl::StatusOr<std::string> SharedSnapshotStore::SetNameTx(PgConnection& c, const std::string& name,
                                                           const std::string& id,
                                                           absl::Time deadline) {
  absl::StatusOr<PgResult> old =
      c.Exec("SELECT id FROM names WHERE name = $1 FOR UPDATE", {name}, deadline);
  if (!old.ok()) return old.status();
  std::string previous;
  if (old->rows() > 0) {
    previous = old->Get(0, 0);
    if (previous == id) return previous;
    absl::Status s = c.Exec(
                          "UPDATE names SET id = $2, version = version + 1, updated_at = now() "
                          "WHERE name = $1",
                          {name, id}, deadline)
                         .status();
    if (!s.ok()) return s;
  } else {
    absl::StatusOr<PgResult> inserted =
        c.Exec("INSERT INTO names (name, id) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
               {name, id}, deadline);
    if (!inserted.ok()) return inserted.status();
    // Someone created the name since our SELECT: re-run the transaction (it then updates).
    if (inserted->affected() == 0) return absl::AbortedError("name created concurrently");
  }
  if (absl::Status s = Notify(c, absl::StrCat("n ", name), deadline); !s.ok()) return s;
  return previous;
}

absl::Status SharedSnapshotStore::NameExistingTx(PgConnection& c, const std::string& id,
                                                 const std::string& name, absl::Time deadline,
                                                 PutResult* result, bool* found) {
  *found = false;
  absl::StatusOr<PgResult> row = c.Exec(
      absl::StrCat("SELECT ", kSnapshotColumns, " FROM snapshots s WHERE s.id = $1 FOR KEY SHARE"),
      {id}, deadline);
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return absl::OkStatus();
  absl::StatusOr<SnapshotMetadata> m = MetadataFromRow(*row, 0, 0);
  if (!m.ok()) return m.status();
  *found = true;
  *result = PutResult{id, false, *std::move(m), ""};
  if (name.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> previous = SetNameTx(c, name, id, deadline);
  if (!previous.ok()) return previous.status();
  result->previous_id = *std::move(previous);
  return absl::OkStatus();
}

absl::StatusOr<PutResult> SharedSnapshotStore::PutImpl(absl::string_view name_view,
                                                       absl::string_view envelope,
                                                       const SnapshotMetadata& metadata) {
  const std::string name(name_view);
  const std::string id = absl::StrCat(kIdPrefix, Sha256Hex(envelope));
  if (options_.validator) {
    absl::Status status = options_.validator(envelope);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("envelope rejected, not stored: ", status.message()));
    }
  }
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  SnapshotMetadata record = metadata;
  record.id = id;
  record.blob_bytes = envelope.size();
  absl::Time deadline = absl::Now() + options_.operation_timeout;

  // Already stored? Then only the name moves (the row is locked against a concurrent delete).
  PutResult result;
  bool exists = false;
  absl::Time start = absl::Now();
  absl::Status status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    return NameExistingTx(c, id, name, deadline, &result, &exists);
  });
  Note(Dep::kPostgres, "put_existing", start, status);
  if (!status.ok()) return status;
  if (exists) {
    NameChangedHere(name);
    return result;
  }

  if (absl::Status s = Admit(Dep::kS3); !s.ok()) return s;
  // 1. The intent: if this process dies before the commit, the sweep collects the object.
  start = absl::Now();
  absl::StatusOr<PgResult> intent = pg_->Query(
      "INSERT INTO sweep_queue (id, reason) VALUES ($1, 'upload') "
      "ON CONFLICT (id) DO UPDATE SET enqueued_at = now(), reason = 'upload' "
      "RETURNING (SELECT count(*) FROM quarantine WHERE id = $1)",
      {id}, deadline);
  Note(Dep::kPostgres, "put_intent", start, intent.status());
  if (!intent.ok()) return intent.status();
  // An object under a quarantined id held damaged bytes: replace them with these good ones.
  bool overwrite = intent->Get(0, 0) != "0";
  // 2. The object. 412 means the same bytes are there already (the key is their hash).
  start = absl::Now();
  absl::Time transfer_deadline = absl::Now() + options_.transfer_timeout;
  absl::StatusOr<bool> put =
      s3_->PutIfAbsent(ObjectKey(id), envelope, transfer_deadline, overwrite);
  Note(Dep::kS3, "put", start, put.status());
  if (!put.ok()) return put.status();
  // 3. The rows, the name and the notification, in one transaction.
  deadline = absl::Now() + options_.operation_timeout;
  start = absl::Now();
  status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    absl::StatusOr<PgResult> inserted = c.Exec(
        "INSERT INTO snapshots (id, bundle_sha256, source_bytes, blob_bytes, v8_version, "
        "build_ms, created_ms, spec) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (id) DO NOTHING",
        {id, record.bundle_sha256, absl::StrCat(record.source_bytes),
         absl::StrCat(record.blob_bytes), record.v8_version, absl::StrCat(record.build_ms),
         absl::StrCat(record.created_ms), EncodeBytea(record.spec)},
        deadline);
    if (!inserted.ok()) return inserted.status();
    absl::Status s = c.Exec("DELETE FROM sweep_queue WHERE id = $1", {id}, deadline).status();
    if (s.ok()) s = c.Exec("DELETE FROM quarantine WHERE id = $1", {id}, deadline).status();
    bool found = false;
    if (s.ok()) s = NameExistingTx(c, id, name, deadline, &result, &found);
    if (!s.ok()) return s;
    if (!found) return absl::AbortedError("snapshot deleted concurrently");
    result.created = inserted->affected() == 1;
    return absl::OkStatus();
  });
  Note(Dep::kPostgres, "put_commit", start, status);
  if (!status.ok()) return status;
  NameChangedHere(name);
  return result;
}

absl::StatusOr<std::string> SharedSnapshotStore::SetName(absl::string_view name_view,
                                                         absl::string_view id_view) {
  if (!IsValidSnapshotName(name_view)) return InvalidName(name_view);
  absl::StatusOr<std::string> id = ParseSnapshotId(id_view);
  if (!id.ok()) return id.status();
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  const std::string name(name_view);
  absl::Time deadline = absl::Now() + options_.operation_timeout;
  std::string previous;
  absl::Time start = absl::Now();
  absl::Status status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    absl::StatusOr<PgResult> row =
        c.Exec("SELECT 1 FROM snapshots WHERE id = $1 FOR KEY SHARE", {*id}, deadline);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NotFoundId(*id);
    absl::StatusOr<std::string> p = SetNameTx(c, name, *id, deadline);
    if (!p.ok()) return p.status();
    previous = *std::move(p);
    return absl::OkStatus();
  });
  Note(Dep::kPostgres, "set_name", start, status);
  if (!status.ok()) return status;
  NameChangedHere(name);
  return previous;
}

void SharedSnapshotStore::NameChangedHere(const std::string& name) {
  if (name.empty()) return;
  // Read-your-writes on this replica: our own NOTIFY reaches our listener a little later, and
  // a call right after the upload must not resolve the old id meanwhile.
  base::MutexLock lock(&cache_mu_);
  names_.erase(name);
  InvalidateLocked(name);
}

absl::StatusOr<DeleteResult> SharedSnapshotStore::DeleteName(absl::string_view name_view) {
  if (!IsValidSnapshotName(name_view)) return InvalidName(name_view);
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  const std::string name(name_view);
  absl::Time deadline = absl::Now() + options_.operation_timeout;
  DeleteResult result;
  absl::Time start = absl::Now();
  absl::Status status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    result = DeleteResult{};
    absl::StatusOr<PgResult> row =
        c.Exec("SELECT id FROM names WHERE name = $1 FOR UPDATE", {name}, deadline);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NotFoundName(name);
    const std::string id = row->Get(0, 0);
    // Lock the snapshot before counting its names, so a concurrent SetName (FOR KEY SHARE)
    // either finishes first (and is counted) or waits and then finds the row gone.
    absl::Status s =
        c.Exec("SELECT 1 FROM snapshots WHERE id = $1 FOR UPDATE", {id}, deadline).status();
    if (s.ok()) s = c.Exec("DELETE FROM names WHERE name = $1", {name}, deadline).status();
    if (!s.ok()) return s;
    result.names_removed.push_back(name);
    absl::StatusOr<PgResult> others =
        c.Exec("SELECT count(*) FROM names WHERE id = $1", {id}, deadline);
    if (!others.ok()) return others.status();
    if (others->Get(0, 0) != "0") return Notify(c, absl::StrCat("n ", name), deadline);
    s = c.Exec("DELETE FROM snapshots WHERE id = $1", {id}, deadline).status();
    if (s.ok()) {
      s = c.Exec(
               "INSERT INTO sweep_queue (id, reason) VALUES ($1, 'deleted') "
               "ON CONFLICT (id) DO UPDATE SET enqueued_at = now(), reason = 'deleted'",
               {id}, deadline)
              .status();
    }
    // "d" first: a replica drops the id and every name pointing at it in one step, so no call
    // can find the name gone but the id still cached in between.
    if (s.ok()) s = Notify(c, absl::StrCat("d ", id), deadline);
    if (s.ok()) s = Notify(c, absl::StrCat("n ", name), deadline);
    if (!s.ok()) return s;
    result.removed_id = id;
    return absl::OkStatus();
  });
  Note(Dep::kPostgres, "delete_name", start, status);
  if (!status.ok()) return status;
  if (!result.removed_id.empty()) ForgetId(result.removed_id);
  {
    base::MutexLock lock(&cache_mu_);
    names_.erase(name);
    InvalidateLocked(name);
  }
  return result;
}

absl::StatusOr<DeleteResult> SharedSnapshotStore::Delete(absl::string_view id_view) {
  absl::StatusOr<std::string> id = ParseSnapshotId(id_view);
  if (!id.ok()) return id.status();
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  absl::Time deadline = absl::Now() + options_.operation_timeout;
  DeleteResult result;
  absl::Time start = absl::Now();
  absl::Status status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    result = DeleteResult{};
    absl::StatusOr<PgResult> row =
        c.Exec("SELECT 1 FROM snapshots WHERE id = $1 FOR UPDATE", {*id}, deadline);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return NotFoundId(*id);
    absl::StatusOr<PgResult> names =
        c.Exec("DELETE FROM names WHERE id = $1 RETURNING name", {*id}, deadline);
    if (!names.ok()) return names.status();
    for (int i = 0; i < names->rows(); ++i) result.names_removed.push_back(names->Get(i, 0));
    std::sort(result.names_removed.begin(), result.names_removed.end());
    absl::Status s = c.Exec("DELETE FROM snapshots WHERE id = $1", {*id}, deadline).status();
    if (s.ok()) {
      s = c.Exec(
               "INSERT INTO sweep_queue (id, reason) VALUES ($1, 'deleted') "
               "ON CONFLICT (id) DO UPDATE SET enqueued_at = now(), reason = 'deleted'",
               {*id}, deadline)
              .status();
    }
    // "d" before the names (see DeleteName).
    if (s.ok()) s = Notify(c, absl::StrCat("d ", *id), deadline);
    for (size_t i = 0; s.ok() && i < result.names_removed.size(); ++i) {
      s = Notify(c, absl::StrCat("n ", result.names_removed[i]), deadline);
    }
    if (!s.ok()) return s;
    result.removed_id = *id;
    return absl::OkStatus();
  });
  Note(Dep::kPostgres, "delete", start, status);
  if (!status.ok()) return status;
  ForgetId(*id);
  return result;
}

absl::Status SharedSnapshotStore::Quarantine(const std::string& id, const std::string& reason) {
  absl::Time deadline = absl::Now() + options_.operation_timeout;
  std::vector<std::string> dropped;
  absl::Time start = absl::Now();
  absl::Status status = pg_->Transaction(deadline, [&](PgConnection& c) -> absl::Status {
    dropped.clear();
    absl::Status s =
        c.Exec("INSERT INTO quarantine (id, reason) VALUES ($1, $2)", {id, reason}, deadline)
            .status();
    if (!s.ok()) return s;
    absl::StatusOr<PgResult> names =
        c.Exec("DELETE FROM names WHERE id = $1 RETURNING name", {id}, deadline);
    if (!names.ok()) return names.status();
    for (int i = 0; i < names->rows(); ++i) dropped.push_back(names->Get(i, 0));
    s = c.Exec("DELETE FROM snapshots WHERE id = $1", {id}, deadline).status();
    // "d" before the names (see DeleteName).
    if (s.ok()) s = Notify(c, absl::StrCat("d ", id), deadline);
    for (size_t i = 0; s.ok() && i < dropped.size(); ++i) {
      s = Notify(c, absl::StrCat("n ", dropped[i]), deadline);
    }
    return s;
  });
  Note(Dep::kPostgres, "quarantine", start, status);
  if (!status.ok()) return status;
  ForgetId(id);
  if (options_.observer != nullptr) {
    options_.observer->OnQuarantine(
        id, dropped.empty()
                ? reason
                : absl::StrCat(reason, " (names dropped: ", absl::StrJoin(dropped, ","), ")"));
  }
  return absl::OkStatus();
}

// ---- Reads ----------------------------------------------------------------------------------

absl::StatusOr<std::string> SharedSnapshotStore::ResolveFromDb(const std::string& key,
                                                               bool is_name) {
  uint64_t before;
  {
    base::MutexLock lock(&cache_mu_);
    before = invalidations_;
  }
  absl::Status admitted = Admit(Dep::kPostgres);
  absl::StatusOr<PgResult> row = absl::UnknownError("not queried");
  if (!admitted.ok()) {
    row = admitted;
  } else {
    absl::Time start = absl::Now();
    row = pg_->Query(
        is_name ? "SELECT id FROM names WHERE name = $1" : "SELECT id FROM snapshots WHERE id = $1",
        {key}, absl::Now() + options_.operation_timeout);
    Note(Dep::kPostgres, "resolve", start, row.status());
  }
  base::MutexLock lock(&cache_mu_);
  if (!row.ok()) {
    if (IsOutage(row.status())) {
      // The database cannot answer: a cached answer, even unconfirmed, keeps warm pools
      // reachable through the outage.
      if (is_name) {
        auto it = names_.find(key);
        if (it != names_.end()) {
          ++stale_answers_;
          return it->second;
        }
      } else if (ids_.contains(key)) {
        ++stale_answers_;
        return key;
      }
    }
    return row.status();
  }
  if (row->rows() == 0) return is_name ? NotFoundName(key) : NotFoundId(key);
  std::string id = row->Get(0, 0);
  // Cache only what no notification can have overtaken.
  if (listening_ && !InvalidatedSinceLocked(key, before) && !InvalidatedSinceLocked(id, before)) {
    if (is_name) names_[key] = id;
    ids_.insert(id);
  }
  return id;
}

absl::StatusOr<std::string> SharedSnapshotStore::Resolve(absl::string_view name_or_id) {
  bool is_name = IsValidSnapshotName(name_or_id);
  std::string key;
  if (is_name) {
    key = std::string(name_or_id);
  } else {
    absl::StatusOr<std::string> canonical = ParseSnapshotId(name_or_id);
    if (!canonical.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", absl::CHexEscape(name_or_id.substr(0, 200)),
          "\" is neither a valid snapshot name ([A-Za-z0-9._-], 1-128 chars) nor an id "
          "(sha256:<64 lowercase hex>)"));
    }
    key = *std::move(canonical);
  }
  {
    base::MutexLock lock(&cache_mu_);
    if (listening_) {
      if (is_name) {
        auto it = names_.find(key);
        if (it != names_.end()) return it->second;
      } else if (ids_.contains(key)) {
        return key;
      }
    }
  }
  return ResolveFromDb(key, is_name);
}

absl::StatusOr<SnapshotMetadata> SharedSnapshotStore::Get(absl::string_view id_view) {
  absl::StatusOr<std::string> id = ParseSnapshotId(id_view);
  if (!id.ok()) return id.status();
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  absl::Time start = absl::Now();
  absl::StatusOr<PgResult> row =
      pg_->Query(absl::StrCat("SELECT ", kSnapshotColumns, " FROM snapshots s WHERE s.id = $1"),
                 {*id}, absl::Now() + options_.operation_timeout);
  Note(Dep::kPostgres, "get", start, row.status());
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return NotFoundId(*id);
  return MetadataFromRow(*row, 0, 0);
}

absl::StatusOr<ListResult> SharedSnapshotStore::List(uint32_t page_size,
                                                     absl::string_view page_token) {
  if (page_size == 0) page_size = kDefaultPageSize;
  if (page_size > kMaxPageSize) page_size = kMaxPageSize;
  if (!page_token.empty() && !IsValidSnapshotName(page_token)) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  if (absl::Status s = Admit(Dep::kPostgres); !s.ok()) return s;
  absl::Time start = absl::Now();
  // Keyset pagination: the token is the last name of the previous page; one row more than
  // the page says whether there is a next one.
  absl::StatusOr<PgResult> rows =
      pg_->Query(absl::StrCat("SELECT n.name, ", kSnapshotColumns,
                              " FROM names n JOIN snapshots s ON s.id = n.id WHERE n.name > $1 "
                              "ORDER BY n.name LIMIT $2"),
                 {std::string(page_token), absl::StrCat(page_size + 1)},
                 absl::Now() + options_.operation_timeout);
  Note(Dep::kPostgres, "list", start, rows.status());
  if (!rows.ok()) return rows.status();
  ListResult result;
  for (int i = 0; i < rows->rows() && result.entries.size() < page_size; ++i) {
    absl::StatusOr<SnapshotMetadata> m = MetadataFromRow(*rows, i, 1);
    if (!m.ok()) return m.status();
    ListEntry entry;
    entry.name = rows->Get(i, 0);
    entry.id = m->id;
    entry.metadata = *std::move(m);
    result.entries.push_back(std::move(entry));
  }
  if (rows->rows() > static_cast<int>(page_size)) {
    result.next_page_token = result.entries.back().name;
  }
  return result;
}

absl::StatusOr<std::string> SharedSnapshotStore::Download(const std::string& id) {
  if (absl::Status s = Admit(Dep::kS3); !s.ok()) return s;
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> bytes =
      s3_->Get(ObjectKey(id), absl::Now() + options_.transfer_timeout, options_.max_envelope_bytes);
  Note(Dep::kS3, "get", start, bytes.status());
  if (absl::IsNotFound(bytes.status())) return NotFoundId(id);
  return bytes;
}

absl::StatusOr<std::string> SharedSnapshotStore::ReadEnvelope(absl::string_view id_view) {
  absl::StatusOr<std::string> parsed = ParseSnapshotId(id_view);
  if (!parsed.ok()) return parsed.status();
  const std::string id = *std::move(parsed);
  auto fetch = [&] { return Download(id); };
  absl::StatusOr<std::string> bytes = cache_->Get(id, fetch);
  if (absl::IsDataLoss(bytes.status())) {
    // Damaged on the way or in the bucket: fetch once more before blaming the object.
    bytes = cache_->Get(id, fetch);
    if (absl::IsDataLoss(bytes.status())) {
      std::string reason(bytes.status().message());
      absl::Status q = Quarantine(id, reason);
      if (!q.ok()) {
        return absl::DataLossError(absl::StrCat(reason, "; quarantine failed: ", q.message()));
      }
      return absl::DataLossError(absl::StrCat(reason, "; the snapshot was quarantined"));
    }
  }
  if (!bytes.ok()) return bytes.status();
  if (options_.validator) {
    absl::Status valid = options_.validator(*bytes);
    if (!valid.ok()) {
      // Intact bytes this runtime cannot restore (another V8, another hash seed): this
      // replica's problem, not the snapshot's. Never quarantined for everyone.
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot ", id, " cannot be restored by this replica: ", valid.message()));
    }
  }
  {
    base::MutexLock lock(&cache_mu_);
    served_ids_.insert(id);
  }
  return bytes;
}

StoreStats SharedSnapshotStore::Stats() {
  base::MutexLock lock(&state_mu_);
  return store_stats_;
}

SharedStoreStats SharedSnapshotStore::SharedStats() {
  SharedStoreStats stats;
  stats.cache = cache_->Stats();
  {
    base::MutexLock lock(&state_mu_);
    stats.postgres = postgres_;
    stats.s3 = s3_health_;
    stats.ready = ready_;
    stats.swept_objects = swept_;
  }
  base::MutexLock lock(&cache_mu_);
  stats.listening = listening_;
  stats.stale_name_answers = stale_answers_;
  stats.cached_names = names_.size();
  stats.name_cache_staleness_seconds =
      !ready_ ? 0 : absl::ToDoubleSeconds(absl::Now() - fresh_until_);
  if (listening_ &&
      stats.name_cache_staleness_seconds < absl::ToDoubleSeconds(options_.probe_interval) * 2) {
    stats.name_cache_staleness_seconds = 0;
  }
  return stats;
}

}  // namespace isopool::store
