// BlobCache: a replica's local, verified cache of envelopes downloaded from the object store.
//
//   BlobCacheOptions options;
//   options.dir = "/var/cache/isopool";              // files <hex>.blob, written atomically
//   options.max_bytes = 2ull << 30;                   // LRU byte budget
//   options.verify = [](const std::string& id, absl::string_view bytes) { ... "" if good };
//   options.is_pinned = [&](const std::string& id) { return catalog.UsedSince(id, recently); };
//   auto cache = BlobCache::Open(std::move(options));
//   bool hit = false;
//   absl::StatusOr<std::string> bytes = (*cache)->Get(id, [&] { return Download(id); }, &hit);
//
// Contract:
//   - Get returns bytes that `verify` accepted at this read: cached files are re-verified every
//     time they are read (a file damaged on local disk is dropped and fetched again), and fetched
//     bytes are verified before they are cached or returned. What `fetch` returns that fails
//     verification is returned as DataLoss and never cached.
//   - Concurrent misses for one id share one fetch (single flight); the others wait for it.
//   - The budget counts file bytes. After an insert, least recently used entries are evicted
//     until the total fits, skipping pinned ones (ids for which is_pinned says true: their
//     pools are alive, so a restore may need the blob again soon). If only pinned entries are
//     left the cache stays over budget rather than drop them.
//   - Files found in `dir` at Open are adopted (in name order as the LRU order) and verified
//     when first read.
//
// Threads: every method may be called from any thread. `fetch`, `verify` and `is_pinned` run
// without the cache's lock held. Ownership: the caller owns the cache; the options' functions
// are copied in.
#ifndef ISOPOOL_STORE_BLOB_CACHE_H_
#define ISOPOOL_STORE_BLOB_CACHE_H_

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"

namespace isopool::store {

struct BlobCacheOptions {
  std::string dir;
  uint64_t max_bytes = uint64_t{1} << 30;
  // "" if `bytes` are the envelope `id` and fit to serve, else why not.
  std::function<std::string(const std::string& id, absl::string_view bytes)> verify;
  // May be empty (nothing pinned).
  std::function<bool(const std::string& id)> is_pinned;
};

struct BlobCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;  // fetches started (shared misses count once)
  uint64_t evictions = 0;
  uint64_t local_corruptions = 0;  // cached files that failed verification and were dropped
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t max_bytes = 0;
};

class BlobCache {
 public:
  using Fetch = std::function<absl::StatusOr<std::string>()>;

  static absl::StatusOr<std::unique_ptr<BlobCache>> Open(BlobCacheOptions options);

  // The verified bytes of `id`: from the cache, or from `fetch` (then cached). `hit` (may be
  // null) says which. Errors are fetch's, or DataLoss when the fetched bytes fail verification.
  absl::StatusOr<std::string> Get(const std::string& id, const Fetch& fetch, bool* hit = nullptr);
  // Drops `id` (deleted or quarantined elsewhere). No-op if absent.
  void Erase(const std::string& id);
  bool Contains(const std::string& id);
  BlobCacheStats Stats();

 private:
  struct Entry {
    uint64_t bytes = 0;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  struct Flight;
  explicit BlobCache(BlobCacheOptions options);
  std::string PathOf(const std::string& id) const;
  // Reads and verifies a cached file; nullopt-like error NotFound when absent or dropped.
  absl::StatusOr<std::string> ReadCached(const std::string& id);
  void Insert(const std::string& id, absl::string_view bytes);
  void EvictOverBudget();

  const BlobCacheOptions options_;
  base::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  base::CondVar landed_;  // with mu_: a flight finished
  BlobCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace isopool::store

#endif  // ISOPOOL_STORE_BLOB_CACHE_H_
