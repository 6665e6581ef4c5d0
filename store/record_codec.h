// On-disk encodings of the store's two kinds of small record: a snapshot's metadata file and
// the names index. Internal to store/.
//
// Both are line-oriented text, so an operator can read them with `cat`, and both end with a
// "checksum <sha256 hex of every preceding byte>" line. Atomic renames already rule out torn
// records after a crash; the checksum catches bit rot and hand edits, which decode reports
// as DataLoss.
//
//   isopool-snapshot-meta 1         isopool-names 1
//   id sha256:<hex>                 <name> sha256:<hex>      (one line per name, sorted)
//   bundle_sha256 <C-escaped>       checksum <hex>
//   source_bytes <n>
//   blob_bytes <n>
//   v8_version <C-escaped>
//   build_ms <n>
//   created_ms <n>
//   spec <base64>
//   checksum <hex>
//
// Thread safety: pure functions.

#ifndef ISOPOOL_STORE_RECORD_CODEC_H_
#define ISOPOOL_STORE_RECORD_CODEC_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/snapshot_store.h"

namespace isopool::store {

std::string EncodeMetadata(const SnapshotMetadata& metadata);
absl::StatusOr<SnapshotMetadata> DecodeMetadata(absl::string_view data);

// name -> canonical id.
using NameIndex = std::map<std::string, std::string>;

std::string EncodeNames(const NameIndex& names);
absl::StatusOr<NameIndex> DecodeNames(absl::string_view data);

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_RECORD_CODEC_H_
