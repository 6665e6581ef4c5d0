// uninterruptible_probe: measures which long-running V8 10.2 operations ignore
// TerminateExecution, and for how long. For each candidate it prepares its input in a shared
// context (generous limits), then runs the hostile operation with a short wall limit and reports
// how long the call took to actually stop after the watchdog asked V8 to terminate it.
//
//   bazel run -c opt //bench/cold_start:uninterruptible_probe
//
// Output: one line per candidate: natural run time (no limit), time to stop after termination
// was requested, the error kind and the condemn reason. tests/engine/uninterruptible_test.cc
// records the figures and tests the worst real case.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/js_isolate.h"
#include "engine/runtime.h"
#include "engine/watchdog.h"

namespace {

using isopool::engine::CallLimits;
using isopool::engine::CallRequest;
using isopool::engine::CallResult;
using isopool::engine::CondemnReasonName;
using isopool::engine::ErrorKindName;
using isopool::engine::IsolateOptions;
using isopool::engine::JsIsolate;
using isopool::engine::Snapshot;
using isopool::engine::Watchdog;

struct Candidate {
  const char* name;
  const char* setup;   // runs first, unlimited
  const char* attack;  // runs with the short limit
  size_t heap_mib = 512;
};

constexpr absl::Duration kLimit = absl::Milliseconds(20);

CallResult RunIn(JsIsolate& isolate, const std::string& source, absl::Duration wall) {
  CallRequest request;
  request.source = source;
  CallLimits limits;
  limits.wall = wall;
  limits.cpu = absl::Seconds(120);
  limits.max_result_bytes = 1 << 20;
  return isolate.Run(request, limits, JsIsolate::ContextUse::kShared);
}

// The attack's result, or the setup's when the setup failed (then its stats are the setup's).
CallResult Measure(Watchdog& watchdog, const Candidate& c, absl::Duration wall) {
  IsolateOptions options;
  options.heap_limit_bytes = c.heap_mib << 20;
  options.max_array_buffer_bytes = size_t{512} << 20;
  auto isolate = JsIsolate::Create(Snapshot::Blank(), options, watchdog);
  if (!isolate.ok()) {
    CallResult r;
    r.status = isolate.status();
    return r;
  }
  CallResult setup = RunIn(**isolate, c.setup, absl::Seconds(120));
  if (!setup.status.ok() || setup.error) return setup;
  return RunIn(**isolate, c.attack, wall);
}

std::string Describe(const CallResult& r) {
  if (!r.status.ok()) return "status " + r.status.ToString();
  if (!r.error) return "ok " + r.result_json.substr(0, 30);
  return absl::StrFormat("%s (%s) condemned=%s", ErrorKindName(r.error->kind),
                         r.error->message.substr(0, 60), CondemnReasonName(r.condemned));
}

}  // namespace

int main(int argc, char** argv) {
  isopool::engine::RuntimeOptions runtime;
  runtime.argv0 = argv[0];
  runtime.platform_threads = 2;
  if (!isopool::engine::InitializeRuntime(runtime).ok()) return 1;
  Watchdog::Options wd;
  wd.unresponsive_grace = absl::Milliseconds(100);
  Watchdog watchdog(wd);

  const std::vector<Candidate> candidates = {
      {"Array(3e7).fill(1.5)", "globalThis.a = new Array(3e7); 1", "a.fill(1.5); a.length"},
      {"Array(6e7).fill(0) smi", "globalThis.a = new Array(6e7); 1", "a.fill(0); a.length"},
      {"new Array(3e7).fill(1.5) (alloc+fill)", "1", "new Array(3e7).fill(1.5).length"},
      {"BigInt('9'.repeat(1e6))", "globalThis.s = '9'.repeat(1e6); 1", "BigInt(s) > 0n"},
      {"BigInt('9'.repeat(3e6))", "globalThis.s = '9'.repeat(3e6); 1", "BigInt(s) > 0n"},
      {"eval 1e6-digit BigInt literal", "globalThis.s = '9'.repeat(1e6) + 'n'; 1", "eval(s) > 0n"},
      {"(10n**300000n).toString()", "globalThis.b = 10n ** 300000n; 1", "b.toString().length"},
      {"BigInt 3**2e7 (mul)", "1", "(3n ** 20000000n) > 0n"},
      {"'x'.repeat(2e7).split('')", "globalThis.s = 'x'.repeat(2e7); 1", "s.split('').length"},
      {"regexp (a+)+$ backtrack", "globalThis.s = 'a'.repeat(28) + 'b'; 1", "/(a+)+$/.test(s)"},
      {"JSON.parse 1e7-elem array", "globalThis.s = '[' + '1,'.repeat(1e7) + '1]'; 1",
       "JSON.parse(s).length"},
      {"JSON.parse 1e8-char string", "globalThis.s = JSON.stringify('x'.repeat(1e8)); 1",
       "JSON.parse(s).length"},
      {"Float64Array(5e7).sort()",
       "globalThis.t = new Float64Array(5e7); for (let i = 0; i < t.length; i++) t[i] = "
       "Math.random(); 1",
       "t.sort(); t.length"},
      {"Array(3e5 doubles).sort() (string compare)",
       "globalThis.a = Array.from({length: 3e5}, () => Math.random()); 1", "a.sort(); a.length"},
      {"eval 3e6-digit BigInt literal", "globalThis.s = '9'.repeat(3e6) + 'n'; 1", "eval(s) > 0n"},
      {"Array(4e7).fill(0) smi", "globalThis.a = new Array(4e7); 1", "a.fill(0); a.length"},
      {"Array(1e7).fill(0) 64MiB heap", "globalThis.a = new Array(1e7); 1", "a.fill(0); a.length",
       64},
      {"Array(3e6).fill(0) 64MiB heap", "globalThis.a = new Array(3e6); 1", "a.fill(0); a.length",
       64},
      {"Float64Array(8e6).sort()",
       "globalThis.t = new Float64Array(8e6); for (let i = 0; i < t.length; i++) t[i] = "
       "Math.random(); 1",
       "t.sort(); t.length"},
      {"huge cons string flatten+indexOf",
       "globalThis.s = ''; for (let i = 0; i < 2e6; i++) s += 'abcdefghij' + i; 1",
       "s.indexOf('zz')"},
      {"localeCompare 5e7 chars", "globalThis.s1 = 'a'.repeat(5e7); globalThis.s2 = s1 + 'b'; 1",
       "s1.localeCompare(s2)"},
      {"normalize NFD 5e7", "globalThis.s = '\\u00e9'.repeat(5e7); 1", "s.normalize('NFD').length"},
      {"Array(5e7).includes", "globalThis.a = new Array(5e7).fill(1.5); 1", "a.includes(2)"},
      {"s.replace(/x/g,'yy') 2e7", "globalThis.s = 'x'.repeat(2e7); 1",
       "s.replace(/x/g, 'yy').length"},
      {"Array(2e7) join", "globalThis.a = new Array(2e7).fill('ab'); 1", "a.join(',').length"},
  };
  std::printf("%-40s %12s %14s  %s\n", "candidate", "natural_ms", "stop_after_ms", "outcome");
  for (const Candidate& c : candidates) {
    if (argc > 1) {
      bool wanted = false;
      for (absl::string_view part : absl::StrSplit(argv[1], ',')) {
        wanted = wanted || absl::string_view(c.name).find(part) != absl::string_view::npos;
      }
      if (!wanted) continue;
    }
    CallResult natural = Measure(watchdog, c, absl::Seconds(120));
    CallResult limited = Measure(watchdog, c, kLimit);
    std::printf("%-40s %12.1f %14.1f  heap_after=%zuMiB %s | natural: %s\n", c.name,
                absl::ToDoubleMilliseconds(natural.stats.wall),
                absl::ToDoubleMilliseconds(limited.stats.wall - kLimit),
                limited.stats.heap_after_bytes >> 20, Describe(limited).c_str(),
                Describe(natural).c_str());
    std::fflush(stdout);
  }
  return 0;
}
