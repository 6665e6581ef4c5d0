#include "service/store_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "base/text_format.h"

namespace isopool::service {
namespace {

const prometheus::Histogram::BucketBoundaries kDependencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

}  // namespace

struct StoreMetrics::Families {
  explicit Families(prometheus::Registry& r)
      : cache_requests(prometheus::BuildCounter()
                           .Name("isopool_store_cache_requests_total")
                           .Help("Envelope reads from this replica's cache: hit, or miss (a "
                                 "download; concurrent misses for one snapshot count once)")
                           .Register(r)),
        cache_evictions(prometheus::BuildCounter()
                            .Name("isopool_store_cache_evictions_total")
                            .Help("Envelopes evicted from the local cache to stay in budget")
                            .Register(r)
                            .Add({})),
        cache_corruptions(prometheus::BuildCounter()
                              .Name("isopool_store_cache_local_corruptions_total")
                              .Help("Cached envelopes that failed their sha256 on local disk "
                                    "(dropped and downloaded again)")
                              .Register(r)
                              .Add({})),
        cache_bytes(prometheus::BuildGauge()
                        .Name("isopool_store_cache_bytes")
                        .Help("Bytes of envelopes in the local cache")
                        .Register(r)
                        .Add({})),
        cache_max_bytes(prometheus::BuildGauge()
                            .Name("isopool_store_cache_max_bytes")
                            .Help("The local cache's byte budget")
                            .Register(r)
                            .Add({})),
        cache_entries(prometheus::BuildGauge()
                          .Name("isopool_store_cache_entries")
                          .Help("Envelopes in the local cache")
                          .Register(r)
                          .Add({})),
        dependency_up(prometheus::BuildGauge()
                          .Name("isopool_store_dependency_up")
                          .Help("1 if the dependency answered its last call, 0 if it is down")
                          .Register(r)),
        dependency_seconds(prometheus::BuildHistogram()
                               .Name("isopool_store_dependency_request_seconds")
                               .Help("Duration of calls to PostgreSQL and the object store")
                               .Register(r)),
        dependency_errors(prometheus::BuildCounter()
                              .Name("isopool_store_dependency_errors_total")
                              .Help("Failed calls to PostgreSQL and the object store, by code")
                              .Register(r)),
        staleness(prometheus::BuildGauge()
                      .Name("isopool_store_name_cache_staleness_seconds")
                      .Help("Seconds since the name cache was last known fresh (0 while its "
                            "LISTEN connection is live)")
                      .Register(r)
                      .Add({})),
        stale_answers(prometheus::BuildCounter()
                          .Name("isopool_store_stale_name_answers_total")
                          .Help("Names answered from the cache because PostgreSQL was down")
                          .Register(r)
                          .Add({})),
        ready(prometheus::BuildGauge()
                  .Name("isopool_store_ready")
                  .Help("1 once the shared store has migrated its schema and reached both "
                        "dependencies")
                  .Register(r)
                  .Add({})),
        swept(prometheus::BuildCounter()
                  .Name("isopool_store_swept_objects_total")
                  .Help("Unreferenced objects deleted from the bucket by this replica")
                  .Register(r)
                  .Add({})) {}

  prometheus::Family<prometheus::Counter>& cache_requests;
  prometheus::Counter& cache_evictions;
  prometheus::Counter& cache_corruptions;
  prometheus::Gauge& cache_bytes;
  prometheus::Gauge& cache_max_bytes;
  prometheus::Gauge& cache_entries;
  prometheus::Family<prometheus::Gauge>& dependency_up;
  prometheus::Family<prometheus::Histogram>& dependency_seconds;
  prometheus::Family<prometheus::Counter>& dependency_errors;
  prometheus::Gauge& staleness;
  prometheus::Counter& stale_answers;
  prometheus::Gauge& ready;
  prometheus::Counter& swept;
};

StoreMetrics::StoreMetrics(prometheus::Registry& registry)
    : families_(std::make_unique<Families>(registry)) {
  // Present from the first scrape, so alerts see the series before anything happens.
  families_->cache_requests.Add({{"result", "hit"}});
  families_->cache_requests.Add({{"result", "miss"}});
  families_->dependency_up.Add({{"dependency", "postgres"}});
  families_->dependency_up.Add({{"dependency", "s3"}});
}

StoreMetrics::~StoreMetrics() = default;

void StoreMetrics::OnDependencyCall(absl::string_view dependency, absl::string_view op,
                                    absl::Duration took, const absl::Status& status) {
  std::map<std::string, std::string> labels = {{"dependency", std::string(dependency)},
                                               {"op", std::string(op)}};
  families_->dependency_seconds.Add(labels, kDependencyBuckets)
      .Observe(absl::ToDoubleSeconds(took));
  if (!status.ok()) {
    labels["code"] = base::StatusCodeName(static_cast<int>(status.code()));
    families_->dependency_errors.Add(labels).Increment();
  }
}

void StoreMetrics::Sample(const store::SharedStoreStats& s) {
  base::MutexLock lock(&mu_);
  auto advance = [](prometheus::Counter& counter, uint64_t now, uint64_t before) {
    if (now > before) counter.Increment(static_cast<double>(now - before));
  };
  Families& f = *families_;
  advance(f.cache_requests.Add({{"result", "hit"}}), s.cache.hits, last_.cache.hits);
  advance(f.cache_requests.Add({{"result", "miss"}}), s.cache.misses, last_.cache.misses);
  advance(f.cache_evictions, s.cache.evictions, last_.cache.evictions);
  advance(f.cache_corruptions, s.cache.local_corruptions, last_.cache.local_corruptions);
  advance(f.stale_answers, s.stale_name_answers, last_.stale_name_answers);
  advance(f.swept, s.swept_objects, last_.swept_objects);
  f.cache_bytes.Set(static_cast<double>(s.cache.bytes));
  f.cache_max_bytes.Set(static_cast<double>(s.cache.max_bytes));
  f.cache_entries.Set(static_cast<double>(s.cache.entries));
  f.dependency_up.Add({{"dependency", "postgres"}}).Set(s.postgres.up ? 1 : 0);
  f.dependency_up.Add({{"dependency", "s3"}}).Set(s.s3.up ? 1 : 0);
  f.staleness.Set(s.name_cache_staleness_seconds);
  f.ready.Set(s.ready ? 1 : 0);
  last_ = s;
}

}  // namespace isopool::service
