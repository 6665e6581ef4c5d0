#include "service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "base/hash_seed.h"
#include "engine/runtime.h"
#include "engine/snapshot.h"
#include "service/log.h"

namespace isopool::service {
namespace {

constexpr char kServiceName[] = "isopool.v1.Isopool";

// Authentication and TLS go here: today every listener is plaintext, which is why the default
// address is loopback. A deployment that needs TLS terminates it in front (mesh sidecar) until
// this returns grpc::SslServerCredentials from configured certificates.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerConfig& /*config*/) {
  return grpc::InsecureServerCredentials();
}

// isopool_pack next to this binary (installed layout), else in Bazel's runfiles (bazel run).
std::string DefaultPackBinary(const std::string& argv0) {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  std::string self = n > 0 ? std::string(path, n) : argv0;
  std::string beside = self.substr(0, self.find_last_of('/') + 1) + "isopool_pack";
  if (access(beside.c_str(), X_OK) == 0) return beside;
  for (const std::string& runfiles : {self + ".runfiles", argv0 + ".runfiles"}) {
    std::string candidate = runfiles + "/isopool/engine/isopool_pack";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return beside;
}

}  // namespace

Server::Server(const ServerConfig& config) : config_(config) {}

Server::~Server() {
  if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now());
  service_.reset();
  pools_.reset();
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
  runtime.platform_threads = c.v8_platform_threads;
  runtime.v8_flags = c.v8_flags;
  if (absl::Status s = engine::InitializeRuntime(runtime); !s.ok()) return s;

  store::FilesystemSnapshotStoreOptions store_options;
  store_options.observer = &server->metrics_;
  // Only envelopes this runtime can restore are served; anything else is quarantined.
  store_options.validator = [](absl::string_view envelope) {
    absl::StatusOr<engine::Envelope> decoded = engine::DecodeEnvelope(envelope);
    if (!decoded.ok()) return decoded.status();
    return engine::CheckCompatible(*decoded);
  };
  absl::StatusOr<std::unique_ptr<store::FilesystemSnapshotStore>> store =
      store::FilesystemSnapshotStore::Open(c.data_dir, std::move(store_options));
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);

  server->source_ = std::make_unique<StoreSnapshotSource>(*server->store_, c);
  engine::Watchdog::Options watchdog_options;
  Server* self = server.get();
  // A call stuck in a builtin V8 cannot interrupt holds its execute thread for as long as the
  // builtin runs (measured: up to tens of seconds); the service starts a replacement thread.
  watchdog_options.on_unresponsive = [self] {
    if (self->service_ != nullptr) self->service_->WorkerStuck();
  };
  server->watchdog_ = std::make_unique<engine::Watchdog>(watchdog_options);
  pool::PoolPolicy blank_policy = PolicyFromAnnotations({}, c);
  server->pools_ =
      std::make_unique<pool::PoolManager>(*server->source_, c.global, blank_policy,
                                          *server->watchdog_, server->metrics_, server->metrics_);
  engine::PackProcessOptions pack;
  pack.binary = c.pack_binary.empty() ? DefaultPackBinary(argv0) : c.pack_binary;
  pack.v8_flags = c.v8_flags;
  pack.hash_seed = *hash_seed;
  if (access(pack.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the pack binary ", pack.binary, " is missing; set --pack_binary"));
  }
  server->service_ =
      std::make_unique<IsopoolService>(c, *server->store_, *server->pools_, server->metrics_, pack);

  if (!c.metrics_listen.empty()) {
    if (absl::Status s = server->metrics_.Serve(c.metrics_listen); !s.ok()) return s;
  }
  Server* raw = server.get();
  server->metrics_.SetGaugeSource([raw] {
    GaugeSnapshot g;
    g.pool = raw->pools_->Stats();
    g.store = raw->store_->Stats();
    return g;
  });

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
  grpc::HealthCheckServiceInterface* health = server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kServiceName, true);
  // The blank snapshot's pool is always there: inline source never waits for a restore.
  if (absl::Status s = server->pools_->Prewarm(""); !s.ok()) return s;

  store::StoreStats stats = server->store_->Stats();
  Log(LogLevel::kInfo, "start",
      {{"listen", c.listen},
       {"port", server->port_},
       {"metrics_port", server->metrics_.port()},
       {"data_dir", c.data_dir},
       {"snapshots", static_cast<uint64_t>(stats.snapshot_count)},
       {"v8", engine::V8Version()}});
  return server;
}

bool Server::Drain() {
  Log(LogLevel::kInfo, "drain_start", {{"grace_s", absl::ToInt64Seconds(config_.drain_grace)}});
  grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService();
  health->SetServingStatus(false);
  health->SetServingStatus(kServiceName, false);
  service_->StartDraining();
  absl::Time deadline = absl::Now() + config_.drain_grace;
  bool idle = service_->WaitIdle(deadline);
  grpc_server_->Shutdown(absl::ToChronoTime(deadline));
  Log(idle ? LogLevel::kInfo : LogLevel::kWarn, "shutdown", {{"all_calls_finished", idle}});
  return idle;
}

}  // namespace isopool::service
