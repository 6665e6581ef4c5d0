#include "base/text_format.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace isopool::base {
namespace {

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

TEST(StatusCodeNameTest, NamesEveryCodeAndNumbersTheRest) {
  EXPECT_EQ(StatusCodeName(0), "OK");
  EXPECT_EQ(StatusCodeName(static_cast<int>(absl::StatusCode::kInvalidArgument)),
            "INVALID_ARGUMENT");
  EXPECT_EQ(StatusCodeName(static_cast<int>(absl::StatusCode::kUnauthenticated)),
            "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(17), "CODE_17");
  EXPECT_EQ(StatusCodeName(-1), "CODE_-1");
}

}  // namespace
}  // namespace isopool::base
