// Envelope validation: anything that is not exactly what this build packed is rejected before
// V8 reads a byte, as a Status, and the process lives.
#include "engine/envelope.h"

#include "base/sha256.h"
#include "engine/internal/fields.h"
#include "engine/runtime.h"
#include "engine/snapshot.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace isopool::engine {
namespace {

class EnvelopeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::string> packed = testing::PackInChild("function f() { return 1; }");
    ASSERT_TRUE(packed.ok()) << packed.status();
    envelope_ = new std::string(*packed);
  }
  static std::string* envelope_;
};
std::string* EnvelopeTest::envelope_ = nullptr;

// Re-seals bytes with a valid trailing checksum, as a careful attacker or a buggy tool would.
std::string Reseal(std::string body_with_old_digest) {
  body_with_old_digest.resize(body_with_old_digest.size() - 32);
  return body_with_old_digest + base::Sha256(body_with_old_digest);
}

TEST_F(EnvelopeTest, ValidEnvelopeDecodesAndRestores) {
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot = Snapshot::FromEnvelope(*envelope_);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const Envelope& e = (*snapshot)->envelope();
  EXPECT_EQ(e.v8_version, V8Version());
  EXPECT_EQ(e.compat_digest, CompatibilityDigest());
  EXPECT_EQ(e.bundle_sha256, base::Sha256Hex("function f() { return 1; }"));
  EXPECT_EQ(e.blob_sha256, base::Sha256Hex(e.blob));
  EXPECT_TRUE(e.options.deterministic);
  auto isolate = testing::NewIsolate(*snapshot);
  CallRequest request;
  request.function = "f";
  EXPECT_EQ(
      isolate->Run(request, testing::QuickLimits(), JsIsolate::ContextUse::kFresh).result_json,
      "1");
}

TEST_F(EnvelopeTest, EncodeDecodeRoundTrips) {
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(*envelope_);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(EncodeEnvelope(*decoded), *envelope_);
}

TEST_F(EnvelopeTest, RejectsTruncation) {
  for (size_t keep :
       {size_t{0}, size_t{7}, size_t{40}, envelope_->size() / 2, envelope_->size() - 1}) {
    absl::StatusOr<Envelope> decoded = DecodeEnvelope(envelope_->substr(0, keep));
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << keep;
  }
}

TEST_F(EnvelopeTest, RejectsOneFlippedByteAnywhere) {
  for (size_t at : {size_t{3}, size_t{20}, envelope_->size() / 2, envelope_->size() - 40,
                    envelope_->size() - 1}) {
    std::string corrupt = *envelope_;
    corrupt[at] ^= 0x01;
    EXPECT_FALSE(Snapshot::FromEnvelope(corrupt).ok()) << at;
  }
}

TEST_F(EnvelopeTest, RejectsFlippedBlobByteEvenWhenResealed) {
  std::string corrupt = *envelope_;
  corrupt[corrupt.size() - 32 - 100] ^= 0x40;  // inside the blob
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(Reseal(corrupt));
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(decoded.status().message().find("blob sha256"), std::string::npos) << decoded.status();
}

TEST_F(EnvelopeTest, RejectsAnotherFormatVersion) {
  std::string other = *envelope_;
  other[8] = 2;  // the u32 format version follows the 8-byte magic
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(Reseal(other));
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(decoded.status().message().find("format version 2"), std::string::npos);
}

TEST_F(EnvelopeTest, RejectsMismatchedFlagsDigestAndV8Version) {
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(*envelope_);
  ASSERT_TRUE(decoded.ok());
  Envelope flags = *decoded;
  flags.compat_digest = base::Sha256Hex("built with --no-lazy");
  absl::StatusOr<std::shared_ptr<const Snapshot>> s1 =
      Snapshot::FromEnvelope(EncodeEnvelope(flags));
  EXPECT_EQ(s1.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s1.status().message().find("digest"), std::string::npos);
  Envelope version = *decoded;
  version.v8_version = "9.9.9";
  absl::StatusOr<std::shared_ptr<const Snapshot>> s2 =
      Snapshot::FromEnvelope(EncodeEnvelope(version));
  EXPECT_EQ(s2.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s2.status().message().find("9.9.9"), std::string::npos);
}

TEST_F(EnvelopeTest, RejectsGarbageAndForeignBytes) {
  EXPECT_FALSE(Snapshot::FromEnvelope("").ok());
  EXPECT_FALSE(Snapshot::FromEnvelope(std::string(5000, 'A')).ok());
  std::string v8_blob_only = DecodeEnvelope(*envelope_)->blob;  // a raw V8 blob, no envelope
  EXPECT_FALSE(Snapshot::FromEnvelope(v8_blob_only).ok());
}

}  // namespace
}  // namespace isopool::engine
