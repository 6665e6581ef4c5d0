// translate.h: proto <-> domain. With spec.h (an upload's spec -> pack options, shared with
// isopoolctl), the only place where isopool.v1 messages meet engine/, pool/ and store/ types, and
// where absl::Status becomes grpc::Status.
//
// Plain functions; thread-safe.
#ifndef ISOPOOL_SERVICE_TRANSLATE_H_
#define ISOPOOL_SERVICE_TRANSLATE_H_

#include <grpcpp/support/status.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/call.h"
#include "isopool/v1/isopool.pb.h"
#include "pool/pool_policy.h"
#include "service/config.h"
#include "store/snapshot_store.h"

namespace isopool::service {

// The per-call limits of a snapshot: what a call gets when it asks for nothing, and the most it
// may ask for. A snapshot's spec.pool.default_limits sets both; what it leaves unset comes from
// the server's --default_* and --max_* flags.
struct CallLimitsPolicy {
  uint32_t timeout_ms = 0;
  uint32_t cpu_ms = 0;
  uint32_t heap_mib = 0;
  uint32_t max_result_bytes = 0;
};
struct SnapshotLimits {
  CallLimitsPolicy defaults;
  CallLimitsPolicy maxima;
};

// The pool policy and call defaults of a snapshot, from its envelope's annotations, with the
// server's defaults for anything left unset. `annotations` is empty for the blank snapshot.
pool::PoolPolicy PolicyFromAnnotations(const std::map<std::string, std::string>& annotations,
                                       const ServerConfig& config);
SnapshotLimits SnapshotLimitsFromAnnotations(const std::map<std::string, std::string>& annotations,
                                             const ServerConfig& config);

// The limits of one call: asked for (0 = default), capped by the snapshot's defaults and the
// server's maxima; the timeout also by the time left before the caller's deadline.
engine::CallLimits ResolveLimits(const v1::Limits& asked, const SnapshotLimits& defaults,
                                 const ServerConfig& config, absl::Duration time_left);

// Fills an ExecuteResponse from a call's result (result, logs, script error, call stats).
void FillExecuteResponse(const engine::CallResult& result, v1::ExecuteResponse* response);

// A Snapshot message from store metadata (`name` may be empty).
v1::Snapshot ToSnapshotProto(const std::string& name, const store::SnapshotMetadata& metadata);

// absl::Status -> grpc::Status, keeping the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace isopool::service

#endif  // ISOPOOL_SERVICE_TRANSLATE_H_
