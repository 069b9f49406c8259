// The one percent-decoder: strict for URL user info, lenient for queries.
#include "text/percent.h"

#include <gtest/gtest.h>

namespace qc {
namespace {

TEST(PercentDecode, DecodesEscapesOfEitherCase) {
  EXPECT_EQ(percent_decode("p%40ss%2fw%3A"), "p@ss/w:");
}

TEST(PercentDecode, PlusIsLiteralInUserInfo) { EXPECT_EQ(percent_decode("a+b"), "a+b"); }

TEST(PercentDecode, PlusIsSpaceInFormEncoding) {
  EXPECT_EQ(percent_decode("a+b", PlusMeans::Space), "a b");
}

TEST(PercentDecode, StrictRefusesMalformedEscapes) {
  EXPECT_FALSE(percent_decode("100%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%zz"));
}

TEST(PercentDecode, LenientKeepsMalformedEscapes) {
  EXPECT_EQ(percent_decode_lenient("100%"), "100%");
  EXPECT_EQ(percent_decode_lenient("%4"), "%4");
  EXPECT_EQ(percent_decode_lenient("%zz%41"), "%zzA");
}

TEST(PercentDecode, EscapeAtTheVeryEndIsDecoded) { EXPECT_EQ(percent_decode("x%41"), "xA"); }

}  // namespace
}  // namespace qc
