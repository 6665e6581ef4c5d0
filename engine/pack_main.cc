// isopool_pack: packs one bundle into an envelope, in its own process.
//
//   isopool_pack [--v8_flags="..."] [--heap_mib=N] [--cpu_seconds=N] < request > envelope
//
// The request (source, options and the deployment's hash seed) is engine::EncodePackRequest's
// encoding. Exit codes: 0 with the envelope on
// stdout; 3 (isopool::engine::kPackExitInvalidBundle) with the JS error on stderr; 4 for anything
// else. This process runs V8 with fixed seeds (deterministic packing), which is why it is never the
// serving process. See engine/pack_process.h.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <v8.h>

#include <iostream>
#include <iterator>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/lockdown.h"
#include "engine/pack.h"
#include "engine/pack_process.h"
#include "engine/runtime.h"

namespace {

std::string FlagValue(int argc, char** argv, const std::string& name) {
  std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  int cpu_seconds = 0;
  if (absl::SimpleAtoi(FlagValue(argc, argv, "cpu_seconds"), &cpu_seconds) && cpu_seconds > 0) {
    rlimit cpu = {static_cast<rlim_t>(cpu_seconds), static_cast<rlim_t>(cpu_seconds + 1)};
    setrlimit(RLIMIT_CPU, &cpu);
  }
  rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);

  // Read the request first: it carries the hash seed the runtime needs.
  std::string request((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string source;
  isopool::engine::PackOptions options;
  isopool::engine::RuntimeOptions runtime;
  if (absl::Status s =
          isopool::engine::DecodePackRequest(request, &source, &options, &runtime.hash_seed);
      !s.ok()) {
    std::cerr << "bad pack request: " << s.message();
    return isopool::engine::kPackExitFailed;
  }
  runtime.argv0 = argv[0];
  runtime.platform_threads = 1;
  runtime.fixed_random_seed = true;
  runtime.blank_snapshot = false;  // packing never runs blank calls
  for (absl::string_view flag :
       absl::StrSplit(FlagValue(argc, argv, "v8_flags"), ' ', absl::SkipEmpty())) {
    runtime.v8_flags.emplace_back(flag);
  }
  int heap_mib = 0;
  if (absl::SimpleAtoi(FlagValue(argc, argv, "heap_mib"), &heap_mib) && heap_mib > 0) {
    // Not part of the compatibility digest: heap size does not change the snapshot's layout.
    std::string heap_flag = absl::StrCat("--max-old-space-size=", heap_mib);
    v8::V8::SetFlagsFromString(heap_flag.c_str());
  }
  if (absl::Status s = isopool::engine::InitializeRuntime(runtime); !s.ok()) {
    std::cerr << s.message();
    return isopool::engine::kPackExitFailed;
  }
  // From here on the bundle's code runs: no new files, sockets or processes.
  tzset();
  if (absl::Status s =
          isopool::base::kSanitizerBuild ? absl::OkStatus() : isopool::base::LockDown();
      !s.ok()) {
    std::cerr << s.message();
    return isopool::engine::kPackExitFailed;
  }
  absl::StatusOr<std::string> envelope = isopool::engine::Pack(source, options);
  if (!envelope.ok()) {
    std::cerr << envelope.status().message();
    return envelope.status().code() == absl::StatusCode::kInvalidArgument
               ? isopool::engine::kPackExitInvalidBundle
               : isopool::engine::kPackExitFailed;
  }
  std::cout.write(envelope->data(), static_cast<std::streamsize>(envelope->size()));
  std::cout.flush();
  return std::cout.good() ? isopool::engine::kPackExitOk : isopool::engine::kPackExitFailed;
}
