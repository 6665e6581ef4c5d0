#include "base/hash_seed.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace isopool::base {
namespace {

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

TEST(HashSeedTest, ParsesDecimalAndHexWithinV8sRange) {
  EXPECT_EQ(*ParseHashSeed("123"), 123u);
  EXPECT_EQ(*ParseHashSeed(" 0x7b\n"), 123u);
  EXPECT_EQ(*ParseHashSeed("9223372036854775807"), kMaxHashSeed);
  // V8 would silently ignore these: refuse them instead.
  EXPECT_FALSE(ParseHashSeed("9223372036854775808").ok());
  EXPECT_FALSE(ParseHashSeed("0").ok());
  EXPECT_FALSE(ParseHashSeed("seed").ok());
}

TEST(HashSeedTest, CreatesASecretFileOnceAndKeepsIt) {
  unsetenv("ISOPOOL_HASH_SEED");
  std::string path = TempPath("seed-created");
  absl::StatusOr<uint64_t> first = LoadOrCreateHashSeed(path);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT(*first, 0u);
  EXPECT_LE(*first, kMaxHashSeed);
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(*LoadOrCreateHashSeed(path), *first);
}

TEST(HashSeedTest, EnvironmentWinsOverTheFile) {
  std::string path = TempPath("seed-env");
  std::ofstream(path) << "77\n";
  setenv("ISOPOOL_HASH_SEED", "0x10", 1);
  EXPECT_EQ(*LoadOrCreateHashSeed(path), 16u);
  unsetenv("ISOPOOL_HASH_SEED");
  EXPECT_EQ(*LoadOrCreateHashSeed(path), 77u);
}

TEST(HashSeedTest, CorruptFileIsAnErrorNotANewSeed) {
  unsetenv("ISOPOOL_HASH_SEED");
  std::string path = TempPath("seed-corrupt");
  std::ofstream(path) << "not a number\n";
  EXPECT_EQ(LoadOrCreateHashSeed(path).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace isopool::base
