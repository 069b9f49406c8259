// Log lines: format, levels, and the rate limiter for identical lines.
#include "log/log.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace qc {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::Options o;
    o.repeat_window = std::chrono::milliseconds(200);
    log::configure(o);
    log::capture([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override {
    log::capture({});
    log::configure({});
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST_F(LogTest, TextLineHasUtcTimeLevelComponentAndMessage) {
  log::warn("ledger", "commit failed");
  auto l = lines();
  ASSERT_EQ(l.size(), 1u);
  // 2026-11-30T13:04:46.123Z warn  [ledger] commit failed
  EXPECT_EQ(l[0].size(), 24 + 1 + 5 + 1 + std::string("[ledger] commit failed").size() + 1);
  EXPECT_EQ(l[0][10], 'T');
  EXPECT_EQ(l[0][23], 'Z');
  EXPECT_EQ(l[0].substr(25), "warn  [ledger] commit failed\n");
}

TEST_F(LogTest, JsonLineIsOneEscapedObject) {
  log::Options o;
  o.json = true;
  log::configure(o);
  log::info("http", "bad \"byte\" \xff here");
  auto l = lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find(R"("level":"info","component":"http","message":"bad \"byte\" )"
                      "\xEF\xBF\xBD"
                      R"( here"})"),
            std::string::npos)
      << l[0];
  EXPECT_EQ(l[0].rfind("{\"time\":\"", 0), 0u);
}

TEST_F(LogTest, LinesBelowTheLevelAreDropped) {
  log::debug("x", "hidden");
  log::set_level(log::Level::Error);
  log::warn("x", "hidden too");
  log::error("x", "shown");
  auto l = lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find("shown"), std::string::npos);
}

TEST_F(LogTest, IdenticalLinesWithinTheWindowAreCountedNotWritten) {
  for (int i = 0; i < 1000; ++i) log::warn("http", "accept failed: Too many open files");
  EXPECT_EQ(lines().size(), 1u);
}

TEST_F(LogTest, CountOfHeldBackLinesIsWrittenWithTheNextCopyAfterTheWindow) {
  for (int i = 0; i < 5; ++i) log::warn("http", "accept failed");
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  log::warn("http", "accept failed");
  auto l = lines();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_NE(l[1].find("accept failed (and 4 identical lines in the last"), std::string::npos) << l[1];
}

TEST_F(LogTest, DifferentLinesAreNotHeldBack) {
  log::warn("a", "one");
  log::warn("a", "two");
  log::warn("b", "one");
  log::error("a", "one");
  EXPECT_EQ(lines().size(), 4u);
}

TEST_F(LogTest, FlushSuppressedWritesPendingCounts) {
  log::warn("ledger", "database unavailable");
  log::warn("ledger", "database unavailable");
  log::warn("ledger", "database unavailable");
  log::flush_suppressed();
  auto l = lines();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_NE(l[1].find("[ledger] database unavailable (and 2 identical lines"), std::string::npos) << l[1];
}

TEST_F(LogTest, OverallRateIsCapped) {
  log::Options o;
  o.max_lines_per_second = 50;
  log::configure(o);
  for (int i = 0; i < 500; ++i) log::info("flood", "distinct line " + std::to_string(i));
  auto l = lines();
  EXPECT_LE(l.size(), 51u);  // the cap, plus perhaps a "not shown" summary at a second boundary
  EXPECT_GE(l.size(), 50u);
}

TEST_F(LogTest, RegisteredSecretsAreMaskedInEveryLineWhateverTheirCase) {
  log::add_secret("Ss0rdX");
  log::warn("mongodb", "Failed to resolve ss0rdx@127.0.0.1 and SS0RDX too");
  auto l = lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find("Failed to resolve ***@127.0.0.1 and *** too"), std::string::npos) << l[0];
}

TEST_F(LogTest, SecretsShorterThanThreeCharactersAreNotMasked) {
  log::add_secret("t");
  log::info("x", "test");
  auto l = lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find("[x] test"), std::string::npos) << l[0];
}

}  // namespace
}  // namespace qc
