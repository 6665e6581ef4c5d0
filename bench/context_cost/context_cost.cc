// context_cost: what one call costs in `context` mode (a fresh context per call, as the pool
// makes them) and in `shared` mode, through engine::JsIsolate, for calls that use none of the
// web globals and for calls that do. Built from this commit and from a base commit by
// compare.sh, which runs both side by side (see README.md).
//
//   context_cost --pack_binary=PATH [--rounds=5] [--calls=2000] [--only=PREFIX]
//                [--probe=SOURCE]   (time SOURCE in a fresh blank context instead)
//                [--restore]        (restore a new isolate before every call)
//
// Prints one line per case: name, then the median, min and max over rounds of the mean process
// CPU microseconds per call (CPU, not wall time: other engineers' builds share this machine, and
// preemption would otherwise dominate). Uses only engine APIs that predate the web runtime, so the
// same file builds at the base commit.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/js_isolate.h"
#include "engine/pack_process.h"
#include "engine/runtime.h"
#include "engine/snapshot.h"
#include "engine/watchdog.h"

namespace {

using isopool::engine::CallLimits;
using isopool::engine::CallRequest;
using isopool::engine::CallResult;
using isopool::engine::JsIsolate;
using isopool::engine::Snapshot;

constexpr uint64_t kHashSeed = 0x5eed0c0ffee;

// A small handler bundle with some weight (a few hundred functions), like a rules bundle.
std::string Bundle() {
  std::string source;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&source, "const f", i, " = (x) => x + ", i, ";\n");
  absl::StrAppend(&source,
                  "function handler(x) { return f1(x) * 2; }\n"
                  "function encode(s) { return new TextEncoder().encode(s).length; }\n");
  return source;
}

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return fallback;
}

struct Case {
  std::string name;
  std::shared_ptr<const Snapshot> snapshot;
  CallRequest request;
  JsIsolate::ContextUse use;
};

// CPU time of the whole process (the calling thread, V8's platform threads, the watchdog): what
// a call costs the machine, and robust to the preemption a shared machine causes.
double ProcessCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// --restore: every call restores a new isolate first (what `fresh` mode and pool refills pay).
bool restore_each_call = false;

// Mean process CPU microseconds per call.
double MeanMicros(const Case& c, isopool::engine::Watchdog& watchdog, int calls) {
  auto isolate = JsIsolate::Create(c.snapshot, {}, watchdog);
  if (!isolate.ok()) {
    std::fprintf(stderr, "%s: %s\n", c.name.c_str(), isolate.status().ToString().c_str());
    std::exit(1);
  }
  CallLimits limits;
  // Warm up (code caches, the shared context).
  for (int i = 0; i < 50; ++i) (*isolate)->Run(c.request, limits, c.use);
  const double start = ProcessCpuMicros();
  for (int i = 0; i < calls; ++i) {
    if (restore_each_call) isolate = JsIsolate::Create(c.snapshot, {}, watchdog);
    if (c.use == JsIsolate::ContextUse::kFresh) (void)(*isolate)->PrepareContext();
    CallResult r = (*isolate)->Run(c.request, limits, c.use);
    if (!r.status.ok() || r.error) {
      std::fprintf(stderr, "%s: %s\n", c.name.c_str(),
                   r.error ? r.error->message.c_str() : r.status.ToString().c_str());
      return -1;
    }
  }
  return (ProcessCpuMicros() - start) / calls;
}

}  // namespace

int main(int argc, char** argv) {
  isopool::engine::RuntimeOptions runtime;
  runtime.argv0 = argv[0];
  runtime.platform_threads = 1;
  runtime.hash_seed = kHashSeed;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--restore") restore_each_call = true;
  }
  const absl::Time init_start = absl::Now();
  if (!isopool::engine::InitializeRuntime(runtime).ok()) return 1;
  std::fprintf(stderr, "InitializeRuntime: %.1f ms\n",
               absl::ToDoubleMilliseconds(absl::Now() - init_start));
  int rounds = 5, calls = 2000;
  (void)absl::SimpleAtoi(Flag(argc, argv, "rounds", "5"), &rounds);
  (void)absl::SimpleAtoi(Flag(argc, argv, "calls", "2000"), &calls);
  isopool::engine::PackProcessOptions process;
  process.binary = Flag(argc, argv, "pack_binary", "engine/isopool_pack");
  process.hash_seed = kHashSeed;
  auto envelope = isopool::engine::PackInChildProcess(process, Bundle(), {});
  if (!envelope.ok()) {
    std::fprintf(stderr, "pack: %s\n", envelope.status().ToString().c_str());
    return 1;
  }
  auto bundle = Snapshot::FromEnvelope(*envelope);
  if (!bundle.ok()) return 1;
  CallRequest one_plus_one;
  one_plus_one.source = "1 + 1";
  CallRequest handler;
  handler.function = "handler";
  handler.args_json = "[7]";
  CallRequest encode;
  encode.function = "encode";
  encode.args_json = "[\"hello\"]";
  CallRequest probe;
  probe.source = Flag(argc, argv, "probe", "");
  std::vector<Case> cases = {
      {"context/blank/1+1", Snapshot::Blank(), one_plus_one, JsIsolate::ContextUse::kFresh},
      {"context/bundle/handler", *bundle, handler, JsIsolate::ContextUse::kFresh},
      {"shared/bundle/handler", *bundle, handler, JsIsolate::ContextUse::kShared},
      {"context/bundle/TextEncoder", *bundle, encode, JsIsolate::ContextUse::kFresh},
  };
  if (!probe.source.empty()) {
    cases = {{"context/blank/probe", Snapshot::Blank(), probe, JsIsolate::ContextUse::kFresh}};
  }
  const std::string only = Flag(argc, argv, "only", "");
  isopool::engine::Watchdog watchdog;
  for (const Case& c : cases) {
    if (c.name.rfind(only, 0) != 0) continue;
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(rounds));
    for (int r = 0; r < rounds; ++r) samples.push_back(MeanMicros(c, watchdog, calls));
    std::sort(samples.begin(), samples.end());
    std::printf("%-28s median %8.1f us  min %8.1f  max %8.1f\n", c.name.c_str(),
                samples[samples.size() / 2], samples.front(), samples.back());
  }
  return 0;
}
