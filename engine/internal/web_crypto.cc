// crypto.subtle's key operations over OpenSSL 3 (see web_natives.h for the JavaScript-facing
// contract and engine/web/js/crypto_keys.js for the WebCrypto surface above them).
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/internal/v8_util.h"
#include "engine/internal/web.h"
#include "engine/internal/web_natives.h"

namespace isopool::engine::internal::natives {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct SigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using Sig = std::unique_ptr<ECDSA_SIG, SigFree>;

// The bytes of a view (the JavaScript side always passes Uint8Arrays).
struct View {
  uint8_t* data = nullptr;
  size_t length = 0;
  std::shared_ptr<v8::BackingStore> store;
};

bool ViewOf(v8::Local<v8::Value> value, View* view) {
  if (!value->IsArrayBufferView()) return false;
  v8::Local<v8::ArrayBufferView> v = value.As<v8::ArrayBufferView>();
  view->store = v->Buffer()->GetBackingStore();
  view->length = v->ByteLength();
  static uint8_t empty = 0;
  view->data =
      view->length == 0 ? &empty : static_cast<uint8_t*>(view->store->Data()) + v->ByteOffset();
  return true;
}

const EVP_MD* HashOf(const std::string& name) {
  if (name == "SHA-1") return EVP_sha1();
  if (name == "SHA-256") return EVP_sha256();
  if (name == "SHA-384") return EVP_sha384();
  if (name == "SHA-512") return EVP_sha512();
  return nullptr;
}

void Fail(v8::Isolate* isolate, absl::string_view message) {
  isolate->ThrowException(v8::Exception::Error(ToV8String(isolate, message)));
}

Pkey ParsePrivate(const View& der) {
  const unsigned char* p = der.data;
  return Pkey(d2i_AutoPrivateKey(nullptr, &p, static_cast<int64_t>(der.length)));
}

Pkey ParsePublic(const View& der) {
  const unsigned char* p = der.data;
  return Pkey(d2i_PUBKEY(nullptr, &p, static_cast<int64_t>(der.length)));
}

// The randomness sign and generateKey draw (ECDSA nonces, PSS salts, key material) comes from
// OpenSSL, not from the pinned stream: refuse it while packing rather than make packs differ.
bool RefuseWhilePinned(v8::Isolate* isolate, absl::string_view what) {
  WebHost* host = WebHost::From(isolate);
  if (host != nullptr && host->pinned()) {
    Fail(isolate, absl::StrCat(what,
                               " is not available while packing deterministically (it needs fresh "
                               "randomness); do it at run time"));
    return true;
  }
  return false;
}

bool ConfigureSignature(EVP_PKEY_CTX* ctx, const std::string& kind, int salt_length) {
  if (kind == "RSASSA-PKCS1-v1_5") return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
  if (kind == "RSA-PSS") {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt_length) > 0;
  }
  return true;
}

int KeyTypeMatches(EVP_PKEY* key, const std::string& kind) {
  if (kind == "ECDSA") return EVP_PKEY_is_a(key, "EC");
  if (kind == "Ed25519") return EVP_PKEY_is_a(key, "ED25519");
  return EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS");
}

// A fixed RSA-1024 key (PKCS #8), public knowledge and used for nothing but exercising OpenSSL's
// RSA code at start-up: generating one there took 40-100 ms of every process start.
constexpr unsigned char kWarmupRsaKey[] = {
    0x30, 0x82, 0x02, 0x5c, 0x02, 0x01, 0x00, 0x02, 0x81, 0x81, 0x00, 0xde, 0x1b, 0x70, 0x78, 0x7c,
    0x48, 0xaf, 0x24, 0xdb, 0xa5, 0x69, 0x24, 0x52, 0xa2, 0x76, 0x49, 0xc6, 0xcd, 0xf2, 0x4b, 0x95,
    0xd4, 0x5b, 0xe6, 0x89, 0xda, 0x14, 0x2e, 0x75, 0x7a, 0xc2, 0xa5, 0xff, 0x98, 0x2f, 0xdb, 0xab,
    0x87, 0x1c, 0x2b, 0x3a, 0x1b, 0x40, 0xef, 0xf6, 0x9c, 0x2c, 0xb8, 0xdb, 0x0e, 0x82, 0x59, 0x11,
    0xc2, 0x32, 0x1b, 0x23, 0x7a, 0xcb, 0xbc, 0xa4, 0x77, 0x63, 0x9d, 0x13, 0xf7, 0xfe, 0xf3, 0x71,
    0x46, 0x2a, 0xda, 0x5e, 0xa0, 0x5c, 0xac, 0x99, 0x79, 0xe1, 0x9a, 0x6d, 0x68, 0xf6, 0x16, 0x35,
    0x43, 0x64, 0x84, 0x4e, 0x34, 0xb3, 0xaa, 0x9f, 0x70, 0xba, 0xe9, 0xdd, 0xc7, 0x76, 0x7f, 0x8f,
    0x29, 0x50, 0x94, 0xaa, 0x81, 0x92, 0x82, 0xf8, 0x6e, 0x42, 0xa2, 0x7e, 0x49, 0xcd, 0x99, 0xb2,
    0x4a, 0x07, 0x5a, 0xa9, 0x47, 0x11, 0x85, 0x63, 0xeb, 0xd5, 0x7f, 0x02, 0x03, 0x01, 0x00, 0x01,
    0x02, 0x81, 0x80, 0x20, 0xd0, 0xe7, 0x0e, 0x36, 0x36, 0xbb, 0x01, 0xf4, 0x1d, 0xfd, 0x69, 0xeb,
    0x77, 0xab, 0x88, 0x7d, 0x02, 0x22, 0xc1, 0x7e, 0x32, 0xb1, 0x1d, 0x5f, 0xd2, 0xc3, 0xd6, 0x95,
    0x6e, 0xfc, 0xe1, 0x6f, 0xe1, 0x39, 0x78, 0xf8, 0x5f, 0xef, 0x0e, 0x87, 0xf8, 0x4c, 0xe0, 0xe7,
    0x8b, 0xed, 0xa3, 0xa6, 0x61, 0xff, 0x6a, 0x4f, 0x90, 0x64, 0xbc, 0xd3, 0xc2, 0x29, 0xe6, 0x06,
    0x5a, 0xc9, 0x71, 0xbe, 0x55, 0xb1, 0xab, 0x86, 0x57, 0x7b, 0xbe, 0x64, 0x7c, 0xf8, 0x86, 0x81,
    0x6c, 0xf7, 0x84, 0xe2, 0x16, 0x97, 0xe9, 0xcd, 0x56, 0x92, 0x9d, 0xcb, 0x40, 0x2d, 0xbf, 0x94,
    0xab, 0xb1, 0xfc, 0xfa, 0xfb, 0xf2, 0x04, 0x1d, 0x34, 0x7a, 0xea, 0xb5, 0x60, 0x24, 0xa9, 0xfe,
    0x0f, 0xb6, 0xb6, 0xdf, 0x83, 0x02, 0x7d, 0xc2, 0x84, 0x44, 0xb4, 0x04, 0x3d, 0x64, 0xe2, 0x49,
    0x80, 0x6a, 0xf1, 0x02, 0x41, 0x00, 0xfc, 0x32, 0x2a, 0x26, 0xec, 0x98, 0x29, 0x3a, 0xf2, 0x0b,
    0x61, 0x51, 0xe7, 0xed, 0x96, 0xee, 0x3f, 0xa1, 0x07, 0x81, 0x0e, 0x24, 0xa7, 0x1b, 0xd7, 0xc4,
    0x3d, 0x32, 0xf3, 0xed, 0x56, 0xb7, 0x2b, 0xb6, 0xa6, 0x62, 0xb4, 0xff, 0x96, 0x56, 0x07, 0x9c,
    0xdf, 0xfd, 0xa2, 0x41, 0xa2, 0x61, 0x0c, 0x60, 0xf4, 0x29, 0x93, 0xf7, 0x60, 0x36, 0x0c, 0x8d,
    0x8a, 0xed, 0xaa, 0xe4, 0xdc, 0xb7, 0x02, 0x41, 0x00, 0xe1, 0x75, 0x16, 0xd5, 0xe0, 0x86, 0x81,
    0x6d, 0x80, 0xbe, 0x9f, 0x19, 0x64, 0x8c, 0x3d, 0x82, 0xa7, 0xac, 0xa5, 0xd7, 0x4b, 0x54, 0x91,
    0xab, 0x75, 0xd4, 0xfa, 0xfb, 0x44, 0x87, 0x93, 0xdf, 0xdd, 0xa3, 0x3a, 0x20, 0xbb, 0x95, 0xb9,
    0x50, 0x79, 0x6a, 0x79, 0x17, 0xfe, 0xf6, 0x7c, 0x9a, 0x01, 0xae, 0xd8, 0x18, 0x80, 0x9e, 0x71,
    0xf1, 0x2a, 0x4a, 0x31, 0x12, 0xe9, 0xff, 0x95, 0x79, 0x02, 0x41, 0x00, 0xfc, 0x1a, 0x85, 0x8a,
    0x9d, 0x8e, 0x4a, 0x00, 0xf3, 0xbe, 0xae, 0x8d, 0x7b, 0x04, 0x45, 0x91, 0x6a, 0xa7, 0xe5, 0x61,
    0x7c, 0x2a, 0xe5, 0xa5, 0xee, 0x9d, 0xeb, 0xf3, 0x88, 0x65, 0xe3, 0xfe, 0x7d, 0x43, 0x3b, 0xb6,
    0x86, 0x6a, 0xcc, 0xf4, 0xb8, 0xed, 0x77, 0xf8, 0x0a, 0x80, 0x03, 0xfb, 0x71, 0xad, 0x65, 0xc6,
    0x3e, 0x74, 0xd6, 0x87, 0x91, 0x2a, 0xd9, 0x0b, 0x56, 0x7f, 0x2b, 0xa7, 0x02, 0x40, 0x30, 0x5b,
    0xb6, 0x07, 0x2f, 0xfe, 0x89, 0xba, 0x5c, 0x18, 0x06, 0xf6, 0x22, 0x5b, 0xf6, 0x41, 0x95, 0x07,
    0x72, 0x16, 0xe8, 0xc0, 0x7d, 0xf2, 0x41, 0xf6, 0xe9, 0xd2, 0x85, 0x53, 0x73, 0x43, 0x5c, 0x3d,
    0xcb, 0x95, 0x03, 0xc7, 0x4c, 0x95, 0x57, 0x45, 0xa0, 0x2d, 0xa6, 0x71, 0x66, 0x2e, 0x7e, 0x57,
    0xeb, 0x5f, 0xee, 0x0e, 0x8e, 0x30, 0x05, 0x3b, 0x1e, 0xa5, 0x88, 0xed, 0x5a, 0x39, 0x02, 0x40,
    0x34, 0x28, 0x37, 0x1a, 0x09, 0x76, 0x99, 0x97, 0x11, 0x7d, 0xe3, 0x81, 0x86, 0xdd, 0x6f, 0xe4,
    0xbe, 0x60, 0x58, 0x98, 0xf2, 0x75, 0xf7, 0x34, 0xd6, 0x5b, 0x68, 0xd4, 0xe4, 0xe2, 0x97, 0xb8,
    0x80, 0x81, 0x0b, 0x02, 0xd5, 0xaf, 0x8c, 0x3f, 0xc6, 0x26, 0x69, 0x6a, 0x14, 0x0a, 0x7d, 0x7a,
    0x96, 0x4e, 0xa7, 0x99, 0x74, 0xbd, 0x59, 0x9e, 0x72, 0xf9, 0x6b, 0xa4, 0x18, 0x4f, 0x91, 0x37,
};

}  // namespace

absl::Status InitializeCrypto() {
  // Exercise every key type, encoder and decoder crypto.subtle uses, so that OpenSSL fetches
  // (and caches) their implementations now, before any sandbox.
  for (const char* curve : {"P-256", "P-384", "P-521"}) {
    Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
    if (!key) return absl::InternalError(absl::StrCat("OpenSSL cannot make ", curve, " keys"));
  }
  Pkey ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  const unsigned char* warmup = kWarmupRsaKey;
  Pkey rsa(d2i_AutoPrivateKey(nullptr, &warmup, sizeof(kWarmupRsaKey)));
  if (!ed || !rsa) return absl::InternalError("OpenSSL cannot make Ed25519 or RSA keys");
  for (EVP_PKEY* key : {ed.get(), rsa.get()}) {
    unsigned char* der = nullptr;
    int length = i2d_PrivateKey(key, &der);
    if (length > 0) {
      const unsigned char* p = der;
      Pkey back(d2i_AutoPrivateKey(nullptr, &p, length));
      OPENSSL_free(der);
    }
    der = nullptr;
    length = i2d_PUBKEY(key, &der);
    if (length > 0) {
      const unsigned char* p = der;
      Pkey back(d2i_PUBKEY(nullptr, &p, length));
      OPENSSL_free(der);
    }
    PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(key);
    PKCS8_PRIV_KEY_INFO_free(info);
  }
  MdCtx ctx(EVP_MD_CTX_new());
  unsigned char data[1] = {0}, signature[256];
  size_t length = sizeof(signature);
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, ed.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature, &length, data, 1) != 1) {
    return absl::InternalError("OpenSSL cannot sign with Ed25519");
  }
  for (const char* kind : {"RSASSA-PKCS1-v1_5", "RSA-PSS"}) {
    MdCtx rsa_ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    length = sizeof(signature);
    if (EVP_DigestSignInit(rsa_ctx.get(), &pctx, EVP_sha256(), nullptr, rsa.get()) != 1 ||
        !ConfigureSignature(pctx, kind, 32) ||
        EVP_DigestSign(rsa_ctx.get(), signature, &length, data, 1) != 1) {
      return absl::InternalError(absl::StrCat("OpenSSL cannot sign with ", kind));
    }
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  if (HMAC(EVP_sha256(), data, 1, data, 1, mac, &mac_length) == nullptr) {
    return absl::InternalError("OpenSSL cannot compute HMAC-SHA256");
  }
  return absl::OkStatus();
}

void Hmac(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  const EVP_MD* md = HashOf(ToStdString(isolate, info[0]));
  View key, data, out;
  if (md == nullptr || !ViewOf(info[1], &key) || !ViewOf(info[2], &data) ||
      !ViewOf(info[3], &out) || out.length < static_cast<size_t>(EVP_MD_get_size(md)) ||
      key.length > INT_MAX) {
    return Fail(isolate, "hmac: (hash, key, data, out)");
  }
  unsigned int length = 0;
  if (HMAC(md, key.data, static_cast<int>(key.length), data.data, data.length, out.data, &length) ==
      nullptr) {
    return Fail(isolate, "HMAC failed");
  }
  info.GetReturnValue().Set(length);
}

void Sign(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string kind = ToStdString(isolate, info[0]);
  std::string hash = ToStdString(isolate, info[1]);
  View der, data, out;
  if (!ViewOf(info[2], &der) || !ViewOf(info[3], &data) || !ViewOf(info[4], &out)) {
    return Fail(isolate, "sign: (kind, hash, pkcs8, data, out, saltLength, curveBytes)");
  }
  int salt_length = info[5]->Int32Value(isolate->GetCurrentContext()).FromMaybe(0);
  int curve_bytes = info[6]->Int32Value(isolate->GetCurrentContext()).FromMaybe(0);
  if ((kind == "ECDSA" || (kind == "RSA-PSS" && salt_length > 0)) &&
      RefuseWhilePinned(isolate, absl::StrCat(kind, " signing"))) {
    return;
  }
  Pkey key = ParsePrivate(der);
  const EVP_MD* md = kind == "Ed25519" ? nullptr : HashOf(hash);
  if (!key || !KeyTypeMatches(key.get(), kind) || (kind != "Ed25519" && md == nullptr)) {
    return Fail(isolate, "sign: the key does not fit the algorithm");
  }
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  size_t length = 0;
  if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1 ||
      !ConfigureSignature(pctx, kind, salt_length) ||
      EVP_DigestSign(ctx.get(), nullptr, &length, data.data, data.length) != 1) {
    return Fail(isolate, "signing failed");
  }
  std::vector<unsigned char> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, data.data, data.length) != 1) {
    return Fail(isolate, "signing failed");
  }
  signature.resize(length);
  if (kind == "ECDSA") {  // DER -> r || s
    const unsigned char* p = signature.data();
    Sig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<int64_t>(signature.size())));
    if (!sig || out.length < 2 * static_cast<size_t>(curve_bytes)) {
      return Fail(isolate, "signing failed");
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    if (BN_bn2binpad(r, out.data, curve_bytes) != curve_bytes ||
        BN_bn2binpad(s, out.data + curve_bytes, curve_bytes) != curve_bytes) {
      return Fail(isolate, "signing failed");
    }
    info.GetReturnValue().Set(2 * curve_bytes);
    return;
  }
  if (out.length < signature.size()) return Fail(isolate, "sign: output buffer too small");
  std::copy(signature.begin(), signature.end(), out.data);
  info.GetReturnValue().Set(static_cast<uint32_t>(signature.size()));
}

void Verify(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string kind = ToStdString(isolate, info[0]);
  std::string hash = ToStdString(isolate, info[1]);
  View der, signature, data;
  if (!ViewOf(info[2], &der) || !ViewOf(info[3], &signature) || !ViewOf(info[4], &data)) {
    return Fail(isolate, "verify: (kind, hash, spki, signature, data, saltLength, curveBytes)");
  }
  int salt_length = info[5]->Int32Value(isolate->GetCurrentContext()).FromMaybe(0);
  int curve_bytes = info[6]->Int32Value(isolate->GetCurrentContext()).FromMaybe(0);
  Pkey key = ParsePublic(der);
  const EVP_MD* md = kind == "Ed25519" ? nullptr : HashOf(hash);
  if (!key || !KeyTypeMatches(key.get(), kind) || (kind != "Ed25519" && md == nullptr)) {
    return Fail(isolate, "verify: the key does not fit the algorithm");
  }
  std::vector<unsigned char> encoded(signature.data, signature.data + signature.length);
  if (kind == "ECDSA") {  // r || s -> DER; a wrong length is simply not a valid signature
    if (curve_bytes <= 0 || signature.length != 2 * static_cast<size_t>(curve_bytes)) {
      info.GetReturnValue().Set(false);
      return;
    }
    Sig sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(signature.data, curve_bytes, nullptr);
    BIGNUM* s = BN_bin2bn(signature.data + curve_bytes, curve_bytes, nullptr);
    if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return Fail(isolate, "verification failed");
    }
    unsigned char* p = nullptr;
    int length = i2d_ECDSA_SIG(sig.get(), &p);
    if (length <= 0) return Fail(isolate, "verification failed");
    encoded.assign(p, p + length);
    OPENSSL_free(p);
  }
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1 ||
      !ConfigureSignature(pctx, kind, salt_length)) {
    return Fail(isolate, "verification failed");
  }
  int ok = EVP_DigestVerify(ctx.get(), encoded.data(), encoded.size(), data.data, data.length);
  info.GetReturnValue().Set(ok == 1);
}

void GenerateKeyPair(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::string kind = ToStdString(isolate, info[0]);
  View pkcs8_out, spki_out, exponent;
  if (!ViewOf(info[2], &pkcs8_out) || !ViewOf(info[3], &spki_out)) {
    return Fail(isolate, "generateKeyPair: (kind, param, pkcs8Out, spkiOut, exponent)");
  }
  if (RefuseWhilePinned(isolate, "crypto.subtle.generateKey")) return;
  Pkey key;
  if (kind == "ECDSA") {
    std::string curve = ToStdString(isolate, info[1]);
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.c_str()));
  } else if (kind == "Ed25519") {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  } else {
    uint32_t bits = info[1]->Uint32Value(context).FromMaybe(0);
    // Key generation cannot be interrupted: 4096 bits bounds it to seconds, not minutes.
    if (bits < 1024 || bits > 4096 || !ViewOf(info[4], &exponent)) {
      return Fail(isolate, "RSA modulusLength must be 1024 to 4096 bits");
    }
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    BIGNUM* e = BN_bin2bn(exponent.data, static_cast<int>(exponent.length), nullptr);
    EVP_PKEY* raw = nullptr;
    bool ok = ctx && e != nullptr && EVP_PKEY_keygen_init(ctx.get()) == 1 &&
              EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) == 1 &&
              EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), e) == 1 &&
              EVP_PKEY_keygen(ctx.get(), &raw) == 1;
    BN_free(e);
    if (!ok) return Fail(isolate, "RSA key generation failed (check publicExponent)");
    key.reset(raw);
  }
  if (!key) return Fail(isolate, "key generation failed");
  unsigned char* pkcs8 = nullptr;
  unsigned char* spki = nullptr;
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key.get());
  int pkcs8_length = p8 == nullptr ? -1 : i2d_PKCS8_PRIV_KEY_INFO(p8, &pkcs8);
  PKCS8_PRIV_KEY_INFO_free(p8);
  int spki_length = i2d_PUBKEY(key.get(), &spki);
  bool fits = pkcs8_length > 0 && spki_length > 0 &&
              static_cast<size_t>(pkcs8_length) <= pkcs8_out.length &&
              static_cast<size_t>(spki_length) <= spki_out.length;
  if (fits) {
    std::copy(pkcs8, pkcs8 + pkcs8_length, pkcs8_out.data);
    std::copy(spki, spki + spki_length, spki_out.data);
  }
  OPENSSL_free(pkcs8);
  OPENSSL_free(spki);
  if (!fits) return Fail(isolate, "key generation failed");
  ReturnPair(info, v8::Integer::New(isolate, pkcs8_length), v8::Integer::New(isolate, spki_length));
}

void CheckKey(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  View der, spki_out;
  if (!ViewOf(info[0], &der) || !ViewOf(info[2], &spki_out)) {
    return Fail(isolate, "checkKey: (der, isPrivate, spkiOut)");
  }
  bool is_private = info[1]->BooleanValue(isolate);
  Pkey key = is_private ? ParsePrivate(der) : ParsePublic(der);
  if (!key) {
    info.GetReturnValue().SetNull();
    return;
  }
  std::string type;
  if (EVP_PKEY_is_a(key.get(), "EC")) {
    char group[64] = {0};
    size_t group_length = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &group_length) != 1) {
      info.GetReturnValue().SetNull();
      return;
    }
    std::string name(group, group_length);
    type = name == "prime256v1"  ? "EC:P-256"
           : name == "secp384r1" ? "EC:P-384"
           : name == "secp521r1" ? "EC:P-521"
                                 : "EC:" + name;
  } else if (EVP_PKEY_is_a(key.get(), "ED25519")) {
    type = "ED25519";
  } else if (EVP_PKEY_is_a(key.get(), "RSA")) {
    type = "RSA";
  } else {
    type = EVP_PKEY_get0_type_name(key.get()) ? EVP_PKEY_get0_type_name(key.get()) : "?";
  }
  unsigned char* spki = nullptr;
  int spki_length = i2d_PUBKEY(key.get(), &spki);
  bool fits = spki_length > 0 && static_cast<size_t>(spki_length) <= spki_out.length;
  if (fits) std::copy(spki, spki + spki_length, spki_out.data);
  OPENSSL_free(spki);
  if (!fits) return Fail(isolate, "checkKey: cannot encode the public key");
  ReturnPair(info, ToV8String(isolate, type), v8::Integer::New(isolate, spki_length));
}

}  // namespace isopool::engine::internal::natives
