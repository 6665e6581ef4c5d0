// v8_util.h: small V8 helpers shared by the engine's .cc files. Engine-private: V8 types never
// leave engine/.
//
// All functions must be called with the isolate locked and entered, inside a HandleScope.
#ifndef ISOPOOL_ENGINE_INTERNAL_V8_UTIL_H_
#define ISOPOOL_ENGINE_INTERNAL_V8_UTIL_H_

#include <v8.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/call.h"
#include "engine/pack_options.h"

namespace isopool::engine::internal {

// The name of the hidden global that holds an ES module bundle's exports.
inline constexpr char kExportsGlobal[] = "__isopool_exports";

std::string ToStdString(v8::Isolate* isolate, v8::Local<v8::Value> value);
v8::Local<v8::String> ToV8String(v8::Isolate* isolate, absl::string_view text);

// The caught exception as a ScriptError of `kind` (message, stack, line, column).
ScriptError ErrorFromTryCatch(v8::Isolate* isolate, v8::Local<v8::Context> context,
                              const v8::TryCatch& try_catch, ErrorKind kind);

// "SyntaxError: ... (bundle.js:3:5)\n<stack>" for build errors.
std::string DescribeError(const ScriptError& error);

// Runs `source` as a classic script named `name`. On failure returns the error; a syntax error
// has kind kSyntax.
absl::Status RunScript(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       absl::string_view source, absl::string_view name,
                       v8::Local<v8::Value>* result, ScriptError* error);

// Installs the deterministic prelude (pinned Date, Math.random, performance.now) and returns
// OK; `UnpinDeterminism` puts the live functions back.
absl::Status PinDeterminism(v8::Isolate* isolate, v8::Local<v8::Context> context,
                            int64_t seed_time_ms);
absl::Status UnpinDeterminism(v8::Isolate* isolate, v8::Local<v8::Context> context);

// The export names of an ES module ("default" first), found in a scratch isolate of its own:
// asking for a namespace object in an isolate that will be snapshotted aborts V8 10.2's
// serializer. Call it before any SnapshotCreator exists: an isolate created while one is alive
// corrupts the process-wide shared read-only heap (seen as crashes when contexts are later made
// from the snapshot). Must be called without any isolate entered.
absl::Status ListModuleExports(absl::string_view source, const std::string& name,
                               std::vector<std::string>* exports);

// Loads a bundle into `context`: a classic script runs; an ES module is evaluated (top-level
// await included) and the exports named in `exports` (from ListModuleExports) are stored,
// non-enumerable, in globalThis.__isopool_exports. Errors are InvalidArgument with the JS error
// and its location.
absl::Status LoadBundle(v8::Isolate* isolate, v8::Local<v8::Context> context,
                        absl::string_view source, const PackOptions& options,
                        const std::vector<std::string>& exports);

}  // namespace isopool::engine::internal

#endif  // ISOPOOL_ENGINE_INTERNAL_V8_UTIL_H_
