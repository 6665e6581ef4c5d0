#include "store/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace isopool::store {
namespace {

TEST(Sha256Test, KnownVectors) {  // FIPS 180-2 examples
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, StreamingMatchesOneShotAndResets) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 31));
  Sha256Hasher hasher;
  for (size_t off = 0; off < data.size(); off += 777) hasher.Update(data.substr(off, 777));
  EXPECT_EQ(hasher.FinishHex(), Sha256Hex(data));
  hasher.Update("abc");
  EXPECT_EQ(hasher.FinishHex(), Sha256Hex("abc"));
}

}  // namespace
}  // namespace isopool::store
