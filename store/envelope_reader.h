// EnvelopeReader: the one thing the service's SnapshotCatalog (what feeds pool/'s
// SnapshotSource) needs from the store -- the verified bytes of a snapshot envelope, by id.
// pool/ itself never sees the store.
//
//   absl::StatusOr<std::string> envelope = reader.ReadEnvelope("sha256:9f86d0...");
//   if (!envelope.ok()) ...  // NotFound, DataLoss (corrupt, quarantined), InvalidArgument
//
// Implementations (SnapshotStore) verify the bytes before returning them: a successful result
// hashes to the id and passed the store's envelope validator, so it is safe to hand to
// engine restore. Implementations must be safe to call from any thread.

#ifndef ISOPOOL_STORE_ENVELOPE_READER_H_
#define ISOPOOL_STORE_ENVELOPE_READER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace isopool::store {

class EnvelopeReader {
 public:
  virtual ~EnvelopeReader() = default;

  // `id` is "sha256:<64 lowercase hex>" or the bare 64 hex digits.
  // Errors: InvalidArgument (malformed id), NotFound (no such snapshot), DataLoss (the stored
  // bytes failed verification; the snapshot has been quarantined and is gone from the store),
  // or an I/O error code.
  virtual absl::StatusOr<std::string> ReadEnvelope(absl::string_view id) = 0;
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_ENVELOPE_READER_H_
