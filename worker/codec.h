// codec.h: worker/ domain types <-> the supervisor-worker messages of protocol.proto.
//
// Both ends of the channel use these, so a field added to a domain type is added here once.
// Decoding never trusts its input: enum values out of range become safe defaults (a worker is
// untrusted once it ran a script).
//
// Plain functions; thread-safe.
#ifndef ISOPOOL_WORKER_CODEC_H_
#define ISOPOOL_WORKER_CODEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pool/pool_manager.h"
#include "pool/pool_policy.h"
#include "worker/call_runner.h"
#include "worker/protocol.pb.h"

namespace isopool::worker {

wire::Call EncodeCall(uint64_t id, const Call& call);
Call DecodeCall(const wire::Call& message);

wire::Outcome EncodeOutcome(uint64_t call_id, const CallOutcome& outcome);
CallOutcome DecodeOutcome(const wire::Outcome& message);

wire::PoolPolicy EncodePoolPolicy(const pool::PoolPolicy& policy);
pool::PoolPolicy DecodePoolPolicy(const wire::PoolPolicy& message);

wire::GlobalPolicy EncodeGlobalPolicy(const pool::GlobalPolicy& policy);
pool::GlobalPolicy DecodeGlobalPolicy(const wire::GlobalPolicy& message);

wire::PoolStats EncodePoolStats(const pool::PoolStats& stats);
pool::PoolStats DecodePoolStats(const wire::PoolStats& message);

// absl::Status as (code, message) fields, and back.
absl::Status DecodeStatus(int32_t code, const std::string& message);

// Unix microseconds; 0 stands for "no time" (absl::InfiniteFuture).
int64_t EncodeTime(absl::Time time);
absl::Time DecodeTime(int64_t unix_us);

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_CODEC_H_
