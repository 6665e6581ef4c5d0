// snapshot.h: a decoded, validated snapshot that isolates can be restored from.
//
// A Snapshot is made once per envelope (decoding checks every checksum, the format version and
// that this runtime can restore it) and then shared, read-only, by every isolate restored from
// it: V8 reads the blob again whenever it creates a context, so isolates hold a shared_ptr.
//
// `Snapshot::Blank()` is V8's built-in snapshot: an empty global, for inline source only.
//
// Thread-safety: immutable after creation; share freely.
#ifndef ISOPOOL_ENGINE_SNAPSHOT_H_
#define ISOPOOL_ENGINE_SNAPSHOT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/envelope.h"

namespace isopool::engine {

class Snapshot {
 public:
  // Decodes and validates an envelope. Requires an initialised runtime. Errors:
  // DataLoss (corrupted or truncated), FailedPrecondition (another format, V8 or flags).
  static absl::StatusOr<std::shared_ptr<const Snapshot>> FromEnvelope(absl::string_view bytes);

  // The built-in blank snapshot.
  static std::shared_ptr<const Snapshot> Blank();

  bool blank() const { return !envelope_.has_value(); }
  // The decoded envelope; only when !blank().
  const Envelope& envelope() const { return *envelope_; }

 private:
  Snapshot() = default;
  std::optional<Envelope> envelope_;
};

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_SNAPSHOT_H_
