// Tallies of one load-generator run and the report made from them.
//
// Each completion-queue thread owns one `Tally` and records every measured call into it without
// locks. After the run the tallies are merged and summarised into a `Report`, which renders as
// one JSON object (for scripts) and one table line (for people).
//
//   Tally tally;
//   tally.Record(CallClass::kWellBehaved, latency_ns, grpc_code, script_error_kind, condemned);
//   ...
//   Report report = Summarise(options, {&tally_a, &tally_b}, measured_seconds, elapsed_seconds);
//   std::cout << ReportJson(report) << "\n" << ReportTableLine(report) << "\n";
//
// Latencies are stored whole (runs are short: 100k req/s for 10 s is 8 MB) and sorted once, so
// percentiles are exact. Units in the report: microseconds.
#ifndef ISOPOOL_BENCH_LOADGEN_STATS_H_
#define ISOPOOL_BENCH_LOADGEN_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/loadgen/options.h"

namespace loadgen {

enum class CallClass { kWellBehaved, kHostile };

// Exact percentiles of a set of latencies, in microseconds.
struct LatencySummary {
  int64_t count = 0;
  double min_us = 0, mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

// Everything recorded about one class of calls. Not thread-safe: one owner thread at a time.
struct ClassTally {
  std::vector<int64_t> latencies_ns;
  std::map<std::string, int64_t> grpc_codes;     // code name -> count, OK included
  std::map<std::string, int64_t> script_errors;  // ScriptError.Kind name -> count
  std::map<std::string, int64_t> by_variant;     // hostile variant name -> count
  int64_t isolates_condemned = 0;
  std::string first_error;  // first non-OK status, "CODE: message", for diagnosis

  void Merge(const ClassTally& other);
};

struct Tally {
  ClassTally well;
  ClassTally hostile;

  ClassTally& Of(CallClass c) { return c == CallClass::kHostile ? hostile : well; }
};

struct ClassReport {
  LatencySummary latency;
  std::map<std::string, int64_t> grpc_codes;
  std::map<std::string, int64_t> script_errors;
  std::map<std::string, int64_t> by_variant;
  int64_t isolates_condemned = 0;
  std::string first_error;
};

struct Report {
  Options options;
  int64_t requests = 0;         // measured calls that completed (any outcome)
  double measured_seconds = 0;  // the window the rate is computed over
  double elapsed_seconds = 0;   // the whole run, connect to stop
  double requests_per_second = 0;
  LatencySummary latency;                     // all measured calls
  ClassReport well;                           // well-behaved calls
  ClassReport hostile;                        // hostile calls (empty unless hostile_fraction > 0)
  std::map<std::string, int64_t> grpc_codes;  // all measured calls, OK included
  // Non-OK gRPC codes on any call, plus script errors on well-behaved calls. Hostile calls'
  // script errors are the intended ones and are not counted here.
  int64_t unexpected_errors = 0;
  bool hard_cap_hit = false;
  // Context for reading the figures on a shared machine: this process's CPU time (user + system)
  // from the first call to the end, and the 1-minute load average before and after (-1 when
  // /proc/loadavg is unreadable).
  double client_cpu_seconds = 0;
  double loadavg_start = -1;
  double loadavg_end = -1;
};

// Merges the tallies and computes rates and percentiles. The context fields (client CPU, load
// average) are left for the caller to fill.
Report Summarise(const Options& options, const std::vector<const Tally*>& tallies,
                 double measured_seconds, double elapsed_seconds, bool hard_cap_hit);

// Exact nearest-rank percentiles; sorts `latencies_ns` in place.
LatencySummary Summarise(std::vector<int64_t>& latencies_ns);

// One JSON object, on one line, without a trailing newline.
std::string ReportJson(const Report& report);

// One human-readable line, without a trailing newline.
std::string ReportTableLine(const Report& report);

}  // namespace loadgen

#endif  // ISOPOOL_BENCH_LOADGEN_STATS_H_
