// store_metrics.h: Prometheus families for the shared snapshot store: its local cache, its
// dependencies (PostgreSQL, the object store) and the freshness of its name cache.
//
//   isopool_store_cache_requests_total{result="hit"|"miss"}
//   isopool_store_cache_evictions_total, isopool_store_cache_local_corruptions_total
//   isopool_store_cache_bytes, isopool_store_cache_max_bytes, isopool_store_cache_entries
//   isopool_store_dependency_up{dependency="postgres"|"s3"}       1 up, 0 down
//   isopool_store_dependency_request_seconds{dependency,op}       latency of every call
//   isopool_store_dependency_errors_total{dependency,op,code}
//   isopool_store_name_cache_staleness_seconds                    0 while LISTEN is live
//   isopool_store_stale_name_answers_total                        cached answers in an outage
//   isopool_store_ready                                           1 once migrated and reachable
//   isopool_store_swept_objects_total
//
// Labels are bounded: two dependencies, a fixed set of operation names, gRPC-style codes.
// Thread-safety: every method is thread-safe. The registry must outlive this object.
#ifndef ISOPOOL_SERVICE_STORE_METRICS_H_
#define ISOPOOL_SERVICE_STORE_METRICS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "store/shared_snapshot_store.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace isopool::service {

class StoreMetrics {
 public:
  explicit StoreMetrics(prometheus::Registry& registry);
  ~StoreMetrics();

  // SharedSnapshotStoreOptions::on_dependency_call.
  void OnDependencyCall(absl::string_view dependency, absl::string_view op, absl::Duration took,
                        const absl::Status& status);
  // Copies the store's statistics into the gauges and counters (at scrape time).
  void Sample(const store::SharedStoreStats& stats);

 private:
  struct Families;
  std::unique_ptr<Families> families_;
  base::Mutex mu_;
  store::SharedStoreStats last_ ABSL_GUARDED_BY(mu_);  // counters advance by the difference
};

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_STORE_METRICS_H_
