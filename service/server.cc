#include "service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/hash_seed.h"
#include "base/sibling_binary.h"
#include "engine/runtime.h"
#include "engine/snapshot.h"
#include "service/log.h"
#include "service/port_file.h"
#include "worker/codec.h"
#include "worker/in_process_runner.h"

namespace isopool::service {
namespace {

constexpr char kServiceName[] = "isopool.v1.Isopool";

// Authentication and TLS go here: today every listener is plaintext, which is why the default
// address is loopback. A deployment that needs TLS terminates it in front (mesh sidecar) until
// this returns grpc::SslServerCredentials from configured certificates.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerConfig& /*config*/) {
  return grpc::InsecureServerCredentials();
}

// The fleet's options: each worker gets its share of the isolate cap, the memory budget and the
// execute threads.
worker::WorkerFleet::Options FleetOptions(const ServerConfig& c, const std::string& argv0,
                                          uint64_t hash_seed) {
  worker::WorkerFleet::Options options;
  options.workers = c.workers;
  options.binary = c.worker_binary.empty()
                       ? base::FindSiblingBinary("isopool_worker", "worker/isopool_worker", argv0)
                       : c.worker_binary;
  pool::GlobalPolicy share = c.global;
  share.max_isolates = std::max(1, c.global.max_isolates / c.workers);
  share.memory_budget_bytes = c.global.memory_budget_bytes / c.workers;
  int threads = std::max(1, (c.execute_threads + c.workers - 1) / c.workers);
  if (share.restore_threads == 0) share.restore_threads = 1;
  *options.init.mutable_global() = worker::EncodeGlobalPolicy(share);
  *options.init.mutable_blank_policy() = worker::EncodePoolPolicy(PolicyFromAnnotations({}, c));
  options.init.set_hash_seed(hash_seed);
  for (const std::string& flag : c.build.v8_flags) options.init.add_v8_flags(flag);
  options.init.set_platform_threads(c.v8_platform_threads > 0 ? c.v8_platform_threads : 1);
  options.init.set_execute_threads(threads);
  options.init.set_unresponsive_grace_us(absl::ToInt64Microseconds(c.unresponsive_grace));
  options.init.set_test_only_fault_injection(c.test_only_fault_injection);
  options.init.set_lockdown(c.worker_lockdown);
  options.memory_cap_bytes = c.worker_memory_bytes;
  options.window = threads * 2;
  options.spill_at = threads;
  options.max_pending_calls = c.max_pending_calls;
  options.max_wait = absl::Milliseconds(c.max_timeout_ms);
  return options;
}

}  // namespace

Server::Server(const ServerConfig& config) : config_(config) {}

Server::~Server() {
  metrics_.StopServing();  // its gauge source reads runner_, store_ and service_
  if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now());
  service_.reset();
  if (opened_store_.shared != nullptr) opened_store_.shared->StopBackground();
  hook_runner_ = nullptr;
  runner_.reset();
  hook_catalog_ = nullptr;
}

void Server::SetStoreReady(bool ready) {
  base::MutexLock lock(&health_mu_);
  store_ready_ = ready;
  if (health_ == nullptr || draining_) return;
  // Only the API service: the process itself ("", the liveness probe) is fine, and restarting
  // it would not bring the database back.
  health_->SetServingStatus(kServiceName, ready);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config,
                                                      const std::string& argv0) {
  SetLogLevel(config.log_level);
  std::unique_ptr<Server> server(new Server(config));
  const ServerConfig& c = server->config_;

  // The store needs its directory; so does the hash seed file kept in it.
  mkdir(c.data_dir.c_str(), 0755);
  absl::StatusOr<uint64_t> hash_seed = base::LoadOrCreateHashSeed(c.hash_seed_file);
  if (!hash_seed.ok()) return hash_seed.status();
  engine::RuntimeOptions runtime;
  runtime.hash_seed = *hash_seed;
  runtime.argv0 = argv0;
  // With worker processes the server never runs JavaScript: one platform thread is enough.
  runtime.platform_threads = c.workers > 0 ? 1 : c.v8_platform_threads;
  runtime.v8_flags = c.build.v8_flags;
  if (absl::Status s = engine::InitializeRuntime(runtime); !s.ok()) return s;

  {
    // The shared store reports ready from its own thread, possibly before Open returns.
    base::MutexLock lock(&server->health_mu_);
    server->store_ready_ = c.store.kind == "fs";
  }
  StoreHooks hooks;
  hooks.observer = &server->metrics_;
  // Only envelopes this runtime can restore are served.
  hooks.validator = [](absl::string_view envelope) {
    absl::StatusOr<engine::Envelope> decoded = engine::DecodeEnvelope(envelope);
    if (!decoded.ok()) return decoded.status();
    return engine::CheckCompatible(*decoded);
  };
  Server* hooked = server.get();
  // Cached blobs of snapshots called in the last few minutes stay (their pools are live, and a
  // refill or a worker restart restores from them again).
  hooks.is_pinned = [hooked](const std::string& id) {
    SnapshotCatalog* catalog = hooked->hook_catalog_.load();
    return catalog != nullptr && catalog->UsedSince(id, absl::Now() - absl::Minutes(5));
  };
  // Deleted on another replica (or quarantined): drain its pools here too.
  hooks.on_snapshot_removed = [hooked](const std::string& id) {
    if (worker::CallRunner* runner = hooked->hook_runner_.load()) runner->Remove(id);
    if (SnapshotCatalog* catalog = hooked->hook_catalog_.load()) catalog->Forget(id);
  };
  hooks.on_ready_changed = [hooked](bool ready, const std::string&) {
    hooked->SetStoreReady(ready);
  };
  hooks.registry = &server->metrics_.registry();
  absl::StatusOr<OpenedStore> opened = OpenSnapshotStore(c.data_dir, c.store, std::move(hooks));
  if (!opened.ok()) return opened.status();
  server->opened_store_ = *std::move(opened);
  server->store_ = server->opened_store_.store.get();

  server->catalog_ = std::make_unique<SnapshotCatalog>(*server->store_, c);
  server->hook_catalog_ = server->catalog_.get();
  if (c.workers > 0) {
    SnapshotCatalog* catalog = server->catalog_.get();
    absl::StatusOr<std::unique_ptr<worker::WorkerFleet>> fleet = worker::WorkerFleet::Start(
        FleetOptions(c, argv0, *hash_seed),
        [catalog](const std::string& id) { return catalog->EnvelopeFor(id); }, server->metrics_,
        server->metrics_, server->metrics_);
    if (!fleet.ok()) return fleet.status();
    server->fleet_ = fleet->get();
    server->runner_ = *std::move(fleet);
  } else {
    worker::CallHost::Options host;
    host.global = c.global;
    host.blank_policy = PolicyFromAnnotations({}, c);
    host.watchdog.unresponsive_grace = c.unresponsive_grace;
    auto runner = std::make_unique<worker::InProcessRunner>(
        *server->catalog_, host, c.execute_threads, c.max_pending_calls, server->metrics_,
        server->metrics_, server->metrics_);
    // The blank snapshot's pool is always there: inline source never waits for a restore.
    if (absl::Status s = runner->Prewarm("", absl::Now()); !s.ok()) return s;
    server->runner_ = std::move(runner);
  }
  server->hook_runner_ = server->runner_.get();
  engine::PackProcessOptions pack;
  pack.binary = c.pack_binary.empty()
                    ? base::FindSiblingBinary("isopool_pack", "engine/isopool_pack", argv0)
                    : c.pack_binary;
  pack.v8_flags = c.build.v8_flags;
  pack.hash_seed = *hash_seed;
  if (access(pack.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the pack binary ", pack.binary, " is missing; set --pack_binary"));
  }
  server->service_ = std::make_unique<IsopoolService>(c, *server->store_, *server->catalog_,
                                                      *server->runner_, server->metrics_, pack);

  if (!c.metrics_listen.empty()) {
    if (absl::Status s = server->metrics_.Serve(c.metrics_listen); !s.ok()) return s;
  }
  Server* raw = server.get();
  server->metrics_.SetGaugeSource([raw] {
    GaugeSnapshot g;
    g.pool = raw->runner_->Stats();
    g.store = raw->store_->Stats();
    if (raw->fleet_ != nullptr) {
      g.workers = raw->fleet_->Workers();
      g.worker_memory_cap_bytes = raw->fleet_->memory_cap_bytes();
      g.crash_looping = raw->fleet_->CrashLooping();
    }
    g.uploads_in_progress = raw->service_->uploads_in_progress();
    return g;
  });
  if (StoreMetrics* store_metrics = server->opened_store_.metrics.get()) {
    store::SharedSnapshotStore* shared = server->opened_store_.shared;
    server->metrics_.AddScrapeHook(
        [store_metrics, shared] { store_metrics->Sample(shared->SharedStats()); });
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(c.listen, MakeServerCredentials(c), &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(c.max_message_bytes);
  builder.SetMaxSendMessageSize(c.max_message_bytes);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(server->metrics_.MakeGrpcInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", c.listen));
  }
  {
    // The API service is NOT_SERVING while a shared store is not ready yet (its log lines say
    // why); the process as a whole ("") is.
    base::MutexLock lock(&server->health_mu_);
    server->health_ = server->grpc_server_->GetHealthCheckService();
    server->health_->SetServingStatus(true);
    server->health_->SetServingStatus(kServiceName, server->store_ready_);
  }
  store::StoreStats stats = server->store_->Stats();
  Log(LogLevel::kInfo, "start",
      {{"listen", c.listen},
       {"port", server->port_},
       {"metrics_port", server->metrics_.port()},
       {"data_dir", c.data_dir},
       {"store", server->opened_store_.describe},
       {"workers", c.workers},
       {"snapshots", static_cast<uint64_t>(stats.snapshot_count)},
       {"v8", engine::V8Version()}});
  if (!c.port_file.empty()) {
    // Last: a launcher that reads it may call at once.
    if (absl::Status s = WritePortFile(c.port_file, server->port_, server->metrics_.port());
        !s.ok()) {
      return s;
    }
  }
  return server;
}

bool Server::Drain() {
  // Refuse first, then say so: a client that saw NOT_SERVING or the log line is refused.
  service_->StartDraining();
  {
    base::MutexLock lock(&health_mu_);
    draining_ = true;
    health_->SetServingStatus(false);
    health_->SetServingStatus(kServiceName, false);
  }
  Log(LogLevel::kInfo, "drain_start", {{"grace_s", absl::ToInt64Seconds(config_.drain_grace)}});
  absl::Time deadline = absl::Now() + config_.drain_grace;
  bool idle = service_->WaitIdle(deadline);
  grpc_server_->Shutdown(absl::ToChronoTime(deadline));
  Log(idle ? LogLevel::kInfo : LogLevel::kWarn, "shutdown", {{"all_calls_finished", idle}});
  return idle;
}

}  // namespace isopool::service
