// event_forwarder.h: a worker process's engine and pool observer. It batches what the engine
// and pool report (GC pauses, restores, acquire waits, condemnations, evictions) so the control
// thread can send them to the supervisor, whose Metrics replays them (ReplayStats).
//
// Threads: the observer methods are called from any V8 or pool thread and only append under a
// short lock; TakeStats from the control thread.
#ifndef ISOPOOL_WORKER_EVENT_FORWARDER_H_
#define ISOPOOL_WORKER_EVENT_FORWARDER_H_

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "engine/observer.h"
#include "pool/pool_observer.h"
#include "worker/protocol.pb.h"

namespace isopool::worker {

class EventForwarder : public engine::EngineObserver, public pool::PoolObserver {
 public:
  void OnGcPause(engine::GcType type, absl::Duration pause) override;
  void OnRestore(absl::Duration duration, bool on_request_path) override;
  void OnAcquireWait(absl::Duration wait) override;
  void OnCondemned(engine::CondemnReason reason) override;
  void OnEviction() override;

  // The events since the last call (the pool totals are the caller's to fill).
  wire::Stats TakeStats();

 private:
  base::Mutex mu_;
  wire::Stats pending_ ABSL_GUARDED_BY(mu_);
};

// Supervisor side: replays a worker's events into the supervisor's observers.
void ReplayStats(const wire::Stats& stats, engine::EngineObserver& engine_observer,
                 pool::PoolObserver& pool_observer);

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_EVENT_FORWARDER_H_
