// ASCII case folding (src/text/ascii.h).
#include "text/ascii.h"

#include <gtest/gtest.h>

namespace {

TEST(AsciiLower, FoldsOnlyAToZ) {
  EXPECT_EQ(qc::ascii_lower("HTTPS://Api.Example.COM:443/P?Q=A"), "https://api.example.com:443/p?q=a");
  EXPECT_EQ(qc::ascii_lower("@[`{ 09 _-~"), "@[`{ 09 _-~");  // the neighbours of A-Z stay
}

TEST(AsciiLower, LeavesBytesAboveAsciiAlone) {
  EXPECT_EQ(qc::ascii_lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");  // "ÉTÉ": only the T folds
}

TEST(AsciiLower, EmptyStaysEmpty) { EXPECT_EQ(qc::ascii_lower(""), ""); }

}  // namespace
