#include "store/snapshot_store.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace isopool::store {
namespace {

constexpr absl::string_view kIdPrefix = "sha256:";
constexpr size_t kHexLen = 64;
constexpr size_t kMaxNameLen = 128;

bool IsLowerHex64(absl::string_view s) {
  if (s.size() != kHexLen) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsAnyHex64(absl::string_view s) {
  if (s.size() != kHexLen) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

bool IsValidSnapshotName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLen) return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  // A 64-hex name would be ambiguous with a bare id in Resolve().
  return !IsAnyHex64(name);
}

absl::StatusOr<std::string> ParseSnapshotId(absl::string_view id) {
  absl::string_view hex = id;
  if (absl::StartsWith(hex, kIdPrefix)) hex.remove_prefix(kIdPrefix.size());
  if (!IsLowerHex64(hex)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed snapshot id \"", absl::CHexEscape(id.substr(0, 200)),
                     "\": expected \"sha256:\" followed by 64 lowercase hex digits"));
  }
  return absl::StrCat(kIdPrefix, hex);
}

bool LooksLikeSnapshotId(absl::string_view s) { return ParseSnapshotId(s).ok(); }

bool operator==(const SnapshotMetadata& a, const SnapshotMetadata& b) {
  return a.id == b.id && a.bundle_sha256 == b.bundle_sha256 && a.source_bytes == b.source_bytes &&
         a.blob_bytes == b.blob_bytes && a.v8_version == b.v8_version && a.build_ms == b.build_ms &&
         a.created_ms == b.created_ms && a.spec == b.spec;
}

}  // namespace isopool::store
