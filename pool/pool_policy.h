// pool_policy.h: how one snapshot's isolates are pooled, and the limits of the whole manager.
//
// Plain values. A snapshot's PoolPolicy is chosen at upload and comes back with the snapshot
// from the SnapshotSource; the GlobalPolicy is the server's configuration.
#ifndef ISOPOOL_POOL_POOL_POLICY_H_
#define ISOPOOL_POOL_POOL_POLICY_H_

#include <cstddef>

#include "absl/time/time.h"
#include "engine/js_isolate.h"

namespace isopool::pool {

// How much one call can see of the calls before it.
enum class IsolationMode {
  // Every call gets an isolate that never ran a call. Used isolates are disposed in the
  // background and replaced. Strongest isolation, highest cost.
  kFresh,
  // The isolate is reused, but every call gets a new context from the snapshot (made ahead of
  // time, off the request path). Globals do not leak; the heap is shared.
  kContext,
  // Isolate and context are reused: globals persist across calls (workerd-style). Only for
  // code written for it.
  kShared,
};

// "fresh", "context", "shared".
const char* IsolationModeName(IsolationMode mode);

struct PoolPolicy {
  IsolationMode isolation = IsolationMode::kContext;
  // Isolates kept restored and ready, even when idle.
  int min_warm = 1;
  // Most isolates this snapshot may have at once (warm + busy + restoring).
  int max_isolates = 4;
  // Callers allowed to wait when every isolate is busy; more get ResourceExhausted.
  int max_queue = 64;
  // Warm isolates beyond min_warm are released after this long unused.
  absl::Duration idle_release = absl::Seconds(60);
  // Heap limit, ArrayBuffer cap and stack depth of each isolate.
  engine::IsolateOptions isolate;
  // Recycling: an isolate is condemned (disposed, never handed out again) after this many
  // calls, when its heap is above this after a call, or when it is older than this.
  int max_uses = 10000;
  size_t max_heap_after_call_bytes = 48 << 20;
  absl::Duration max_age = absl::Minutes(30);
};

struct GlobalPolicy {
  // Most isolates across all snapshots.
  int max_isolates = 64;
  // Memory all isolates may account for: heap statistics plus per_isolate_overhead_bytes each.
  // Over budget, idle pools are evicted least recently used first; then new isolates are
  // refused with ResourceExhausted.
  size_t memory_budget_bytes = size_t{1} << 30;
  // Memory an isolate costs beyond its V8 heap (measured: see bench/README.md).
  size_t per_isolate_overhead_bytes = 1 << 20;
  // Background restore threads; 0 = number of cores.
  int restore_threads = 0;
  // How often idle maintenance (GC of idle isolates, idle release, max-age checks) runs.
  absl::Duration maintenance_interval = absl::Seconds(1);
  // Time budget of one idle GC step on one isolate; maintenance never blocks an acquire.
  absl::Duration idle_gc_budget = absl::Milliseconds(2);
  // Context mode: make the next spare context on the thread that releases the lease (true), or
  // on a restore thread before the isolate is warm again (false; measured in bench/pool).
  bool prepare_context_inline = false;
};

}  // namespace isopool::pool

#endif  // ISOPOOL_POOL_POOL_POLICY_H_
