#include "engine/envelope.h"

#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/sha256.h"
#include "engine/internal/fields.h"
#include "engine/runtime.h"

namespace isopool::engine {
namespace {

using internal::PutU32;
using internal::PutU64;
using internal::Reader;

constexpr absl::string_view kMagic("ISOPOOL\n", 8);
constexpr size_t kDigestBytes = 32;
constexpr char kPackPrefix[] = "pack.";

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("envelope rejected: ", what));
}

}  // namespace

std::string EncodeEnvelope(const Envelope& envelope) {
  std::map<std::string, std::string> fields;
  for (const auto& [key, value] : PackOptionsToFields(envelope.options)) {
    fields[kPackPrefix + key] = value;
  }
  fields["v8_version"] = envelope.v8_version;
  fields["compat_digest"] = envelope.compat_digest;
  fields["bundle_sha256"] = envelope.bundle_sha256;
  fields["source_bytes"] = absl::StrCat(envelope.source_bytes);
  fields["exports"] = absl::StrJoin(envelope.exports, "\n");
  fields["blob_sha256"] = base::Sha256Hex(envelope.blob);

  std::string metadata = internal::EncodeFields(fields);
  std::string out(kMagic);
  PutU32(&out, envelope.format_version);
  PutU64(&out, metadata.size());
  out += metadata;
  PutU64(&out, envelope.blob.size());
  out += envelope.blob;
  out += base::Sha256(out);
  return out;
}

absl::StatusOr<Envelope> DecodeEnvelope(absl::string_view bytes) {
  if (bytes.size() < kMagic.size() + 4 + 8 + 8 + kDigestBytes) return Corrupt("truncated");
  if (bytes.substr(0, kMagic.size()) != kMagic) return Corrupt("not an isopool envelope (magic)");
  absl::string_view body = bytes.substr(0, bytes.size() - kDigestBytes);
  if (base::Sha256(body) != bytes.substr(body.size())) {
    return Corrupt("checksum mismatch (truncated or corrupted)");
  }
  Reader reader(body.substr(kMagic.size()));
  Envelope envelope;
  if (!reader.U32(&envelope.format_version)) return Corrupt("truncated");
  if (envelope.format_version != kEnvelopeFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("envelope rejected: format version ", envelope.format_version,
                     ", this isopool reads version ", kEnvelopeFormatVersion, "; rebuild it"));
  }
  uint64_t metadata_size;
  absl::string_view metadata;
  if (!reader.U64(&metadata_size) || !reader.Bytes(metadata_size, &metadata)) {
    return Corrupt("truncated metadata");
  }
  absl::StatusOr<std::map<std::string, std::string>> decoded = internal::DecodeFields(metadata);
  if (!decoded.ok()) return Corrupt(decoded.status().message());
  std::map<std::string, std::string>& fields = *decoded;
  uint64_t blob_size;
  absl::string_view blob;
  if (!reader.U64(&blob_size) || !reader.Bytes(blob_size, &blob)) return Corrupt("truncated blob");
  if (reader.remaining() != 0) return Corrupt("trailing bytes after blob");

  std::map<std::string, std::string> pack_fields;
  for (const auto& [key, value] : fields) {
    if (key.rfind(kPackPrefix, 0) == 0) pack_fields[key.substr(strlen(kPackPrefix))] = value;
  }
  absl::StatusOr<PackOptions> options = ParsePackOptions(pack_fields);
  if (!options.ok()) return Corrupt(options.status().message());
  envelope.options = *std::move(options);
  envelope.v8_version = fields["v8_version"];
  envelope.compat_digest = fields["compat_digest"];
  envelope.bundle_sha256 = fields["bundle_sha256"];
  envelope.blob_sha256 = fields["blob_sha256"];
  if (!absl::SimpleAtoi(fields["source_bytes"], &envelope.source_bytes)) {
    return Corrupt("bad source_bytes");
  }
  if (!fields["exports"].empty()) envelope.exports = absl::StrSplit(fields["exports"], '\n');
  envelope.blob = std::string(blob);
  if (base::Sha256Hex(envelope.blob) != envelope.blob_sha256) {
    return Corrupt("blob sha256 mismatch");
  }
  if (envelope.blob.empty()) return Corrupt("empty blob");
  return envelope;
}

absl::Status CheckCompatible(const Envelope& envelope) {
  if (envelope.v8_version != V8Version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("envelope rejected: packed by V8 ", envelope.v8_version, ", this is V8 ",
                     V8Version(), "; upload the bundle again to rebuild it"));
  }
  if (envelope.compat_digest != CompatibilityDigest()) {
    return absl::FailedPreconditionError(
        "envelope rejected: packed with different V8 flags, V8 build or isopool web runtime "
        "(compatibility digest mismatch); upload the bundle again to rebuild it");
  }
  return absl::OkStatus();
}

}  // namespace isopool::engine
