// hash_seed.h: the deployment's V8 hash seed (see engine::RuntimeOptions::hash_seed for why the
// serving and packing processes share one, and why it must be secret).
//
// Where it comes from, first match wins:
//   1. the environment variable ISOPOOL_HASH_SEED (decimal or 0x-hex, non-zero), e.g. from a
//      Kubernetes Secret, so that every replica agrees;
//   2. the file --hash_seed_file (default <data_dir>/hash_seed);
//   3. a new random seed, written to that file (mode 0600) so restarts keep restoring the
//      snapshots packed with it.
//
// Thread-safety: call once at start-up.
#ifndef ISOPOOL_BASE_HASH_SEED_H_
#define ISOPOOL_BASE_HASH_SEED_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace isopool::base {

// The largest seed V8 10.2 accepts (it parses --hash-seed as int64).
inline constexpr uint64_t kMaxHashSeed = 0x7fffffffffffffff;

absl::StatusOr<uint64_t> LoadOrCreateHashSeed(const std::string& seed_file);

// Parses "123" or "0x7b"; InvalidArgument for anything else, zero, or above kMaxHashSeed.
absl::StatusOr<uint64_t> ParseHashSeed(const std::string& text);

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_HASH_SEED_H_
