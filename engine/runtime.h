// runtime.h: the process-wide V8 runtime (platform, ICU, flags), initialised once.
//
// V8 allows exactly one platform per process, and its flags must be fixed before the first
// isolate exists. `InitializeRuntime` does both, once; every other engine API requires it.
//
//   engine::RuntimeOptions options;
//   options.platform_threads = 2;
//   if (auto s = engine::InitializeRuntime(options); !s.ok()) return s;
//
// Thread-safety: `InitializeRuntime` may be called from any thread; the first call wins and
// later calls with the same options are no-ops (different options are an error). The runtime is
// never torn down: V8 cannot be re-initialised in the same process.
#ifndef ISOPOOL_ENGINE_RUNTIME_H_
#define ISOPOOL_ENGINE_RUNTIME_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace isopool::engine {

struct RuntimeOptions {
  // Worker threads of V8's platform (concurrent marking, compilation). 0 = number of cores.
  int platform_threads = 0;
  // Extra V8 flags, e.g. {"--max-lazy"}. Envelopes restore only in a runtime with the same
  // flags (in any order: they are part of the compatibility digest, CompatibilityDigest()).
  std::vector<std::string> v8_flags;
  // V8's hash seed (--hash-seed) for every isolate of the process; 0 leaves it random.
  //
  // Why the serving process fixes it: V8 10.2 shares one read-only heap between all isolates
  // of a process, and that heap holds the hash seed. A snapshot that V8 cannot rehash (ES
  // modules, JS Maps and Sets in the bundle) keeps the hash codes of the process that packed
  // it; restored where the seed differs, its hash tables are garbage and V8 crashes. So the
  // pack process and the serving process use the same seed, and the seed is part of the
  // compatibility digest (hashed), so a mismatch is a clean rejection. The seed must be a
  // per-deployment secret: anyone who knows it can craft hash-flooding keys.
  // At most 2^63 - 1: V8 parses the flag as int64 and silently ignores larger values.
  uint64_t hash_seed = 0;
  // Also fix --random-seed, so packing is byte-for-byte deterministic. Only for the pack
  // process: in a serving process every isolate's first Math.random() would be the same
  // number (README.md, "Determinism and hash seeds").
  bool fixed_random_seed = false;
  // Rehash snapshots at restore. Needless when hash_seed is fixed (restores are then ~2x
  // faster: V8 skips walking every hash table); needed only when it is random.
  bool rehash_snapshot = false;
  // Called on the thread where V8 gives up (a heap it cannot grow, a failed CHECK), just before
  // V8 aborts the process; set on every isolate JsIsolate::Create makes. Worker processes use
  // them to tell the supervisor which call killed them. Must be async-signal-safe in spirit:
  // no locks, no allocation; they may end the process themselves.
  void (*on_oom)(const char* location, bool is_heap_oom) = nullptr;
  void (*on_fatal_error)(const char* location, const char* message) = nullptr;
  // Make, at start-up (~20 ms), the snapshot blank-snapshot isolates restore from: V8's blank
  // context with the web globals and the console in place, so a blank context costs what V8's
  // own does. Only the pack process, which never runs blank calls, turns it off.
  bool blank_snapshot = true;
  // Path of the binary, for ICU's data lookup. Debian's libnode uses system ICU (libicu72),
  // so this is only a hint.
  std::string argv0;
};

// Initialises V8 once for this process. See the file comment.
absl::Status InitializeRuntime(const RuntimeOptions& options);

// True once InitializeRuntime succeeded.
bool RuntimeInitialized();

// The options the runtime was initialised with. Requires an initialised runtime.
const RuntimeOptions& CurrentRuntimeOptions();

// The native functions (C++ callbacks of the web runtime: TextEncoder, crypto, timers, ...) that
// a snapshotted context may reference, null-terminated. Every v8::Isolate::New that restores an
// envelope's blob must pass them as CreateParams::external_references, or V8 aborts. The table
// is versioned and append-only; its version is part of CompatibilityDigest().
const intptr_t* ExternalReferences();

// V8's version string, e.g. "10.2.154.26-node.36".
const char* V8Version();

// A digest (64 hex digits) of everything that must match between pack and restore, exactly:
// the V8 version; pointer compression on or off; sizeof(void*); the ExternalReferences() table
// version (internal::kExternalReferencesVersion); the flags isopool always sets
// (kInternalFlags, runtime.cc); RuntimeOptions::v8_flags, sorted; and the hash seed, as a
// sha256 of it ("random" when hash_seed is 0). Left out: fixed_random_seed (a pack process
// fixes it, a serving one must not), rehash_snapshot, platform_threads and the callbacks.
// Requires an initialised runtime.
const std::string& CompatibilityDigest();

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_RUNTIME_H_
