#include "store/record_codec.h"

#include <string>

#include "gtest/gtest.h"

namespace isopool::store {
namespace {

SnapshotMetadata Sample() {
  SnapshotMetadata m;
  m.id = "sha256:" + std::string(64, 'c');
  m.bundle_sha256 = "odd \"value\"\nwith newline";
  m.source_bytes = 12345;
  m.blob_bytes = 3300000;
  m.v8_version = "10.2.154.26-node.36";
  m.build_ms = 88;
  m.created_ms = -5;
  m.spec = std::string("\0\n\xff\x01 binary", 11);
  return m;
}

TEST(RecordCodecTest, MetadataRoundTripsArbitraryBytes) {
  auto decoded = DecodeMetadata(EncodeMetadata(Sample()));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, Sample());
}

TEST(RecordCodecTest, EveryByteOfAMetadataRecordIsChecked) {
  const std::string good = EncodeMetadata(Sample());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x04;
    EXPECT_EQ(DecodeMetadata(bad).status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  for (size_t len = 0; len < good.size(); ++len) {  // every truncation
    EXPECT_FALSE(DecodeMetadata(good.substr(0, len)).ok()) << "length " << len;
  }
}

TEST(RecordCodecTest, NamesRoundTripAndDetectDamage) {
  NameIndex names = {{"a", "sha256:" + std::string(64, '1')},
                     {"b.c-d_e", "sha256:" + std::string(64, '2')}};
  std::string encoded = EncodeNames(names);
  auto decoded = DecodeNames(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, names);
  auto empty = DecodeNames(EncodeNames({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  for (size_t i = 0; i < encoded.size(); ++i) {
    std::string bad = encoded;
    bad[i] ^= 0x10;
    EXPECT_FALSE(DecodeNames(bad).ok()) << "byte " << i;
  }
  EXPECT_FALSE(DecodeNames(encoded.substr(0, encoded.size() - 1)).ok());
}

}  // namespace
}  // namespace isopool::store
