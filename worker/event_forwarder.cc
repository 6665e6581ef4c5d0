#include "worker/event_forwarder.h"

#include <algorithm>

namespace isopool::worker {
namespace {

// Bounds one batch, should the control thread fall behind (events beyond it are dropped).
constexpr int kMaxEventsPerBatch = 100000;

}  // namespace

void EventForwarder::OnGcPause(engine::GcType type, absl::Duration pause) {
  base::MutexLock lock(&mu_);
  if (pending_.gc_type_size() >= kMaxEventsPerBatch) return;
  pending_.add_gc_type(static_cast<int32_t>(type));
  pending_.add_gc_pause_us(absl::ToInt64Microseconds(pause));
}

void EventForwarder::OnRestore(absl::Duration duration, bool on_request_path) {
  base::MutexLock lock(&mu_);
  if (pending_.restore_us_size() >= kMaxEventsPerBatch) return;
  pending_.add_restore_us(absl::ToInt64Microseconds(duration));
  pending_.add_restore_on_path(on_request_path);
}

void EventForwarder::OnAcquireWait(absl::Duration wait) {
  base::MutexLock lock(&mu_);
  if (pending_.acquire_wait_us_size() >= kMaxEventsPerBatch) return;
  pending_.add_acquire_wait_us(absl::ToInt64Microseconds(wait));
}

void EventForwarder::OnCondemned(engine::CondemnReason reason) {
  base::MutexLock lock(&mu_);
  if (pending_.condemned_size() >= kMaxEventsPerBatch) return;
  pending_.add_condemned(static_cast<int32_t>(reason));
}

void EventForwarder::OnEviction() {
  base::MutexLock lock(&mu_);
  pending_.set_evictions(pending_.evictions() + 1);
}

wire::Stats EventForwarder::TakeStats() {
  base::MutexLock lock(&mu_);
  wire::Stats taken;
  taken.Swap(&pending_);
  return taken;
}

void ReplayStats(const wire::Stats& stats, engine::EngineObserver& engine_observer,
                 pool::PoolObserver& pool_observer) {
  int gcs = std::min(stats.gc_type_size(), stats.gc_pause_us_size());
  for (int i = 0; i < gcs; ++i) {
    int32_t type = stats.gc_type(i);
    if (type < 0 || type > static_cast<int32_t>(engine::GcType::kOther)) type = 4;
    engine_observer.OnGcPause(static_cast<engine::GcType>(type),
                              absl::Microseconds(stats.gc_pause_us(i)));
  }
  int restores = std::min(stats.restore_us_size(), stats.restore_on_path_size());
  for (int i = 0; i < restores; ++i) {
    pool_observer.OnRestore(absl::Microseconds(stats.restore_us(i)), stats.restore_on_path(i));
  }
  for (int64_t wait : stats.acquire_wait_us()) {
    pool_observer.OnAcquireWait(absl::Microseconds(wait));
  }
  for (int32_t reason : stats.condemned()) {
    if (reason < 0 || reason > static_cast<int32_t>(engine::CondemnReason::kError)) continue;
    pool_observer.OnCondemned(static_cast<engine::CondemnReason>(reason));
  }
  for (uint64_t i = 0; i < std::min<uint64_t>(stats.evictions(), kMaxEventsPerBatch); ++i) {
    pool_observer.OnEviction();
  }
}

}  // namespace isopool::worker
