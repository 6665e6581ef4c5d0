#include "store/blob_cache.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "store/atomic_file.h"

namespace isopool::store {
namespace {

constexpr absl::string_view kIdPrefix = "sha256:";
constexpr absl::string_view kSuffix = ".blob";

}  // namespace

// One download in progress; its fields are guarded by the cache's mu_.
struct BlobCache::Flight {
  bool done = false;
  absl::StatusOr<std::string> result = absl::UnknownError("in flight");
};

BlobCache::BlobCache(BlobCacheOptions options) : options_(std::move(options)) {
  stats_.max_bytes = options_.max_bytes;
}

absl::StatusOr<std::unique_ptr<BlobCache>> BlobCache::Open(BlobCacheOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("blob cache: empty dir");
  if (absl::Status s = MakeDirs(options.dir); !s.ok()) return s;
  std::unique_ptr<BlobCache> cache(new BlobCache(std::move(options)));
  absl::StatusOr<std::vector<std::string>> names = ListDir(cache->options_.dir);
  if (!names.ok()) return names.status();
  std::sort(names->begin(), names->end());
  base::MutexLock lock(&cache->mu_);
  for (const std::string& name : *names) {
    std::string path = absl::StrCat(cache->options_.dir, "/", name);
    if (IsTempFileName(name) || !absl::EndsWith(name, kSuffix) ||
        name.size() != 64 + kSuffix.size()) {
      RemoveFile(path).IgnoreError();  // debris of an interrupted write, or not ours
      continue;
    }
    absl::StatusOr<uint64_t> size = FileSize(path);
    if (!size.ok()) continue;
    std::string id = absl::StrCat(kIdPrefix, name.substr(0, 64));
    cache->lru_.push_front(id);
    cache->entries_[id] = Entry{*size, cache->lru_.begin()};
    cache->stats_.bytes += *size;
  }
  cache->stats_.entries = cache->entries_.size();
  return cache;
}

std::string BlobCache::PathOf(const std::string& id) const {
  return absl::StrCat(options_.dir, "/", absl::string_view(id).substr(kIdPrefix.size()), kSuffix);
}

absl::StatusOr<std::string> BlobCache::ReadCached(const std::string& id) {
  {
    base::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return absl::NotFoundError("not cached");
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  absl::StatusOr<std::string> bytes = ReadFileToString(PathOf(id));
  std::string problem;
  if (bytes.ok()) {
    problem = options_.verify ? options_.verify(id, *bytes) : "";
    if (problem.empty()) return bytes;
  }
  // Missing or damaged on local disk: forget it; the caller fetches it again.
  Erase(id);
  if (!problem.empty()) {
    base::MutexLock lock(&mu_);
    ++stats_.local_corruptions;
  }
  return absl::NotFoundError("not cached");
}

absl::StatusOr<std::string> BlobCache::Get(const std::string& id, const Fetch& fetch, bool* hit) {
  if (hit != nullptr) *hit = false;
  absl::StatusOr<std::string> cached = ReadCached(id);
  if (cached.ok()) {
    if (hit != nullptr) *hit = true;
    base::MutexLock lock(&mu_);
    ++stats_.hits;
    return cached;
  }
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    base::MutexLock lock(&mu_);
    auto it = flights_.find(id);
    if (it != flights_.end()) {
      flight = it->second;
    } else {
      flight = std::make_shared<Flight>();
      flights_[id] = flight;
      leader = true;
      ++stats_.misses;
    }
  }
  if (!leader) {
    base::MutexLock lock(&mu_);
    while (!flight->done) landed_.Wait(&mu_);
    return flight->result;
  }
  absl::StatusOr<std::string> fetched = fetch();
  if (fetched.ok() && options_.verify) {
    std::string problem = options_.verify(id, *fetched);
    if (!problem.empty()) {
      fetched = absl::DataLossError(absl::StrCat("snapshot ", id, ": ", problem));
    }
  }
  if (fetched.ok()) Insert(id, *fetched);
  {
    base::MutexLock lock(&mu_);
    flight->result = fetched;
    flight->done = true;
    flights_.erase(id);
    landed_.SignalAll();
  }
  return fetched;
}

void BlobCache::Insert(const std::string& id, absl::string_view bytes) {
  absl::StatusOr<std::string> temp = WriteTempFile(options_.dir, bytes);
  if (!temp.ok()) return;  // A cache that cannot write still serves what it fetched.
  if (::rename(temp->c_str(), PathOf(id).c_str()) != 0) {
    RemoveFile(*temp).IgnoreError();
    return;
  }
  {
    base::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      stats_.bytes -= it->second.bytes;
      lru_.erase(it->second.lru);
    }
    lru_.push_front(id);
    entries_[id] = Entry{bytes.size(), lru_.begin()};
    stats_.bytes += bytes.size();
    stats_.entries = entries_.size();
  }
  EvictOverBudget();
}

void BlobCache::EvictOverBudget() {
  // Candidates from the cold end, copied out so is_pinned runs without the lock.
  std::vector<std::string> candidates;
  {
    base::MutexLock lock(&mu_);
    if (stats_.bytes <= options_.max_bytes) return;
    candidates.assign(lru_.rbegin(), lru_.rend());
  }
  for (const std::string& id : candidates) {
    if (options_.is_pinned && options_.is_pinned(id)) continue;
    {
      base::MutexLock lock(&mu_);
      if (stats_.bytes <= options_.max_bytes) return;
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      stats_.bytes -= it->second.bytes;
      lru_.erase(it->second.lru);
      entries_.erase(it);
      stats_.entries = entries_.size();
      ++stats_.evictions;
    }
    RemoveFile(PathOf(id)).IgnoreError();
  }
}

void BlobCache::Erase(const std::string& id) {
  {
    base::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    stats_.bytes -= it->second.bytes;
    lru_.erase(it->second.lru);
    entries_.erase(it);
    stats_.entries = entries_.size();
  }
  RemoveFile(PathOf(id)).IgnoreError();
}

bool BlobCache::Contains(const std::string& id) {
  base::MutexLock lock(&mu_);
  return entries_.contains(id);
}

BlobCacheStats BlobCache::Stats() {
  base::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace isopool::store
