// pack_process.h: runs engine::Pack in a child process (the `isopool_pack` binary).
//
// Why a child: deterministic packing needs V8's process-wide fixed seeds, which would make every
// tenant's Math.random() predictable in the serving process; and a bundle that crashes V8 or
// runs away while packing must not take the server down. The child gets CPU-time and core-size
// rlimits, a V8 heap cap, none of the server's environment but LD_LIBRARY_PATH and *SAN_OPTIONS
// (base/child_environment.h) and, once V8 is up, a seccomp filter
// (base/lockdown.h: no open, socket, execve, ...). It is killed when it runs past the build
// timeout or writes back more than `max_output_bytes`.
//
// The protocol (stdin -> stdout) is private to this file and pack_main.cc.
// Thread-safety: any thread, concurrently (each call spawns its own child).
#ifndef ISOPOOL_ENGINE_PACK_PROCESS_H_
#define ISOPOOL_ENGINE_PACK_PROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/pack_options.h"

namespace isopool::engine {

struct PackProcessOptions {
  // Path of the isopool_pack binary.
  std::string binary;
  // The serving runtime's V8 flags and hash seed, so the envelope's compatibility digest
  // matches (RuntimeOptions). The seed travels on the child's stdin, never on its command line.
  std::vector<std::string> v8_flags;
  uint64_t hash_seed = 0;
  // The most the child may write on stdout (the envelope); beyond it the child is killed and the
  // build fails with ResourceExhausted. Its stderr (the error) is cut at 64 KiB.
  size_t max_output_bytes = size_t{1} << 30;
};

// Packs `source` in a child process. Errors as engine::Pack, plus ResourceExhausted when the
// child ran out of time or memory, and Internal when it crashed.
absl::StatusOr<std::string> PackInChildProcess(const PackProcessOptions& process,
                                               absl::string_view source,
                                               const PackOptions& options);

// The protocol, for pack_main.cc.
std::string EncodePackRequest(absl::string_view source, const PackOptions& options,
                              uint64_t hash_seed);
absl::Status DecodePackRequest(absl::string_view bytes, std::string* source, PackOptions* options,
                               uint64_t* hash_seed);
// Exit codes of isopool_pack.
inline constexpr int kPackExitOk = 0;
inline constexpr int kPackExitInvalidBundle = 3;
inline constexpr int kPackExitFailed = 4;

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_PACK_PROCESS_H_
