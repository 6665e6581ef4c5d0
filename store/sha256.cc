#include "store/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace isopool::store {
namespace {

std::string ToHex(const unsigned char* digest, unsigned int len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

// libcrypto only fails here on allocation failure or a broken install; both are broken
// invariants, not errors a caller could handle.
void Check(int ok, const char* what) {
  if (ok != 1) {
    std::fprintf(stderr, "isopool: OpenSSL %s failed\n", what);
    std::abort();
  }
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Check(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr), "EVP_Digest");
  return ToHex(digest, len);
}

struct Sha256Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->ctx == nullptr) Check(0, "EVP_MD_CTX_new");
  Check(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256Hasher::Update(absl::string_view data) {
  Check(EVP_DigestUpdate(impl_->ctx, data.data(), data.size()), "EVP_DigestUpdate");
}

std::string Sha256Hasher::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Check(EVP_DigestFinal_ex(impl_->ctx, digest, &len), "EVP_DigestFinal_ex");
  Check(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr), "EVP_DigestInit_ex");
  return ToHex(digest, len);
}

}  // namespace isopool::store
