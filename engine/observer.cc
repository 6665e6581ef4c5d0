#include "engine/observer.h"

namespace isopool::engine {

const char* GcTypeName(GcType type) {
  switch (type) {
    case GcType::kScavenge:
      return "scavenge";
    case GcType::kMarkSweepCompact:
      return "mark_sweep_compact";
    case GcType::kIncrementalMarking:
      return "incremental_marking";
    case GcType::kWeakProcessing:
      return "weak_processing";
    case GcType::kOther:
      return "other";
  }
  return "other";
}

EngineObserver& NoopEngineObserver() {
  static EngineObserver* noop = new EngineObserver();
  return *noop;
}

}  // namespace isopool::engine
