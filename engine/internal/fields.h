// fields.h: a deterministic binary encoding of string maps (u32 count, then u32-length-prefixed
// keys and values, little-endian, in key order). Used by envelopes and the pack protocol.
#ifndef ISOPOOL_ENGINE_INTERNAL_FIELDS_H_
#define ISOPOOL_ENGINE_INTERNAL_FIELDS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace isopool::engine::internal {

void PutU32(std::string* out, uint32_t value);
void PutU64(std::string* out, uint64_t value);

// Reads little-endian integers and byte runs, failing (never overrunning) on truncation.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}
  bool U32(uint32_t* value);
  bool U64(uint64_t* value);
  bool Bytes(uint64_t n, absl::string_view* out);
  size_t remaining() const { return data_.size(); }

 private:
  bool Fixed(int n, uint64_t* value);
  absl::string_view data_;
};

std::string EncodeFields(const std::map<std::string, std::string>& fields);
// DataLoss on any malformed input.
absl::StatusOr<std::map<std::string, std::string>> DecodeFields(absl::string_view bytes);

}  // namespace isopool::engine::internal

#endif  // ISOPOOL_ENGINE_INTERNAL_FIELDS_H_
