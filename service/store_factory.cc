#include "service/store_factory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/log.h"
#include "service/store_metrics.h"
#include "store/fs_snapshot_store.h"
#include "store/pg.h"
#include "store/shared_snapshot_store.h"

namespace isopool::service {

absl::StatusOr<OpenedStore> OpenSnapshotStore(const std::string& data_dir, const StoreConfig& c,
                                              StoreHooks hooks) {
  OpenedStore opened;
  if (c.kind == "fs") {
    store::FilesystemSnapshotStoreOptions options;
    options.observer = hooks.observer;
    options.validator = std::move(hooks.validator);
    absl::StatusOr<std::unique_ptr<store::FilesystemSnapshotStore>> fs =
        store::FilesystemSnapshotStore::Open(data_dir, std::move(options));
    if (!fs.ok()) return fs.status();
    opened.store = *std::move(fs);
    opened.describe = absl::StrCat("fs:", data_dir);
    return opened;
  }

  if (hooks.registry != nullptr) opened.metrics = std::make_unique<StoreMetrics>(*hooks.registry);
  StoreMetrics* metrics = opened.metrics.get();
  store::SharedSnapshotStoreOptions o;
  o.pg_conninfo = c.pg_conninfo;
  o.pg_pool_size = c.pg_pool_size;
  o.s3.endpoint = c.s3_endpoint;
  o.s3.bucket = c.s3_bucket;
  o.s3.region = c.s3_region;
  o.s3.access_key = c.s3_access_key;
  o.s3.secret_key = c.s3_secret_key;
  o.s3.ca_file = c.s3_ca_file;
  o.object_prefix = c.s3_prefix;
  o.create_bucket = c.s3_create_bucket;
  o.cache_dir = c.cache_dir;
  o.cache_max_bytes = c.cache_max_bytes;
  o.is_pinned = std::move(hooks.is_pinned);
  o.validator = std::move(hooks.validator);
  o.observer = hooks.observer;
  o.on_snapshot_removed = std::move(hooks.on_snapshot_removed);
  std::function<void(bool, const std::string&)> on_ready = std::move(hooks.on_ready_changed);
  o.on_ready_changed = [on_ready](bool ready, const std::string& why) {
    if (ready) {
      Log(LogLevel::kInfo, "store_ready", {});
    } else {
      Log(LogLevel::kWarn, "store_not_ready", {{"why", why}});
    }
    if (on_ready) on_ready(ready, why);
  };
  o.on_event = [](const std::string& event, const std::string& detail) {
    bool bad = event == "dependency_down" || event == "sweep_failed" || event == "listener_lost";
    Log(bad ? LogLevel::kWarn : LogLevel::kInfo, absl::StrCat("store_", event),
        {{"detail", detail}});
  };
  if (metrics != nullptr) {
    o.on_dependency_call = [metrics](absl::string_view dependency, absl::string_view op,
                                     absl::Duration took, const absl::Status& status) {
      metrics->OnDependencyCall(dependency, op, took, status);
    };
  }
  o.operation_timeout = c.operation_timeout;
  o.transfer_timeout = c.transfer_timeout;
  o.sweep_grace = c.sweep_grace;
  o.sweep_interval = c.sweep_interval;
  absl::StatusOr<std::unique_ptr<store::SharedSnapshotStore>> shared =
      store::SharedSnapshotStore::Open(std::move(o));
  if (!shared.ok()) return shared.status();
  opened.shared = shared->get();
  opened.store = *std::move(shared);
  opened.ready_at_open = false;
  // Never the conninfo itself: it may hold a password.
  opened.describe = absl::StrCat("shared:postgres=", store::DescribeConninfo(c.pg_conninfo),
                                 ",s3=", c.s3_endpoint, "/", c.s3_bucket);
  return opened;
}

}  // namespace isopool::service
