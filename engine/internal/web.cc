#include "engine/internal/web.h"

#include <libplatform/libplatform.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <time.h>
#include <unicode/uidna.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/internal/v8_util.h"
#include "engine/internal/web_natives.h"
#include "engine/internal/web_sources.h"

namespace isopool::engine::internal {
namespace {

// Which runtime module defines each lazy global. Order does not matter (the module's name is the
// accessor's data, never an index), but keep docs/api.md's table in step.
struct LazyGlobalEntry {
  const char* global;
  const char* module;
};
constexpr LazyGlobalEntry kLazyGlobals[] = {
    {"TextEncoder", "encoding"},
    {"TextDecoder", "encoding"},
    {"atob", "base64"},
    {"btoa", "base64"},
    {"URL", "url"},
    {"URLSearchParams", "url"},
    {"structuredClone", "clone"},
    {"queueMicrotask", "dom"},
    {"reportError", "dom"},
    {"DOMException", "dom"},
    {"Event", "dom"},
    {"EventTarget", "dom"},
    {"AbortController", "dom"},
    {"AbortSignal", "dom"},
    {"setTimeout", "timers"},
    {"setInterval", "timers"},
    {"clearTimeout", "timers"},
    {"clearInterval", "timers"},
    {"crypto", "crypto"},
    {"Crypto", "crypto"},
    {"CryptoKey", "crypto"},
    {"SubtleCrypto", "crypto"},
    {"performance", "performance"},
    {"Performance", "performance"},
    {"self", "navigator"},
    {"navigator", "navigator"},
    {"Navigator", "navigator"},
    {"Headers", "headers"},
    {"Blob", "blob"},
};

constexpr const char* kConsoleExtras[] = {"assert",  "count", "countReset", "time",  "timeEnd",
                                          "timeLog", "table", "dir",        "dirxml"};

// The module cache of a context: a null-prototype object behind a private key on the global.
// Empty when it does not exist and `create` is false, or when JavaScript is terminating.
v8::MaybeLocal<v8::Object> ModuleCache(v8::Local<v8::Context> context, bool create = true) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Private> key = v8::Private::ForApi(isolate, ToV8String(isolate, "isopool:web"));
  v8::Local<v8::Object> global = context->Global();
  v8::Local<v8::Value> cache;
  if (!global->GetPrivate(context, key).ToLocal(&cache)) return {};
  if (cache->IsObject()) return cache.As<v8::Object>();
  if (!create) return {};
  v8::Local<v8::Object> fresh = v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
  if (!global->SetPrivate(context, key, fresh).FromMaybe(false)) return {};
  return fresh;
}

const WebModuleSource* FindModule(absl::string_view name) {
  for (size_t i = 0; i < kWebModuleCount; ++i) {
    if (name == kWebModules[i].name) return &kWebModules[i];
  }
  return nullptr;
}

// Static module sources as external strings: no copy, and V8 keeps only a pointer.
class StaticSource : public v8::String::ExternalOneByteStringResource {
 public:
  StaticSource(const char* data, size_t length) : data_(data), length_(length) {}
  const char* data() const override { return data_; }
  size_t length() const override { return length_; }
  void Dispose() override { delete this; }

 private:
  const char* data_;
  size_t length_;
};

void LazyGlobal(v8::Local<v8::Name> property, const v8::PropertyCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context;
  if (!info.Holder()->GetCreationContext().ToLocal(&context)) {
    context = isolate->GetCurrentContext();
  }
  std::string module = ToStdString(isolate, info.Data());
  v8::Local<v8::Object> exports;
  if (!LoadWebModule(context, module.c_str()).ToLocal(&exports)) return;
  v8::Local<v8::Value> value;
  if (!exports->Get(context, property).ToLocal(&value)) return;
  info.GetReturnValue().Set(value);
}

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The table itself: append only (see web.h).
const intptr_t kExternalReferences[] = {
    reinterpret_cast<intptr_t>(&LazyGlobal),
    reinterpret_cast<intptr_t>(&natives::Load),
    reinterpret_cast<intptr_t>(&natives::Utf8Length),
    reinterpret_cast<intptr_t>(&natives::Utf8EncodeInto),
    reinterpret_cast<intptr_t>(&natives::Utf8Decode),
    reinterpret_cast<intptr_t>(&natives::RandomFill),
    reinterpret_cast<intptr_t>(&natives::Digest),
    reinterpret_cast<intptr_t>(&natives::Now),
    reinterpret_cast<intptr_t>(&natives::TimeOrigin),
    reinterpret_cast<intptr_t>(&natives::Clone),
    reinterpret_cast<intptr_t>(&natives::DomainToAscii),
    // Version 2: crypto.subtle keys.
    reinterpret_cast<intptr_t>(&natives::Hmac),
    reinterpret_cast<intptr_t>(&natives::Sign),
    reinterpret_cast<intptr_t>(&natives::Verify),
    reinterpret_cast<intptr_t>(&natives::GenerateKeyPair),
    reinterpret_cast<intptr_t>(&natives::CheckKey),
    // Version 3: the console and timers in snapshots.
    reinterpret_cast<intptr_t>(&natives::ConsoleLog),
    reinterpret_cast<intptr_t>(&natives::ConsoleGroup),
    reinterpret_cast<intptr_t>(&natives::TimersPending),
    0,
};

constexpr bool CountsOnlyGrow() {
  for (int v = 1; v < kExternalReferencesVersion; ++v) {
    if (kExternalReferencesCounts[v] <= kExternalReferencesCounts[v - 1]) return false;
  }
  return true;
}
static_assert(sizeof(kExternalReferences) / sizeof(kExternalReferences[0]) - 1 ==
                  kExternalReferencesCounts[kExternalReferencesVersion - 1],
              "ExternalReferences changed: append the new length to kExternalReferencesCounts "
              "(web.h), which bumps kExternalReferencesVersion");
static_assert(CountsOnlyGrow(),
              "kExternalReferencesCounts must only grow (the table is append-only)");

std::atomic<v8::Platform*> runtime_platform{nullptr};

}  // namespace

const intptr_t* ExternalReferences() { return kExternalReferences; }

void SetRuntimePlatform(v8::Platform* platform) { runtime_platform = platform; }

absl::Status InitializeWebRuntime() { return natives::InitializeOnce(); }

WebHost::WebHost(v8::Isolate* isolate, Options options)
    : isolate_(isolate), options_(options), monotonic_origin_ns_(MonotonicNs()) {
  if (options_.pinned) {
    time_origin_ms_ = static_cast<double>(options_.seed_time_ms);
  } else {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_origin_ms_ =
        static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
  }
  isolate_->SetData(kWebHostSlot, this);
}

WebHost::~WebHost() { Dispose(); }

WebHost* WebHost::From(v8::Isolate* isolate) {
  return static_cast<WebHost*>(isolate->GetData(kWebHostSlot));
}

void WebHost::Dispose() {
  global_template_.Reset();
  natives_template_.Reset();
  console_template_.Reset();
  if (isolate_->GetData(kWebHostSlot) == this) isolate_->SetData(kWebHostSlot, nullptr);
}

v8::Local<v8::ObjectTemplate> WebHost::GlobalTemplate() {
  if (!global_template_.IsEmpty()) return global_template_.Get(isolate_);
  v8::EscapableHandleScope scope(isolate_);
  v8::Local<v8::ObjectTemplate> global = v8::ObjectTemplate::New(isolate_);
  for (const LazyGlobalEntry& entry : kLazyGlobals) {
    global->SetLazyDataProperty(ToV8String(isolate_, entry.global), &LazyGlobal,
                                ToV8String(isolate_, entry.module), v8::DontEnum);
  }
  global_template_.Reset(isolate_, global);
  return scope.Escape(global);
}

bool WebHost::InstallConsole(v8::Local<v8::Context> context) {
  v8::HandleScope scope(isolate_);
  if (console_template_.IsEmpty()) {
    v8::Local<v8::ObjectTemplate> console = v8::ObjectTemplate::New(isolate_);
    const std::pair<const char*, LogLevel> methods[] = {
        {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},   {"log", LogLevel::kLog},
        {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"trace", LogLevel::kDebug}};
    for (const auto& [name, level] : methods) {
      console->Set(ToV8String(isolate_, name),
                   v8::FunctionTemplate::New(isolate_, &natives::ConsoleLog,
                                             v8::Int32::New(isolate_, static_cast<int>(level))));
    }
    const std::pair<const char*, int> groups[] = {
        {"group", static_cast<int>(LogLevel::kLog)},
        {"groupCollapsed", static_cast<int>(LogLevel::kLog)},
        {"groupEnd", -1}};
    for (const auto& [name, data] : groups) {
      console->Set(ToV8String(isolate_, name),
                   v8::FunctionTemplate::New(isolate_, &natives::ConsoleGroup,
                                             v8::Int32::New(isolate_, data)));
    }
    for (const char* name : kConsoleExtras) {
      console->SetLazyDataProperty(ToV8String(isolate_, name), &LazyGlobal,
                                   ToV8String(isolate_, "console"));
    }
    console_template_.Reset(isolate_, console);
  }
  v8::Local<v8::Object> console;
  return console_template_.Get(isolate_)->NewInstance(context).ToLocal(&console) &&
         context->Global()
             ->DefineOwnProperty(context, ToV8String(isolate_, "console"), console, v8::DontEnum)
             .FromMaybe(false);
}

namespace {
v8::StartupData blank_blob{nullptr, 0};
}  // namespace

const v8::StartupData* BlankBlob() { return blank_blob.data == nullptr ? nullptr : &blank_blob; }

absl::Status MakeBlankBlob() {
  if (blank_blob.data != nullptr) return absl::OkStatus();
  v8::SnapshotCreator creator(ExternalReferences());
  v8::Isolate* isolate = creator.GetIsolate();
  {
    WebHost host(isolate, WebHost::Options{});
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate, nullptr, host.GlobalTemplate());
    bool ok;
    {
      v8::Context::Scope scope(context);
      ok = host.InstallConsole(context);
    }
    host.Dispose();
    creator.SetDefaultContext(ok ? context : v8::Context::New(isolate));
    if (!ok) {
      delete[] creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kClear).data;
      return absl::InternalError("could not install the console into the blank snapshot");
    }
  }
  v8::StartupData blob = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kClear);
  if (blob.data == nullptr) return absl::InternalError("V8 made no blank snapshot");
  blank_blob = blob;  // kept for the life of the process: every blank isolate reads it
  return absl::OkStatus();
}

double WebHost::Now() {
  if (options_.pinned) {
    double now = virtual_now_ms_;
    virtual_now_ms_ += 1;
    return now;
  }
  return PeekNow();
}

double WebHost::PeekNow() const {
  if (options_.pinned) return virtual_now_ms_;
  return static_cast<double>(MonotonicNs() - monotonic_origin_ns_) / 1e6;
}

void WebHost::SleepUntil(double due_ms) {
  if (options_.pinned) {
    if (due_ms > virtual_now_ms_) virtual_now_ms_ = due_ms;
    return;
  }
  double wait_ms = due_ms - PeekNow();
  if (wait_ms <= 0) return;
  int64_t start = MonotonicNs();
  if (observer_ != nullptr) observer_->OnTimerSleep(true, absl::ZeroDuration());
  absl::SleepFor(absl::Microseconds(static_cast<int64_t>(wait_ms * 1000) + 1));
  absl::Duration slept = absl::Nanoseconds(MonotonicNs() - start);
  slept_ += slept;
  if (observer_ != nullptr) observer_->OnTimerSleep(false, slept);
}

absl::Duration WebHost::TakeSleepTime() {
  absl::Duration slept = slept_;
  slept_ = absl::ZeroDuration();
  return slept;
}

void WebHost::RandomBytes(uint8_t* out, size_t length) {
  if (!options_.pinned) {
    natives::LiveRandomBytes(out, length);
    return;
  }
  // SHA-256(seed || counter), block by block: the same seed gives the same bytes.
  while (length > 0) {
    uint8_t material[16];
    uint64_t seed = static_cast<uint64_t>(options_.seed_time_ms);
    uint64_t counter = random_counter_++;
    std::memcpy(material, &seed, 8);
    std::memcpy(material + 8, &counter, 8);
    uint8_t block[SHA256_DIGEST_LENGTH];
    SHA256(material, sizeof(material), block);
    size_t n = std::min(length, sizeof(block));
    std::memcpy(out, block, n);
    out += n;
    length -= n;
  }
}

v8::MaybeLocal<v8::Object> NativesFor(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::Object> cache;
  if (!ModuleCache(context).ToLocal(&cache)) return {};
  v8::Local<v8::String> key = ToV8String(isolate, "natives");
  v8::Local<v8::Value> existing;
  if (cache->Get(context, key).ToLocal(&existing) && existing->IsObject()) {
    return scope.Escape(existing.As<v8::Object>());
  }
  WebHost* host = WebHost::From(isolate);
  if (host->natives_template_.IsEmpty()) {
    host->natives_template_.Reset(isolate, natives::NewTemplate(isolate));
  }
  v8::Local<v8::Object> object;
  if (!host->natives_template_.Get(isolate)->NewInstance(context).ToLocal(&object) ||
      !cache->Set(context, key, object).FromMaybe(false)) {
    return {};
  }
  return scope.Escape(object);
}

v8::MaybeLocal<v8::Object> LoadWebModule(v8::Local<v8::Context> context, const char* name) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::Object> cache;
  if (!ModuleCache(context).ToLocal(&cache)) return {};
  v8::Local<v8::String> key = ToV8String(isolate, name);
  v8::Local<v8::Value> cached;
  if (!cache->Get(context, key).ToLocal(&cached)) return {};
  if (cached->IsObject()) return scope.Escape(cached.As<v8::Object>());
  const WebModuleSource* module = FindModule(name);
  if (module == nullptr || WebHost::From(isolate) == nullptr) {
    isolate->ThrowException(v8::Exception::Error(
        ToV8String(isolate, absl::StrCat("isopool: no runtime module '", name, "'"))));
    return {};
  }
  v8::Local<v8::String> source;
  if (!v8::String::NewExternalOneByte(isolate, new StaticSource(module->source, module->length))
           .ToLocal(&source)) {
    return {};
  }
  v8::ScriptOrigin origin(isolate, ToV8String(isolate, absl::StrCat("isopool:", name, ".js")));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> factory;
  if (!v8::Script::Compile(context, source, &origin).ToLocal(&script) ||
      !script->Run(context).ToLocal(&factory) || !factory->IsFunction()) {
    return {};
  }
  v8::Local<v8::Object> natives_object;
  if (!NativesFor(isolate, context).ToLocal(&natives_object)) return {};
  v8::Local<v8::Value> load;
  if (!natives_object->Get(context, ToV8String(isolate, "load")).ToLocal(&load)) return {};
  v8::Local<v8::Value> args[] = {natives_object, load};
  v8::Local<v8::Value> exports;
  if (!factory.As<v8::Function>()
           ->Call(context, v8::Undefined(isolate), 2, args)
           .ToLocal(&exports)) {
    return {};
  }
  if (!exports->IsObject()) {
    isolate->ThrowException(v8::Exception::Error(
        ToV8String(isolate, absl::StrCat("isopool: runtime module '", name, "' is broken"))));
    return {};
  }
  if (!cache->Set(context, key, exports).FromMaybe(false)) return {};
  return scope.Escape(exports.As<v8::Object>());
}

std::optional<Timers> Timers::Of(v8::Local<v8::Context> context) {
  v8::Isolate* isolate = context->GetIsolate();
  WebHost* host = WebHost::From(isolate);
  if (host != nullptr && !host->timers_pending()) return std::nullopt;
  v8::Local<v8::Object> cache;
  if (isolate->IsExecutionTerminating() || !ModuleCache(context, false).ToLocal(&cache)) {
    return std::nullopt;
  }
  v8::Local<v8::Value> exports;
  if (!cache->Get(context, ToV8String(isolate, "timers")).ToLocal(&exports) ||
      !exports->IsObject()) {
    return std::nullopt;
  }
  v8::Local<v8::Value> loop;
  if (!exports.As<v8::Object>()->Get(context, ToV8String(isolate, "__loop")).ToLocal(&loop) ||
      !loop->IsObject()) {
    return std::nullopt;
  }
  return Timers(context, loop.As<v8::Object>());
}

namespace {

v8::MaybeLocal<v8::Value> CallLoop(v8::Local<v8::Context> context, v8::Local<v8::Object> loop,
                                   const char* method) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Value> function;
  if (!loop->Get(context, ToV8String(isolate, method)).ToLocal(&function) ||
      !function->IsFunction()) {
    return {};
  }
  return function.As<v8::Function>()->Call(context, loop, 0, nullptr);
}

}  // namespace

std::optional<double> Timers::NextDue() {
  v8::Local<v8::Value> due;
  if (!CallLoop(context_, loop_, "next").ToLocal(&due) || !due->IsNumber()) return std::nullopt;
  double value = due.As<v8::Number>()->Value();
  if (value < 0) return std::nullopt;
  return value;
}

bool Timers::FireNext() {
  v8::Local<v8::Value> ignored;
  return CallLoop(context_, loop_, "fire").ToLocal(&ignored);
}

void Timers::Clear() {
  v8::Isolate* isolate = context_->GetIsolate();
  if (isolate->IsExecutionTerminating()) return;
  if (WebHost* host = WebHost::From(isolate)) host->set_timers_pending(false);
  v8::TryCatch ignore(isolate);
  v8::Local<v8::Value> ignored;
  (void)CallLoop(context_, loop_, "clear").ToLocal(&ignored);
}

bool PumpPlatform(v8::Isolate* isolate) {
  v8::Platform* platform = runtime_platform.load();
  if (platform == nullptr) return false;
  bool any = false;
  while (v8::platform::PumpMessageLoop(platform, isolate,
                                       v8::platform::MessageLoopBehavior::kDoNotWait)) {
    any = true;
  }
  return any;
}

LoopEnd RunEventLoop(v8::Isolate* isolate, v8::Local<v8::Context> context,
                     v8::Local<v8::Promise> pending, double deadline_ms) {
  WebHost* host = WebHost::From(isolate);
  for (;;) {
    if (isolate->IsExecutionTerminating()) return LoopEnd::kTerminated;
    if (PumpPlatform(isolate)) isolate->PerformMicrotaskCheckpoint();
    if (isolate->IsExecutionTerminating()) return LoopEnd::kTerminated;
    if (!pending.IsEmpty() && pending->State() != v8::Promise::kPending) return LoopEnd::kSettled;
    std::optional<Timers> timers = Timers::Of(context);
    std::optional<double> due;
    if (timers) due = timers->NextDue();
    if (isolate->IsExecutionTerminating()) return LoopEnd::kTerminated;
    if (!due) return pending.IsEmpty() ? LoopEnd::kSettled : LoopEnd::kNothingToWait;
    if (*due > deadline_ms) return LoopEnd::kPastDeadline;
    if (host != nullptr) host->SleepUntil(*due);
    if (!timers->FireNext()) return LoopEnd::kTerminated;
    isolate->PerformMicrotaskCheckpoint();
  }
}

}  // namespace isopool::engine::internal
