// child_environment.h: the environment of a child process that runs untrusted JavaScript
// (isopool_worker, isopool_pack): nothing of the server's but where shared libraries are, when
// the operator had to say (LD_LIBRARY_PATH, for copied binaries; installed ones need nothing),
// and the sanitizer runtimes' own options (*SAN_OPTIONS: suppressions for sanitizer builds; they
// configure nothing else).
//
//   ChildEnvironment env;
//   posix_spawn(&pid, path, &actions, &attr, argv, env.envp());
//
// Thread-safety: construct on any thread (reads getenv once).
#ifndef ISOPOOL_BASE_CHILD_ENVIRONMENT_H_
#define ISOPOOL_BASE_CHILD_ENVIRONMENT_H_

#include <cstdlib>
#include <string>
#include <vector>

namespace isopool::base {

class ChildEnvironment {
 public:
  ChildEnvironment() {
    for (const char* name :
         {"LD_LIBRARY_PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"}) {
      if (const char* value = std::getenv(name); value != nullptr) {
        entries_.push_back(std::string(name) + "=" + value);
      }
    }
    for (std::string& entry : entries_) pointers_.push_back(entry.data());
    pointers_.push_back(nullptr);
  }
  ChildEnvironment(const ChildEnvironment&) = delete;
  ChildEnvironment& operator=(const ChildEnvironment&) = delete;

  // A null-terminated envp for exec/posix_spawn, valid while this object lives.
  char* const* envp() { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

}  // namespace isopool::base

#endif  // ISOPOOL_BASE_CHILD_ENVIRONMENT_H_
