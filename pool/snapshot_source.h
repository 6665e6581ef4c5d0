// snapshot_source.h: where the pool gets snapshots from (implemented over store/ by the
// service; by an in-memory map in tests).
//
// Thread-safety: implementations must be thread-safe; the pool calls Load from its restore
// threads, possibly concurrently for different ids.
#ifndef ISOPOOL_POOL_SNAPSHOT_SOURCE_H_
#define ISOPOOL_POOL_SNAPSHOT_SOURCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/snapshot.h"
#include "pool/pool_policy.h"

namespace isopool::pool {

struct LoadedSnapshot {
  std::shared_ptr<const engine::Snapshot> snapshot;
  PoolPolicy policy;
};

class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  // The validated snapshot with id `snapshot_id` and its pool policy. NotFound for an unknown
  // id; DataLoss for a corrupted one (the source quarantines it).
  virtual absl::StatusOr<LoadedSnapshot> Load(const std::string& snapshot_id) = 0;
};

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_SNAPSHOT_SOURCE_H_
