// sibling_binary.h: finds a binary that ships beside the running one (isopool_pack beside the
// server or isopoolctl, a worker beside the server), installed or inside Bazel's runfiles.
//
// Thread-safety: plain function (reads /proc/self/exe and the environment).
#ifndef ISOPOOL_BASE_SIBLING_BINARY_H_
#define ISOPOOL_BASE_SIBLING_BINARY_H_

#include <string>

namespace isopool::base {

// The first executable of, in order:
//   1. `name` in the running binary's directory (the installed layout; through
//      /proc/self/exe, so a re-pointed bazel-bin/ symlink does not matter);
//   2. `runfiles_path` (e.g. "engine/isopool_pack") in the running binary's runfiles, in
//      `argv0`'s, and under $RUNFILES_DIR and $TEST_SRCDIR (bazel run, bazel test);
// else the path of step 1, so an error can name where it was expected.
std::string FindSiblingBinary(const std::string& name, const std::string& runfiles_path,
                              const std::string& argv0 = "");

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_SIBLING_BINARY_H_
