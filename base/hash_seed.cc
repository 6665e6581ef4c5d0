#include "base/hash_seed.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace isopool::base {

absl::StatusOr<uint64_t> ParseHashSeed(const std::string& text) {
  std::string trimmed(absl::StripAsciiWhitespace(text));
  uint64_t seed = 0;
  bool parsed = trimmed.rfind("0x", 0) == 0 ? absl::SimpleHexAtoi(trimmed.substr(2), &seed)
                                            : absl::SimpleAtoi(trimmed, &seed);
  // V8 10.2 reads --hash-seed as a signed 64-bit value and ignores larger ones.
  if (!parsed || seed == 0 || seed > kMaxHashSeed) {
    return absl::InvalidArgumentError(
        "a hash seed must be an integer from 1 to 9223372036854775807 (2^63 - 1)");
  }
  return seed;
}

absl::StatusOr<uint64_t> LoadOrCreateHashSeed(const std::string& seed_file) {
  if (const char* env = std::getenv("ISOPOOL_HASH_SEED"); env != nullptr && *env != '\0') {
    absl::StatusOr<uint64_t> seed = ParseHashSeed(env);
    if (!seed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ISOPOOL_HASH_SEED: ", seed.status().message()));
    }
    return seed;
  }
  std::ifstream in(seed_file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<uint64_t> seed = ParseHashSeed(text.str());
    if (!seed.ok()) {
      return absl::DataLossError(absl::StrCat(seed_file, ": ", seed.status().message()));
    }
    return seed;
  }
  uint64_t seed = 0;
  while (seed == 0) {
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
      return absl::InternalError("getrandom failed");
    }
    seed &= kMaxHashSeed;
  }
  // Written once, atomically (temp + fsync + rename), readable by the owner only.
  std::string temp = seed_file + ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", temp));
  std::string text = absl::StrCat(seed, "\n");
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(temp.c_str(), seed_file.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", seed_file));
  }
  return seed;
}

}  // namespace isopool::base
