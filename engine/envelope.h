// envelope.h: the one artifact that leaves the engine: a V8 startup snapshot plus everything
// needed to check it before V8 reads a byte.
//
// V8's deserialiser is not a security boundary: a truncated or foreign blob crashes the
// process. So a snapshot travels inside an envelope, and `DecodeEnvelope` +
// `CheckCompatible` reject anything that is not exactly what this build of isopool packed.
//
// Layout (all integers little-endian):
//   "ISOPOOL\n"                 8-byte magic
//   u32 format version          kEnvelopeFormatVersion
//   u64 n, then n bytes         metadata: u32 count, then per field u32 len key, u32 len value
//   u64 m, then m bytes         the V8 startup blob
//   32 bytes                    sha256 of everything above
//
// Encoding is deterministic: the same Envelope gives the same bytes.
// Thread-safety: plain functions and values.
#ifndef ISOPOOL_ENGINE_ENVELOPE_H_
#define ISOPOOL_ENGINE_ENVELOPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/pack_options.h"

namespace isopool::engine {

inline constexpr uint32_t kEnvelopeFormatVersion = 1;

struct Envelope {
  uint32_t format_version = kEnvelopeFormatVersion;
  // V8::GetVersion() of the packing runtime.
  std::string v8_version;
  // CompatibilityDigest() of the packing runtime.
  std::string compat_digest;
  PackOptions options;
  // sha256 (hex) and size of the bundle source.
  std::string bundle_sha256;
  uint64_t source_bytes = 0;
  // ES modules: the export names, in order ("default" first when present).
  std::vector<std::string> exports;
  // sha256 (hex) of `blob`; filled in by EncodeEnvelope.
  std::string blob_sha256;
  // The V8 startup snapshot.
  std::string blob;
};

// Serialises `envelope` (computing blob_sha256 and the trailing checksum).
std::string EncodeEnvelope(const Envelope& envelope);

// Parses and checks structure, lengths, checksums and format version. Does not check that this
// runtime can restore it: see CheckCompatible. Never crashes on any input.
absl::StatusOr<Envelope> DecodeEnvelope(absl::string_view bytes);

// OK when this process's runtime can restore `envelope`: same V8 version and compatibility
// digest. Requires an initialised runtime.
absl::Status CheckCompatible(const Envelope& envelope);

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_ENVELOPE_H_
