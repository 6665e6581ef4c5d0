// observer.h: how the engine reports what it sees (GC pauses), without knowing who listens.
//
// The default does nothing; the service implements it for Prometheus. Callbacks run on the
// thread running the isolate (GC callbacks run inside JavaScript), so implementations must be
// thread-safe and fast: no locks held for long, no V8 calls.
#ifndef ISOPOOL_ENGINE_OBSERVER_H_
#define ISOPOOL_ENGINE_OBSERVER_H_

#include "absl/time/time.h"

namespace isopool::engine {

enum class GcType { kScavenge, kMarkSweepCompact, kIncrementalMarking, kWeakProcessing, kOther };

// "scavenge", "mark_sweep_compact", ... (also the service's metric label values).
const char* GcTypeName(GcType type);

class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  // One garbage-collection pause of an isolate.
  virtual void OnGcPause(GcType /*type*/, absl::Duration /*pause*/) {}
  // A call starts (true) or stops (false) sleeping until its next timer is due (setTimeout): it
  // holds its execute thread while using no CPU. `slept` is the time asleep (on false).
  virtual void OnTimerSleep(bool /*sleeping*/, absl::Duration /*slept*/) {}
};

// An observer that ignores everything; the default.
EngineObserver& NoopEngineObserver();

}  // namespace isopool::engine

#endif  // ISOPOOL_ENGINE_OBSERVER_H_
