#include "engine/internal/fields.h"

namespace isopool::engine::internal {

void PutU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void PutU64(std::string* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

bool Reader::U32(uint32_t* value) {
  uint64_t wide;
  if (!Fixed(4, &wide)) return false;
  *value = static_cast<uint32_t>(wide);
  return true;
}

bool Reader::U64(uint64_t* value) { return Fixed(8, value); }

bool Reader::Bytes(uint64_t n, absl::string_view* out) {
  if (n > data_.size()) return false;
  *out = data_.substr(0, n);
  data_.remove_prefix(n);
  return true;
}

bool Reader::Fixed(int n, uint64_t* value) {
  if (data_.size() < static_cast<size_t>(n)) return false;
  *value = 0;
  for (int i = 0; i < n; ++i) {
    *value |= static_cast<uint64_t>(static_cast<uint8_t>(data_[i])) << (8 * i);
  }
  data_.remove_prefix(n);
  return true;
}

std::string EncodeFields(const std::map<std::string, std::string>& fields) {
  std::string out;
  PutU32(&out, static_cast<uint32_t>(fields.size()));
  for (const auto& [key, value] : fields) {
    PutU32(&out, static_cast<uint32_t>(key.size()));
    out += key;
    PutU32(&out, static_cast<uint32_t>(value.size()));
    out += value;
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> DecodeFields(absl::string_view bytes) {
  std::map<std::string, std::string> fields;
  Reader reader(bytes);
  uint32_t count;
  if (!reader.U32(&count)) return absl::DataLossError("truncated fields");
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t key_size, value_size;
    absl::string_view key, value;
    if (!reader.U32(&key_size) || !reader.Bytes(key_size, &key) || !reader.U32(&value_size) ||
        !reader.Bytes(value_size, &value)) {
      return absl::DataLossError("truncated field");
    }
    fields[std::string(key)] = std::string(value);
  }
  if (reader.remaining() != 0) return absl::DataLossError("trailing bytes after fields");
  return fields;
}

}  // namespace isopool::engine::internal
