// pack.h: bundle -> envelope. Runs the bundle (and the warm-up script) in a V8 SnapshotCreator
// isolate, under build limits, and serialises the result into a validated envelope.
//
//   absl::StatusOr<std::string> envelope = engine::Pack(source, options);
//
// Deterministic packing needs V8's process-wide --random-seed fixed (RuntimeOptions::
// fixed_random_seed), which a serving process must never do; so packing belongs in its own
// process: the `isopool_pack` binary (engine/pack_main.cc), driven by PackInChildProcess
// (pack_process.h). With it, the same source, options, hash seed and V8 build give
// byte-identical envelopes in any process on any day.
//
// ES modules: V8 10.2 aborts when serialising a module namespace object, so exports are
// reached through an entry module that imports each one by name (see internal/v8_util.cc).
//
// Errors: InvalidArgument for a bundle that does not parse, throws, or exceeds build limits
// (the message has the JS error and its location); FailedPrecondition when determinism was asked
// for in a process without fixed seeds.
// Thread-safety: any thread; each call makes its own isolate.
#ifndef ISOPOOL_ENGINE_PACK_H_
#define ISOPOOL_ENGINE_PACK_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/pack_options.h"

namespace isopool::engine {

absl::StatusOr<std::string> Pack(absl::string_view source, const PackOptions& options);

// True when this process's runtime was initialised with fixed seeds, so Pack can honour
// PackOptions::deterministic.
bool CanPackDeterministically();

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_PACK_H_
