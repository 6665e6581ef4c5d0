#include "service/config.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "absl/flags/flag.h"
// WasPresentOnCommandLine: absl has no public way to ask whether a flag was given.
#include "absl/flags/internal/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC listen address (0.0.0.0:50051 in a pod)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics address; empty disables it");
ABSL_FLAG(std::string, port_file, "",
          "Once ready, write {\"grpc_port\":N,\"metrics_port\":M,\"pid\":P} to this file "
          "(atomically); for launchers that start the server on port 0");
ABSL_FLAG(std::string, data_dir, "./.data", "Snapshot store directory");
ABSL_FLAG(std::string, pack_binary, "", "Path of isopool_pack; default: next to this binary");
ABSL_FLAG(std::string, hash_seed_file, "",
          "File holding the deployment's secret V8 hash seed; default <data_dir>/hash_seed, "
          "created if missing. ISOPOOL_HASH_SEED overrides it");
ABSL_FLAG(int, memory_budget_mib, 1024, "Memory budget for all isolates, MiB");
ABSL_FLAG(int, max_isolates, 64, "Most isolates across all snapshots");
ABSL_FLAG(int, restore_threads, 0, "Background restore threads; 0 = number of cores");
ABSL_FLAG(int, execute_threads, 0, "Threads that run JavaScript; 0 = number of cores");
ABSL_FLAG(int, workers, 2,
          "Worker processes that run JavaScript; 0 runs it inside the server (trusted code only: "
          "a V8 fatal error then ends the server)");
ABSL_FLAG(int, worker_memory_mib, 0,
          "RSS cap of one worker process, MiB; 0 = (--memory_budget_mib + 256) / --workers");
ABSL_FLAG(std::string, worker_binary, "", "Path of isopool_worker; default: next to this binary");
ABSL_FLAG(int, unresponsive_grace_ms, 100,
          "How long a call may ignore termination past its limit before its worker is killed");
ABSL_FLAG(bool, worker_lockdown, true, "Lock worker processes down with seccomp-bpf");
ABSL_FLAG(bool, test_only_fault_injection, false,
          "TEST ONLY: calls whose source starts with __isopool_fault__: crash their worker");
ABSL_FLAG(int, max_pending_calls, 1024, "Execute calls queued beyond which RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, default_isolation, "context",
          "Isolation of snapshots that do not choose: fresh|context|shared");
ABSL_FLAG(int, default_min_warm, 1, "Warm isolates kept per snapshot by default");
ABSL_FLAG(int, default_max_isolates, 4, "Isolates per snapshot by default");
ABSL_FLAG(int, max_isolates_per_snapshot,
          isopool::service::BuildSettings().max_isolates_per_snapshot,
          "Most isolates a snapshot may ask for");
ABSL_FLAG(uint32_t, default_timeout_ms, 1000, "Wall-clock limit of a call by default");
ABSL_FLAG(uint32_t, max_timeout_ms, 30000, "Most wall-clock time a call may ask for");
ABSL_FLAG(uint32_t, default_cpu_ms, 1000, "CPU-time limit of a call by default");
ABSL_FLAG(uint32_t, max_cpu_ms, 30000, "Most CPU time a call may ask for");
ABSL_FLAG(uint32_t, default_heap_mib, 64, "Isolate heap limit by default, MiB");
ABSL_FLAG(uint32_t, max_heap_mib, 512, "Largest heap limit a snapshot or call may ask for");
ABSL_FLAG(uint32_t, default_max_result_bytes, 1 << 20, "Largest JSON result by default");
ABSL_FLAG(uint32_t, max_result_bytes, 16 << 20, "Largest JSON result a call may ask for");
ABSL_FLAG(uint32_t, max_log_bytes, 64 << 10, "Console output kept per call");
ABSL_FLAG(uint64_t, max_upload_bytes, 64 << 20, "Largest bundle an upload may send");
ABSL_FLAG(int, max_concurrent_uploads, 2, "Uploads built at once; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(uint32_t, default_build_timeout_ms,
          isopool::service::BuildSettings().default_build_timeout_ms,
          "Build time limit of an upload by default");
ABSL_FLAG(uint32_t, max_build_timeout_ms, isopool::service::BuildSettings().max_build_timeout_ms,
          "Most build time an upload may ask for");
ABSL_FLAG(uint32_t, default_build_heap_mib,
          isopool::service::BuildSettings().default_build_heap_mib,
          "Build heap limit by default, MiB");
ABSL_FLAG(uint32_t, max_build_heap_mib, isopool::service::BuildSettings().max_build_heap_mib,
          "Most build heap an upload may ask for, MiB");
ABSL_FLAG(bool, allow_prebuilt_envelopes, false,
          "Accept uploads of prebuilt envelopes. Off: V8's deserialiser trusts its input");
ABSL_FLAG(int, max_message_mib, 8, "Largest gRPC message for Execute, MiB");
ABSL_FLAG(int, drain_grace_seconds, 20, "On SIGTERM, how long in-flight calls may take");
ABSL_FLAG(std::string, log_level, "info", "debug|info|warn|error");
ABSL_FLAG(std::string, v8_flags, "", "Extra V8 flags, space-separated (expert use)");
ABSL_FLAG(int, v8_platform_threads, 0, "V8 platform worker threads; 0 = number of cores");

namespace isopool::service {
namespace {

// Applies ISOPOOL_<NAME> to every flag of this file that was not given on the command line.
absl::Status ApplyEnvironment() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename().find("service/config.cc") == std::string::npos &&
        flag->Filename().find("service/store_config.cc") == std::string::npos) {
      continue;
    }
    std::string env_name = SettingEnvironmentVariable(name);
    const char* value = std::getenv(env_name.c_str());
    // Given on the command line, even with its default value: the command line wins.
    if (value == nullptr || absl::flags_internal::WasPresentOnCommandLine(name)) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(env_name, "=", value, ": ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<pool::IsolationMode> ParseIsolationMode(const std::string& text) {
  if (text == "fresh") return pool::IsolationMode::kFresh;
  if (text == "context") return pool::IsolationMode::kContext;
  if (text == "shared") return pool::IsolationMode::kShared;
  return absl::InvalidArgumentError(
      absl::StrCat("isolation mode must be fresh, context or shared, not '", text, "'"));
}

absl::StatusOr<ServerConfig> LoadServerConfig() {
  if (absl::Status s = ApplyEnvironment(); !s.ok()) return s;
  ServerConfig c;
  c.listen = absl::GetFlag(FLAGS_listen);
  c.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  c.port_file = absl::GetFlag(FLAGS_port_file);
  c.data_dir = absl::GetFlag(FLAGS_data_dir);
  c.pack_binary = absl::GetFlag(FLAGS_pack_binary);
  c.hash_seed_file = absl::GetFlag(FLAGS_hash_seed_file);
  if (c.hash_seed_file.empty()) c.hash_seed_file = c.data_dir + "/hash_seed";
  if (absl::Status s = LoadStoreConfig(c.data_dir, &c.store); !s.ok()) return s;
  if (absl::GetFlag(FLAGS_memory_budget_mib) <= 0) {
    return absl::InvalidArgumentError("--memory_budget_mib must be positive");
  }
  c.global.memory_budget_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_memory_budget_mib)) << 20;
  c.global.max_isolates = absl::GetFlag(FLAGS_max_isolates);
  c.global.restore_threads = absl::GetFlag(FLAGS_restore_threads);
  c.execute_threads = absl::GetFlag(FLAGS_execute_threads);
  if (c.execute_threads <= 0) {
    c.execute_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  c.max_pending_calls = absl::GetFlag(FLAGS_max_pending_calls);
  c.workers = absl::GetFlag(FLAGS_workers);
  if (c.workers < 0) return absl::InvalidArgumentError("--workers must be 0 or more");
  c.worker_memory_bytes = static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_worker_memory_mib)))
                          << 20;
  if (c.worker_memory_bytes == 0 && c.workers > 0) {
    // Together the caps are the budget + 256 MiB: with the supervisor and the idle spare they fit
    // the pod's limit of budget + 512 MiB (deploy/k8s).
    c.worker_memory_bytes = (c.global.memory_budget_bytes + (size_t{256} << 20)) / c.workers;
  }
  c.worker_binary = absl::GetFlag(FLAGS_worker_binary);
  c.unresponsive_grace =
      absl::Milliseconds(std::max(1, absl::GetFlag(FLAGS_unresponsive_grace_ms)));
  c.worker_lockdown = absl::GetFlag(FLAGS_worker_lockdown);
  c.test_only_fault_injection = absl::GetFlag(FLAGS_test_only_fault_injection);
  absl::StatusOr<pool::IsolationMode> isolation =
      ParseIsolationMode(absl::GetFlag(FLAGS_default_isolation));
  if (!isolation.ok()) return isolation.status();
  c.default_isolation = *isolation;
  c.default_min_warm = absl::GetFlag(FLAGS_default_min_warm);
  c.default_max_isolates = absl::GetFlag(FLAGS_default_max_isolates);
  c.default_timeout_ms = absl::GetFlag(FLAGS_default_timeout_ms);
  c.max_timeout_ms = absl::GetFlag(FLAGS_max_timeout_ms);
  c.default_cpu_ms = absl::GetFlag(FLAGS_default_cpu_ms);
  c.max_cpu_ms = absl::GetFlag(FLAGS_max_cpu_ms);
  c.default_heap_mib = absl::GetFlag(FLAGS_default_heap_mib);
  c.max_heap_mib = absl::GetFlag(FLAGS_max_heap_mib);
  c.default_max_result_bytes = absl::GetFlag(FLAGS_default_max_result_bytes);
  c.max_result_bytes = absl::GetFlag(FLAGS_max_result_bytes);
  c.max_log_bytes = absl::GetFlag(FLAGS_max_log_bytes);
  c.max_upload_bytes = absl::GetFlag(FLAGS_max_upload_bytes);
  c.max_concurrent_uploads = absl::GetFlag(FLAGS_max_concurrent_uploads);
  c.allow_prebuilt_envelopes = absl::GetFlag(FLAGS_allow_prebuilt_envelopes);
  c.max_message_bytes = absl::GetFlag(FLAGS_max_message_mib) << 20;
  c.drain_grace = absl::Seconds(absl::GetFlag(FLAGS_drain_grace_seconds));
  c.log_level = absl::GetFlag(FLAGS_log_level);
  // The build settings, read from these flags' values as isopoolctl pack reads its own (spec.h).
  for (const char* name : kBuildSettingNames) {
    if (absl::FindCommandLineFlag(name) == nullptr) {
      return absl::InternalError(absl::StrCat("the build setting ", name, " has no flag"));
    }
  }
  absl::StatusOr<BuildSettings> build =
      ReadBuildSettings([](const std::string& name) -> absl::optional<std::string> {
        return absl::FindCommandLineFlag(name)->CurrentValue();
      });
  if (!build.ok()) return build.status();
  c.build = *std::move(build);
  c.v8_platform_threads = absl::GetFlag(FLAGS_v8_platform_threads);

  if (c.default_timeout_ms > c.max_timeout_ms || c.default_cpu_ms > c.max_cpu_ms ||
      c.default_heap_mib > c.max_heap_mib || c.default_max_result_bytes > c.max_result_bytes) {
    return absl::InvalidArgumentError("a --default_* limit is above its --max_* limit");
  }
  if (c.max_concurrent_uploads < 1 || c.global.max_isolates < 1 || c.max_pending_calls < 1) {
    return absl::InvalidArgumentError(
        "--max_concurrent_uploads, --max_isolates and --max_pending_calls must be at least 1");
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    return absl::InvalidArgumentError("--log_level must be debug, info, warn or error");
  }
  return c;
}

}  // namespace isopool::service
