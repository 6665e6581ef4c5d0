// store_snapshot_source.h: the pool's SnapshotSource over the snapshot store: reads the
// verified envelope, decodes and validates it for this runtime, and derives the pool policy
// from its annotations and the server's defaults.
//
// Thread-safety: as the store's ReadEnvelope (any thread). The store and config must outlive it.
#ifndef ISOPOOL_SERVICE_STORE_SNAPSHOT_SOURCE_H_
#define ISOPOOL_SERVICE_STORE_SNAPSHOT_SOURCE_H_

#include "pool/snapshot_source.h"
#include "service/config.h"
#include "service/translate.h"
#include "store/envelope_reader.h"

namespace isopool::service {

class StoreSnapshotSource : public pool::SnapshotSource {
 public:
  StoreSnapshotSource(store::EnvelopeReader& store, const ServerConfig& config)
      : store_(store), config_(config) {}

  absl::StatusOr<pool::LoadedSnapshot> Load(const std::string& snapshot_id) override {
    absl::StatusOr<std::string> envelope = store_.ReadEnvelope(snapshot_id);
    if (!envelope.ok()) return envelope.status();
    absl::StatusOr<std::shared_ptr<const engine::Snapshot>> snapshot =
        engine::Snapshot::FromEnvelope(*envelope);
    if (!snapshot.ok()) return snapshot.status();
    pool::LoadedSnapshot loaded;
    loaded.policy = PolicyFromAnnotations((*snapshot)->envelope().options.annotations, config_);
    loaded.snapshot = *std::move(snapshot);
    return loaded;
  }

 private:
  store::EnvelopeReader& store_;
  const ServerConfig& config_;
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_STORE_SNAPSHOT_SOURCE_H_
