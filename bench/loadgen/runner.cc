#include "bench/loadgen/runner.h"

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "isopool/v1/isopool.grpc.pb.h"

namespace loadgen {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using isopool::v1::ExecuteRequest;
using isopool::v1::ExecuteResponse;
using isopool::v1::Isopool;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// gRPC's status codes are absl's, number for number; absl spells them as the gRPC spec does
// ("DEADLINE_EXCEEDED"), which is the key the report uses.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// State shared by all slots of one run. Immutable after the run starts, except the atomics.
struct Shared {
  const Options* options = nullptr;
  int64_t warmup_end_ns = 0;
  int64_t measure_end_ns = std::numeric_limits<int64_t>::max();
  int64_t hard_cap_ns = 0;

  HealthCheckRequest health_request;
  ExecuteRequest well_request;
  std::vector<ExecuteRequest> hostile_requests;

  std::atomic<bool> stop{false};
  std::atomic<int64_t> measured_issued{0};
  std::atomic<int64_t> call_index{0};
  std::atomic<int64_t> last_measured_done_ns{0};
  std::atomic<int> active_slots{0};
  absl::Notification all_retired;
};

// One closed-loop lane: at most one call in flight, the next issued when it completes. With the
// async API the completion-queue thread of `cq` drives it; with the callback API (`cq` null)
// gRPC's callback threads do. The main thread only starts it, may cancel it, and reads its
// tally once every slot has retired.
class Slot {
 public:
  Slot(Shared& shared, Health::Stub* health, Isopool::Stub* isopool, grpc::CompletionQueue* cq)
      : shared_(shared), health_(health), isopool_(isopool), cq_(cq) {}

  // Only after the run: no call is in flight and none will start.
  const Tally& tally() const { return tally_; }

  // Issues calls until one is in flight, or retires the slot when the run is over. A call that
  // completed inline (the callback API may do that when a call fails at once) is finished here
  // and the loop goes on, rather than recursing through OnDone().
  void Next() {
    while (Start()) {
      State expected = State::kStarting;
      if (state_.compare_exchange_strong(expected, State::kIdle)) return;  // completes later
      state_.store(State::kIdle);
      if (measured_) Record(end_ns_);
    }
  }

  // The call completed (on the completion-queue or callback thread). Records it and goes on.
  void OnDone() {
    end_ns_ = NowNs();
    {
      absl::MutexLock lock(&mu_);
      in_flight_ = false;
    }
    State expected = State::kStarting;
    if (state_.compare_exchange_strong(expected, State::kCompletedInline)) return;  // Next() has it
    if (measured_) Record(end_ns_);
    Next();
  }

  // Cancels the call in flight, if any. Any thread; the caller has set `shared.stop` first.
  void Cancel() {
    absl::MutexLock lock(&mu_);
    // A context cancelled before its call starts cancels the call as it starts.
    if (in_flight_) ctx_->TryCancel();
  }

 private:
  enum class State { kIdle, kStarting, kCompletedInline };

  // Starts one call; returns false when the slot retired instead. After retiring, nothing of this
  // slot may be touched: the main thread may destroy it.
  bool Start() {
    const Options& o = *shared_.options;
    const ExecuteRequest* execute = &shared_.well_request;
    grpc::ClientContext* ctx = nullptr;
    bool retire = false;
    {
      absl::MutexLock lock(&mu_);
      const int64_t now = NowNs();
      // `stop` is read under mu_, so a Cancel() that follows setting it cannot miss a new call.
      if (shared_.stop.load() || now >= shared_.hard_cap_ns || now >= shared_.measure_end_ns) {
        retire = true;
      } else {
        measured_ = now >= shared_.warmup_end_ns;
        retire = measured_ && o.requests > 0 && shared_.measured_issued.fetch_add(1) >= o.requests;
      }
      if (!retire) {
        class_ = CallClass::kWellBehaved;
        variant_ = -1;
        if (o.hostile_fraction > 0) {
          // Exactly `fraction` of the calls, spread evenly: call i is hostile when floor(i * f)
          // steps up.
          const int64_t i = shared_.call_index.fetch_add(1);
          const auto before =
              static_cast<int64_t>(std::floor(static_cast<double>(i) * o.hostile_fraction));
          const auto after =
              static_cast<int64_t>(std::floor(static_cast<double>(i + 1) * o.hostile_fraction));
          if (after > before) {
            class_ = CallClass::kHostile;
            variant_ =
                static_cast<int>(after % static_cast<int64_t>(shared_.hostile_requests.size()));
            execute = &shared_.hostile_requests[variant_];
          }
        }
        ctx_ = std::make_unique<grpc::ClientContext>();
        ctx_->set_deadline(std::chrono::system_clock::now() +
                           absl::ToChronoNanoseconds(o.rpc_deadline));
        ctx = ctx_.get();
        in_flight_ = true;
        state_.store(State::kStarting);
      }
    }
    if (retire) {
      if (shared_.active_slots.fetch_sub(1) == 1) shared_.all_retired.Notify();
      return false;
    }
    // Started outside mu_: a completion that runs inline takes mu_ in OnDone().
    start_ns_ = NowNs();
    if (cq_ == nullptr) {
      auto done = [this](grpc::Status status) {
        status_ = std::move(status);
        OnDone();
      };
      if (o.rpc == RpcKind::kHealth) {
        health_->async()->Check(ctx, &shared_.health_request, &health_response_, done);
      } else {
        isopool_->async()->Execute(ctx, execute, &execute_response_, done);
      }
    } else if (o.rpc == RpcKind::kHealth) {
      health_reader_ = health_->AsyncCheck(ctx, shared_.health_request, cq_);
      health_reader_->Finish(&health_response_, &status_, this);
    } else {
      execute_reader_ = isopool_->AsyncExecute(ctx, *execute, cq_);
      execute_reader_->Finish(&execute_response_, &status_, this);
    }
    return true;
  }

  void Record(int64_t end_ns) {
    ClassTally& t = tally_.Of(class_);
    t.latencies_ns.push_back(end_ns - start_ns_);
    t.grpc_codes[CodeName(status_.error_code())]++;
    if (variant_ >= 0) t.by_variant[shared_.options->hostile[variant_].name]++;
    if (!status_.ok()) {
      if (t.first_error.empty()) {
        t.first_error = absl::StrCat(CodeName(status_.error_code()), ": ", status_.error_message());
      }
    } else if (shared_.options->rpc == RpcKind::kHealth) {
      if (health_response_.status() != HealthCheckResponse::SERVING) {
        t.script_errors[absl::StrCat(
            "health_", HealthCheckResponse::ServingStatus_Name(health_response_.status()))]++;
      }
    } else {
      if (execute_response_.has_error()) {
        t.script_errors[isopool::v1::ScriptError::Kind_Name(execute_response_.error().kind())]++;
      }
      if (execute_response_.stats().isolate_condemned()) t.isolates_condemned++;
    }
    int64_t last = shared_.last_measured_done_ns.load();
    while (end_ns > last && !shared_.last_measured_done_ns.compare_exchange_weak(last, end_ns)) {
    }
  }

  Shared& shared_;
  Health::Stub* const health_;
  Isopool::Stub* const isopool_;
  grpc::CompletionQueue* const cq_;  // null: callback API

  absl::Mutex mu_;  // guards the context against Cancel() from the main thread
  std::unique_ptr<grpc::ClientContext> ctx_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;

  // Written by Next() and read by OnDone(); gRPC's completion orders the two, and calls of one
  // slot never overlap, so the tally needs no lock either.
  Tally tally_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<HealthCheckResponse>> health_reader_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<ExecuteResponse>> execute_reader_;
  HealthCheckResponse health_response_;
  ExecuteResponse execute_response_;
  grpc::Status status_;
  int64_t start_ns_ = 0;
  int64_t end_ns_ = 0;
  std::atomic<State> state_{State::kIdle};
  bool measured_ = false;
  CallClass class_ = CallClass::kWellBehaved;
  int variant_ = -1;
};

ExecuteRequest MakeExecute(const Options& o, const std::string& source, uint32_t timeout_ms,
                           uint32_t heap_mib) {
  ExecuteRequest r;
  r.set_snapshot(o.snapshot);
  if (!source.empty()) {
    r.set_source(source);
  } else {
    r.mutable_function()->set_name(o.function);
    r.mutable_function()->set_args_json(o.args_json);
  }
  if (timeout_ms > 0) r.mutable_limits()->set_timeout_ms(timeout_ms);
  if (heap_mib > 0) r.mutable_limits()->set_heap_mib(heap_mib);
  return r;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one_minute = -1;
  if (!(in >> one_minute)) return -1;
  return one_minute;
}

void PollLoop(grpc::CompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  // Unary Finish always reports ok=true; the outcome is in the call's status.
  while (cq->Next(&tag, &ok)) static_cast<Slot*>(tag)->OnDone();
}

}  // namespace

absl::StatusOr<Report> Run(const Options& o) {
  const int64_t t0 = NowNs();
  Shared shared;
  shared.options = &o;
  shared.hard_cap_ns = t0 + absl::ToInt64Nanoseconds(o.hard_cap);
  shared.health_request.set_service(o.health_service);
  shared.well_request = MakeExecute(o, o.source, o.timeout_ms, o.heap_mib);
  for (const HostileVariant& v : o.hostile) {
    shared.hostile_requests.push_back(MakeExecute(o, v.source, v.timeout_ms, v.heap_mib));
  }

  // Each channel gets its own connection: a local subchannel pool, and a distinct argument so
  // that no two channels could ever be keyed to the same subchannel.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<Health::Stub>> health_stubs;
  std::vector<std::unique_ptr<Isopool::Stub>> isopool_stubs;
  const auto connect_deadline =
      std::chrono::system_clock::now() + absl::ToChronoNanoseconds(o.connect_timeout);
  for (int i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("isopool.loadgen.channel_index", i);
    channels.push_back(
        grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
    health_stubs.push_back(Health::NewStub(channels.back()));
    isopool_stubs.push_back(Isopool::NewStub(channels.back()));
  }
  for (int i = 0; i < o.channels; ++i) {
    if (!channels[i]->WaitForConnected(connect_deadline)) {
      return absl::UnavailableError(absl::StrCat("channel ", i, " did not connect to ", o.target,
                                                 " within ",
                                                 absl::FormatDuration(o.connect_timeout)));
    }
  }

  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs;
  if (o.api == ClientApi::kAsync) {
    for (int i = 0; i < o.cq_threads; ++i) cqs.push_back(std::make_unique<grpc::CompletionQueue>());
  }
  std::vector<std::unique_ptr<Slot>> slots;
  for (int i = 0; i < o.concurrency; ++i) {
    const int c = i % o.channels;
    grpc::CompletionQueue* cq = cqs.empty() ? nullptr : cqs[i % cqs.size()].get();
    slots.push_back(
        std::make_unique<Slot>(shared, health_stubs[c].get(), isopool_stubs[c].get(), cq));
  }

  const double loadavg_start = LoadAverage();
  const double cpu_start = CpuSeconds();
  const int64_t start_ns = NowNs();
  shared.warmup_end_ns = start_ns + absl::ToInt64Nanoseconds(o.warmup);
  if (o.requests == 0) {
    shared.measure_end_ns = shared.warmup_end_ns + absl::ToInt64Nanoseconds(o.duration);
  }
  shared.active_slots = o.concurrency;
  std::vector<std::thread> threads;
  for (auto& cq : cqs) threads.emplace_back(PollLoop, cq.get());
  for (auto& slot : slots) slot->Next();

  bool hard_cap_hit = false;
  const absl::Duration until_cap = absl::Nanoseconds(shared.hard_cap_ns - NowNs());
  if (!shared.all_retired.WaitForNotificationWithTimeout(until_cap)) {
    hard_cap_hit = true;
    shared.stop = true;
    for (auto& slot : slots) slot->Cancel();
    // Cancelled calls complete promptly; the per-call deadline bounds this wait anyway.
    if (!shared.all_retired.WaitForNotificationWithTimeout(o.rpc_deadline + absl::Seconds(5))) {
      std::fprintf(stderr, "loadgen: calls still in flight after the hard cap; exiting\n");
      std::_Exit(4);
    }
  }
  const int64_t end_ns = NowNs();
  const double client_cpu_seconds = CpuSeconds() - cpu_start;
  for (auto& cq : cqs) cq->Shutdown();
  for (auto& t : threads) t.join();

  double measured_seconds = 0;
  if (o.requests == 0) {
    measured_seconds =
        static_cast<double>(std::min(end_ns, shared.measure_end_ns) - shared.warmup_end_ns) / 1e9;
  } else {
    measured_seconds =
        static_cast<double>(shared.last_measured_done_ns.load() - shared.warmup_end_ns) / 1e9;
  }
  measured_seconds = std::max(0.0, measured_seconds);
  std::vector<const Tally*> parts;
  for (const auto& slot : slots) parts.push_back(&slot->tally());
  Report report =
      Summarise(o, parts, measured_seconds, static_cast<double>(end_ns - t0) / 1e9, hard_cap_hit);
  report.client_cpu_seconds = client_cpu_seconds;
  report.loadavg_start = loadavg_start;
  report.loadavg_end = LoadAverage();
  return report;
}

}  // namespace loadgen
