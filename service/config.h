// config.h: the server's configuration, from command-line flags with environment overrides.
//
// Every flag --foo_bar can also be set with the environment variable ISOPOOL_FOO_BAR; a flag
// given on the command line wins. Defaults suit a 2-core machine and listen on loopback only
// (Kubernetes sets 0.0.0.0 through the ConfigMap). The table in README.md lists them all.
//
// Thread-safety: LoadServerConfig reads global flag state; call it once, from main.
#ifndef ISOPOOL_SERVICE_CONFIG_H_
#define ISOPOOL_SERVICE_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pool/pool_policy.h"
#include "service/spec.h"
#include "service/store_config.h"

namespace isopool::service {

struct ServerConfig {
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9464";  // empty = no metrics endpoint
  std::string data_dir = "./.data";
  std::string pack_binary;     // empty = isopool_pack next to the server binary
  std::string hash_seed_file;  // empty = <data_dir>/hash_seed (see hash_seed.h)
  // Where to write the bound ports once ready (port_file.h), for launchers that listen on port 0;
  // empty = nowhere.
  std::string port_file;
  StoreConfig store;  // which snapshot store (store_config.h)

  // Global pool limits.
  pool::GlobalPolicy global;
  // Worker processes that run JavaScript (0 = inside the server, for trusted code only), the RSS
  // cap of each, and the path of their binary (empty = next to the server's).
  int workers = 2;
  size_t worker_memory_bytes = 0;
  std::string worker_binary;
  // How long a call may ignore termination past its limit before it is answered as unresponsive.
  absl::Duration unresponsive_grace = absl::Milliseconds(100);
  bool worker_lockdown = true;
  // TEST ONLY: "__isopool_fault__:abort|segv|syscalls" sources crash or probe their worker.
  bool test_only_fault_injection = false;
  // Threads that run JavaScript (shared among the workers); 0 = number of cores.
  int execute_threads = 0;
  // Calls queued for an execute thread beyond which Execute answers RESOURCE_EXHAUSTED.
  int max_pending_calls = 1024;

  // What a spec may ask for and builds into: build limits, --max_isolates_per_snapshot and
  // --v8_flags (spec.h; `isopoolctl pack` reads the same settings).
  BuildSettings build;

  // Defaults for snapshots that do not say, and the server's maxima.
  pool::IsolationMode default_isolation = pool::IsolationMode::kContext;
  int default_min_warm = 1;
  int default_max_isolates = 4;
  uint32_t default_timeout_ms = 1000;
  uint32_t max_timeout_ms = 30000;
  uint32_t default_cpu_ms = 1000;
  uint32_t max_cpu_ms = 30000;
  uint32_t default_heap_mib = 64;
  uint32_t max_heap_mib = 512;
  uint32_t default_max_result_bytes = 1 << 20;
  uint32_t max_result_bytes = 16 << 20;
  uint32_t max_log_bytes = 64 << 10;

  // Uploads.
  uint64_t max_upload_bytes = 64 << 20;
  int max_concurrent_uploads = 2;
  bool allow_prebuilt_envelopes = false;

  // gRPC message limit for Execute requests and responses.
  int max_message_bytes = 8 << 20;

  absl::Duration drain_grace = absl::Seconds(20);
  std::string log_level = "info";
  int v8_platform_threads = 0;
};

// Reads flags (already parsed by absl::ParseCommandLine) and ISOPOOL_* environment variables.
// InvalidArgument with the offending flag for bad values.
absl::StatusOr<ServerConfig> LoadServerConfig();

// Parses "fresh" | "context" | "shared".
absl::StatusOr<pool::IsolationMode> ParseIsolationMode(const std::string& text);

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_CONFIG_H_
