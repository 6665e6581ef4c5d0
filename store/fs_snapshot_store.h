// FilesystemSnapshotStore: the embedded SnapshotStore, one directory on local disk.
//
//   FilesystemSnapshotStoreOptions options;
//   options.validator = [](absl::string_view e) -> absl::Status {  // what the server checks
//     absl::StatusOr<engine::Envelope> decoded = engine::DecodeEnvelope(e);
//     return decoded.ok() ? engine::CheckCompatible(*decoded) : decoded.status();
//   };
//   options.observer = &my_observer;  // not owned
//   auto store = FilesystemSnapshotStore::Open("/var/lib/isopool", std::move(options));
//   if (!store.ok()) ...  // e.g. DataLoss if the names index is corrupt
//
// Layout of data_dir:
//   LOCK                         flock()ed while open: one process per data_dir
//   names                        the names index: every name -> id, one file (record_codec.h)
//   snapshots/<hex>.blob         an envelope, exactly its bytes; <hex> = sha256 of them
//   snapshots/<hex>.meta         its SnapshotMetadata; the *commit record* of the snapshot
//   quarantine/<hex>-<us>.{blob,meta,reason}   failed verification; kept for inspection
//   **/.tmp-*                    debris of interrupted writes; removed by Open
//
// Why one names file rather than a file per name: Delete(id) and quarantine remove several
// names at once, and one atomic rename makes that all-or-nothing; listing in name order and
// checking the whole index (its checksum) at Open are trivial; and names change only on
// uploads and deletes, so rewriting a file of at most a few thousand short lines is cheap.
//
// Crash safety (every file is written temp + fsync + rename + fsync(dir), atomic_file.h):
//   - Put writes <hex>.blob, then <hex>.meta. A snapshot exists iff its .meta exists and
//     decodes; a .blob without .meta (crash mid-Put) is removed at Open.
//   - Deletion and quarantine remove names first, then .meta (un-commit), then .blob.
//   - Names are only ever pointed at committed snapshots; a name whose snapshot is missing
//     (only possible through outside damage) is dropped at Open.
//   So after kill -9 or power loss at any point, a reopened store shows only complete
//   snapshots, and the index is the old or the new one. Durability of an operation holds once
//   it has returned OK.
// Open also checks each snapshot's .meta checksum and its .blob size; with verify_on_open it
// hashes and validates every envelope too (slower: reads all the data). Anything that fails
// is quarantined and reported to the observer. A corrupt names index fails Open with
// DataLoss, because silently dropping every name would be worse than refusing to start.
//
// Reads (ReadEnvelope) re-hash the bytes and run the validator every time; on failure the
// file is re-read once under the write lock (so a concurrent delete + re-put is not
// mistaken for corruption) and then quarantined: its names are dropped, its files move to
// quarantine/, observer->OnQuarantine(id, reason) runs, and the call returns DataLoss.
//
// Threading: all methods are thread-safe. Reads (Resolve, Get, List, Stats) take a shared
// lock on the in-memory index only and never wait for disk writes. Mutations are serialised
// by a separate writer lock held across their fsyncs; Put hashes and writes its temp files
// before taking it, so concurrent uploads overlap their slow parts. ReadEnvelope does its
// file I/O and hashing without any lock.
//
// Ownership: the caller owns the store (unique_ptr). The observer is borrowed and must
// outlive the store. The validator is copied in and called from reading/putting threads.

#ifndef ISOPOOL_STORE_FS_SNAPSHOT_STORE_H_
#define ISOPOOL_STORE_FS_SNAPSHOT_STORE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "store/record_codec.h"
#include "store/snapshot_store.h"

namespace isopool::store {

struct FilesystemSnapshotStoreOptions {
  // Run on Put (rejection -> InvalidArgument, nothing stored) and on every ReadEnvelope
  // (rejection -> quarantine + DataLoss). Empty accepts everything.
  EnvelopeValidator validator;
  // Not owned; may be null (no-op). Must outlive the store.
  SnapshotStoreObserver* observer = nullptr;
  // Hash and validate every stored envelope at Open, not just check sizes.
  bool verify_on_open = false;
};

// What Open found and repaired; for the start-up log line.
struct RecoveryReport {
  uint64_t temp_files_removed = 0;
  uint64_t uncommitted_blobs_removed = 0;  // .blob without .meta: interrupted Put/Delete
  uint64_t dangling_names_dropped = 0;
  uint64_t quarantined = 0;  // by this Open
  uint64_t snapshots = 0;
  uint64_t names = 0;
};

class FilesystemSnapshotStore final : public SnapshotStore {
 public:
  // Creates data_dir and its layout if missing, takes the directory's lock, cleans up after
  // any crash (see above), and loads the index. Errors: FailedPrecondition (another store,
  // in this or another process, has data_dir open), DataLoss (corrupt names index), I/O.
  static absl::StatusOr<std::unique_ptr<FilesystemSnapshotStore>> Open(
      std::string data_dir, FilesystemSnapshotStoreOptions options);

  ~FilesystemSnapshotStore() override;
  FilesystemSnapshotStore(const FilesystemSnapshotStore&) = delete;
  FilesystemSnapshotStore& operator=(const FilesystemSnapshotStore&) = delete;

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

  const RecoveryReport& recovery() const { return recovery_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  FilesystemSnapshotStore(std::string data_dir, FilesystemSnapshotStoreOptions options);

  absl::Status Recover();
  // Put, and then (if `name` is not empty) point the name at it, under one writer lock.
  absl::StatusOr<PutResult> PutImpl(absl::string_view name, absl::string_view envelope,
                                    const SnapshotMetadata& metadata);
  // SetName's durable part; requires a valid name and an existing canonical id.
  absl::StatusOr<std::string> SetNameLocked(absl::string_view name, const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Empty if `bytes` is the envelope `id` and the validator accepts it; else why not.
  std::string VerifyProblem(const std::string& id, absl::string_view bytes) const;
  absl::StatusOr<std::string> RecheckOrQuarantine(const std::string& id, std::string problem);
  // Moves whichever of the snapshot's files exist into quarantine/ and writes the reason.
  absl::Status QuarantineFiles(const std::string& hex, absl::string_view reason);
  // Un-commits then removes the snapshot's files.
  absl::Status RemoveSnapshotFiles(const std::string& hex);
  absl::Status PersistNames(const NameIndex& names);
  // `id` removed from the store and from `names` (already persisted), in memory.
  void ForgetSnapshot(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyQuarantine(absl::string_view id, absl::string_view reason);

  std::string BlobPath(absl::string_view hex) const;
  std::string MetaPath(absl::string_view hex) const;

  const std::string data_dir_;
  const std::string snapshots_dir_;
  const std::string quarantine_dir_;
  const FilesystemSnapshotStoreOptions options_;
  RecoveryReport recovery_;  // Written only by Open.
  int lock_fd_ = -1;         // Holds flock(LOCK_EX) on data_dir/LOCK; closed by the destructor.

  // Serialises mutations (and their disk writes). Acquired before mu_, never after.
  base::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Guards the in-memory mirror of the disk state, updated after each durable write.
  base::SharedMutex mu_;
  absl::flat_hash_map<std::string, SnapshotMetadata> snapshots_ ABSL_GUARDED_BY(mu_);  // by id
  NameIndex names_ ABSL_GUARDED_BY(mu_);
  uint64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t quarantined_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_FS_SNAPSHOT_STORE_H_
