// pool_stats.h: the pool's counts, as PoolManager::Stats reports them and as they cross the
// worker channel (worker/codec.h) and reach the service's gauges. Plain values, no V8, so the
// CallRunner interface (worker/call_runner.h) can carry them without linking the engine.
#ifndef ISOPOOL_POOL_POOL_STATS_H_
#define ISOPOOL_POOL_POOL_STATS_H_

#include <cstddef>
#include <cstdint>

namespace isopool::pool {

// Totals across all pools, for gauges.
struct PoolStats {
  int pools = 0;
  int warm = 0;
  int busy = 0;
  int restoring = 0;
  int waiting = 0;
  size_t heap_used_bytes = 0;
  size_t heap_limit_bytes = 0;
  // Accounted against the budget: heap totals plus per-isolate overhead.
  size_t memory_used_bytes = 0;
  size_t memory_budget_bytes = 0;
};

// One pool's view, for tests and GetSnapshot-style introspection.
struct SnapshotPoolStats {
  int warm = 0;
  int busy = 0;
  int restoring = 0;
  int waiting = 0;
  uint64_t restores = 0;
  uint64_t condemned = 0;
};

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_POOL_STATS_H_
