// SPEC §4.1: today's change per ticker against the previous New York day's
// last close; 0 when unknown; a provider snapshot overrides.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/quote_board.h"

namespace {

using qc::MinuteBar;
using qc::QuoteBoard;

constexpr std::int64_t kMon1059 = 1626101940;  // Mon 2021-07-12 10:59 EDT
constexpr std::int64_t kMon1500 = 1626116400;  // Mon 2021-07-12 15:00 EDT
constexpr std::int64_t kMon2100 = 1626138000;  // Mon 2021-07-12 21:00 EDT = Tue 01:00 UTC
constexpr std::int64_t kTue0930 = 1626183000;  // Tue 2021-07-13 09:30 EDT
constexpr std::int64_t kDay = 86400;

MinuteBar bar(std::string sym, double close, std::int64_t start_s) {
  MinuteBar b;
  b.symbol = std::move(sym);
  b.open = b.high = b.low = b.close = close;
  b.start_ms = start_s * 1000;
  b.end_ms = b.start_ms + 60000;
  return b;
}

TEST(QuoteBoard, ChangeIsAgainstPreviousNewYorkDaysLastClose) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1059));
  q.on_bar(bar("AAPL", 102, kMon1500));
  q.on_bar(bar("AAPL", 105, kTue0930));
  q.on_bar(bar("AAPL", 103, kTue0930 + 60));
  auto c = q.change("AAPL");
  EXPECT_DOUBLE_EQ(c.change, 1.0);
  EXPECT_DOUBLE_EQ(c.change_perc, 1.0 / 102 * 100);
}

TEST(QuoteBoard, NoPreviousDayGivesZero) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1059));
  q.on_bar(bar("AAPL", 110, kMon1500));
  auto c = q.change("AAPL");
  EXPECT_EQ(c.change, 0);
  EXPECT_EQ(c.change_perc, 0);
}

TEST(QuoteBoard, UnknownSymbolGivesZero) {
  QuoteBoard q;
  auto c = q.change("AAPL");
  EXPECT_EQ(c.change, 0);
  EXPECT_EQ(c.change_perc, 0);
}

TEST(QuoteBoard, EveningAfterUtcMidnightIsStillSameNewYorkDay) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 101, kMon2100));  // Tuesday in UTC, Monday in New York
  EXPECT_EQ(q.change("AAPL").change, 0);
  q.on_bar(bar("AAPL", 103, kTue0930));
  EXPECT_DOUBLE_EQ(q.change("AAPL").change, 2.0);
}

TEST(QuoteBoard, ThirdDayComparesWithSecondDayNotFirst) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 110, kTue0930));
  q.on_bar(bar("AAPL", 121, kTue0930 + kDay));
  EXPECT_DOUBLE_EQ(q.change("AAPL").change, 11.0);
  EXPECT_DOUBLE_EQ(q.change("AAPL").change_perc, 10.0);
}

TEST(QuoteBoard, BarFromOlderDayIsIgnored) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 104, kTue0930));
  q.on_bar(bar("AAPL", 50, kMon1059));
  EXPECT_EQ(q.last_price("AAPL"), std::optional<double>(104));
  EXPECT_DOUBLE_EQ(q.change("AAPL").change, 4.0);
}

TEST(QuoteBoard, OlderBarOfSameDayDoesNotReplaceLastPrice) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 104, kTue0930 + 600));
  q.on_bar(bar("AAPL", 101, kTue0930));  // late/corrected bar for an earlier minute
  EXPECT_EQ(q.last_price("AAPL"), std::optional<double>(104));
  EXPECT_DOUBLE_EQ(q.change("AAPL").change, 4.0);
}

TEST(QuoteBoard, SymbolsAreIndependent) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 110, kTue0930));
  q.on_bar(bar("NVDA", 200, kTue0930));
  EXPECT_DOUBLE_EQ(q.change("AAPL").change, 10.0);
  EXPECT_EQ(q.change("NVDA").change, 0);
}

TEST(QuoteBoard, ZeroPreviousCloseGivesZeroNotInfinity) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 0, kMon1500));
  q.on_bar(bar("AAPL", 5, kTue0930));
  auto c = q.change("AAPL");
  EXPECT_EQ(c.change, 0);
  EXPECT_EQ(c.change_perc, 0);
}

TEST(QuoteBoard, SnapshotOverridesBarComputedChange) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 110, kTue0930));
  q.set_snapshot("AAPL", {-1.25, -0.5});
  auto c = q.change("AAPL");
  EXPECT_EQ(c.change, -1.25);
  EXPECT_EQ(c.change_perc, -0.5);
}

TEST(QuoteBoard, SnapshotStillWinsAfterLaterBars) {
  QuoteBoard q;
  q.set_snapshot("AAPL", {2, 1});
  q.on_bar(bar("AAPL", 100, kMon1500));
  q.on_bar(bar("AAPL", 110, kTue0930));
  EXPECT_EQ(q.change("AAPL").change, 2);
}

TEST(QuoteBoard, SnapshotForSymbolWithoutBars) {
  QuoteBoard q;
  q.set_snapshot("C", {0.75, 1.5});
  EXPECT_EQ(q.change("C").change, 0.75);
  EXPECT_EQ(q.change("C").change_perc, 1.5);
  EXPECT_EQ(q.last_price("C"), std::nullopt);
}

TEST(QuoteBoard, NewerSnapshotReplacesOlder) {
  QuoteBoard q;
  q.set_snapshot("C", {0.75, 1.5});
  q.set_snapshot("C", {-0.25, -0.5});
  EXPECT_EQ(q.change("C").change, -0.25);
}

TEST(QuoteBoard, LastPriceIsNulloptForUnknownSymbol) {
  QuoteBoard q;
  EXPECT_EQ(q.last_price("AAPL"), std::nullopt);
}

TEST(QuoteBoard, LastPriceIsLatestClose) {
  QuoteBoard q;
  q.on_bar(bar("AAPL", 100, kMon1059));
  q.on_bar(bar("AAPL", 101.5, kMon1059 + 60));
  EXPECT_EQ(q.last_price("AAPL"), std::optional<double>(101.5));
}

}  // namespace
