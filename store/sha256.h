// SHA-256 digests as lowercase hex, backed by OpenSSL's libcrypto.
//
// Snapshot ids are "sha256:" + Sha256Hex(envelope); bundle digests are Sha256Hex(bundle).
//
//   std::string hex = isopool::store::Sha256Hex("abc");
//   // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
//
//   Sha256Hasher hasher;              // for data that arrives in chunks (streamed uploads)
//   hasher.Update(chunk1);
//   hasher.Update(chunk2);
//   std::string hex = hasher.FinishHex();
//
// Thread safety: Sha256Hex may be called from any thread. A Sha256Hasher is a single-owner
// object; use one per thread.

#ifndef ISOPOOL_STORE_SHA256_H_
#define ISOPOOL_STORE_SHA256_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace isopool::store {

// 64 lowercase hex characters.
std::string Sha256Hex(absl::string_view data);

// Incremental SHA-256. Update() any number of times, then FinishHex() once; after that the
// hasher is reset and may be reused for a new message.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(absl::string_view data);
  std::string FinishHex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_SHA256_H_
