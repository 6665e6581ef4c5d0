// store_factory.h: opens the SnapshotStore the configuration asks for (store_config.h), so the
// server holds only the interface.
//
//   StoreHooks hooks;
//   hooks.observer = &metrics;                        // quarantines
//   hooks.validator = ...;                            // envelopes this runtime can restore
//   hooks.is_pinned = [&](const std::string& id) { return catalog.UsedSince(id, recently); };
//   hooks.on_snapshot_removed = [&](const std::string& id) { runner.Remove(id); };
//   hooks.on_ready_changed = [&](bool ready, const std::string& why) { health(ready); };
//   hooks.registry = &metrics.registry();             // store metrics (shared store)
//   absl::StatusOr<OpenedStore> opened = OpenSnapshotStore(data_dir, config, hooks);
//
// The filesystem store is ready when Open returns (on_ready_changed is never called). The
// shared store opens without waiting for the network and reports readiness through
// on_ready_changed; until then its operations fail with UNAVAILABLE saying why, and the server
// should report NOT_SERVING. Hooks may be called from the store's threads; they must be
// thread-safe and may be called until the store is destroyed.
#ifndef ISOPOOL_SERVICE_STORE_FACTORY_H_
#define ISOPOOL_SERVICE_STORE_FACTORY_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/store_config.h"
#include "store/snapshot_store.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace isopool::store {
class SharedSnapshotStore;
}  // namespace isopool::store

namespace isopool::service {

class StoreMetrics;

struct StoreHooks {
  store::SnapshotStoreObserver* observer = nullptr;
  store::EnvelopeValidator validator;
  std::function<bool(const std::string& id)> is_pinned;
  std::function<void(const std::string& id)> on_snapshot_removed;
  std::function<void(bool ready, const std::string& why)> on_ready_changed;
  prometheus::Registry* registry = nullptr;  // where the shared store's metrics go; may be null
};

struct OpenedStore {
  std::unique_ptr<store::SnapshotStore> store;
  // The shared store's extras; null for the filesystem store. Owned by `store`.
  store::SharedSnapshotStore* shared = nullptr;
  std::unique_ptr<StoreMetrics> metrics;  // null without a registry or for the fs store
  bool ready_at_open = true;              // false: wait for on_ready_changed(true)
  std::string describe;                   // for the start log: "fs:<dir>" or "shared:<db>,<bucket>"
};

absl::StatusOr<OpenedStore> OpenSnapshotStore(const std::string& data_dir,
                                              const StoreConfig& config, StoreHooks hooks);

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_STORE_FACTORY_H_
