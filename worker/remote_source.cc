#include "worker/remote_source.h"

#include "engine/snapshot.h"
#include "worker/codec.h"

namespace isopool::worker {

absl::StatusOr<pool::LoadedSnapshot> RemoteSnapshotSource::Load(const std::string& snapshot_id) {
  uint64_t request_id;
  {
    base::MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("the supervisor channel is closed");
    request_id = next_request_++;
    pending_[request_id];
  }
  wire::FromWorker message;
  message.mutable_need_snapshot()->set_request_id(request_id);
  message.mutable_need_snapshot()->set_snapshot_id(snapshot_id);
  absl::Status sent = control_.Send(message.SerializeAsString());
  wire::SnapshotReply reply;
  {
    base::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout_;
    while (sent.ok() && !closed_ && !pending_[request_id].has_value() &&
           !answered_.WaitWithDeadline(&mu_, deadline)) {
    }
    std::optional<wire::SnapshotReply> answer = std::move(pending_[request_id]);
    pending_.erase(request_id);
    if (!sent.ok()) return sent;
    if (!answer) {
      return closed_ ? absl::UnavailableError("the supervisor channel is closed")
                     : absl::DeadlineExceededError("the supervisor did not send the snapshot");
    }
    reply = *std::move(answer);
  }
  if (absl::Status status = DecodeStatus(reply.status_code(), reply.status_message());
      !status.ok()) {
    return status;
  }
  absl::StatusOr<std::shared_ptr<const engine::Snapshot>> snapshot =
      engine::Snapshot::FromEnvelope(reply.envelope());
  if (!snapshot.ok()) return snapshot.status();
  pool::LoadedSnapshot loaded;
  loaded.snapshot = *std::move(snapshot);
  loaded.policy = DecodePoolPolicy(reply.policy());
  return loaded;
}

void RemoteSnapshotSource::Deliver(wire::SnapshotReply reply) {
  {
    base::MutexLock lock(&mu_);
    auto it = pending_.find(reply.request_id());
    if (it == pending_.end()) return;  // timed out meanwhile
    it->second = std::move(reply);
  }
  answered_.SignalAll();
}

void RemoteSnapshotSource::Close() {
  {
    base::MutexLock lock(&mu_);
    closed_ = true;
  }
  answered_.SignalAll();
}

}  // namespace isopool::worker
