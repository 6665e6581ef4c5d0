#include "engine/internal/web_natives.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unicode/uidna.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "engine/internal/v8_util.h"
#include "engine/internal/web.h"

namespace isopool::engine::internal::natives {
namespace {

struct Process {
  absl::Status status;
  const EVP_MD* sha1 = nullptr;
  const EVP_MD* sha256 = nullptr;
  const EVP_MD* sha384 = nullptr;
  const EVP_MD* sha512 = nullptr;
  const UIDNA* uts46 = nullptr;
};

Process& GetProcess() {
  static Process* process = new Process();  // never destroyed: natives may run at exit
  return *process;
}

absl::once_flag init_once;

void InitializeProcess() {
  Process& p = GetProcess();
  // Reads openssl.cnf now, while files can still be opened.
  OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_DIGESTS, nullptr);
  // Seeds the DRBG now: later RAND_bytes calls need only getrandom(2).
  unsigned char probe[16];
  if (RAND_bytes(probe, sizeof(probe)) != 1) {
    p.status = absl::InternalError("OpenSSL RAND_bytes failed at start-up");
    return;
  }
  // Fetched once: explicit fetches are cached and never touch the file system again.
  p.sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  p.sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  p.sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  p.sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  if (p.sha1 == nullptr || p.sha256 == nullptr || p.sha384 == nullptr || p.sha512 == nullptr) {
    p.status = absl::InternalError("OpenSSL lacks one of SHA-1/256/384/512");
    return;
  }
  for (const EVP_MD* md : {p.sha1, p.sha256, p.sha384, p.sha512}) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(probe, sizeof(probe), out, &length, md, nullptr);
  }
  // The WHATWG URL standard's "domain to ASCII": UTS #46, nontransitional, CheckBidi and
  // CheckJoiners on, UseSTD3ASCIIRules off (as Node's and Chromium's ICU-based hosts do).
  UErrorCode error = U_ZERO_ERROR;
  p.uts46 = uidna_openUTS46(
      UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ | UIDNA_NONTRANSITIONAL_TO_ASCII, &error);
  if (U_FAILURE(error) || p.uts46 == nullptr) {
    p.status = absl::InternalError(absl::StrCat("ICU uidna_openUTS46 failed: ", error));
    return;
  }
  // Touch ICU's IDNA data (normalisation tables) now.
  char16_t sample[] = u"b\u00fccher.example";
  char16_t dest[64];
  UIDNAInfo info = UIDNA_INFO_INITIALIZER;
  error = U_ZERO_ERROR;
  uidna_nameToASCII(p.uts46, sample, -1, dest, 64, &info, &error);
  p.status = InitializeCrypto();
}

void Throw(v8::Isolate* isolate, v8::Local<v8::Value> (*make)(v8::Local<v8::String>),
           absl::string_view message) {
  isolate->ThrowException(make(ToV8String(isolate, message)));
}

void ThrowTypeError(v8::Isolate* isolate, absl::string_view message) {
  Throw(isolate, &v8::Exception::TypeError, message);
}

// The bytes of an ArrayBufferView or ArrayBuffer (empty when detached or another type).
struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
  bool ok = false;
  std::shared_ptr<v8::BackingStore> store;  // keeps the memory alive while we use it
};

Bytes BytesOf(v8::Local<v8::Value> value) {
  Bytes bytes;
  if (value->IsArrayBufferView()) {
    v8::Local<v8::ArrayBufferView> view = value.As<v8::ArrayBufferView>();
    bytes.store = view->Buffer()->GetBackingStore();
    bytes.length = view->ByteLength();
    bytes.data = bytes.length == 0
                     ? nullptr
                     : static_cast<uint8_t*>(bytes.store->Data()) + view->ByteOffset();
    bytes.ok = true;
  } else if (value->IsArrayBuffer()) {
    bytes.store = value.As<v8::ArrayBuffer>()->GetBackingStore();
    bytes.length = bytes.store->ByteLength();
    bytes.data = static_cast<uint8_t*>(bytes.store->Data());
    bytes.ok = true;
  } else if (value->IsSharedArrayBuffer()) {
    bytes.store = value.As<v8::SharedArrayBuffer>()->GetBackingStore();
    bytes.length = bytes.store->ByteLength();
    bytes.data = static_cast<uint8_t*>(bytes.store->Data());
    bytes.ok = true;
  }
  return bytes;
}

// The WHATWG Encoding standard's UTF-8 decoder (U+FFFD for each maximal invalid subpart), to
// UTF-16. Returns false at the first error when `fatal`.
bool DecodeUtf8(const uint8_t* in, size_t length, bool fatal, std::u16string* out) {
  out->reserve(length);
  uint32_t code_point = 0;
  int needed = 0, seen = 0;
  uint8_t lower = 0x80, upper = 0xBF;
  auto emit = [out](uint32_t cp) {
    if (cp < 0x10000) {
      out->push_back(static_cast<char16_t>(cp));
    } else {
      cp -= 0x10000;
      out->push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out->push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    }
  };
  for (size_t i = 0; i < length; ++i) {
    uint8_t b = in[i];
    if (needed == 0) {
      if (b <= 0x7F) {
        out->push_back(b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        code_point = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        code_point = b & 0x0F;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        code_point = b & 0x07;
      } else {
        if (fatal) return false;
        out->push_back(0xFFFD);
      }
      continue;
    }
    if (b < lower || b > upper) {
      code_point = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      if (fatal) return false;
      out->push_back(0xFFFD);
      --i;  // the byte starts over
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    code_point = (code_point << 6) | (b & 0x3F);
    if (++seen == needed) {
      emit(code_point);
      code_point = 0;
      needed = seen = 0;
    }
  }
  if (needed != 0) {
    if (fatal) return false;
    out->push_back(0xFFFD);
  }
  return true;
}

WebHost* HostOrThrow(v8::Isolate* isolate) {
  WebHost* host = WebHost::From(isolate);
  if (host == nullptr) ThrowTypeError(isolate, "isopool: the web runtime is not set up here");
  return host;
}

// Throws `new DOMException(message, name)` from the "dom" module.
void ThrowDomException(v8::Isolate* isolate, v8::Local<v8::String> message, const char* name) {
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> dom;
  v8::Local<v8::Value> constructor;
  if (!LoadWebModule(context, "dom").ToLocal(&dom) ||
      !dom->Get(context, ToV8String(isolate, "DOMException")).ToLocal(&constructor) ||
      !constructor->IsFunction()) {
    return;  // an exception is pending already
  }
  v8::Local<v8::Value> args[] = {message, ToV8String(isolate, name)};
  v8::Local<v8::Object> exception;
  if (constructor.As<v8::Function>()->NewInstance(context, 2, args).ToLocal(&exception)) {
    isolate->ThrowException(exception);
  }
}

class CloneSerializerDelegate : public v8::ValueSerializer::Delegate {
 public:
  explicit CloneSerializerDelegate(v8::Isolate* isolate) : isolate_(isolate) {}
  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    ThrowDomException(isolate_, message, "DataCloneError");
  }

 private:
  v8::Isolate* isolate_;
};

}  // namespace

absl::Status InitializeOnce() {
  absl::call_once(init_once, &InitializeProcess);
  return GetProcess().status;
}

void LiveRandomBytes(uint8_t* out, size_t length) {
  while (length > 0) {
    int n = static_cast<int>(std::min<size_t>(length, 1 << 20));
    if (RAND_bytes(out, n) != 1) std::abort();  // the DRBG was checked at start-up
    out += n;
    length -= static_cast<size_t>(n);
  }
}

void Load(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string name = ToStdString(isolate, info[0]);
  v8::Local<v8::Object> exports;
  if (LoadWebModule(isolate->GetCurrentContext(), name.c_str()).ToLocal(&exports)) {
    info.GetReturnValue().Set(exports);
  }
}

void Utf8Length(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsString()) return ThrowTypeError(isolate, "utf8Length: not a string");
  info.GetReturnValue().Set(info[0].As<v8::String>()->Utf8Length(isolate));
}

void Utf8EncodeInto(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsString() || !info[1]->IsUint8Array()) {
    return ThrowTypeError(isolate, "utf8EncodeInto: (string, Uint8Array)");
  }
  Bytes out = BytesOf(info[1]);
  int capacity = static_cast<int>(std::min<size_t>(out.length, INT_MAX));
  int read = 0;
  int written = info[0].As<v8::String>()->WriteUtf8(
      isolate, reinterpret_cast<char*>(out.data), capacity, &read,
      v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  ReturnPair(info, v8::Integer::New(isolate, read), v8::Integer::New(isolate, written));
}

void ReturnPair(const Info& info, v8::Local<v8::Value> first, v8::Local<v8::Value> second) {
  v8::Local<v8::Value> elements[] = {first, second};
  info.GetReturnValue().Set(v8::Array::New(info.GetIsolate(), elements, 2));
}

void Utf8Decode(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  Bytes in = BytesOf(info[0]);
  if (!in.ok) return ThrowTypeError(isolate, "utf8Decode: not a buffer");
  bool fatal = info[1]->BooleanValue(isolate);
  size_t ascii = 0;
  while (ascii < in.length && in.data[ascii] < 0x80) ++ascii;
  v8::Local<v8::String> result;
  if (in.length > static_cast<size_t>(v8::String::kMaxLength)) {
    return Throw(isolate, &v8::Exception::RangeError, "the decoded string would be too long");
  }
  if (ascii == in.length) {
    if (!v8::String::NewFromOneByte(isolate, in.data, v8::NewStringType::kNormal,
                                    static_cast<int>(in.length))
             .ToLocal(&result)) {
      return;
    }
  } else {
    std::u16string text;
    if (!DecodeUtf8(in.data, in.length, fatal, &text)) return;  // undefined: invalid
    if (!v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(text.data()),
                                    v8::NewStringType::kNormal, static_cast<int>(text.size()))
             .ToLocal(&result)) {
      return;
    }
  }
  info.GetReturnValue().Set(result);
}

void RandomFill(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  WebHost* host = HostOrThrow(isolate);
  if (host == nullptr) return;
  if (!info[0]->IsArrayBufferView()) return ThrowTypeError(isolate, "randomFill: not a view");
  Bytes out = BytesOf(info[0]);
  if (out.length > 0) host->RandomBytes(out.data, out.length);
}

void Digest(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string name = ToStdString(isolate, info[0]);
  const Process& p = GetProcess();
  const EVP_MD* md = name == "SHA-1"     ? p.sha1
                     : name == "SHA-256" ? p.sha256
                     : name == "SHA-384" ? p.sha384
                     : name == "SHA-512" ? p.sha512
                                         : nullptr;
  Bytes in = BytesOf(info[1]);
  Bytes out = BytesOf(info[2]);
  if (md == nullptr || !in.ok || !out.ok || out.length < static_cast<size_t>(EVP_MD_get_size(md))) {
    return ThrowTypeError(isolate, "digest: (SHA-1|SHA-256|SHA-384|SHA-512, bytes, out)");
  }
  unsigned int length = 0;
  static const uint8_t kEmpty = 0;
  if (EVP_Digest(in.data == nullptr ? &kEmpty : in.data, in.length, out.data, &length, md,
                 nullptr) != 1) {
    return Throw(isolate, &v8::Exception::Error, "digest failed");
  }
  info.GetReturnValue().Set(length);
}

void Now(const Info& info) {
  WebHost* host = HostOrThrow(info.GetIsolate());
  if (host != nullptr) info.GetReturnValue().Set(host->Now());
}

void TimeOrigin(const Info& info) {
  WebHost* host = HostOrThrow(info.GetIsolate());
  if (host != nullptr) info.GetReturnValue().Set(host->time_origin_ms());
}

void Clone(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  CloneSerializerDelegate delegate(isolate);
  v8::ValueSerializer serializer(isolate, &delegate);
  std::vector<v8::Local<v8::ArrayBuffer>> transfer;
  if (info[1]->IsArray()) {
    v8::Local<v8::Array> list = info[1].As<v8::Array>();
    for (uint32_t i = 0; i < list->Length(); ++i) {
      v8::Local<v8::Value> item;
      if (!list->Get(context, i).ToLocal(&item)) return;
      if (!item->IsArrayBuffer()) {
        return ThrowDomException(
            isolate, ToV8String(isolate, "only ArrayBuffers can be transferred"), "DataCloneError");
      }
      v8::Local<v8::ArrayBuffer> buffer = item.As<v8::ArrayBuffer>();
      for (const auto& seen : transfer) {
        if (seen == buffer) {
          return ThrowDomException(
              isolate, ToV8String(isolate, "an ArrayBuffer is listed twice in transfer"),
              "DataCloneError");
        }
      }
      if (!buffer->IsDetachable() || (buffer->ByteLength() == 0 && !buffer->Data())) {
        return ThrowDomException(isolate, ToV8String(isolate, "an ArrayBuffer is detached"),
                                 "DataCloneError");
      }
      serializer.TransferArrayBuffer(static_cast<uint32_t>(transfer.size()), buffer);
      transfer.push_back(buffer);
    }
  }
  serializer.WriteHeader();
  if (!serializer.WriteValue(context, info[0]).FromMaybe(false)) return;
  std::pair<uint8_t*, size_t> data = serializer.Release();
  v8::ValueDeserializer deserializer(isolate, data.first, data.second);
  std::vector<std::shared_ptr<v8::BackingStore>> stores;
  for (size_t i = 0; i < transfer.size(); ++i) {
    stores.push_back(transfer[i]->GetBackingStore());
    deserializer.TransferArrayBuffer(static_cast<uint32_t>(i),
                                     v8::ArrayBuffer::New(isolate, stores.back()));
  }
  v8::Local<v8::Value> copy;
  bool ok = deserializer.ReadHeader(context).FromMaybe(false) &&
            deserializer.ReadValue(context).ToLocal(&copy);
  std::free(data.first);
  if (!ok) return;
  for (const auto& buffer : transfer) buffer->Detach();
  info.GetReturnValue().Set(copy);
}

void DomainToAscii(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsString()) return ThrowTypeError(isolate, "domainToAscii: not a string");
  v8::Local<v8::String> input = info[0].As<v8::String>();
  std::u16string source(static_cast<size_t>(input->Length()), u'\0');
  input->Write(isolate, reinterpret_cast<uint16_t*>(source.data()), 0, -1,
               v8::String::NO_NULL_TERMINATION);
  const UIDNA* uts46 = GetProcess().uts46;
  std::u16string dest(std::max<size_t>(source.size() * 4 + 64, 256), u'\0');
  UIDNAInfo idna = UIDNA_INFO_INITIALIZER;
  UErrorCode error = U_ZERO_ERROR;
  int32_t length = uidna_nameToASCII(uts46, source.data(), static_cast<int32_t>(source.size()),
                                     dest.data(), static_cast<int32_t>(dest.size()), &idna, &error);
  if (error == U_BUFFER_OVERFLOW_ERROR) {
    dest.assign(static_cast<size_t>(length) + 1, u'\0');
    error = U_ZERO_ERROR;
    idna = UIDNA_INFO_INITIALIZER;
    length = uidna_nameToASCII(uts46, source.data(), static_cast<int32_t>(source.size()),
                               dest.data(), static_cast<int32_t>(dest.size()), &idna, &error);
  }
  // The WHATWG URL standard turns off CheckHyphens and VerifyDnsLength, which ICU cannot
  // switch off: ignore the errors they raise (as Node's ICU-based ToASCII did).
  uint32_t errors = idna.errors;
  errors &= ~(UIDNA_ERROR_HYPHEN_3_4 | UIDNA_ERROR_LEADING_HYPHEN | UIDNA_ERROR_TRAILING_HYPHEN);
  errors &=
      ~(UIDNA_ERROR_EMPTY_LABEL | UIDNA_ERROR_LABEL_TOO_LONG | UIDNA_ERROR_DOMAIN_NAME_TOO_LONG);
  if (U_FAILURE(error) || errors != 0 || length <= 0) {
    info.GetReturnValue().SetNull();
    return;
  }
  v8::Local<v8::String> result;
  if (v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(dest.data()),
                                 v8::NewStringType::kNormal, length)
          .ToLocal(&result)) {
    info.GetReturnValue().Set(result);
  }
}

void TimersPending(const Info& info) {
  if (WebHost* host = WebHost::From(info.GetIsolate())) host->set_timers_pending(true);
}

void ConsoleLog(const Info& info) {
  v8::Isolate* isolate = info.GetIsolate();
  WebHost* host = WebHost::From(isolate);
  ConsoleSink* sink = host == nullptr ? nullptr : host->console_sink();
  if (sink == nullptr || !sink->ConsoleActive()) return;  // packing, or not inside a call
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::string text(static_cast<size_t>(2 * host->console_depth()), ' ');
  for (int i = 0; i < info.Length(); ++i) {
    if (i > 0) text += ' ';
    v8::Local<v8::Value> arg = info[i];
    v8::TryCatch ignore(isolate);
    v8::Local<v8::String> json;
    if (arg->IsObject() && !arg->IsFunction() && !arg->IsNativeError() &&
        v8::JSON::Stringify(context, arg).ToLocal(&json)) {
      text += ToStdString(isolate, json);
    } else if (arg->IsSymbol()) {
      text += ToStdString(isolate, arg.As<v8::Symbol>()->Description(isolate));
    } else {
      text += ToStdString(isolate, arg);
    }
  }
  int level = info.Data().As<v8::Int32>()->Value();
  sink->ConsoleWrite(static_cast<LogLevel>(level < 0 ? 0 : level), std::move(text));
}

void ConsoleGroup(const Info& info) {
  WebHost* host = WebHost::From(info.GetIsolate());
  if (host == nullptr) return;
  int& depth = host->console_depth();
  if (info.Data().As<v8::Int32>()->Value() >= 0) {
    if (info.Length() > 0) ConsoleLog(info);
    if (depth < 32) ++depth;
  } else if (depth > 0) {
    --depth;
  }
}

v8::Local<v8::ObjectTemplate> NewTemplate(v8::Isolate* isolate) {
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::ObjectTemplate> natives = v8::ObjectTemplate::New(isolate);
  const std::pair<const char*, v8::FunctionCallback> functions[] = {
      {"load", &Load},
      {"utf8Length", &Utf8Length},
      {"utf8EncodeInto", &Utf8EncodeInto},
      {"utf8Decode", &Utf8Decode},
      {"randomFill", &RandomFill},
      {"digest", &Digest},
      {"now", &Now},
      {"timeOrigin", &TimeOrigin},
      {"clone", &Clone},
      {"domainToAscii", &DomainToAscii},
      {"hmac", &Hmac},
      {"sign", &Sign},
      {"verify", &Verify},
      {"generateKeyPair", &GenerateKeyPair},
      {"checkKey", &CheckKey},
      {"timersPending", &TimersPending},
  };
  for (const auto& [name, callback] : functions) {
    natives->Set(
        ToV8String(isolate, name),
        v8::FunctionTemplate::New(isolate, callback, v8::Local<v8::Value>(),
                                  v8::Local<v8::Signature>(), 0, v8::ConstructorBehavior::kThrow));
  }
  return scope.Escape(natives);
}

}  // namespace isopool::engine::internal::natives
