// bundle.h: the seed's synthetic cold-start bundle, generated in code.
//
// About 750 KiB of JavaScript: 15,000 named arrow functions (`const f00042 = (x, y) => ...`)
// and a coordinator `handler(n)` that calls one of them. The script form declares `handler` as
// a global function; the ES module form has the same functions and exports
// `export default { handler }`. Either way a call is `handler(7)`.
//
// Thread-safety: pure functions.
#ifndef ISOPOOL_BENCH_COLD_START_BUNDLE_H_
#define ISOPOOL_BENCH_COLD_START_BUNDLE_H_

#include <string>

namespace isopool::bench {

inline constexpr int kBundleFunctions = 15000;

// The classic-script form.
std::string ScriptBundle();
// The ES module form. With `export_all`, every function is also a named export.
std::string ModuleBundle(bool export_all = false);
// What handler(7) returns in both forms, to check a call really ran the bundle.
std::string ExpectedHandlerResult();

}  // namespace isopool::bench

#endif  // ISOPOOL_BENCH_COLD_START_BUNDLE_H_
