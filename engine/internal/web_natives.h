// web_natives.h: the C++ functions behind the web runtime's JavaScript modules (the `natives`
// object each module receives). Engine-private.
//
// Every function here is in internal::ExternalReferences() (web.cc): add new ones at the end of
// that table and append its new length to kExternalReferencesCounts (web.h), which bumps the
// version. Natives never allocate ArrayBuffers themselves (V8 aborts the process when
// ArrayBuffer::New fails): the JavaScript side allocates with `new Uint8Array(n)`, which fails as
// a clean RangeError at the isolate's ArrayBuffer cap, and the natives write into it.
#ifndef ISOPOOL_ENGINE_INTERNAL_WEB_NATIVES_H_
#define ISOPOOL_ENGINE_INTERNAL_WEB_NATIVES_H_

#include <v8.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace isopool::engine::internal::natives {

using Info = v8::FunctionCallbackInfo<v8::Value>;

// load(name) -> the exports of runtime module `name`.
void Load(const Info& info);
// utf8Length(string) -> bytes of its UTF-8 form (lone surrogates as U+FFFD).
void Utf8Length(const Info& info);
// utf8EncodeInto(string, uint8array) -> [code units read, bytes written].
void Utf8EncodeInto(const Info& info);
// utf8Decode(arrayBufferView, fatal) -> string; undefined when fatal and the bytes are invalid.
void Utf8Decode(const Info& info);
// randomFill(arrayBufferView): fills it with random bytes (pinned while packing).
void RandomFill(const Info& info);
// digest(name, sourceView, outUint8Array) -> bytes written; name is SHA-1/-256/-384/-512.
void Digest(const Info& info);
// now() -> performance.now(); timeOrigin() -> performance.timeOrigin.
void Now(const Info& info);
void TimeOrigin(const Info& info);
// clone(value, transferArray) -> a structured clone (V8's ValueSerializer); throws a
// DataCloneError DOMException for values that cannot be cloned.
void Clone(const Info& info);
// domainToAscii(string) -> the UTS #46 ToASCII form the WHATWG URL standard asks for, or null.
void DomainToAscii(const Info& info);

// crypto.subtle (web_crypto.cc). Keys travel as DER: SPKI for public keys, PKCS #8 for private
// ones; `kind` is "ECDSA", "RSASSA-PKCS1-v1_5", "RSA-PSS" or "Ed25519".
// hmac(hash, key, data, out) -> bytes written (out >= 64 bytes).
void Hmac(const Info& info);
// sign(kind, hash, pkcs8, data, out, saltLength, curveBytes) -> bytes written. ECDSA signatures
// are IEEE P1363 (r || s, each curveBytes long), as WebCrypto wants.
void Sign(const Info& info);
// verify(kind, hash, spki, signature, data, saltLength, curveBytes) -> boolean.
void Verify(const Info& info);
// generateKeyPair(kind, param, pkcs8Out, spkiOut) -> [pkcs8 bytes, spki bytes]; param is the
// curve ("P-256") or the RSA modulus length, with the public exponent in info[4].
void GenerateKeyPair(const Info& info);
// checkKey(der, isPrivate) -> "EC:P-256" | "RSA" | "RSA-PSS" | "ED25519" or null when OpenSSL
// cannot parse it. For a private key, also writes its SPKI into info[2] and returns
// [type, spki bytes].
void CheckKey(const Info& info);

// console methods: the data is the LogLevel; for group/groupCollapsed the level of the label's
// line, for groupEnd -1.
void ConsoleLog(const Info& info);
void ConsoleGroup(const Info& info);

// timersPending(): the context now has timers (WebHost::timers_pending), so the event loop and
// the end of the call look for them; calls that never set a timer skip that look.
void TimersPending(const Info& info);

// Returns [first, second] to JavaScript.
void ReturnPair(const Info& info, v8::Local<v8::Value> first, v8::Local<v8::Value> second);

// A template of the `natives` object, for one isolate.
v8::Local<v8::ObjectTemplate> NewTemplate(v8::Isolate* isolate);

// OpenSSL and ICU set-up; see web.h's comment on sandboxing.
absl::Status InitializeOnce();
// The part of it for crypto.subtle's key types (web_crypto.cc).
absl::Status InitializeCrypto();

// RAND_bytes; aborts only if OpenSSL's DRBG fails, which InitializeOnce checked.
void LiveRandomBytes(uint8_t* out, size_t length);

}  // namespace isopool::engine::internal::natives

#endif  // ISOPOOL_ENGINE_INTERNAL_WEB_NATIVES_H_
