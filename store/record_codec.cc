#include "store/record_codec.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/sha256.h"

namespace isopool::store {

using ::isopool::base::Sha256Hex;
namespace {

constexpr absl::string_view kMetaHeader = "isopool-snapshot-meta 1";
constexpr absl::string_view kNamesHeader = "isopool-names 1";
constexpr absl::string_view kChecksumKey = "checksum ";

std::string WithChecksum(std::string body) {
  std::string sum = Sha256Hex(body);
  absl::StrAppend(&body, kChecksumKey, sum, "\n");
  return body;
}

// Verifies the trailing checksum line and returns the body lines (without it).
absl::StatusOr<std::vector<absl::string_view>> CheckedLines(absl::string_view data,
                                                            absl::string_view header,
                                                            absl::string_view what) {
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, " is corrupt: ", why));
  };
  if (data.empty() || data.back() != '\n') return corrupt("does not end with a newline");
  size_t last_start = data.find_last_of('\n', data.size() - 2);
  last_start = last_start == absl::string_view::npos ? 0 : last_start + 1;
  absl::string_view body = data.substr(0, last_start);
  absl::string_view last = data.substr(last_start, data.size() - 1 - last_start);
  if (!absl::ConsumePrefix(&last, kChecksumKey)) return corrupt("no checksum line");
  if (last != Sha256Hex(body)) return corrupt("checksum mismatch");
  std::vector<absl::string_view> lines = absl::StrSplit(body, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // after the final '\n'
  if (lines.empty() || lines[0] != header) return corrupt("unknown header");
  lines.erase(lines.begin());
  return lines;
}

}  // namespace

std::string EncodeMetadata(const SnapshotMetadata& m) {
  return WithChecksum(absl::StrCat(
      kMetaHeader, "\n", "id ", m.id, "\n", "bundle_sha256 ", absl::CEscape(m.bundle_sha256), "\n",
      "source_bytes ", m.source_bytes, "\n", "blob_bytes ", m.blob_bytes, "\n", "v8_version ",
      absl::CEscape(m.v8_version), "\n", "build_ms ", m.build_ms, "\n", "created_ms ", m.created_ms,
      "\n", "spec ", absl::Base64Escape(m.spec), "\n"));
}

absl::StatusOr<SnapshotMetadata> DecodeMetadata(absl::string_view data) {
  absl::StatusOr<std::vector<absl::string_view>> lines =
      CheckedLines(data, kMetaHeader, "snapshot metadata");
  if (!lines.ok()) return lines.status();
  constexpr const char* kKeys[] = {"id",         "bundle_sha256", "source_bytes", "blob_bytes",
                                   "v8_version", "build_ms",      "created_ms",   "spec"};
  constexpr size_t kNumKeys = sizeof(kKeys) / sizeof(kKeys[0]);
  if (lines->size() != kNumKeys) return absl::DataLossError("snapshot metadata: wrong line count");
  std::vector<absl::string_view> values;
  for (size_t i = 0; i < kNumKeys; ++i) {
    absl::string_view line = (*lines)[i];
    if (!absl::ConsumePrefix(&line, kKeys[i]) || !absl::ConsumePrefix(&line, " ")) {
      return absl::DataLossError(absl::StrCat("snapshot metadata: expected key ", kKeys[i]));
    }
    values.push_back(line);
  }
  SnapshotMetadata m;
  bool ok = true;
  absl::StatusOr<std::string> id = ParseSnapshotId(values[0]);
  ok = ok && id.ok();
  if (id.ok()) m.id = *id;
  ok = ok && absl::CUnescape(values[1], &m.bundle_sha256);
  ok = ok && absl::SimpleAtoi(values[2], &m.source_bytes);
  ok = ok && absl::SimpleAtoi(values[3], &m.blob_bytes);
  ok = ok && absl::CUnescape(values[4], &m.v8_version);
  ok = ok && absl::SimpleAtoi(values[5], &m.build_ms);
  ok = ok && absl::SimpleAtoi(values[6], &m.created_ms);
  ok = ok && absl::Base64Unescape(values[7], &m.spec);
  if (!ok) return absl::DataLossError("snapshot metadata: malformed value");
  return m;
}

std::string EncodeNames(const NameIndex& names) {
  std::string body = absl::StrCat(kNamesHeader, "\n");
  for (const auto& [name, id] : names) absl::StrAppend(&body, name, " ", id, "\n");
  return WithChecksum(std::move(body));
}

absl::StatusOr<NameIndex> DecodeNames(absl::string_view data) {
  absl::StatusOr<std::vector<absl::string_view>> lines =
      CheckedLines(data, kNamesHeader, "names index");
  if (!lines.ok()) return lines.status();
  NameIndex names;
  for (absl::string_view line : *lines) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    absl::StatusOr<std::string> id = ParseSnapshotId(kv.second);
    if (!IsValidSnapshotName(kv.first) || !id.ok() || !names.emplace(kv.first, *id).second) {
      return absl::DataLossError(
          absl::StrCat("names index: malformed line \"", absl::CHexEscape(line), "\""));
    }
  }
  return names;
}

}  // namespace isopool::store
