// The one redactor (SPEC §3, §9): no part of a password in any URI shape the
// operator may paste, whatever characters it holds.
#include "log/redact.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace qc {
namespace {

TEST(RedactUri, PasswordIsReplacedUserAndHostKept) {
  EXPECT_EQ(redact_uri("mongodb://u:secret@host:27017/db"), "mongodb://u:***@host:27017/db");
}

TEST(RedactUri, PasswordWithSlashIsWhollyHidden) {
  // The earlier redactor stopped at the '/', printing "pa/ss".
  auto out = redact_uri("mongodb://u:pa/ss@host");
  EXPECT_EQ(out, "mongodb://u:***@host");
  EXPECT_EQ(out.find("pa"), std::string::npos);
}

TEST(RedactUri, PasswordWithAtSignIsWhollyHidden) {
  auto out = redact_uri("redis://:p@ss@host:6379/2");
  EXPECT_EQ(out, "redis://:***@host:6379/2");
  EXPECT_EQ(out.find("ss@"), std::string::npos);
}

TEST(RedactUri, PasswordWithColonIsWhollyHidden) {
  EXPECT_EQ(redact_uri("mongodb+srv://user:pa:ss@cluster0.example.net/?retryWrites=true"),
            "mongodb+srv://user:***@cluster0.example.net/?retryWrites=true");
}

TEST(RedactUri, PercentEncodedPasswordIsHidden) {
  auto out = redact_uri("mongodb://u:p%40ss%2Fw%3Ard@host/");
  EXPECT_EQ(out, "mongodb://u:***@host/");
  EXPECT_EQ(out.find("%40"), std::string::npos);
}

TEST(RedactUri, PasswordWithQuestionMarkIsWhollyHidden) {
  EXPECT_EQ(redact_uri("redis://:pa?ss@h:1"), "redis://:***@h:1");
}

TEST(RedactUri, UserInfoWithoutPasswordIsHiddenWhole) {
  EXPECT_EQ(redact_uri("redis://token@h:1"), "redis://***@h:1");
}

TEST(RedactUri, NoUserInfoIsUnchanged) {
  EXPECT_EQ(redact_uri("https://api.massive.com/v2/aggs"), "https://api.massive.com/v2/aggs");
  EXPECT_EQ(redact_uri("mongodb://h1:27017,h2:27017/?replicaSet=rs0"),
            "mongodb://h1:27017,h2:27017/?replicaSet=rs0");
}

TEST(RedactUri, SecretQueryParametersAreHidden) {
  EXPECT_EQ(redact_uri("https://api.example.com/v2/x?apiKey=K123&limit=5&password=p&token=t"),
            "https://api.example.com/v2/x?apiKey=***&limit=5&password=***&token=***");
}

TEST(RedactUri, HostWithoutSchemeAndUserInfoIsRedacted) {
  EXPECT_EQ(redact_uri("secret@redis.local"), "***@redis.local");
  EXPECT_EQ(redact_uri("redis.local"), "redis.local");
}

TEST(RedactUri, MultiHostUriKeepsHosts) {
  EXPECT_EQ(redact_uri("mongodb://u:p@h1:1,h2:2/db?authSource=admin"),
            "mongodb://u:***@h1:1,h2:2/db?authSource=admin");
}

TEST(UriSecrets, PasswordItsDecodedFormAndItsPiecesAreSecrets) {
  auto s = uri_secrets("mongodb://u:p%40ss/w0rd:xyz@host/db");
  EXPECT_NE(std::find(s.begin(), s.end(), "p%40ss/w0rd:xyz"), s.end());
  EXPECT_NE(std::find(s.begin(), s.end(), "p@ss/w0rd:xyz"), s.end());
  EXPECT_NE(std::find(s.begin(), s.end(), "p%40ss"), s.end());
  EXPECT_NE(std::find(s.begin(), s.end(), "w0rd"), s.end());
  EXPECT_NE(std::find(s.begin(), s.end(), "xyz"), s.end());
}

TEST(UriSecrets, PasswordHoldingAtSignsGivesItsPieces) {
  auto s = uri_secrets("mongodb://u:p@ss0rdX@127.0.0.1:1/");
  EXPECT_NE(std::find(s.begin(), s.end(), "p@ss0rdX"), s.end());
  EXPECT_NE(std::find(s.begin(), s.end(), "ss0rdX"), s.end());
}

TEST(UriSecrets, NoPasswordNoSecrets) {
  EXPECT_TRUE(uri_secrets("mongodb://host/db").empty());
  EXPECT_TRUE(uri_secrets("redis://user@host").empty());
  EXPECT_TRUE(uri_secrets("").empty());
}

TEST(RedactSecret, EveryOccurrenceIsReplaced) {
  EXPECT_EQ(redact_secret("key K1 and K1 again", "K1"), "key *** and *** again");
}

TEST(RedactSecret, SecretContainingItsMaskTerminates) {
  EXPECT_EQ(redact_secret("a**b", "*"), "a******b");
}

TEST(RedactSecret, EmptySecretChangesNothing) { EXPECT_EQ(redact_secret("text", ""), "text"); }

}  // namespace
}  // namespace qc
