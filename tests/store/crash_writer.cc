// Child process of crash_test: opens the store at argv[1] and runs CrashOpAt(i) for
// i = argv[2], argv[2]+1, ... forever, writing "ack <i>\n" to stdout after each op returns.
// The parent SIGKILLs it at a random moment. Exits 1 on any store error.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/fs_snapshot_store.h"
#include "tests/store/crash_ops.h"
#include "tests/store/test_util.h"

int main(int argc, char** argv) {
  using namespace isopool::store;  // NOLINT: a tiny test program
  uint64_t start = 0;
  if (argc != 3 || !absl::SimpleAtoi(argv[2], &start)) {
    std::fprintf(stderr, "usage: crash_writer <data_dir> <first_op>\n");
    return 2;
  }
  FilesystemSnapshotStoreOptions options;
  options.validator = testing::CheckEnvelope;
  auto store = FilesystemSnapshotStore::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "crash_writer: open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  for (uint64_t i = start;; ++i) {
    absl::Status status = testing::RunCrashOp(testing::CrashOpAt(i), **store);
    if (!status.ok()) {
      std::fprintf(stderr, "crash_writer: op %llu: %s\n", static_cast<unsigned long long>(i),
                   status.ToString().c_str());
      return 1;
    }
    // One write(2) per line: lines shorter than PIPE_BUF arrive whole or not at all.
    std::string line = absl::StrCat("ack ", i, "\n");
    if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return 1;
    }
  }
}
