#include "service/isopool_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/sha256.h"
#include "engine/runtime.h"
#include "engine/snapshot.h"
#include "service/log.h"
#include "service/spec.h"
#include "service/translate.h"

namespace isopool::service {
namespace {

grpc::Status Unavailable() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "isopool is draining (shutting down): retry on another replica");
}

std::string DisplayId(const std::string& id) { return id.empty() ? "blank" : id; }

// Acquire's errors, with what the caller can do about them.
grpc::Status AcquireError(const absl::Status& status, const std::string& snapshot) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrCat("no isolate of snapshot '", snapshot,
                       "' became free before the deadline: every isolate is busy; retry with a "
                       "longer deadline, or raise the snapshot's pool.max_isolates"));
    case absl::StatusCode::kDataLoss:
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("snapshot '", snapshot,
                                       "' was found corrupted and quarantined: upload it again"));
    case absl::StatusCode::kFailedPrecondition:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat(status.message(), " (snapshot '", snapshot, "')"));
    default:
      return ToGrpcStatus(status);
  }
}

}  // namespace

IsopoolService::IsopoolService(const ServerConfig& config, store::SnapshotStore& store,
                               SnapshotCatalog& catalog, worker::CallRunner& runner,
                               Metrics& metrics, const engine::PackProcessOptions& pack_process)
    : config_(config),
      store_(store),
      catalog_(catalog),
      runner_(runner),
      metrics_(metrics),
      pack_process_(pack_process),
      build_executor_("isopool-build", config.max_concurrent_uploads,
                      config.max_concurrent_uploads) {}

IsopoolService::~IsopoolService() = default;

bool IsopoolService::BeginCall() {
  base::MutexLock lock(&mu_);
  if (draining_) return false;
  ++in_flight_;
  return true;
}

void IsopoolService::EndCall() {
  base::MutexLock lock(&mu_);
  if (--in_flight_ == 0) idle_.SignalAll();
}

void IsopoolService::StartDraining() {
  base::MutexLock lock(&mu_);
  draining_ = true;
}

bool IsopoolService::WaitIdle(absl::Time deadline) {
  base::MutexLock lock(&mu_);
  while (in_flight_ > 0) {
    if (idle_.WaitWithDeadline(&mu_, deadline)) return in_flight_ == 0;
  }
  return true;
}

grpc::ServerUnaryReactor* IsopoolService::Execute(grpc::CallbackServerContext* context,
                                                  const v1::ExecuteRequest* request,
                                                  v1::ExecuteResponse* response) {
  absl::Time received = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto refuse = [&](const grpc::Status& status, bool counted) {
    metrics_.RecordExecution("rejected", absl::Now() - received);
    reactor->Finish(status);
    if (counted) EndCall();
    return reactor;
  };
  if (!BeginCall()) return refuse(Unavailable(), false);
  if (request->call_case() == v1::ExecuteRequest::CALL_NOT_SET) {
    return refuse(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "set either `function` (a snapshot's entry point) or `source` "
                               "(inline JavaScript)"),
                  true);
  }
  if (request->has_function() && request->function().name().empty()) {
    return refuse(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "function.name is empty: name the function to call"),
                  true);
  }
  const std::string name = request->snapshot().empty() ? "blank" : request->snapshot();
  worker::Call call;
  if (!request->snapshot().empty()) {
    absl::StatusOr<std::string> resolved = store_.Resolve(request->snapshot());
    if (!resolved.ok()) {
      if (resolved.status().code() == absl::StatusCode::kNotFound) {
        return refuse(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                   absl::StrCat("no snapshot '", request->snapshot(),
                                                "': upload it with UploadSnapshot, or list the "
                                                "known ones with ListSnapshots")),
                      true);
      }
      return refuse(ToGrpcStatus(resolved.status()), true);
    }
    call.snapshot_id = *std::move(resolved);
  }
  absl::StatusOr<SnapshotLimits> defaults = catalog_.Limits(call.snapshot_id);
  if (!defaults.ok()) return refuse(AcquireError(defaults.status(), name), true);
  absl::Time deadline = absl::FromChrono(context->deadline());
  bool has_deadline = deadline < received + absl::Hours(24 * 365);
  absl::Duration time_left =
      has_deadline ? deadline - absl::Now() : absl::Milliseconds(config_.max_timeout_ms);
  if (time_left <= absl::ZeroDuration()) {
    return refuse(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                               "the deadline passed before the call could start"),
                  true);
  }
  call.limits = ResolveLimits(request->limits(), *defaults, config_, time_left);
  call.deadline = has_deadline ? deadline : absl::InfiniteFuture();
  call.acquire_deadline =
      has_deadline ? deadline : absl::Now() + absl::Milliseconds(config_.max_timeout_ms);
  if (request->has_function()) {
    call.request.function = request->function().name();
    call.request.args_json = request->function().args_json();
  } else {
    call.request.source = request->source();
  }
  std::string snapshot_id = call.snapshot_id;
  bool queued = runner_.Submit(std::move(call), [this, reactor, response, received, name,
                                                 snapshot_id](worker::CallOutcome outcome) {
    Answer(std::move(outcome), snapshot_id, name, received, reactor, response);
  });
  if (!queued) {
    return refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               absl::StrCat("the server has ", config_.max_pending_calls,
                                            " calls queued already: retry with backoff")),
                  true);
  }
  return reactor;
}

void IsopoolService::Answer(worker::CallOutcome outcome, const std::string& snapshot_id,
                            const std::string& name, absl::Time received,
                            grpc::ServerUnaryReactor* reactor, v1::ExecuteResponse* response) {
  auto finish = [&](const grpc::Status& status, const std::string& outcome_label) {
    metrics_.RecordExecution(outcome_label, absl::Now() - received);
    reactor->Finish(status);
    EndCall();
  };
  if (!outcome.status.ok()) {
    finish(AcquireError(outcome.status, name), "rejected");
    return;
  }
  const engine::CallResult& result = outcome.result;
  v1::ExecuteStats* stats = response->mutable_stats();
  stats->set_queue_wait_us(absl::ToInt64Microseconds(outcome.queue_wait));
  stats->set_restore_us(absl::ToInt64Microseconds(outcome.restore_on_path));
  stats->set_warm(outcome.warm);
  if (outcome.capped_by_deadline && result.error &&
      result.error->kind == engine::ErrorKind::kTimeout) {
    finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the caller's deadline passed while the script ran; the script was "
                        "stopped"),
           engine::ErrorKindName(result.error->kind));
    return;
  }
  FillExecuteResponse(result, response);
  response->set_snapshot_id(DisplayId(snapshot_id));
  finish(grpc::Status::OK, result.error ? engine::ErrorKindName(result.error->kind) : "ok");
}

class IsopoolService::UploadReactor : public grpc::ServerReadReactor<v1::UploadSnapshotRequest> {
 public:
  UploadReactor(IsopoolService& service, v1::UploadSnapshotResponse* response)
      : service_(service), response_(response) {
    if (!service_.BeginCall()) {
      Answer(Unavailable());
      return;
    }
    counted_ = true;
    if (service_.uploads_.fetch_add(1) >= service_.config_.max_concurrent_uploads) {
      Answer(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("the server is building ", service_.config_.max_concurrent_uploads,
                       " uploads already: retry with backoff")));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client finished sending (or went away)
      if (!have_spec_) {
        Answer(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the upload carried no spec: the first message must be the spec"));
        return;
      }
      if (!service_.build_executor_.TrySubmit(
              [this] { Answer(service_.BuildSnapshot(spec_, bundle_, response_)); })) {
        Answer(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "build queue full: retry"));
      }
      return;
    }
    if (!have_spec_) {
      if (!request_.has_spec()) {
        Answer(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the first message must carry the spec; the chunks follow it"));
        return;
      }
      spec_ = request_.spec();
      have_spec_ = true;
      if (spec_.prebuilt_envelope() && !service_.config_.allow_prebuilt_envelopes) {
        Answer(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "this server does not accept prebuilt envelopes, because V8's "
                            "deserialiser trusts its input: upload the bundle source instead, or "
                            "run the server with --allow_prebuilt_envelopes"));
        return;
      }
    } else if (request_.has_spec()) {
      Answer(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "only the first message may carry a spec"));
      return;
    } else {
      if (bundle_.size() + request_.chunk().size() > service_.config_.max_upload_bytes) {
        Answer(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("the bundle is larger than this server's limit of ",
                         service_.config_.max_upload_bytes, " bytes (--max_upload_bytes)")));
        return;
      }
      bundle_ += request_.chunk();
    }
    StartRead(&request_);
  }

  void OnDone() override {
    ReleaseSlot();
    delete this;
  }

 private:
  // Frees the upload slot before the answer goes out: a client that starts its next upload as
  // soon as it has this one's reply must find the slot free.
  void Answer(const grpc::Status& status) {
    ReleaseSlot();
    Finish(status);
  }
  void ReleaseSlot() {
    if (!counted_) return;
    counted_ = false;
    service_.uploads_.fetch_sub(1);
    service_.EndCall();
  }

  IsopoolService& service_;
  v1::UploadSnapshotResponse* response_;
  v1::UploadSnapshotRequest request_;
  v1::SnapshotSpec spec_;
  bool have_spec_ = false;
  bool counted_ = false;
  std::string bundle_;
};

grpc::ServerReadReactor<v1::UploadSnapshotRequest>* IsopoolService::UploadSnapshot(
    grpc::CallbackServerContext* /*context*/, v1::UploadSnapshotResponse* response) {
  return new UploadReactor(*this, response);
}

grpc::Status IsopoolService::BuildSnapshot(const v1::SnapshotSpec& spec, const std::string& bundle,
                                           v1::UploadSnapshotResponse* response) {
  absl::Time start = absl::Now();
  auto invalid = [this](const std::string& message) {
    metrics_.RecordBuild("invalid");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
  };
  engine::PackOptions options;
  if (absl::Status s = SpecToPackOptions(spec, config_.build, &options); !s.ok()) {
    return invalid(std::string(s.message()));
  }
  if (bundle.empty()) {
    return invalid("the bundle is empty: send its bytes in chunk messages after the spec");
  }
  store::SnapshotMetadata metadata;
  std::string envelope;
  if (spec.prebuilt_envelope()) {
    absl::StatusOr<std::shared_ptr<const engine::Snapshot>> snapshot =
        engine::Snapshot::FromEnvelope(bundle);
    if (!snapshot.ok()) {
      return invalid(absl::StrCat("prebuilt envelope rejected: ", snapshot.status().message()));
    }
    metadata.bundle_sha256 = (*snapshot)->envelope().bundle_sha256;
    metadata.source_bytes = (*snapshot)->envelope().source_bytes;
    envelope = bundle;
  } else {
    absl::StatusOr<std::string> packed = engine::PackInChildProcess(pack_process_, bundle, options);
    if (!packed.ok()) {
      if (packed.status().code() == absl::StatusCode::kInvalidArgument ||
          packed.status().code() == absl::StatusCode::kResourceExhausted) {
        Log(LogLevel::kInfo, "upload_rejected",
            {{"name", spec.name()}, {"error", packed.status().message()}});
        return invalid(absl::StrCat("the bundle does not build: ", packed.status().message()));
      }
      metrics_.RecordBuild("error");
      Log(LogLevel::kError, "upload_failed",
          {{"name", spec.name()}, {"error", packed.status().message()}});
      return ToGrpcStatus(packed.status());
    }
    envelope = *std::move(packed);
    metadata.bundle_sha256 = base::Sha256Hex(bundle);
    metadata.source_bytes = bundle.size();
  }
  metadata.v8_version = engine::V8Version();
  metadata.build_ms = absl::ToInt64Milliseconds(absl::Now() - start);
  metadata.created_ms = absl::ToUnixMillis(absl::Now());
  v1::SnapshotSpec stored_spec = spec;
  stored_spec.clear_name();  // names move; the spec describes the content
  metadata.spec = stored_spec.SerializeAsString();
  absl::StatusOr<store::PutResult> put = store_.PutAndName(spec.name(), envelope, metadata);
  if (!put.ok()) {
    metrics_.RecordBuild("error");
    Log(LogLevel::kError, "upload_failed",
        {{"name", spec.name()}, {"error", put.status().message()}});
    return ToGrpcStatus(put.status());
  }
  metrics_.RecordBuild(put->created ? "created" : "existing");
  *response->mutable_snapshot() = ToSnapshotProto(spec.name(), put->metadata);
  response->set_created(put->created);
  Log(LogLevel::kInfo, "upload",
      {{"name", spec.name()},
       {"id", put->id},
       {"created", put->created},
       {"source_bytes", static_cast<uint64_t>(metadata.source_bytes)},
       {"blob_bytes", static_cast<uint64_t>(put->metadata.blob_bytes)},
       {"build_ms", static_cast<uint64_t>(metadata.build_ms)}});
  if (spec.prewarm()) {
    // Answer once an isolate is warm, so the caller's first Execute does not pay a restore.
    absl::Status prewarmed =
        runner_.Prewarm(put->id, absl::Now() + absl::Milliseconds(options.build_timeout_ms));
    if (!prewarmed.ok()) {
      Log(LogLevel::kWarn, "prewarm_failed", {{"id", put->id}, {"error", prewarmed.message()}});
    }
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* IsopoolService::GetSnapshot(grpc::CallbackServerContext* context,
                                                      const v1::GetSnapshotRequest* request,
                                                      v1::Snapshot* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> id = store_.Resolve(request->snapshot());
  absl::StatusOr<store::SnapshotMetadata> metadata =
      id.ok() ? store_.Get(*id) : absl::StatusOr<store::SnapshotMetadata>(id.status());
  if (!metadata.ok()) {
    reactor->Finish(ToGrpcStatus(metadata.status()));
    return reactor;
  }
  bool by_id = store::LooksLikeSnapshotId(request->snapshot());
  *response = ToSnapshotProto(by_id ? "" : request->snapshot(), *metadata);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* IsopoolService::ListSnapshots(grpc::CallbackServerContext* context,
                                                        const v1::ListSnapshotsRequest* request,
                                                        v1::ListSnapshotsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<store::ListResult> page = store_.List(request->page_size(), request->page_token());
  if (!page.ok()) {
    reactor->Finish(ToGrpcStatus(page.status()));
    return reactor;
  }
  for (const store::ListEntry& entry : page->entries) {
    *response->add_snapshots() = ToSnapshotProto(entry.name, entry.metadata);
  }
  response->set_next_page_token(page->next_page_token);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* IsopoolService::DeleteSnapshot(grpc::CallbackServerContext* context,
                                                         const v1::DeleteSnapshotRequest* request,
                                                         v1::DeleteSnapshotResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<store::DeleteResult> deleted = store::LooksLikeSnapshotId(request->snapshot())
                                                    ? store_.Delete(request->snapshot())
                                                    : store_.DeleteName(request->snapshot());
  if (!deleted.ok()) {
    reactor->Finish(ToGrpcStatus(deleted.status()));
    return reactor;
  }
  if (!deleted->removed_id.empty()) {
    runner_.Remove(deleted->removed_id);
    catalog_.Forget(deleted->removed_id);
  }
  response->set_removed_id(deleted->removed_id);
  Log(LogLevel::kInfo, "delete",
      {{"snapshot", request->snapshot()}, {"removed_id", deleted->removed_id}});
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace isopool::service
