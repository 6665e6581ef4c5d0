#include "bench/loadgen/options.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace loadgen {

absl::Status ValidateTarget(const std::string& target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("target '", target, "' has no port; use 127.0.0.1:PORT"));
  }
  const absl::string_view host = absl::string_view(target).substr(0, colon);
  const absl::string_view port_text = absl::string_view(target).substr(colon + 1);
  // Only the literal loopback names: no resolver schemes, no other 127/8 spellings, so that
  // nothing but this machine can ever receive the load.
  if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    return absl::InvalidArgumentError(absl::StrCat(
        "target '", target, "' refused: load may only go to 127.0.0.1, localhost or [::1]"));
  }
  uint32_t port = 0;
  if (port_text.empty() || !std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("target '", target, "' has no valid port (1..65535)"));
  }
  return absl::OkStatus();
}

absl::Status Validate(const Options& o) {
  if (absl::Status s = ValidateTarget(o.target); !s.ok()) return s;
  if (o.concurrency < 1 || o.concurrency > 10000) {
    return absl::InvalidArgumentError("--concurrency must be in 1..10000");
  }
  if (o.channels < 1 || o.channels > 256) {
    return absl::InvalidArgumentError("--channels must be in 1..256");
  }
  if (o.cq_threads < 1 || o.cq_threads > 64) {
    return absl::InvalidArgumentError("--cq_threads must be in 1..64");
  }
  if (o.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--warmup_seconds must be >= 0");
  }
  if (o.requests < 0) return absl::InvalidArgumentError("--requests must be >= 0");
  if (o.requests == 0 && o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("set --duration_seconds > 0 or --requests > 0");
  }
  if (o.rpc_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--rpc_deadline_ms must be > 0");
  }
  if (o.hard_cap <= absl::ZeroDuration() || o.hard_cap > absl::Hours(1)) {
    return absl::InvalidArgumentError("--hard_cap_seconds must be in (0, 3600]");
  }
  if (o.requests == 0 && o.connect_timeout + o.warmup + o.duration > o.hard_cap) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect timeout + warm-up + duration (",
                     absl::FormatDuration(o.connect_timeout + o.warmup + o.duration),
                     ") exceeds --hard_cap_seconds (", absl::FormatDuration(o.hard_cap), ")"));
  }
  if (o.hostile_fraction < 0 || o.hostile_fraction > 1) {
    return absl::InvalidArgumentError("--hostile_fraction must be in [0, 1]");
  }
  if (o.rpc == RpcKind::kExecute) {
    if (o.function.empty() == o.source.empty()) {
      return absl::InvalidArgumentError("--rpc=execute needs exactly one of --function, --source");
    }
    if (!o.function.empty() && o.snapshot.empty()) {
      return absl::InvalidArgumentError(
          "--function needs --snapshot (the blank snapshot only accepts --source)");
    }
    if (o.hostile_fraction > 0 && o.hostile.empty()) {
      return absl::InvalidArgumentError(
          "--hostile_fraction > 0 needs at least one hostile variant");
    }
  } else {
    if (!o.function.empty() || !o.source.empty() || !o.args_json.empty() || !o.snapshot.empty()) {
      return absl::InvalidArgumentError(
          "--snapshot/--function/--args_json/--source only apply to --rpc=execute");
    }
    if (o.hostile_fraction > 0) {
      return absl::InvalidArgumentError("--hostile_fraction only applies to --rpc=execute");
    }
  }
  return absl::OkStatus();
}

absl::Status AddBuiltinHostile(const std::string& name, uint32_t loop_timeout_ms, uint32_t heap_mib,
                               uint32_t heap_timeout_ms, std::vector<HostileVariant>& out) {
  if (name == "loop") {
    out.push_back({"loop", "while (true) {}", loop_timeout_ms, 0});
  } else if (name == "heap") {
    // Keeps every chunk reachable, so only the heap limit (not GC) can stop it.
    out.push_back(
        {"heap",
         "const keep = []; while (true) { keep.push(new Array(100000).fill(keep.length)); }",
         heap_timeout_ms, heap_mib});
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown hostile variant '", name, "' (known: loop, heap)"));
  }
  return absl::OkStatus();
}

}  // namespace loadgen
