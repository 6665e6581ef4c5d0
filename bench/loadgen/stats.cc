#include "bench/loadgen/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/text_format.h"

namespace loadgen {
namespace {

void AddCounts(const std::map<std::string, int64_t>& from, std::map<std::string, int64_t>& to) {
  for (const auto& [key, n] : from) to[key] += n;
}

std::string JsonString(const std::string& s) { return isopool::base::JsonQuote(s); }

// Finite numbers only: JSON has no NaN or infinity.
std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "0";
  return absl::StrFormat("%.1f", v);
}

std::string JsonCounts(const std::map<std::string, int64_t>& counts) {
  std::vector<std::string> parts;
  for (const auto& [key, n] : counts) parts.push_back(absl::StrCat(JsonString(key), ":", n));
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::map<std::string, int64_t> NonOk(const std::map<std::string, int64_t>& codes) {
  std::map<std::string, int64_t> out;
  for (const auto& [code, n] : codes) {
    if (code != "OK") out[code] = n;
  }
  return out;
}

std::string JsonLatency(const LatencySummary& l) {
  return absl::StrCat("{\"count\":", l.count, ",\"min\":", JsonNumber(l.min_us),
                      ",\"mean\":", JsonNumber(l.mean_us), ",\"p50\":", JsonNumber(l.p50_us),
                      ",\"p90\":", JsonNumber(l.p90_us), ",\"p99\":", JsonNumber(l.p99_us),
                      ",\"p999\":", JsonNumber(l.p999_us), ",\"max\":", JsonNumber(l.max_us), "}");
}

std::string JsonClass(const ClassReport& c) {
  return absl::StrCat("{\"requests\":", c.latency.count, ",\"latency\":", JsonLatency(c.latency),
                      ",\"grpc_codes\":", JsonCounts(c.grpc_codes),
                      ",\"errors_by_code\":", JsonCounts(NonOk(c.grpc_codes)),
                      ",\"script_errors\":", JsonCounts(c.script_errors),
                      ",\"by_variant\":", JsonCounts(c.by_variant),
                      ",\"isolates_condemned\":", c.isolates_condemned,
                      ",\"first_error\":", JsonString(c.first_error), "}");
}

ClassReport ToReport(ClassTally& t) {
  ClassReport r;
  r.latency = Summarise(t.latencies_ns);
  r.grpc_codes = t.grpc_codes;
  r.script_errors = t.script_errors;
  r.by_variant = t.by_variant;
  r.isolates_condemned = t.isolates_condemned;
  r.first_error = t.first_error;
  return r;
}

int64_t Sum(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [key, v] : counts) n += v;
  return n;
}

std::string Ms(double us) { return absl::StrFormat("%.2f", us / 1000.0); }

}  // namespace

void ClassTally::Merge(const ClassTally& other) {
  latencies_ns.insert(latencies_ns.end(), other.latencies_ns.begin(), other.latencies_ns.end());
  AddCounts(other.grpc_codes, grpc_codes);
  AddCounts(other.script_errors, script_errors);
  AddCounts(other.by_variant, by_variant);
  isolates_condemned += other.isolates_condemned;
  if (first_error.empty()) first_error = other.first_error;
}

LatencySummary Summarise(std::vector<int64_t>& latencies_ns) {
  LatencySummary s;
  s.count = static_cast<int64_t>(latencies_ns.size());
  if (latencies_ns.empty()) return s;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  const auto at = [&](double q) {
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(latencies_ns.size())));
    rank = std::clamp<size_t>(rank, 1, latencies_ns.size());
    return static_cast<double>(latencies_ns[rank - 1]) / 1000.0;
  };
  double total = 0;
  for (const int64_t v : latencies_ns) total += static_cast<double>(v);
  s.min_us = static_cast<double>(latencies_ns.front()) / 1000.0;
  s.max_us = static_cast<double>(latencies_ns.back()) / 1000.0;
  s.mean_us = total / static_cast<double>(latencies_ns.size()) / 1000.0;
  s.p50_us = at(0.50);
  s.p90_us = at(0.90);
  s.p99_us = at(0.99);
  s.p999_us = at(0.999);
  return s;
}

Report Summarise(const Options& options, const std::vector<const Tally*>& tallies,
                 double measured_seconds, double elapsed_seconds, bool hard_cap_hit) {
  Tally all;
  for (const Tally* t : tallies) {
    all.well.Merge(t->well);
    all.hostile.Merge(t->hostile);
  }
  Report r;
  r.options = options;
  r.measured_seconds = measured_seconds;
  r.elapsed_seconds = elapsed_seconds;
  r.hard_cap_hit = hard_cap_hit;

  std::vector<int64_t> every = all.well.latencies_ns;
  every.insert(every.end(), all.hostile.latencies_ns.begin(), all.hostile.latencies_ns.end());
  r.latency = Summarise(every);
  r.requests = r.latency.count;
  r.requests_per_second = measured_seconds > 0 ? r.requests / measured_seconds : 0;

  r.well = ToReport(all.well);
  r.hostile = ToReport(all.hostile);
  AddCounts(r.well.grpc_codes, r.grpc_codes);
  AddCounts(r.hostile.grpc_codes, r.grpc_codes);
  r.unexpected_errors = Sum(NonOk(r.grpc_codes)) + Sum(r.well.script_errors);
  return r;
}

std::string ReportJson(const Report& r) {
  const Options& o = r.options;
  const bool execute = o.rpc == RpcKind::kExecute;
  std::string json = absl::StrCat("{\"label\":", JsonString(o.label),
                                  ",\"rpc\":", JsonString(execute ? "execute" : "health"),
                                  ",\"target\":", JsonString(o.target));
  if (execute) {
    absl::StrAppend(&json, ",\"snapshot\":", JsonString(o.snapshot),
                    ",\"function\":", JsonString(o.function), ",\"source\":", JsonString(o.source),
                    ",\"timeout_ms\":", o.timeout_ms, ",\"heap_mib\":", o.heap_mib);
  }
  absl::StrAppend(
      &json, ",\"api\":", JsonString(o.api == ClientApi::kAsync ? "async" : "callback"),
      ",\"concurrency\":", o.concurrency, ",\"channels\":", o.channels,
      ",\"cq_threads\":", o.cq_threads,
      ",\"mode\":", JsonString(o.requests > 0 ? "requests" : "duration"),
      ",\"warmup_seconds\":", JsonNumber(absl::ToDoubleSeconds(o.warmup)),
      ",\"duration_seconds\":", JsonNumber(absl::ToDoubleSeconds(o.duration)),
      ",\"requests_target\":", o.requests,
      ",\"measured_seconds\":", absl::StrFormat("%.3f", r.measured_seconds),
      ",\"elapsed_seconds\":", absl::StrFormat("%.3f", r.elapsed_seconds),
      ",\"requests\":", r.requests, ",\"requests_per_second\":", JsonNumber(r.requests_per_second),
      ",\"latency_unit\":\"us\",\"latency\":", JsonLatency(r.latency),
      ",\"grpc_codes\":", JsonCounts(r.grpc_codes),
      ",\"errors_by_code\":", JsonCounts(NonOk(r.grpc_codes)),
      ",\"script_errors\":", JsonCounts(r.well.script_errors),
      ",\"isolates_condemned\":", r.well.isolates_condemned + r.hostile.isolates_condemned,
      ",\"unexpected_errors\":", r.unexpected_errors,
      ",\"hard_cap_hit\":", r.hard_cap_hit ? "true" : "false",
      ",\"client_cpu_seconds\":", absl::StrFormat("%.3f", r.client_cpu_seconds),
      ",\"loadavg_start\":", absl::StrFormat("%.2f", r.loadavg_start),
      ",\"loadavg_end\":", absl::StrFormat("%.2f", r.loadavg_end),
      ",\"well_behaved\":", JsonClass(r.well));
  if (o.hostile_fraction > 0) {
    std::vector<std::string> variants;
    for (const HostileVariant& v : o.hostile) {
      variants.push_back(
          absl::StrCat("{\"name\":", JsonString(v.name), ",\"source\":", JsonString(v.source),
                       ",\"timeout_ms\":", v.timeout_ms, ",\"heap_mib\":", v.heap_mib, "}"));
    }
    absl::StrAppend(&json, ",\"hostile_fraction\":", absl::StrFormat("%g", o.hostile_fraction),
                    ",\"hostile_variants\":[", absl::StrJoin(variants, ","), "]",
                    ",\"hostile\":", JsonClass(r.hostile));
  }
  return json + "}";
}

std::string ReportTableLine(const Report& r) {
  const Options& o = r.options;
  std::string name =
      o.label.empty() ? (o.rpc == RpcKind::kExecute ? "execute" : "health") : o.label;
  std::string line = absl::StrFormat(
      "%-28s c=%-3d ch=%d | %9.0f req/s | ms p50 %s p90 %s p99 %s p99.9 %s max %s | n=%d "
      "errors=%d",
      name, o.concurrency, o.channels, r.requests_per_second, Ms(r.latency.p50_us),
      Ms(r.latency.p90_us), Ms(r.latency.p99_us), Ms(r.latency.p999_us), Ms(r.latency.max_us),
      r.requests, r.unexpected_errors);
  const auto non_ok = NonOk(r.grpc_codes);
  if (!non_ok.empty()) {
    absl::StrAppend(&line, " {", absl::StrJoin(non_ok, ",", absl::PairFormatter("=")), "}");
  }
  if (!r.well.script_errors.empty()) {
    absl::StrAppend(&line, " script{",
                    absl::StrJoin(r.well.script_errors, ",", absl::PairFormatter("=")), "}");
  }
  if (o.hostile_fraction > 0) {
    absl::StrAppend(
        &line, absl::StrFormat(
                   " | well p99 %s ms | hostile n=%d p50 %s ms {%s} condemned=%d",
                   Ms(r.well.latency.p99_us), r.hostile.latency.count, Ms(r.hostile.latency.p50_us),
                   absl::StrJoin(r.hostile.script_errors, ",", absl::PairFormatter("=")),
                   r.well.isolates_condemned + r.hostile.isolates_condemned));
  }
  absl::StrAppend(&line, absl::StrFormat(" | client cpu %.1fs load %.1f->%.1f",
                                         r.client_cpu_seconds, r.loadavg_start, r.loadavg_end));
  if (r.hard_cap_hit) absl::StrAppend(&line, " HARD-CAP-HIT");
  return line;
}

}  // namespace loadgen
