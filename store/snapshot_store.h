// SnapshotStore: durable storage of snapshot envelopes, addressed by content, plus a name
// index (names are movable tags, like git tags pointing at commits).
//
// An *envelope* is the opaque byte string engine/ produces from a bundle. Its id is
// "sha256:<64 lowercase hex>" of those bytes, so the same envelope is stored once however many
// times it is uploaded. Each stored envelope has a SnapshotMetadata record. Names map to ids;
// several names may point at one id; an id may have no name (then List does not show it, but
// Get/Resolve/ReadEnvelope by id still work).
//
//   auto put = store.Put(envelope, metadata);          // {id, created}
//   store.SetName("checkout-rules", put->id);           // moves the name if it existed
//   auto id = store.Resolve("checkout-rules");          // -> "sha256:..."
//   auto bytes = store.ReadEnvelope(*id);               // verified bytes, or DataLoss
//
// Error conventions: InvalidArgument for a malformed name or id (see IsValidSnapshotName and
// ParseSnapshotId), NotFound for an unknown name or id, DataLoss when stored bytes fail
// verification (the snapshot is then quarantined: removed from the store, its names dropped,
// its files kept aside for inspection, and the observer told).
//
// Thread safety: every method of every implementation may be called concurrently from any
// thread. Each mutation is atomic with respect to the others and durable when it returns OK.
//
// Implementations: fs_snapshot_store.h (one node's directory) and shared_snapshot_store.h
// (PostgreSQL + S3, for replicas). The service's SnapshotCatalog reads envelopes by id through
// ReadEnvelope; pool/ never sees the store.

#ifndef ISOPOOL_STORE_SNAPSHOT_STORE_H_
#define ISOPOOL_STORE_SNAPSHOT_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace isopool::store {

// Names: 1..128 characters from [A-Za-z0-9._-], and not 64 hex digits (which would read as
// a bare id).
bool IsValidSnapshotName(absl::string_view name);

// Accepts "sha256:<64 lowercase hex>" or the bare 64 lowercase hex digits and returns the
// canonical "sha256:<hex>" form; InvalidArgument otherwise.
absl::StatusOr<std::string> ParseSnapshotId(absl::string_view id);

// True if `s` has the shape of an id (either form above); says nothing about existence.
bool LooksLikeSnapshotId(absl::string_view s);

// Per-snapshot record, stored beside the envelope. Plain domain struct (no protobuf).
struct SnapshotMetadata {
  std::string id;             // "sha256:<hex>" of the envelope. Put() fills it in.
  std::string bundle_sha256;  // Hex sha256 of the source bundle.
  uint64_t source_bytes = 0;  // Bundle size.
  uint64_t blob_bytes = 0;    // Envelope size. Put() fills it in.
  std::string v8_version;
  uint64_t build_ms = 0;
  int64_t created_ms = 0;  // Unix ms; set by the caller (the store has no clock opinion).
  std::string spec;        // Opaque (any bytes); the service keeps its serialized spec here.
};

bool operator==(const SnapshotMetadata& a, const SnapshotMetadata& b);

struct PutResult {
  std::string id;  // "sha256:<hex>"
  // False if the envelope was already stored; then nothing was written and `metadata` is
  // the record stored by the first Put (its created_ms, spec, ...), not the argument.
  bool created = false;
  SnapshotMetadata metadata;
  // PutAndName only: the id the name pointed at before ("" if it was new).
  std::string previous_id;
};

struct ListEntry {
  std::string name;
  std::string id;
  SnapshotMetadata metadata;
};

struct ListResult {
  std::vector<ListEntry> entries;  // In ascending name (byte) order.
  std::string next_page_token;     // Empty on the last page.
};

struct DeleteResult {
  std::vector<std::string> names_removed;  // Names that no longer exist, sorted.
  // The id whose envelope was removed from the store, or empty if none was (another name
  // still points at it). Callers drain that id's isolate pool.
  std::string removed_id;
};

struct StoreStats {
  uint64_t snapshot_count = 0;     // Stored envelopes, named or not.
  uint64_t total_bytes = 0;        // Sum of their blob_bytes.
  uint64_t quarantined_count = 0;  // Snapshots currently in the quarantine area.
};

// Checks an envelope's structure before it is served (engine/ supplies one that parses the
// envelope header). Must be thread-safe. OK means "safe to hand to restore".
using EnvelopeValidator = std::function<absl::Status(absl::string_view envelope)>;

// Told about every quarantined snapshot; the service turns it into a metric and a log line.
// Called without the store's locks held, from whichever thread found the problem (including
// the thread calling Open). The default does nothing. Must be thread-safe.
class SnapshotStoreObserver {
 public:
  virtual ~SnapshotStoreObserver() = default;
  virtual void OnQuarantine(absl::string_view id, absl::string_view reason) {}
};

class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;

  // Stores `envelope` under its sha256 with `metadata` (whose id and blob_bytes are
  // overwritten). Idempotent: storing bytes already present writes nothing and returns
  // created=false with the existing record. InvalidArgument if the validator rejects the
  // envelope (nothing is stored). Note: Put followed by a separate SetName can race with a
  // concurrent DeleteName/Delete of the same bytes (SetName then fails NotFound); uploads
  // should use PutAndName.
  virtual absl::StatusOr<PutResult> Put(absl::string_view envelope,
                                        const SnapshotMetadata& metadata) = 0;

  // Put, then SetName(name, id), as one step under the store's writer lock, so that no
  // concurrent DeleteName/Delete can remove the snapshot in between. What an upload uses.
  // (If the process dies between the two durable writes, the snapshot exists unnamed.)
  // InvalidArgument for a bad name, checked before anything is written.
  virtual absl::StatusOr<PutResult> PutAndName(absl::string_view name, absl::string_view envelope,
                                               const SnapshotMetadata& metadata) = 0;

  // Points `name` at `id` (either id form), creating or moving it. Returns the id the name
  // pointed at before ("" if it is new). Moving a name never deletes the old snapshot.
  // InvalidArgument (bad name/id), NotFound (no such id).
  virtual absl::StatusOr<std::string> SetName(absl::string_view name, absl::string_view id) = 0;

  // A name, "sha256:<hex>" or bare hex -> canonical id of a stored snapshot.
  virtual absl::StatusOr<std::string> Resolve(absl::string_view name_or_id) = 0;

  // The metadata of a stored snapshot, by id (either form).
  virtual absl::StatusOr<SnapshotMetadata> Get(absl::string_view id) = 0;

  // The envelope of a stored snapshot, by id (either form), verified: it hashes to the id and
  // passed the store's EnvelopeValidator, so it is safe to hand to engine restore.
  // InvalidArgument (malformed id), NotFound, DataLoss (the stored bytes failed verification;
  // the snapshot has been quarantined and is gone from the store), or an I/O error code.
  virtual absl::StatusOr<std::string> ReadEnvelope(absl::string_view id) = 0;

  // Named snapshots in name order. page_size 0 means 100; above 1000 means 1000. page_token
  // is "" or a previous next_page_token (InvalidArgument if malformed).
  virtual absl::StatusOr<ListResult> List(uint32_t page_size, absl::string_view page_token) = 0;

  // Removes `name`. If no other name points at its id, the snapshot itself is removed too
  // (removed_id says so). NotFound if the name does not exist.
  virtual absl::StatusOr<DeleteResult> DeleteName(absl::string_view name) = 0;

  // Removes the snapshot `id` and every name pointing at it. NotFound if it does not exist.
  virtual absl::StatusOr<DeleteResult> Delete(absl::string_view id) = 0;

  virtual StoreStats Stats() = 0;
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_SNAPSHOT_STORE_H_
