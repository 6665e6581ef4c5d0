// sha256.h: SHA-256 digests, as raw bytes or lowercase hex (OpenSSL's libcrypto).
//
// Thread-safe: the functions keep no state.
#ifndef ISOPOOL_BASE_SHA256_H_
#define ISOPOOL_BASE_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace isopool::base {

// The 32-byte digest of `data`.
std::string Sha256(absl::string_view data);

// The digest of `data` as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_SHA256_H_
