#include "base/sibling_binary.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace isopool::base {
namespace {

TEST(SiblingBinaryTest, FindsADataDependencyInTheTestsRunfiles) {
  std::string pack = FindSiblingBinary("isopool_pack", "engine/isopool_pack");
  EXPECT_EQ(access(pack.c_str(), X_OK), 0) << pack;
  EXPECT_NE(pack.find("/isopool/engine/isopool_pack"), std::string::npos) << pack;
}

TEST(SiblingBinaryTest, NamesThePathBesideTheRunningBinaryWhenThereIsNone) {
  std::string missing = FindSiblingBinary("no_such_binary", "nowhere/no_such_binary");
  EXPECT_NE(access(missing.c_str(), F_OK), 0);
  EXPECT_EQ(missing.substr(missing.find_last_of('/') + 1), "no_such_binary");
  EXPECT_NE(missing.find("/tests/base/"), std::string::npos) << missing;  // beside this test
}

}  // namespace
}  // namespace isopool::base
