#include "bench/cold_start/bundle.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace isopool::bench {
namespace {

constexpr int kCalled = 7500;

std::string Functions(const char* prefix = "") {
  std::string out;
  out.reserve(800 << 10);
  for (int i = 0; i < kBundleFunctions; ++i) {
    absl::StrAppendFormat(&out, "%sconst f%05d = (x) => (x * 31 + %d) %% 65521 | 0;\n", prefix, i,
                          i);
  }
  return out;
}

std::string Coordinator() {
  return absl::StrFormat("function handler(n) { return { result: f%05d(n), n }; }\n", kCalled);
}

}  // namespace

std::string ScriptBundle() { return absl::StrCat("'use strict';\n", Functions(), Coordinator()); }

std::string ModuleBundle(bool export_all) {
  return absl::StrCat(Functions(export_all ? "export " : ""), Coordinator(),
                      "export default { handler };\n");
}

std::string ExpectedHandlerResult() {
  return absl::StrCat("{\"result\":", (7 * 31 + kCalled) % 65521, ",\"n\":7}");
}

}  // namespace isopool::bench
