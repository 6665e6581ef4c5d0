#include "engine/internal/v8_util.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "engine/internal/web.h"

namespace isopool::engine::internal {
namespace {

// Pins time and randomness while a bundle is packed; `__isopool_unpin` restores them. Only the
// values computed while packing are pinned: the snapshot holds the live built-ins again.
// performance.now and crypto.getRandomValues are pinned natively (internal::WebHost).
constexpr char kPinPrelude[] = R"JS(
(() => {
  'use strict';
  const seed = $SEED;
  const LiveDate = Date, liveRandom = Math.random;
  let clock = seed;
  const now = () => clock++;
  function PinnedDate(...args) {
    if (!new.target) return new LiveDate(now()).toString();
    return args.length === 0 ? new LiveDate(now()) : new LiveDate(...args);
  }
  Object.setPrototypeOf(PinnedDate, LiveDate);
  PinnedDate.prototype = LiveDate.prototype;
  PinnedDate.now = now;
  globalThis.Date = PinnedDate;
  let state = seed >>> 0;
  Math.random = function random() {  // Mulberry32
    state = (state + 0x6D2B79F5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  Object.defineProperty(globalThis, '__isopool_unpin', {
    configurable: true,
    value() {
      globalThis.Date = LiveDate;
      Math.random = liveRandom;
      delete globalThis.__isopool_unpin;
    },
  });
})();
)JS";

thread_local v8::Global<v8::Module>* resolving_bundle = nullptr;

v8::MaybeLocal<v8::Module> ResolveBundle(v8::Local<v8::Context> context,
                                         v8::Local<v8::String> specifier,
                                         v8::Local<v8::FixedArray> /*assertions*/,
                                         v8::Local<v8::Module> /*referrer*/) {
  v8::Isolate* isolate = context->GetIsolate();
  if (resolving_bundle != nullptr && ToStdString(isolate, specifier) == "isopool:bundle") {
    return resolving_bundle->Get(isolate);
  }
  isolate->ThrowException(v8::Exception::Error(ToV8String(
      isolate, absl::StrCat("cannot import '", ToStdString(isolate, specifier),
                            "': a bundle must be self-contained (bundle its imports)"))));
  return {};
}

v8::ScriptOrigin ModuleOrigin(v8::Isolate* isolate, absl::string_view name) {
  return v8::ScriptOrigin(isolate, ToV8String(isolate, name), 0, 0, false, -1,
                          v8::Local<v8::Value>(), false, false, /*is_module=*/true);
}

bool IsIdentifier(const std::string& name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '$') return false;
  }
  return true;
}

absl::Status BuildError(const ScriptError& error) {
  return absl::InvalidArgumentError(DescribeError(error));
}

}  // namespace

absl::Status ListModuleExports(absl::string_view source, const std::string& name,
                               std::vector<std::string>* exports) {
  exports->clear();
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(
      v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  absl::Status status;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::ScriptCompiler::Source module_source(ToV8String(isolate, source),
                                             ModuleOrigin(isolate, name));
    v8::Local<v8::Module> module;
    if (!v8::ScriptCompiler::CompileModule(isolate, &module_source).ToLocal(&module)) {
      status = BuildError(ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kSyntax));
    } else if (!module->InstantiateModule(context, ResolveBundle).FromMaybe(false)) {
      status = BuildError(ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kException));
    } else {
      v8::Local<v8::Object> ns = module->GetModuleNamespace().As<v8::Object>();
      // All own keys, without reading values: before evaluation they are in their TDZ.
      v8::Local<v8::Array> names = v8::Array::New(isolate);
      if (!ns->GetPropertyNames(context, v8::KeyCollectionMode::kOwnOnly,
                                v8::PropertyFilter::SKIP_SYMBOLS, v8::IndexFilter::kIncludeIndices,
                                v8::KeyConversionMode::kConvertToString)
               .ToLocal(&names)) {
        status = BuildError(ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kException));
      }
      for (uint32_t i = 0; status.ok() && i < names->Length(); ++i) {
        std::string export_name = ToStdString(isolate, names->Get(context, i).ToLocalChecked());
        if (export_name == "default") {
          exports->insert(exports->begin(), export_name);
        } else if (IsIdentifier(export_name)) {
          exports->push_back(export_name);
        }
      }
    }
  }
  isolate->Dispose();
  return status;
}

std::string ToStdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  if (value.IsEmpty()) return "";
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 == nullptr ? "" : std::string(*utf8, utf8.length());
}

v8::Local<v8::String> ToV8String(v8::Isolate* isolate, absl::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

ScriptError ErrorFromTryCatch(v8::Isolate* isolate, v8::Local<v8::Context> context,
                              const v8::TryCatch& try_catch, ErrorKind kind) {
  ScriptError error;
  error.kind = kind;
  v8::Local<v8::Value> exception = try_catch.Exception();
  if (!exception.IsEmpty()) {
    v8::TryCatch nested(isolate);  // toString may throw
    error.message = ToStdString(isolate, exception);
  }
  v8::Local<v8::Message> message = try_catch.Message();
  if (!message.IsEmpty()) {
    error.line = message->GetLineNumber(context).FromMaybe(0);
    error.column = message->GetStartColumn(context).FromMaybe(-1) + 1;
    if (error.message.empty()) error.message = ToStdString(isolate, message->Get());
  }
  v8::Local<v8::Value> stack;
  if (try_catch.StackTrace(context).ToLocal(&stack) && stack->IsString()) {
    error.stack = ToStdString(isolate, stack);
  } else if (!message.IsEmpty()) {
    error.stack = absl::StrCat("    at ", ToStdString(isolate, message->GetScriptResourceName()),
                               ":", error.line, ":", error.column);
  }
  return error;
}

std::string DescribeError(const ScriptError& error) {
  std::string text = error.message;
  if (error.line > 0) absl::StrAppend(&text, " (line ", error.line, ", column ", error.column, ")");
  if (!error.stack.empty() && error.stack != error.message) {
    absl::StrAppend(&text, "\n", error.stack);
  }
  return text;
}

absl::Status RunScript(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       absl::string_view source, absl::string_view name,
                       v8::Local<v8::Value>* result, ScriptError* error) {
  v8::TryCatch try_catch(isolate);
  v8::ScriptOrigin origin(isolate, ToV8String(isolate, name));
  v8::Local<v8::Script> script;
  if (!v8::Script::Compile(context, ToV8String(isolate, source), &origin).ToLocal(&script)) {
    *error = ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kSyntax);
    return absl::InvalidArgumentError(error->message);
  }
  if (!script->Run(context).ToLocal(result)) {
    *error = ErrorFromTryCatch(
        isolate, context, try_catch,
        try_catch.HasTerminated() ? ErrorKind::kTerminated : ErrorKind::kException);
    return absl::InvalidArgumentError(error->message);
  }
  return absl::OkStatus();
}

absl::Status PinDeterminism(v8::Isolate* isolate, v8::Local<v8::Context> context,
                            int64_t seed_time_ms) {
  std::string prelude = absl::StrReplaceAll(kPinPrelude, {{"$SEED", absl::StrCat(seed_time_ms)}});
  v8::Local<v8::Value> ignored;
  ScriptError error;
  if (!RunScript(isolate, context, prelude, "isopool:prelude", &ignored, &error).ok()) {
    return absl::InternalError(absl::StrCat("deterministic prelude failed: ", error.message));
  }
  return absl::OkStatus();
}

absl::Status UnpinDeterminism(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  v8::Local<v8::Value> ignored;
  ScriptError error;
  if (!RunScript(isolate, context, "globalThis.__isopool_unpin?.()", "isopool:unpin", &ignored,
                 &error)
           .ok()) {
    return absl::InternalError(
        absl::StrCat("removing the deterministic prelude failed: ", error.message));
  }
  return absl::OkStatus();
}

absl::Status LoadBundle(v8::Isolate* isolate, v8::Local<v8::Context> context,
                        absl::string_view source, const PackOptions& options,
                        const std::vector<std::string>& exports) {
  if (options.kind == BundleKind::kClassicScript) {
    v8::Local<v8::Value> ignored;
    ScriptError error;
    if (!RunScript(isolate, context, source, options.bundle_name, &ignored, &error).ok()) {
      return BuildError(error);
    }
    return absl::OkStatus();
  }

  // The entry module imports every export by name (never `import *`, which would make a
  // namespace object) and copies them into a frozen, hidden global.
  std::string entry;
  std::vector<std::string> fields;
  for (size_t i = 0; i < exports.size(); ++i) {
    const std::string& name = exports[i];
    std::string local = absl::StrCat("__e", i);
    if (name == "default") {
      absl::StrAppend(&entry, "import ", local, " from 'isopool:bundle';\n");
    } else {
      absl::StrAppend(&entry, "import { ", name, " as ", local, " } from 'isopool:bundle';\n");
    }
    fields.push_back(absl::StrCat(name, ": ", local));
  }
  absl::StrAppend(&entry, "Object.defineProperty(globalThis, '", kExportsGlobal,
                  "', { value: Object.freeze({ __proto__: null, ", absl::StrJoin(fields, ", "),
                  " }) });\n");

  v8::TryCatch try_catch(isolate);
  v8::ScriptCompiler::Source bundle_source(ToV8String(isolate, source),
                                           ModuleOrigin(isolate, options.bundle_name));
  v8::Local<v8::Module> bundle;
  if (!v8::ScriptCompiler::CompileModule(isolate, &bundle_source).ToLocal(&bundle)) {
    return BuildError(ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kSyntax));
  }
  v8::ScriptCompiler::Source entry_source(ToV8String(isolate, entry),
                                          ModuleOrigin(isolate, "isopool:entry"));
  v8::Local<v8::Module> entry_module =
      v8::ScriptCompiler::CompileModule(isolate, &entry_source).ToLocalChecked();
  v8::Global<v8::Module> bundle_global(isolate, bundle);
  resolving_bundle = &bundle_global;
  bool instantiated = entry_module->InstantiateModule(context, ResolveBundle).FromMaybe(false);
  resolving_bundle = nullptr;
  if (!instantiated) {
    return BuildError(ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kException));
  }
  v8::Local<v8::Value> evaluated;
  if (!entry_module->Evaluate(context).ToLocal(&evaluated)) {
    return BuildError(ErrorFromTryCatch(isolate, context, try_catch, ErrorKind::kException));
  }
  // Top-level await: the evaluation promise settles once microtasks ran, or timers fired.
  isolate->PerformMicrotaskCheckpoint();
  if (try_catch.HasTerminated()) return absl::InvalidArgumentError("bundle terminated");
  WebHost* web = WebHost::From(isolate);
  if (web != nullptr && evaluated->IsPromise() &&
      evaluated.As<v8::Promise>()->State() == v8::Promise::kPending) {
    double deadline = web->PeekNow() + static_cast<double>(options.build_timeout_ms);
    if (RunEventLoop(isolate, context, evaluated.As<v8::Promise>(), deadline) ==
        LoopEnd::kTerminated) {
      return absl::InvalidArgumentError("bundle terminated");
    }
  }
  if (evaluated->IsPromise()) {
    v8::Local<v8::Promise> promise = evaluated.As<v8::Promise>();
    if (promise->State() == v8::Promise::kRejected) {
      ScriptError error;
      error.message = ToStdString(isolate, promise->Result());
      v8::Local<v8::Message> message = v8::Exception::CreateMessage(isolate, promise->Result());
      error.line = message->GetLineNumber(context).FromMaybe(0);
      error.column = message->GetStartColumn(context).FromMaybe(-1) + 1;
      return BuildError(error);
    }
    if (promise->State() == v8::Promise::kPending) {
      return absl::InvalidArgumentError("the module's top-level await never settles");
    }
  }
  return absl::OkStatus();
}

}  // namespace isopool::engine::internal
