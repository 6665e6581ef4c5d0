// Helpers for engine tests: packing through the real isopool_pack child process, and running
// one call in a fresh isolate.
#ifndef ISOPOOL_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define ISOPOOL_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/js_isolate.h"
#include "engine/pack_process.h"
#include "engine/snapshot.h"
#include "engine/watchdog.h"

namespace isopool::engine::testing {

// The hash seed of every engine test process and of the pack children it starts (see
// RuntimeOptions::hash_seed: they must agree).
inline constexpr uint64_t kTestHashSeed = 0x15090015eed;

// The isopool_pack binary from the test's runfiles.
inline std::string PackBinary() {
  const char* dir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(dir ? dir : ".") + "/" + (workspace ? workspace : "isopool") +
         "/engine/isopool_pack";
}

inline absl::StatusOr<std::string> PackInChild(const std::string& source,
                                               const PackOptions& options = {},
                                               uint64_t hash_seed = kTestHashSeed) {
  PackProcessOptions process;
  process.binary = PackBinary();
  process.hash_seed = hash_seed;
  return PackInChildProcess(process, source, options);
}

inline absl::StatusOr<std::shared_ptr<const Snapshot>> PackAndLoad(
    const std::string& source, const PackOptions& options = {}) {
  absl::StatusOr<std::string> envelope = PackInChild(source, options);
  if (!envelope.ok()) return envelope.status();
  return Snapshot::FromEnvelope(*envelope);
}

inline Watchdog& TestWatchdog() {
  static Watchdog* watchdog = new Watchdog();
  return *watchdog;
}

inline std::unique_ptr<JsIsolate> NewIsolate(std::shared_ptr<const Snapshot> snapshot,
                                             IsolateOptions options = {}) {
  auto isolate = JsIsolate::Create(std::move(snapshot), options, TestWatchdog());
  return isolate.ok() ? *std::move(isolate) : nullptr;
}

inline CallLimits QuickLimits() {
  CallLimits limits;
  limits.wall = absl::Milliseconds(500);
  limits.cpu = absl::Milliseconds(500);
  return limits;
}

// Runs inline source in a fresh blank isolate.
inline CallResult RunSource(const std::string& source, CallLimits limits = QuickLimits(),
                            IsolateOptions options = {}) {
  auto isolate = NewIsolate(Snapshot::Blank(), options);
  CallRequest request;
  request.source = source;
  return isolate->Run(request, limits, JsIsolate::ContextUse::kFresh);
}

}  // namespace isopool::engine::testing

#endif  // ISOPOOL_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
