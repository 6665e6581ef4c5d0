#include "engine/runtime.h"

#include <libplatform/libplatform.h>
#include <sys/random.h>
#include <v8.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/mutex.h"
#include "base/sha256.h"
#include "engine/internal/web.h"

namespace isopool::engine {
namespace {

// V8's entropy source: getrandom(2), which needs no file descriptor.
bool FillWithRandomBytes(unsigned char* buffer, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = getrandom(buffer + done, length - done, 0);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The pack process's --random-seed; any fixed value works, but it must never change, or
// envelopes built by different versions of isopool would differ.
constexpr char kPackRandomSeedFlag[] = "--random-seed=1515152";

// Flags isopool always sets (part of the compatibility digest).
// --no-wasm-async-compilation: WebAssembly.compile/instantiate compile on the calling thread, so
// the work counts against the call's CPU limit and its promise settles in the call's own event
// loop instead of waiting on background threads nobody accounts for.
constexpr char kInternalFlags[] = "--no-wasm-async-compilation";

struct Runtime {
  base::Mutex mu;
  bool initialized ABSL_GUARDED_BY(mu) = false;
  RuntimeOptions options ABSL_GUARDED_BY(mu);
  std::unique_ptr<v8::Platform> platform;
  std::string compat_digest;
};

Runtime& GetRuntime() {
  static Runtime* runtime = new Runtime();  // never destroyed: V8 outlives static teardown
  return *runtime;
}

std::string DigestOf(const RuntimeOptions& options) {
  std::vector<std::string> flags = options.v8_flags;
  std::sort(flags.begin(), flags.end());
  std::string material =
      absl::StrCat("v8=", v8::V8::GetVersion(), "\n",
#ifdef V8_COMPRESS_POINTERS
                   "pointer_compression=1\n",
#else
                   "pointer_compression=0\n",
#endif
                   "sizeof_pointer=", sizeof(void*), "\n", "external_references=v",
                   internal::kExternalReferencesVersion, "\n", "internal_flags=", kInternalFlags,
                   "\n", "flags=", absl::StrJoin(flags, " "), "\n");
  // The seed itself stays secret: only a hash of it is part of the (public) digest.
  absl::StrAppend(&material, "hash_seed=",
                  options.hash_seed == 0
                      ? std::string("random")
                      : base::Sha256Hex(absl::StrCat("isopool-hash-seed:", options.hash_seed)),
                  "\n");
  return base::Sha256Hex(material);
}

bool SameOptions(const RuntimeOptions& a, const RuntimeOptions& b) {
  return a.platform_threads == b.platform_threads && a.v8_flags == b.v8_flags &&
         a.hash_seed == b.hash_seed && a.fixed_random_seed == b.fixed_random_seed &&
         a.rehash_snapshot == b.rehash_snapshot && a.blank_snapshot == b.blank_snapshot;
}

}  // namespace

absl::Status InitializeRuntime(const RuntimeOptions& options) {
  Runtime& runtime = GetRuntime();
  base::MutexLock lock(&runtime.mu);
  if (runtime.initialized) {
    if (SameOptions(runtime.options, options)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "V8 runtime already initialised with different options; V8 allows one configuration "
        "per process");
  }
  // V8 parses --hash-seed as int64 and silently ignores anything larger.
  if (options.hash_seed > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError("hash_seed must be at most 2^63 - 1");
  }
  for (const std::string& flag : options.v8_flags) {
    if (flag.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("V8 flag must start with --: ", flag));
    }
    v8::V8::SetFlagsFromString(flag.c_str(), flag.size());
  }
  if (options.hash_seed != 0) {
    std::string flag = absl::StrCat("--hash-seed=", options.hash_seed);
    v8::V8::SetFlagsFromString(flag.c_str(), flag.size());
  }
  if (options.fixed_random_seed) v8::V8::SetFlagsFromString(kPackRandomSeedFlag);
  if (!options.rehash_snapshot) v8::V8::SetFlagsFromString("--no-rehash-snapshot");
  v8::V8::SetFlagsFromString(kInternalFlags);
  // Our own watchdog and NearHeapLimitCallback enforce limits; V8 must not print to stdout.
  // Isolates seed Math.random from here rather than by opening /dev/urandom, which a locked-down
  // worker cannot do (V8 would fall back to a seed from timing data).
  v8::V8::SetEntropySource(&FillWithRandomBytes);
  v8::V8::InitializeICUDefaultLocation(options.argv0.empty() ? nullptr : options.argv0.c_str());
  int threads = options.platform_threads > 0
                    ? options.platform_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  runtime.platform = v8::platform::NewDefaultPlatform(threads);
  v8::V8::InitializePlatform(runtime.platform.get());
  internal::SetRuntimePlatform(runtime.platform.get());
  if (!v8::V8::Initialize()) return absl::InternalError("v8::V8::Initialize failed");
  // OpenSSL and ICU state for the web runtime, before any sandbox (see internal/web.h).
  if (absl::Status s = internal::InitializeWebRuntime(); !s.ok()) return s;
  if (options.blank_snapshot) {
    if (absl::Status s = internal::MakeBlankBlob(); !s.ok()) return s;
  }
  runtime.compat_digest = DigestOf(options);
  runtime.options = options;
  runtime.initialized = true;
  return absl::OkStatus();
}

bool RuntimeInitialized() {
  Runtime& runtime = GetRuntime();
  base::MutexLock lock(&runtime.mu);
  return runtime.initialized;
}

const RuntimeOptions& CurrentRuntimeOptions() {
  Runtime& runtime = GetRuntime();
  base::MutexLock lock(&runtime.mu);
  return runtime.options;
}

const char* V8Version() { return v8::V8::GetVersion(); }

const intptr_t* ExternalReferences() { return internal::ExternalReferences(); }

const std::string& CompatibilityDigest() { return GetRuntime().compat_digest; }

}  // namespace isopool::engine
