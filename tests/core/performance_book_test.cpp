// SPEC §4.3: closed positions grouped by UTC calendar month of their close,
// months ascending, positions by (close_timestamp, open_timestamp, symbol).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/performance_book.h"
#include "core/position.h"

namespace {

using qc::ClosedPosition;
using qc::PerformanceBook;

constexpr std::int64_t kJuly2021 = 1625097600;     // 2021-07-01 00:00:00 UTC
constexpr std::int64_t kAugust2021 = 1627776000;   // 2021-08-01 00:00:00 UTC
constexpr std::int64_t kSept2021 = 1630454400;     // 2021-09-01 00:00:00 UTC
constexpr std::int64_t kDec2021 = 1638316800;      // 2021-12-01 00:00:00 UTC
constexpr std::int64_t kJan2022 = 1640995200;      // 2022-01-01 00:00:00 UTC

ClosedPosition closed(std::string symbol, std::int64_t open_ts, double close_ts, double pnl = 1) {
  ClosedPosition c;
  c.position.symbol = std::move(symbol);
  c.position.entry_price = 100;
  c.position.target_price = 110;
  c.position.stop_loss = 90;
  c.position.expected_profit = 10;
  c.position.open_timestamp = open_ts;
  c.close_timestamp = close_ts;
  c.pnl = pnl;
  c.exit_price = 100 + pnl;
  c.reason = pnl >= 0 ? qc::CloseReason::TargetPrice : qc::CloseReason::StopLoss;
  return c;
}

std::vector<std::int64_t> month_keys(const PerformanceBook& b) {
  std::vector<std::int64_t> keys;
  for (const auto& [k, m] : b.months()) keys.push_back(k);
  return keys;
}

// --- month_start_utc ----------------------------------------------------------------

TEST(MonthStartUtc, LastSecondOfJuly20210731235959IsJuly) {
  EXPECT_EQ(qc::month_start_utc(kAugust2021 - 1), kJuly2021);
}

TEST(MonthStartUtc, LastHalfSecondOfJulyIsJuly) {
  EXPECT_EQ(qc::month_start_utc(kAugust2021 - 0.5), kJuly2021);
}

TEST(MonthStartUtc, FirstInstantOfAugust20210801000000IsAugust) {
  EXPECT_EQ(qc::month_start_utc(kAugust2021), kAugust2021);
}

TEST(MonthStartUtc, StillJulyInNewYorkButAugustInUtcIsAugust) {
  // 2021-07-31 21:00:00 EDT = 2021-08-01 01:00:00 UTC
  EXPECT_EQ(qc::month_start_utc(1627779600), kAugust2021);
}

TEST(MonthStartUtc, MidMonthIsFirstOfMonth) {
  EXPECT_EQ(qc::month_start_utc(1626102060.5), kJuly2021);
}

TEST(MonthStartUtc, DecemberToJanuaryYearBoundary) {
  EXPECT_EQ(qc::month_start_utc(kJan2022 - 1), kDec2021);
  EXPECT_EQ(qc::month_start_utc(kJan2022), kJan2022);
}

TEST(MonthStartUtc, EpochIsZero) { EXPECT_EQ(qc::month_start_utc(0), 0); }

// --- bucketing ------------------------------------------------------------------------

TEST(PerformanceBook, CloseAtJuly31235959UtcAndAugust1000000UtcGoToDifferentMonths) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021, kAugust2021 - 1));
  b.add(closed("AMZN", kJuly2021, kAugust2021));
  EXPECT_EQ(month_keys(b), (std::vector<std::int64_t>{kJuly2021, kAugust2021}));
  EXPECT_EQ(b.months().at(kJuly2021).positions.at(0).position.symbol, "AAPL");
  EXPECT_EQ(b.months().at(kAugust2021).positions.at(0).position.symbol, "AMZN");
}

TEST(PerformanceBook, CloseStillJulyInNewYorkButAugustInUtcGoesToAugust) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021, 1627779600));  // 2021-07-31 21:00 EDT
  EXPECT_EQ(month_keys(b), (std::vector<std::int64_t>{kAugust2021}));
}

TEST(PerformanceBook, MonthFieldIsFirstInstantOfUtcMonth) {
  PerformanceBook b;
  b.add(closed("AAPL", 1626101940, 1626102060.5));
  ASSERT_EQ(b.months().size(), 1u);
  EXPECT_EQ(b.months().begin()->first, kJuly2021);
  EXPECT_EQ(b.months().begin()->second.month, kJuly2021);
}

TEST(PerformanceBook, MonthsAreAscendingWhateverTheInsertionOrder) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021, kSept2021 + 10));
  b.add(closed("AAPL", kJuly2021 + 1, kJuly2021 + 10));
  b.add(closed("AAPL", kJuly2021 + 2, kAugust2021 + 10));
  EXPECT_EQ(month_keys(b), (std::vector<std::int64_t>{kJuly2021, kAugust2021, kSept2021}));
}

TEST(PerformanceBook, PositionCountCountsEveryAdd) {
  PerformanceBook b;
  EXPECT_EQ(b.position_count(), 0u);
  b.add(closed("AAPL", kJuly2021, kJuly2021 + 10));
  b.add(closed("AMZN", kJuly2021, kAugust2021 + 10));
  EXPECT_EQ(b.position_count(), 2u);
}

// --- ordering ------------------------------------------------------------------------

std::vector<ClosedPosition> five_in_july() {
  // Expected order: by close, then open, then symbol.
  return {
      closed("NVDA", kJuly2021 + 100, kJuly2021 + 1000.0, 1.5),
      closed("AAPL", kJuly2021 + 200, kJuly2021 + 2000.0, -2.25),
      closed("C", kJuly2021 + 200, kJuly2021 + 2000.0, 3.0),
      closed("AAPL", kJuly2021 + 300, kJuly2021 + 2000.0, 0.1),
      closed("AAPL", kJuly2021 + 50, kJuly2021 + 2000.5, 7.0),
  };
}

TEST(PerformanceBook, PositionsOrderedByCloseThenOpenThenSymbolForEveryInsertionOrder) {
  auto expected = five_in_july();
  auto perm = expected;
  std::sort(perm.begin(), perm.end(), [](const ClosedPosition& a, const ClosedPosition& b) {
    return a.position.symbol + std::to_string(a.position.open_timestamp) <
           b.position.symbol + std::to_string(b.position.open_timestamp);
  });
  std::vector<std::size_t> idx(perm.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  int permutations = 0;
  do {
    PerformanceBook b;
    for (auto i : idx) b.add(perm[i]);
    ASSERT_EQ(b.months().size(), 1u);
    EXPECT_EQ(b.months().at(kJuly2021).positions, expected);
    ++permutations;
  } while (std::next_permutation(idx.begin(), idx.end()));
  EXPECT_EQ(permutations, 120);
}

TEST(PerformanceBook, RealizedPnlIsBitIdenticalForEveryInsertionOrder) {
  auto items = five_in_july();
  std::vector<std::size_t> idx(items.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  PerformanceBook reference;
  for (const auto& c : items) reference.add(c);
  const double want = reference.months().at(kJuly2021).realized_pnl();
  do {
    PerformanceBook b;
    for (auto i : idx) b.add(items[i]);
    EXPECT_EQ(b.months().at(kJuly2021).realized_pnl(), want);
  } while (std::next_permutation(idx.begin(), idx.end()));
}

TEST(PerformanceBook, SameCloseTimestampOrderedByOpenTimestamp) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021 + 20, kJuly2021 + 100));
  b.add(closed("ZZZ", kJuly2021 + 10, kJuly2021 + 100));
  const auto& v = b.months().at(kJuly2021).positions;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].position.open_timestamp, kJuly2021 + 10);
}

TEST(PerformanceBook, SameCloseAndOpenTimestampOrderedBySymbol) {
  PerformanceBook b;
  b.add(closed("NVDA", kJuly2021, kJuly2021 + 100));
  b.add(closed("AAPL", kJuly2021, kJuly2021 + 100));
  b.add(closed("C", kJuly2021, kJuly2021 + 100));
  const auto& v = b.months().at(kJuly2021).positions;
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].position.symbol, "AAPL");
  EXPECT_EQ(v[1].position.symbol, "C");
  EXPECT_EQ(v[2].position.symbol, "NVDA");
}

TEST(PerformanceBook, FractionalCloseTimestampOrdersBeforeLaterWholeSecond) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021, kJuly2021 + 101.0));
  b.add(closed("AAPL", kJuly2021 + 1, kJuly2021 + 100.5));
  const auto& v = b.months().at(kJuly2021).positions;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].close_timestamp, kJuly2021 + 100.5);
}

TEST(ClosesBefore, ComparesCloseThenOpenThenSymbol) {
  EXPECT_TRUE(qc::closes_before(closed("Z", 5, 1.0), closed("A", 1, 2.0)));
  EXPECT_TRUE(qc::closes_before(closed("Z", 1, 2.0), closed("A", 5, 2.0)));
  EXPECT_TRUE(qc::closes_before(closed("A", 1, 2.0), closed("B", 1, 2.0)));
  EXPECT_FALSE(qc::closes_before(closed("A", 1, 2.0), closed("A", 1, 2.0)));
}

// --- realized pnl ------------------------------------------------------------------------

TEST(PerformanceBook, RealizedPnlIsSumOfMonthPnls) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021, kJuly2021 + 100, 10));
  b.add(closed("AMZN", kJuly2021, kJuly2021 + 200, -10));
  b.add(closed("C", kJuly2021, kJuly2021 + 300, 2.5));
  EXPECT_DOUBLE_EQ(b.months().at(kJuly2021).realized_pnl(), 2.5);
}

TEST(PerformanceBook, RealizedPnlIsPerMonth) {
  PerformanceBook b;
  b.add(closed("AAPL", kJuly2021, kJuly2021 + 100, 10));
  b.add(closed("AMZN", kJuly2021, kAugust2021 + 200, -4));
  EXPECT_DOUBLE_EQ(b.months().at(kJuly2021).realized_pnl(), 10);
  EXPECT_DOUBLE_EQ(b.months().at(kAugust2021).realized_pnl(), -4);
}

TEST(PerformanceBook, RealizedPnlOfEmptyMonthIsZero) {
  qc::PerformanceMonth m;
  EXPECT_EQ(m.realized_pnl(), 0.0);
}

}  // namespace
