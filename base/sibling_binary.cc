#include "base/sibling_binary.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace isopool::base {
namespace {

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

}  // namespace

std::string FindSiblingBinary(const std::string& name, const std::string& runfiles_path,
                              const std::string& argv0) {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  const std::string self = n > 0 ? std::string(path, n) : argv0;
  std::string beside = self.substr(0, self.find_last_of('/') + 1);
  beside += name;
  if (Executable(beside)) return beside;
  std::vector<std::string> roots = {self + ".runfiles"};
  if (!argv0.empty()) roots.push_back(argv0 + ".runfiles");
  for (const char* env : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* dir = std::getenv(env); dir != nullptr && *dir != '\0') roots.push_back(dir);
  }
  for (const std::string& root : roots) {
    std::string candidate = root;
    candidate += "/isopool/";
    candidate += runfiles_path;
    if (Executable(candidate)) return candidate;
  }
  return beside;
}

}  // namespace isopool::base
