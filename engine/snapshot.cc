#include "engine/snapshot.h"

namespace isopool::engine {

absl::StatusOr<std::shared_ptr<const Snapshot>> Snapshot::FromEnvelope(absl::string_view bytes) {
  absl::StatusOr<Envelope> envelope = DecodeEnvelope(bytes);
  if (!envelope.ok()) return envelope.status();
  if (absl::Status compatible = CheckCompatible(*envelope); !compatible.ok()) return compatible;
  std::shared_ptr<Snapshot> snapshot(new Snapshot());
  snapshot->envelope_ = *std::move(envelope);
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

std::shared_ptr<const Snapshot> Snapshot::Blank() {
  static const std::shared_ptr<const Snapshot>* blank =
      new std::shared_ptr<const Snapshot>(new Snapshot());
  return *blank;
}

}  // namespace isopool::engine
