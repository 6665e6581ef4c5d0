// Helpers shared by the store tests: fresh data directories under TEST_TMPDIR, deterministic
// envelopes that can be checked for wholeness, and a recording observer.

#ifndef ISOPOOL_TESTS_STORE_TEST_UTIL_H_
#define ISOPOOL_TESTS_STORE_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"
#include "store/snapshot_store.h"

namespace isopool::store::testing {

// A new, empty directory path under $TEST_TMPDIR (not yet created; Open creates it).
std::string FreshDataDir(absl::string_view label);

// "ENV1 seed=<seed> size=<n>\n" followed by pseudo-random bytes derived from seed, n bytes in
// total (at least the header). Same seed and size -> same bytes.
std::string MakeEnvelope(uint64_t seed, size_t size);

// Validator accepting exactly the outputs of MakeEnvelope (regenerates and compares).
absl::Status CheckEnvelope(absl::string_view envelope);

// Parses the seed out of a MakeEnvelope header; -1 if malformed.
int64_t EnvelopeSeed(absl::string_view envelope);

SnapshotMetadata MakeMetadata(uint64_t seed);

// Files (not directories) directly inside `dir`, sorted.
std::vector<std::string> FilesIn(const std::string& dir);

// Flips one byte of the file at `path` at `offset`.
void FlipByte(const std::string& path, size_t offset);

class RecordingObserver : public SnapshotStoreObserver {
 public:
  void OnQuarantine(absl::string_view id, absl::string_view reason) override {
    base::MutexLock lock(&mu_);
    events_.emplace_back(std::string(id), std::string(reason));
  }
  std::vector<std::pair<std::string, std::string>> events() {
    base::MutexLock lock(&mu_);
    return events_;
  }

 private:
  base::Mutex mu_;
  std::vector<std::pair<std::string, std::string>> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace isopool::store::testing

#endif  // ISOPOOL_TESTS_STORE_TEST_UTIL_H_
