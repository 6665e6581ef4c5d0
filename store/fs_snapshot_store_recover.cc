// FilesystemSnapshotStore::Recover: what Open does to turn whatever a crash left on disk into
// a consistent store. See fs_snapshot_store.h for the invariants this restores.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "store/atomic_file.h"
#include "store/fs_snapshot_store.h"

namespace isopool::store {
namespace {

constexpr absl::string_view kBlobExt = ".blob";
constexpr absl::string_view kMetaExt = ".meta";

// "<64 lowercase hex><ext>" -> hex, else "".
std::string HexStem(absl::string_view file_name, absl::string_view ext) {
  if (!absl::ConsumeSuffix(&file_name, ext)) return "";
  if (!ParseSnapshotId(file_name).ok() || file_name.size() != 64) return "";
  return std::string(file_name);
}

absl::StatusOr<uint64_t> RemoveTempFiles(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> entries = ListDir(dir);
  if (!entries.ok()) return entries.status();
  uint64_t removed = 0;
  for (const std::string& entry : *entries) {
    if (!IsTempFileName(entry)) continue;
    absl::Status status = RemoveFile(absl::StrCat(dir, "/", entry));
    if (!status.ok() && !absl::IsNotFound(status)) return status;
    ++removed;
  }
  if (removed > 0) {
    absl::Status status = SyncDir(dir);
    if (!status.ok()) return status;
  }
  return removed;
}

}  // namespace

absl::Status FilesystemSnapshotStore::Recover() {
  // Single-threaded: the store is not yet shared. The locks are taken only to satisfy the
  // thread-safety annotations.
  absl::Status status = MakeDirs(data_dir_);
  if (!status.ok()) return status;
  // Two stores on one directory would each trust a stale in-memory index; refuse. The kernel
  // drops the lock when the holder dies, so a kill -9 never leaves it stuck.
  const std::string lock_path = absl::StrCat(data_dir_, "/LOCK");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoStatus(errno, "open", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(data_dir_, " is in use by another snapshot store (", lock_path,
                       " is locked); give each process its own data directory"));
    }
    return ErrnoStatus(errno, "flock", lock_path);
  }
  for (const std::string& dir : {data_dir_, snapshots_dir_, quarantine_dir_}) {
    status = MakeDirs(dir);
    if (!status.ok()) return status;
    absl::StatusOr<uint64_t> removed = RemoveTempFiles(dir);
    if (!removed.ok()) return removed.status();
    recovery_.temp_files_removed += *removed;
  }

  absl::StatusOr<std::vector<std::string>> entries = ListDir(snapshots_dir_);
  if (!entries.ok()) return entries.status();
  std::set<std::string> blobs;
  std::set<std::string> metas;
  for (const std::string& entry : *entries) {
    if (std::string hex = HexStem(entry, kBlobExt); !hex.empty()) blobs.insert(hex);
    if (std::string hex = HexStem(entry, kMetaExt); !hex.empty()) metas.insert(hex);
  }

  std::vector<std::pair<std::string, std::string>> quarantined;  // (id, reason)
  absl::flat_hash_map<std::string, SnapshotMetadata> loaded;
  uint64_t total_bytes = 0;
  for (const std::string& hex : metas) {
    const std::string id = absl::StrCat("sha256:", hex);
    std::string problem;
    absl::StatusOr<std::string> raw = ReadFileToString(MetaPath(hex));
    if (!raw.ok()) return raw.status();
    absl::StatusOr<SnapshotMetadata> meta = DecodeMetadata(*raw);
    if (!meta.ok()) {
      problem = std::string(meta.status().message());
    } else if (meta->id != id) {
      problem = absl::StrCat("metadata names a different id, ", meta->id);
    } else if (!blobs.count(hex)) {
      problem = "envelope file missing";
    } else {
      absl::StatusOr<uint64_t> size = FileSize(BlobPath(hex));
      if (!size.ok()) return size.status();
      if (*size != meta->blob_bytes) {
        problem = absl::StrCat("envelope is ", *size, " bytes, metadata says ", meta->blob_bytes);
      } else if (options_.verify_on_open) {
        absl::StatusOr<std::string> bytes = ReadFileToString(BlobPath(hex));
        if (!bytes.ok()) return bytes.status();
        problem = VerifyProblem(id, *bytes);
      }
    }
    if (!problem.empty()) {
      problem = absl::StrCat(problem, " (found at open)");
      absl::Status status = QuarantineFiles(hex, problem);
      if (!status.ok()) return status;
      quarantined.emplace_back(id, std::move(problem));
      continue;
    }
    total_bytes += meta->blob_bytes;
    loaded.emplace(id, *std::move(meta));
  }
  // A .blob without a .meta was never committed (or was half deleted): not a snapshot.
  for (const std::string& hex : blobs) {
    if (metas.count(hex)) continue;
    absl::Status status = RemoveFile(BlobPath(hex));
    if (!status.ok() && !absl::IsNotFound(status)) return status;
    ++recovery_.uncommitted_blobs_removed;
  }
  if (recovery_.uncommitted_blobs_removed > 0) {
    absl::Status status = SyncDir(snapshots_dir_);
    if (!status.ok()) return status;
  }

  NameIndex names;
  absl::StatusOr<std::string> raw_names = ReadFileToString(absl::StrCat(data_dir_, "/names"));
  if (raw_names.ok()) {
    absl::StatusOr<NameIndex> decoded = DecodeNames(*raw_names);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat(
          data_dir_, "/names: ", decoded.status().message(),
          ". Refusing to start; move the file aside to start with no names (snapshots stay "
          "reachable by id)."));
    }
    names = *std::move(decoded);
  } else if (!absl::IsNotFound(raw_names.status())) {
    return raw_names.status();
  }
  for (auto it = names.begin(); it != names.end();) {
    if (loaded.contains(it->second)) {
      ++it;
    } else {
      it = names.erase(it);
      ++recovery_.dangling_names_dropped;
    }
  }
  if (recovery_.dangling_names_dropped > 0) {
    absl::Status status = PersistNames(names);
    if (!status.ok()) return status;
  }

  absl::StatusOr<std::vector<std::string>> q_entries = ListDir(quarantine_dir_);
  if (!q_entries.ok()) return q_entries.status();
  uint64_t quarantined_count = 0;
  for (const std::string& entry : *q_entries) {
    if (absl::EndsWith(entry, ".reason")) ++quarantined_count;
  }

  recovery_.quarantined = quarantined.size();
  recovery_.snapshots = loaded.size();
  recovery_.names = names.size();
  {
    base::WriterMutexLock lock(&mu_);
    snapshots_ = std::move(loaded);
    names_ = std::move(names);
    total_bytes_ = total_bytes;
    quarantined_count_ = quarantined_count;
  }
  for (const auto& [id, reason] : quarantined) NotifyQuarantine(id, reason);
  return absl::OkStatus();
}

}  // namespace isopool::store
