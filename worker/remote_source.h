// remote_source.h: a worker process's SnapshotSource: asks the supervisor for an envelope over
// the control channel and waits for the answer. The worker needs no file system access.
//
// Threads: Load may be called from any thread (the pool's restore threads); Deliver from the
// thread that reads the control channel; Close (channel gone) wakes every waiter with
// Unavailable. Ownership: the channel must outlive this source.
#ifndef ISOPOOL_WORKER_REMOTE_SOURCE_H_
#define ISOPOOL_WORKER_REMOTE_SOURCE_H_

#include <cstdint>
#include <map>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "pool/snapshot_source.h"
#include "worker/channel.h"
#include "worker/protocol.pb.h"

namespace isopool::worker {

class RemoteSnapshotSource : public pool::SnapshotSource {
 public:
  RemoteSnapshotSource(MessageSocket& control, absl::Duration timeout)
      : control_(control), timeout_(timeout) {}

  absl::StatusOr<pool::LoadedSnapshot> Load(const std::string& snapshot_id) override;

  // The supervisor's answer to one of our requests.
  void Deliver(wire::SnapshotReply reply);
  void Close();

 private:
  MessageSocket& control_;
  const absl::Duration timeout_;
  base::Mutex mu_;
  base::CondVar answered_;
  uint64_t next_request_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::optional<wire::SnapshotReply>> pending_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_REMOTE_SOURCE_H_
