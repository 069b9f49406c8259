// JSON strings are always valid UTF-8 JSON, whatever bytes they quote.
#include "text/json_string.h"

#include <gtest/gtest.h>

namespace qc {
namespace {

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(quoted("a\"b\\c\n\x01\x7f"), R"("a\"b\\c\n\u0001\u007f")");
}

TEST(JsonString, ValidMultiByteUtf8IsKept) {
  EXPECT_EQ(quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\x88"), "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\x88\"");
}

TEST(JsonString, StrayContinuationByteBecomesReplacementCharacter) {
  EXPECT_EQ(quoted("a\x80z"), "\"a\xEF\xBF\xBDz\"");
}

TEST(JsonString, InvalidLeadBytesBecomeReplacementCharacters) {
  EXPECT_EQ(quoted("\xff\xfe"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(quoted("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
}

TEST(JsonString, TruncatedSequenceAtTheEndIsReplaced) {
  EXPECT_EQ(quoted("x\xE2\x82"), "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(JsonString, SurrogateCodePointsAreReplaced) {
  EXPECT_EQ(quoted("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(JsonString, CodePointsAboveTheUnicodeRangeAreReplaced) {
  EXPECT_EQ(utf8_sequence_length("\xF4\x90\x80\x80", 0), 0u);
  EXPECT_EQ(utf8_sequence_length("\xF4\x8F\xBF\xBF", 0), 4u);
}

}  // namespace
}  // namespace qc
