// snapshot_catalog.h: what the supervisor knows of each snapshot it serves: the call limits and
// pool policy from its envelope's annotations (with the server's defaults), cached per id, and
// the verified envelope itself for whoever restores it (a worker process, or the in-process
// pool through the SnapshotSource interface).
//
//   absl::StatusOr<SnapshotLimits> limits = catalog.Limits(id);   // "" = the blank snapshot
//   absl::StatusOr<...> loaded = catalog.EnvelopeFor(id);         // for a worker
//
// The first Limits of an id reads and decodes its envelope once (the store verifies it); later
// ones are a map lookup. Forget drops an id (deleted snapshots).
//
// Thread-safety: every method is thread-safe. The store and config must outlive the catalog.
#ifndef ISOPOOL_SERVICE_SNAPSHOT_CATALOG_H_
#define ISOPOOL_SERVICE_SNAPSHOT_CATALOG_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "pool/snapshot_source.h"
#include "service/config.h"
#include "service/translate.h"
#include "store/snapshot_store.h"
#include "worker/fleet.h"

namespace isopool::service {

class SnapshotCatalog : public pool::SnapshotSource {
 public:
  SnapshotCatalog(store::SnapshotStore& store, const ServerConfig& config);

  // The per-call limits of `snapshot_id`. NotFound, DataLoss (corrupted) as the store says.
  absl::StatusOr<SnapshotLimits> Limits(const std::string& snapshot_id);

  // The verified envelope and pool policy, for a worker process.
  absl::StatusOr<worker::WorkerFleet::EnvelopeAndPolicy> EnvelopeFor(
      const std::string& snapshot_id);

  // pool::SnapshotSource, for the in-process runner.
  absl::StatusOr<pool::LoadedSnapshot> Load(const std::string& snapshot_id) override;

  void Forget(const std::string& snapshot_id);

  // Whether a call asked for `snapshot_id`'s limits at or after `since` (its pools are live);
  // the shared store pins such envelopes in its cache.
  bool UsedSince(const std::string& snapshot_id, absl::Time since);

 private:
  struct Entry {
    SnapshotLimits limits;
    pool::PoolPolicy policy;
    absl::Time last_used = absl::InfinitePast();
  };
  // Reads the envelope, decodes its options, and caches the entry.
  absl::StatusOr<std::string> ReadAndRemember(const std::string& snapshot_id, Entry* entry);

  store::SnapshotStore& store_;
  const ServerConfig& config_;
  const Entry blank_;
  base::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_SNAPSHOT_CATALOG_H_
