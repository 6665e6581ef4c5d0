#include "store/fs_snapshot_store.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "base/sha256.h"
#include "store/atomic_file.h"

namespace isopool::store {

using ::isopool::base::Sha256Hex;
namespace {

constexpr absl::string_view kIdPrefix = "sha256:";
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

absl::string_view HexOf(absl::string_view canonical_id) {
  return canonical_id.substr(kIdPrefix.size());
}

absl::Status InvalidName(absl::string_view name) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid snapshot name \"", absl::CHexEscape(name.substr(0, 200)),
                   "\": use 1-128 characters from [A-Za-z0-9._-], not 64 hex digits"));
}

}  // namespace

FilesystemSnapshotStore::FilesystemSnapshotStore(std::string data_dir,
                                                 FilesystemSnapshotStoreOptions options)
    : data_dir_(std::move(data_dir)),
      snapshots_dir_(absl::StrCat(data_dir_, "/snapshots")),
      quarantine_dir_(absl::StrCat(data_dir_, "/quarantine")),
      options_(std::move(options)) {}

FilesystemSnapshotStore::~FilesystemSnapshotStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<FilesystemSnapshotStore>> FilesystemSnapshotStore::Open(
    std::string data_dir, FilesystemSnapshotStoreOptions options) {
  while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
  if (data_dir.empty()) return absl::InvalidArgumentError("snapshot store: empty data_dir");
  std::unique_ptr<FilesystemSnapshotStore> store(
      new FilesystemSnapshotStore(std::move(data_dir), std::move(options)));
  absl::Status status = store->Recover();
  if (!status.ok()) return status;
  return store;
}

std::string FilesystemSnapshotStore::BlobPath(absl::string_view hex) const {
  return absl::StrCat(snapshots_dir_, "/", hex, ".blob");
}

std::string FilesystemSnapshotStore::MetaPath(absl::string_view hex) const {
  return absl::StrCat(snapshots_dir_, "/", hex, ".meta");
}

std::string FilesystemSnapshotStore::VerifyProblem(const std::string& id,
                                                   absl::string_view bytes) const {
  std::string actual = Sha256Hex(bytes);
  if (actual != HexOf(id)) {
    return absl::StrCat("sha256 mismatch: ", bytes.size(), " bytes on disk hash to ", actual);
  }
  if (options_.validator) {
    absl::Status status = options_.validator(bytes);
    if (!status.ok()) return absl::StrCat("envelope rejected by validator: ", status.message());
  }
  return "";
}

void FilesystemSnapshotStore::NotifyQuarantine(absl::string_view id, absl::string_view reason) {
  if (options_.observer != nullptr) options_.observer->OnQuarantine(id, reason);
}

absl::Status FilesystemSnapshotStore::PersistNames(const NameIndex& names) {
  return WriteFileAtomically(data_dir_, "names", EncodeNames(names));
}

void FilesystemSnapshotStore::ForgetSnapshot(const std::string& id) {
  auto it = snapshots_.find(id);
  if (it == snapshots_.end()) return;
  total_bytes_ -= it->second.blob_bytes;
  snapshots_.erase(it);
}

absl::Status FilesystemSnapshotStore::RemoveSnapshotFiles(const std::string& hex) {
  // .meta first: once it is gone the snapshot is un-committed, so a crash before the .blob
  // is removed leaves only debris that Open cleans.
  for (const std::string& path : {MetaPath(hex), BlobPath(hex)}) {
    absl::Status status = RemoveFile(path);
    if (!status.ok() && !absl::IsNotFound(status)) return status;
    status = SyncDir(snapshots_dir_);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status FilesystemSnapshotStore::QuarantineFiles(const std::string& hex,
                                                      absl::string_view reason) {
  std::string base = absl::StrCat(hex, "-", absl::ToUnixMicros(absl::Now()));
  for (const char* ext : {".meta", ".blob"}) {  // .meta first, as in RemoveSnapshotFiles
    std::string from = absl::StrCat(snapshots_dir_, "/", hex, ext);
    absl::Status status =
        RenameDurably(from, absl::StrCat(quarantine_dir_, "/", base, ext), quarantine_dir_);
    if (absl::IsNotFound(status)) continue;
    if (status.ok()) status = SyncDir(snapshots_dir_);
    if (!status.ok()) return status;
  }
  // Written last, so quarantined_count (the number of .reason files) never counts a
  // snapshot that is still being served.
  return WriteFileAtomically(quarantine_dir_, absl::StrCat(base, ".reason"),
                             absl::StrCat("id ", kIdPrefix, hex, "\nreason ", reason, "\n"));
}

absl::StatusOr<PutResult> FilesystemSnapshotStore::Put(absl::string_view envelope,
                                                       const SnapshotMetadata& metadata) {
  return PutImpl("", envelope, metadata);
}

absl::StatusOr<PutResult> FilesystemSnapshotStore::PutAndName(absl::string_view name,
                                                              absl::string_view envelope,
                                                              const SnapshotMetadata& metadata) {
  if (!IsValidSnapshotName(name)) return InvalidName(name);
  return PutImpl(name, envelope, metadata);
}

absl::StatusOr<PutResult> FilesystemSnapshotStore::PutImpl(absl::string_view name,
                                                           absl::string_view envelope,
                                                           const SnapshotMetadata& metadata) {
  // The slow parts (hashing, validating, writing and fsyncing temp files) run unlocked.
  const std::string hex = Sha256Hex(envelope);
  const std::string id = absl::StrCat(kIdPrefix, hex);
  auto existing = [&]() -> absl::optional<PutResult> {
    base::ReaderMutexLock lock(&mu_);
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) return absl::nullopt;
    return PutResult{id, false, it->second, ""};
  };
  auto finish = [&](PutResult result)
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) -> absl::StatusOr<PutResult> {
    if (name.empty()) return result;
    absl::StatusOr<std::string> previous = SetNameLocked(name, id);
    if (!previous.ok()) return previous.status();
    result.previous_id = *std::move(previous);
    return result;
  };
  if (auto found = existing()) {
    if (name.empty()) return *std::move(found);
    base::MutexLock write_lock(&write_mu_);
    if (auto still = existing()) return finish(*std::move(still));
    // Deleted since we looked: store it again below.
  }
  if (options_.validator) {
    absl::Status status = options_.validator(envelope);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("envelope rejected, not stored: ", status.message()));
    }
  }
  SnapshotMetadata record = metadata;
  record.id = id;
  record.blob_bytes = envelope.size();
  absl::StatusOr<std::string> blob_temp = WriteTempFile(snapshots_dir_, envelope);
  if (!blob_temp.ok()) return blob_temp.status();
  absl::StatusOr<std::string> meta_temp = WriteTempFile(snapshots_dir_, EncodeMetadata(record));
  if (!meta_temp.ok()) {
    RemoveFile(*blob_temp).IgnoreError();
    return meta_temp.status();
  }
  auto drop_temps = [&] {
    RemoveFile(*blob_temp).IgnoreError();
    RemoveFile(*meta_temp).IgnoreError();
  };

  base::MutexLock write_lock(&write_mu_);
  if (auto found = existing()) {  // A concurrent Put of the same bytes won.
    drop_temps();
    return finish(*std::move(found));
  }
  // .blob before .meta: the .meta rename is the commit point.
  absl::Status status = RenameDurably(*blob_temp, BlobPath(hex), snapshots_dir_);
  if (status.ok()) status = RenameDurably(*meta_temp, MetaPath(hex), snapshots_dir_);
  if (!status.ok()) {
    drop_temps();
    RemoveSnapshotFiles(hex).IgnoreError();
    return status;
  }
  {
    base::WriterMutexLock lock(&mu_);
    snapshots_[id] = record;
    total_bytes_ += record.blob_bytes;
  }
  return finish(PutResult{id, true, std::move(record), ""});
}

absl::StatusOr<std::string> FilesystemSnapshotStore::SetName(absl::string_view name,
                                                             absl::string_view id) {
  if (!IsValidSnapshotName(name)) return InvalidName(name);
  absl::StatusOr<std::string> canonical = ParseSnapshotId(id);
  if (!canonical.ok()) return canonical.status();
  base::MutexLock write_lock(&write_mu_);
  return SetNameLocked(name, *canonical);
}

absl::StatusOr<std::string> FilesystemSnapshotStore::SetNameLocked(absl::string_view name,
                                                                   const std::string& id) {
  NameIndex next;
  std::string previous;
  {
    base::ReaderMutexLock lock(&mu_);
    if (!snapshots_.contains(id)) {
      return absl::NotFoundError(absl::StrCat("snapshot ", id, " not found"));
    }
    auto it = names_.find(std::string(name));
    if (it != names_.end()) previous = it->second;
    if (previous == id) return previous;  // Nothing to write.
    next = names_;
  }
  next[std::string(name)] = id;
  absl::Status status = PersistNames(next);
  if (!status.ok()) return status;
  base::WriterMutexLock lock(&mu_);
  names_ = std::move(next);
  return previous;
}

absl::StatusOr<std::string> FilesystemSnapshotStore::Resolve(absl::string_view name_or_id) {
  base::ReaderMutexLock lock(&mu_);
  if (IsValidSnapshotName(name_or_id)) {
    auto it = names_.find(std::string(name_or_id));
    if (it == names_.end()) {
      return absl::NotFoundError(absl::StrCat("no snapshot named \"", name_or_id, "\""));
    }
    return it->second;
  }
  absl::StatusOr<std::string> canonical = ParseSnapshotId(name_or_id);
  if (!canonical.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(name_or_id.substr(0, 200)),
                     "\" is neither a valid snapshot name ([A-Za-z0-9._-], 1-128 chars) nor an id "
                     "(sha256:<64 lowercase hex>)"));
  }
  if (!snapshots_.contains(*canonical)) {
    return absl::NotFoundError(absl::StrCat("snapshot ", *canonical, " not found"));
  }
  return *canonical;
}

absl::StatusOr<SnapshotMetadata> FilesystemSnapshotStore::Get(absl::string_view id) {
  absl::StatusOr<std::string> canonical = ParseSnapshotId(id);
  if (!canonical.ok()) return canonical.status();
  base::ReaderMutexLock lock(&mu_);
  auto it = snapshots_.find(*canonical);
  if (it == snapshots_.end()) {
    return absl::NotFoundError(absl::StrCat("snapshot ", *canonical, " not found"));
  }
  return it->second;
}

absl::StatusOr<std::string> FilesystemSnapshotStore::ReadEnvelope(absl::string_view id) {
  absl::StatusOr<std::string> canonical = ParseSnapshotId(id);
  if (!canonical.ok()) return canonical.status();
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat("snapshot ", *canonical, " not found"));
  };
  {
    base::ReaderMutexLock lock(&mu_);
    if (!snapshots_.contains(*canonical)) return not_found();
  }
  absl::StatusOr<std::string> bytes = ReadFileToString(BlobPath(HexOf(*canonical)));
  if (absl::IsNotFound(bytes.status())) return not_found();  // Deleted meanwhile.
  if (!bytes.ok()) return bytes.status();
  std::string problem = VerifyProblem(*canonical, *bytes);
  if (problem.empty()) return bytes;
  return RecheckOrQuarantine(*canonical, std::move(problem));
}

absl::StatusOr<std::string> FilesystemSnapshotStore::RecheckOrQuarantine(const std::string& id,
                                                                         std::string problem) {
  std::string reason;
  {
    base::MutexLock write_lock(&write_mu_);
    {
      base::ReaderMutexLock lock(&mu_);
      if (!snapshots_.contains(id)) {  // Someone else quarantined or deleted it.
        return absl::DataLossError(absl::StrCat("snapshot ", id, " is corrupt: ", problem));
      }
    }
    // Re-read under the writer lock: the first read may have raced a delete + re-put.
    const std::string hex(HexOf(id));
    absl::StatusOr<std::string> bytes = ReadFileToString(BlobPath(hex));
    if (bytes.ok()) {
      problem = VerifyProblem(id, *bytes);
      if (problem.empty()) return bytes;
    } else if (!absl::IsNotFound(bytes.status())) {
      return bytes.status();
    } else {
      problem = "envelope file missing";
    }
    NameIndex next;
    {
      base::ReaderMutexLock lock(&mu_);
      next = names_;
    }
    std::vector<std::string> dropped;
    for (auto it = next.begin(); it != next.end();) {
      if (it->second == id) {
        dropped.push_back(it->first);
        it = next.erase(it);
      } else {
        ++it;
      }
    }
    reason = dropped.empty()
                 ? problem
                 : absl::StrCat(problem, " (names dropped: ", absl::StrJoin(dropped, ","), ")");
    absl::Status status = dropped.empty() ? absl::OkStatus() : PersistNames(next);
    if (status.ok()) status = QuarantineFiles(hex, reason);
    base::WriterMutexLock lock(&mu_);
    if (!dropped.empty() && status.ok()) names_ = std::move(next);
    if (!status.ok()) {
      // Could not move the files; still never serve them. Names stay pointed at the id, so
      // Resolve works and every read reports the DataLoss again.
      return absl::DataLossError(absl::StrCat("snapshot ", id, " is corrupt: ", problem,
                                              "; quarantine failed: ", status.message()));
    }
    ForgetSnapshot(id);
    ++quarantined_count_;
  }
  NotifyQuarantine(id, reason);
  return absl::DataLossError(
      absl::StrCat("snapshot ", id, " is corrupt and was quarantined: ", problem));
}

absl::StatusOr<ListResult> FilesystemSnapshotStore::List(uint32_t page_size,
                                                         absl::string_view page_token) {
  if (page_size == 0) page_size = kDefaultPageSize;
  if (page_size > kMaxPageSize) page_size = kMaxPageSize;
  if (!page_token.empty() && !IsValidSnapshotName(page_token)) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  ListResult result;
  base::ReaderMutexLock lock(&mu_);
  // The token is the last name of the previous page; names are unique, so resume after it.
  auto it = page_token.empty() ? names_.begin() : names_.upper_bound(std::string(page_token));
  for (; it != names_.end() && result.entries.size() < page_size; ++it) {
    auto snap = snapshots_.find(it->second);
    if (snap == snapshots_.end()) continue;  // Not reachable: names point at snapshots.
    result.entries.push_back(ListEntry{it->first, it->second, snap->second});
  }
  if (it != names_.end() && !result.entries.empty()) {
    result.next_page_token = result.entries.back().name;
  }
  return result;
}

absl::StatusOr<DeleteResult> FilesystemSnapshotStore::DeleteName(absl::string_view name) {
  if (!IsValidSnapshotName(name)) return InvalidName(name);
  base::MutexLock write_lock(&write_mu_);
  NameIndex next;
  std::string id;
  bool still_named = false;
  {
    base::ReaderMutexLock lock(&mu_);
    auto it = names_.find(std::string(name));
    if (it == names_.end()) {
      return absl::NotFoundError(absl::StrCat("no snapshot named \"", name, "\""));
    }
    id = it->second;
    next = names_;
  }
  next.erase(std::string(name));
  for (const auto& entry : next) still_named = still_named || entry.second == id;
  absl::Status status = PersistNames(next);
  if (!status.ok()) return status;
  {
    base::WriterMutexLock lock(&mu_);
    names_ = std::move(next);
  }
  DeleteResult result;
  result.names_removed.emplace_back(name);
  if (still_named) return result;
  status = RemoveSnapshotFiles(std::string(HexOf(id)));
  if (!status.ok()) return status;  // Name gone; files left for the next Delete(id)/Open.
  base::WriterMutexLock lock(&mu_);
  ForgetSnapshot(id);
  result.removed_id = id;
  return result;
}

absl::StatusOr<DeleteResult> FilesystemSnapshotStore::Delete(absl::string_view id) {
  absl::StatusOr<std::string> canonical = ParseSnapshotId(id);
  if (!canonical.ok()) return canonical.status();
  base::MutexLock write_lock(&write_mu_);
  DeleteResult result;
  NameIndex next;
  {
    base::ReaderMutexLock lock(&mu_);
    if (!snapshots_.contains(*canonical)) {
      return absl::NotFoundError(absl::StrCat("snapshot ", *canonical, " not found"));
    }
    next = names_;
  }
  for (auto it = next.begin(); it != next.end();) {
    if (it->second == *canonical) {
      result.names_removed.push_back(it->first);
      it = next.erase(it);
    } else {
      ++it;
    }
  }
  if (!result.names_removed.empty()) {
    absl::Status status = PersistNames(next);
    if (!status.ok()) return status;
    base::WriterMutexLock lock(&mu_);
    names_ = std::move(next);
  }
  absl::Status status = RemoveSnapshotFiles(std::string(HexOf(*canonical)));
  if (!status.ok()) return status;
  base::WriterMutexLock lock(&mu_);
  ForgetSnapshot(*canonical);
  result.removed_id = *canonical;
  return result;
}

StoreStats FilesystemSnapshotStore::Stats() {
  base::ReaderMutexLock lock(&mu_);
  return StoreStats{snapshots_.size(), total_bytes_, quarantined_count_};
}

}  // namespace isopool::store
