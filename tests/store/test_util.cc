#include "tests/store/test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "store/atomic_file.h"

namespace isopool::store::testing {

std::string FreshDataDir(absl::string_view label) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string base = tmp != nullptr ? tmp : "/tmp";
  return absl::StrCat(base, "/", label, "-", getpid(), "-", counter.fetch_add(1));
}

std::string MakeEnvelope(uint64_t seed, size_t size) {
  std::string out = absl::StrCat("ENV1 seed=", seed, " size=", size, "\n");
  std::mt19937_64 gen(seed);
  while (out.size() < size) {
    uint64_t word = gen();
    for (int i = 0; i < 8 && out.size() < size; ++i)
      out.push_back(static_cast<char>(word >> (8 * i)));
  }
  return out;
}

namespace {

bool ParseHeader(absl::string_view envelope, uint64_t* seed, size_t* size) {
  size_t newline = envelope.find('\n');
  if (newline == absl::string_view::npos) return false;
  absl::string_view header = envelope.substr(0, newline);
  if (!absl::ConsumePrefix(&header, "ENV1 seed=")) return false;
  size_t space = header.find(' ');
  if (space == absl::string_view::npos) return false;
  absl::string_view size_part = header.substr(space + 1);
  if (!absl::ConsumePrefix(&size_part, "size=")) return false;
  return absl::SimpleAtoi(header.substr(0, space), seed) && absl::SimpleAtoi(size_part, size);
}

}  // namespace

absl::Status CheckEnvelope(absl::string_view envelope) {
  uint64_t seed = 0;
  size_t size = 0;
  if (!ParseHeader(envelope, &seed, &size)) return absl::InvalidArgumentError("bad header");
  if (size > (64u << 20) || MakeEnvelope(seed, size) != envelope) {
    return absl::InvalidArgumentError("body does not match header");
  }
  return absl::OkStatus();
}

int64_t EnvelopeSeed(absl::string_view envelope) {
  uint64_t seed = 0;
  size_t size = 0;
  if (!ParseHeader(envelope, &seed, &size)) return -1;
  return static_cast<int64_t>(seed);
}

SnapshotMetadata MakeMetadata(uint64_t seed) {
  SnapshotMetadata m;
  m.bundle_sha256 = absl::StrCat("bundle-", seed);
  m.source_bytes = 1000 + seed;
  m.v8_version = "10.2.154.26-node.36";
  m.build_ms = 7 + seed;
  m.created_ms = 1700000000000 + static_cast<int64_t>(seed);
  // Binary, with newlines and NULs, as a serialized proto would be.
  m.spec = std::string("spec\n\0\xff", 7) + absl::StrCat(seed);
  return m;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> files;
  absl::StatusOr<std::vector<std::string>> entries = ListDir(dir);
  if (!entries.ok()) return files;
  for (const std::string& e : *entries) {
    struct stat st;
    if (::stat(absl::StrCat(dir, "/", e).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      files.push_back(e);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void FlipByte(const std::string& path, size_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  unsigned char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
  c ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

}  // namespace isopool::store::testing
