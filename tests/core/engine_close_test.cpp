// SPEC §6.2 (closing on a minute bar) and §6.3 (stale bars) on qc::Engine::apply.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.h"

namespace {

using qc::BarOutcome;
using qc::ClosedPosition;
using qc::CloseReason;
using qc::Engine;
using qc::MinuteBar;
using qc::OpenPosition;
using qc::RecommendationDocument;
using qc::RecommendationItem;

constexpr std::int64_t kOpenTs = 1626101940;          // "2021-07-12 10:59:00" EDT
constexpr std::int64_t kNextMinuteMs = 1626102000000;  // 11:00:00 EDT, bar start
constexpr std::int64_t kNextMinuteEndMs = 1626102060000;

RecommendationDocument doc(std::vector<RecommendationItem> items,
                           std::string us = "2021-07-12 10:59:00") {
  RecommendationDocument d;
  d.us_date = std::move(us);
  d.items = std::move(items);
  return d;
}

MinuteBar bar(double o, double h, double l, double c, std::int64_t start_ms = kNextMinuteMs,
              std::int64_t end_ms = -1, std::string symbol = "AAPL") {
  MinuteBar b;
  b.symbol = std::move(symbol);
  b.open = o;
  b.high = h;
  b.low = l;
  b.close = c;
  b.volume = 1000;
  b.start_ms = start_ms;
  b.end_ms = end_ms < 0 ? start_ms + 60000 : end_ms;
  return b;
}

// AAPL entry 100, target 110, stop 90 (100 * 0.9), opened at kOpenTs.
struct OnePosition : ::testing::Test {
  void SetUp() override {
    auto r = engine.open(doc({{"AAPL", 110, 100}}));
    ASSERT_EQ(r.opened.size(), 1u);
    pos = r.opened[0];
    ASSERT_EQ(pos.stop_loss, 100 * 0.9);
  }
  std::vector<ClosedPosition> apply(const MinuteBar& b) {
    std::vector<ClosedPosition> closed;
    outcome = engine.apply(b, closed);
    return closed;
  }
  Engine engine;
  OpenPosition pos;
  BarOutcome outcome = BarOutcome::Applied;
};

// --- rule order -------------------------------------------------------------------

TEST_F(OnePosition, Rule1GapDownOpenBelowStopExitsAtOpenWithStopLossNote) {
  auto closed = apply(bar(85, 95, 80, 90));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 85);
  EXPECT_EQ(closed[0].reason, CloseReason::StopLoss);
  EXPECT_EQ(qc::close_notes(closed[0].reason), "Reached stop loss");
}

TEST_F(OnePosition, Rule1OpenEqualToStopLossExitsAtOpen) {
  auto closed = apply(bar(pos.stop_loss, 95, pos.stop_loss, 94));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, pos.stop_loss);
  EXPECT_EQ(closed[0].reason, CloseReason::StopLoss);
}

TEST_F(OnePosition, Rule1GapDownWinsOverHighReachingTarget) {
  auto closed = apply(bar(85, 115, 84, 112));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 85);
  EXPECT_EQ(closed[0].reason, CloseReason::StopLoss);
}

TEST_F(OnePosition, Rule2GapUpOpenAboveTargetExitsAtOpenWithTargetNote) {
  auto closed = apply(bar(115, 120, 112, 118));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 115);
  EXPECT_EQ(closed[0].reason, CloseReason::TargetPrice);
  EXPECT_EQ(qc::close_notes(closed[0].reason), "Reached target price");
}

TEST_F(OnePosition, Rule2OpenEqualToTargetExitsAtOpen) {
  auto closed = apply(bar(110, 112, 108, 111));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 110);
  EXPECT_EQ(closed[0].reason, CloseReason::TargetPrice);
}

TEST_F(OnePosition, Rule2GapUpWinsOverLowReachingStop) {
  auto closed = apply(bar(115, 116, 80, 85));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 115);
  EXPECT_EQ(closed[0].reason, CloseReason::TargetPrice);
}

TEST_F(OnePosition, Rule3LowBelowStopExitsAtStopLoss) {
  auto closed = apply(bar(95, 99, 88, 89));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, pos.stop_loss);
  EXPECT_EQ(closed[0].reason, CloseReason::StopLoss);
}

TEST_F(OnePosition, Rule3LowExactlyEqualToStopLossExitsAtStopLoss) {
  auto closed = apply(bar(95, 99, pos.stop_loss, 96));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, pos.stop_loss);
  EXPECT_EQ(closed[0].reason, CloseReason::StopLoss);
}

TEST_F(OnePosition, Rule4HighAboveTargetExitsAtTargetPrice) {
  auto closed = apply(bar(105, 111, 101, 109));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 110);
  EXPECT_EQ(closed[0].reason, CloseReason::TargetPrice);
}

TEST_F(OnePosition, Rule4HighExactlyEqualToTargetExitsAtTargetPrice) {
  auto closed = apply(bar(105, 110, 101, 109));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 110);
  EXPECT_EQ(closed[0].reason, CloseReason::TargetPrice);
}

TEST_F(OnePosition, Rule3BarTouchingBothStopAndTargetClosesAtStop) {
  auto closed = apply(bar(100, 115, 85, 112));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, pos.stop_loss);
  EXPECT_EQ(closed[0].reason, CloseReason::StopLoss);
}

TEST_F(OnePosition, Rule5NeitherTouchedStaysOpen) {
  auto closed = apply(bar(100, 109.99, 90.01, 105));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
  ASSERT_EQ(engine.open_positions().size(), 1u);
  EXPECT_EQ(engine.open_positions()[0], pos);
  EXPECT_EQ(engine.performance().position_count(), 0u);
}

TEST_F(OnePosition, Rule5HighJustBelowTargetAndLowJustAboveStopStaysOpen) {
  auto closed = apply(bar(100, 109.99999999, 90.00000001, 100));
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
}

// --- closed position fields -----------------------------------------------------

TEST_F(OnePosition, PnlAtTargetIsExitMinusEntryOverEntryPercent) {
  auto closed = apply(bar(105, 111, 101, 109));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_DOUBLE_EQ(closed[0].pnl, 10.0);
}

TEST_F(OnePosition, PnlAtStopLossIsMinusTenPercent) {
  auto closed = apply(bar(95, 99, 88, 89));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_DOUBLE_EQ(closed[0].pnl, (pos.stop_loss - 100) / 100 * 100);
  EXPECT_NEAR(closed[0].pnl, -10.0, 1e-12);
}

TEST_F(OnePosition, PnlOnGapDownUsesOpenPrice) {
  auto closed = apply(bar(80, 95, 79, 90));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_DOUBLE_EQ(closed[0].pnl, -20.0);
}

TEST(EngineClose, PnlFormulaWithNonRoundPrices) {
  Engine e;
  auto r = e.open(doc({{"AAPL", 150.2, 145.1}}));
  ASSERT_EQ(r.opened.size(), 1u);
  std::vector<ClosedPosition> closed;
  e.apply(bar(146, 150.3, 145.5, 150), closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 150.2);
  EXPECT_DOUBLE_EQ(closed[0].pnl, (150.2 - 145.1) / 145.1 * 100);
}

TEST_F(OnePosition, CloseTimestampIsBarEndInSeconds) {
  auto closed = apply(bar(105, 111, 101, 109, kNextMinuteMs, kNextMinuteEndMs));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].close_timestamp, 1626102060.0);
}

TEST_F(OnePosition, CloseTimestampKeepsFractionOfBarEnd) {
  auto closed = apply(bar(105, 111, 101, 109, kNextMinuteMs, 1626102060500));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].close_timestamp, 1626102060.5);
}

TEST_F(OnePosition, ClosedPositionCarriesTheOpenPositionUnchanged) {
  auto closed = apply(bar(105, 111, 101, 109));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].position, pos);
}

TEST_F(OnePosition, ClosingRemovesFromOpenPositions) {
  apply(bar(105, 111, 101, 109));
  EXPECT_EQ(engine.open_count(), 0u);
  EXPECT_TRUE(engine.open_positions().empty());
  EXPECT_TRUE(engine.knows("AAPL", kOpenTs));
}

TEST_F(OnePosition, ClosingBooksIntoPerformanceMonth) {
  auto closed = apply(bar(105, 111, 101, 109));
  ASSERT_EQ(closed.size(), 1u);
  const auto& months = engine.performance().months();
  ASSERT_EQ(months.size(), 1u);
  EXPECT_EQ(months.begin()->first, 1625097600);  // 2021-07-01 00:00 UTC
  ASSERT_EQ(months.begin()->second.positions.size(), 1u);
  EXPECT_EQ(months.begin()->second.positions[0], closed[0]);
  EXPECT_DOUBLE_EQ(months.begin()->second.realized_pnl(), 10.0);
}

TEST_F(OnePosition, ClosedPositionIsNotClosedAgainByLaterMatchingBar) {
  ASSERT_EQ(apply(bar(105, 111, 101, 109)).size(), 1u);
  auto again = apply(bar(105, 111, 101, 109, kNextMinuteMs + 60000));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(engine.performance().position_count(), 1u);
}

TEST_F(OnePosition, BarForAnotherSymbolDoesNotClose) {
  auto closed = apply(bar(50, 200, 1, 100, kNextMinuteMs, -1, "NVDA"));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
}

TEST(EngineClose, OneBarClosesEveryMatchingPositionOfTheSymbol) {
  Engine e;
  e.open(doc({{"AAPL", 110, 100}}, "2021-07-12 10:58:00"));
  e.open(doc({{"AAPL", 120, 100}}, "2021-07-12 10:59:00"));
  e.open(doc({{"AAPL", 109, 100}}, "2021-07-12 10:59:00")) /* same identity: ignored */;
  ASSERT_EQ(e.open_count(), 2u);
  std::vector<ClosedPosition> closed;
  e.apply(bar(100, 101, 85, 90), closed);
  EXPECT_EQ(closed.size(), 2u);
  EXPECT_EQ(e.open_count(), 0u);
}

TEST(EngineClose, OneBarClosesOnlyPositionsWhoseLevelsItReaches) {
  Engine e;
  e.open(doc({{"AAPL", 110, 100}}, "2021-07-12 10:58:00"));
  e.open(doc({{"AAPL", 120, 100}}, "2021-07-12 10:59:00"));
  std::vector<ClosedPosition> closed;
  e.apply(bar(105, 111, 101, 109), closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].position.target_price, 110);
  ASSERT_EQ(e.open_positions().size(), 1u);
  EXPECT_EQ(e.open_positions()[0].target_price, 120);
}

TEST(EngineClose, CloseOnBarFreeFunctionReturnsNulloptWhenNothingReached) {
  auto p = qc::position_for({"AAPL", 110, 100}, kOpenTs);
  EXPECT_EQ(qc::close_on_bar(p, bar(100, 105, 95, 101)), std::nullopt);
}

TEST(EngineClose, CloseNotesRoundTrip) {
  CloseReason r = CloseReason::TargetPrice;
  EXPECT_TRUE(qc::parse_close_notes("Reached stop loss", r));
  EXPECT_EQ(r, CloseReason::StopLoss);
  EXPECT_TRUE(qc::parse_close_notes("Reached target price", r));
  EXPECT_EQ(r, CloseReason::TargetPrice);
  EXPECT_FALSE(qc::parse_close_notes("reached stop loss", r));
}

// --- no look-ahead ------------------------------------------------------------------

TEST_F(OnePosition, NoLookAheadBarStartingOneMinuteBeforeOpenNeverCloses) {
  auto closed = apply(bar(80, 120, 70, 100, (kOpenTs - 60) * 1000));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
}

TEST_F(OnePosition, NoLookAheadBarStartingOneMillisecondBeforeOpenNeverCloses) {
  auto closed = apply(bar(80, 120, 70, 100, kOpenTs * 1000 - 1));
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
}

TEST_F(OnePosition, NoLookAheadBarStartingExactlyAtOpenTimestampCanClose) {
  auto closed = apply(bar(105, 111, 101, 109, kOpenTs * 1000));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 110);
}

TEST_F(OnePosition, NoLookAheadBarStartingHalfSecondAfterOpenCanClose) {
  auto closed = apply(bar(105, 111, 101, 109, kOpenTs * 1000 + 500));
  EXPECT_EQ(closed.size(), 1u);
}

TEST_F(OnePosition, NoLookAheadEarlyBarThenLaterBarClosesOnTheLaterOne) {
  EXPECT_TRUE(apply(bar(80, 120, 70, 100, (kOpenTs - 60) * 1000)).empty());
  auto closed = apply(bar(105, 111, 101, 109, kOpenTs * 1000));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].close_timestamp, static_cast<double>(kOpenTs + 60));
}

TEST(EngineClose, NoLookAheadBarClosesOlderPositionButNotNewerOne) {
  Engine e;
  e.open(doc({{"AAPL", 110, 100}}, "2021-07-12 10:58:00"));
  e.open(doc({{"AAPL", 110, 100}}, "2021-07-12 11:00:00"));
  std::vector<ClosedPosition> closed;
  // Bar 10:59 closes the 10:58 position only.
  e.apply(bar(105, 111, 101, 109, kOpenTs * 1000), closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].position.open_timestamp, kOpenTs - 60);
  EXPECT_EQ(e.open_count(), 1u);
}

// --- stale / unknown bars -----------------------------------------------------------

TEST_F(OnePosition, DuplicateBarWithSameStartIsStale) {
  apply(bar(100, 105, 95, 101));
  apply(bar(100, 105, 95, 101));
  EXPECT_EQ(outcome, BarOutcome::Stale);
}

TEST_F(OnePosition, OutOfOrderOlderBarIsStale) {
  apply(bar(100, 105, 95, 101, kNextMinuteMs + 60000));
  apply(bar(100, 105, 95, 101, kNextMinuteMs));
  EXPECT_EQ(outcome, BarOutcome::Stale);
}

TEST_F(OnePosition, StaleDuplicateBarDoesNotCloseEvenIfItWouldMatch) {
  apply(bar(100, 105, 95, 101));  // no match
  auto closed = apply(bar(100, 111, 95, 109));  // corrected re-send of the same minute
  EXPECT_EQ(outcome, BarOutcome::Stale);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
}

TEST_F(OnePosition, StaleOlderBarDoesNotCloseEvenIfItWouldMatch) {
  apply(bar(100, 105, 95, 101, kNextMinuteMs + 60000));
  auto closed = apply(bar(85, 111, 80, 90, kNextMinuteMs));
  EXPECT_EQ(outcome, BarOutcome::Stale);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.open_count(), 1u);
}

TEST_F(OnePosition, BarForUntrackedSymbolIsUnknownSymbol) {
  auto closed = apply(bar(100, 105, 95, 101, kNextMinuteMs, -1, "MSFT"));
  EXPECT_EQ(outcome, BarOutcome::UnknownSymbol);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(engine.last_bar_start("MSFT"), std::nullopt);
}

TEST_F(OnePosition, LastBarStartIsNulloptBeforeAnyBar) {
  EXPECT_EQ(engine.last_bar_start("AAPL"), std::nullopt);
  EXPECT_EQ(engine.latest_bar_start(), std::nullopt);
}

TEST_F(OnePosition, LastBarStartIsUpdatedByAppliedBar) {
  apply(bar(100, 105, 95, 101));
  EXPECT_EQ(engine.last_bar_start("AAPL"), std::optional<std::int64_t>(kNextMinuteMs));
  apply(bar(100, 105, 95, 101, kNextMinuteMs + 60000));
  EXPECT_EQ(engine.last_bar_start("AAPL"), std::optional<std::int64_t>(kNextMinuteMs + 60000));
}

TEST_F(OnePosition, LastBarStartIsUpdatedByBarThatClosesNothingBeforeOpen) {
  apply(bar(80, 120, 70, 100, (kOpenTs - 60) * 1000));
  EXPECT_EQ(engine.last_bar_start("AAPL"), std::optional<std::int64_t>((kOpenTs - 60) * 1000));
}

TEST_F(OnePosition, LastBarStartIsNotMovedBackByStaleBar) {
  apply(bar(100, 105, 95, 101, kNextMinuteMs + 60000));
  apply(bar(100, 105, 95, 101, kNextMinuteMs));
  EXPECT_EQ(engine.last_bar_start("AAPL"), std::optional<std::int64_t>(kNextMinuteMs + 60000));
}

TEST_F(OnePosition, LastBarStartIsPerSymbol) {
  apply(bar(100, 105, 95, 101, kNextMinuteMs + 60000));
  apply(bar(100, 105, 95, 101, kNextMinuteMs, -1, "NVDA"));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  EXPECT_EQ(engine.last_bar_start("NVDA"), std::optional<std::int64_t>(kNextMinuteMs));
  EXPECT_EQ(engine.latest_bar_start(), std::optional<std::int64_t>(kNextMinuteMs + 60000));
}

TEST_F(OnePosition, RestoreLastBarMakesOlderBarStale) {
  engine.restore_last_bar({"AAPL", kNextMinuteMs + 60000});
  auto closed = apply(bar(85, 111, 80, 90, kNextMinuteMs));
  EXPECT_EQ(outcome, BarOutcome::Stale);
  EXPECT_TRUE(closed.empty());
}

TEST_F(OnePosition, RestoreLastBarMakesEqualBarStale) {
  engine.restore_last_bar({"AAPL", kNextMinuteMs});
  apply(bar(85, 111, 80, 90, kNextMinuteMs));
  EXPECT_EQ(outcome, BarOutcome::Stale);
  EXPECT_EQ(engine.open_count(), 1u);
}

TEST_F(OnePosition, RestoreLastBarLetsNewerBarApply) {
  engine.restore_last_bar({"AAPL", kNextMinuteMs});
  auto closed = apply(bar(105, 111, 101, 109, kNextMinuteMs + 60000));
  EXPECT_EQ(outcome, BarOutcome::Applied);
  EXPECT_EQ(closed.size(), 1u);
}

TEST_F(OnePosition, RestoreLastBarNeverMovesBackwards) {
  engine.restore_last_bar({"AAPL", kNextMinuteMs + 60000});
  engine.restore_last_bar({"AAPL", kNextMinuteMs});
  EXPECT_EQ(engine.last_bar_start("AAPL"), std::optional<std::int64_t>(kNextMinuteMs + 60000));
}

}  // namespace
