#include "service/snapshot_catalog.h"

#include "engine/envelope.h"
#include "engine/snapshot.h"

namespace isopool::service {

SnapshotCatalog::SnapshotCatalog(store::SnapshotStore& store, const ServerConfig& config)
    : store_(store),
      config_(config),
      blank_{SnapshotLimitsFromAnnotations({}, config), PolicyFromAnnotations({}, config)} {}

absl::StatusOr<std::string> SnapshotCatalog::ReadAndRemember(const std::string& snapshot_id,
                                                             Entry* entry) {
  absl::StatusOr<std::string> envelope = store_.ReadEnvelope(snapshot_id);
  if (!envelope.ok()) return envelope.status();
  absl::StatusOr<engine::Envelope> decoded = engine::DecodeEnvelope(*envelope);
  if (!decoded.ok()) return decoded.status();
  const std::map<std::string, std::string>& annotations = decoded->options.annotations;
  entry->limits = SnapshotLimitsFromAnnotations(annotations, config_);
  entry->policy = PolicyFromAnnotations(annotations, config_);
  entry->last_used = absl::Now();
  base::MutexLock lock(&mu_);
  entries_[snapshot_id] = *entry;
  return envelope;
}

absl::StatusOr<SnapshotLimits> SnapshotCatalog::Limits(const std::string& snapshot_id) {
  if (snapshot_id.empty()) return blank_.limits;
  {
    base::MutexLock lock(&mu_);
    auto it = entries_.find(snapshot_id);
    if (it != entries_.end()) {
      it->second.last_used = absl::Now();
      return it->second.limits;
    }
  }
  Entry entry;
  absl::StatusOr<std::string> envelope = ReadAndRemember(snapshot_id, &entry);
  if (!envelope.ok()) return envelope.status();
  return entry.limits;
}

absl::StatusOr<worker::WorkerFleet::EnvelopeAndPolicy> SnapshotCatalog::EnvelopeFor(
    const std::string& snapshot_id) {
  Entry entry;
  absl::StatusOr<std::string> envelope = ReadAndRemember(snapshot_id, &entry);
  if (!envelope.ok()) return envelope.status();
  worker::WorkerFleet::EnvelopeAndPolicy loaded;
  loaded.envelope = *std::move(envelope);
  loaded.policy = entry.policy;
  return loaded;
}

absl::StatusOr<pool::LoadedSnapshot> SnapshotCatalog::Load(const std::string& snapshot_id) {
  Entry entry;
  absl::StatusOr<std::string> envelope = ReadAndRemember(snapshot_id, &entry);
  if (!envelope.ok()) return envelope.status();
  absl::StatusOr<std::shared_ptr<const engine::Snapshot>> snapshot =
      engine::Snapshot::FromEnvelope(*envelope);
  if (!snapshot.ok()) return snapshot.status();
  pool::LoadedSnapshot loaded;
  loaded.snapshot = *std::move(snapshot);
  loaded.policy = entry.policy;
  return loaded;
}

bool SnapshotCatalog::UsedSince(const std::string& snapshot_id, absl::Time since) {
  base::MutexLock lock(&mu_);
  auto it = entries_.find(snapshot_id);
  return it != entries_.end() && it->second.last_used >= since;
}

void SnapshotCatalog::Forget(const std::string& snapshot_id) {
  base::MutexLock lock(&mu_);
  entries_.erase(snapshot_id);
}

}  // namespace isopool::service
