// SPEC §6.1 (opening) and §6.3 (exactly once) on qc::Engine::open.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/engine.h"

namespace {

using qc::Engine;
using qc::InvalidItems;
using qc::MinuteBar;
using qc::RecommendationDocument;
using qc::RecommendationItem;

constexpr std::int64_t kJul12_1059 = 1626101940;  // "2021-07-12 10:59:00" EDT

RecommendationDocument doc(std::vector<RecommendationItem> items,
                           std::string us = "2021-07-12 10:59:00",
                           std::string sg = "2021-07-12 22:59:00") {
  RecommendationDocument d;
  d.us_date = std::move(us);
  d.sg_date = std::move(sg);
  d.items = std::move(items);
  return d;
}

RecommendationItem item(std::string symbol, double target, double current) {
  return RecommendationItem{std::move(symbol), target, current};
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// --- open_timestamp ---------------------------------------------------------------

TEST(EngineOpen, OpenTimestampIsUsDateInNewYorkSummerTime) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].open_timestamp, kJul12_1059);
  EXPECT_EQ(r.open_timestamp, std::optional<std::int64_t>(kJul12_1059));
}

TEST(EngineOpen, OpenTimestampIsUsDateInNewYorkWinterTime) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}, "2021-01-15 09:30:00", "2021-01-15 22:30:00"));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].open_timestamp, 1610721000);
}

TEST(EngineOpen, OpenTimestampSpringForwardSkippedHourIsTransitionInstant) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}, "2021-03-14 02:30:00", "2021-03-14 15:30:00"));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].open_timestamp, 1615705200);
}

TEST(EngineOpen, OpenTimestampFallBackAmbiguousUsesSgDateToPickLaterEst) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}, "2021-11-07 01:30:00", "2021-11-07 14:30:00"));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].open_timestamp, 1636266600);
}

TEST(EngineOpen, OpenTimestampFallBackAmbiguousWithoutSgDateIsEarlierEdt) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}, "2021-11-07 01:30:00", ""));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].open_timestamp, 1636263000);
}

// --- prices -----------------------------------------------------------------------

TEST(EngineOpen, EntryPriceIsCurrentPrice) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].entry_price, 145.1);
}

TEST(EngineOpen, TargetPriceIsTargetPrice) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].target_price, 150.2);
}

TEST(EngineOpen, StopLossIsCurrentPriceTimes0Point9) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_DOUBLE_EQ(r.opened[0].stop_loss, 145.1 * 0.9);
  EXPECT_NEAR(r.opened[0].stop_loss, 130.59, 1e-9);
}

TEST(EngineOpen, ExpectedProfitIsTargetMinusCurrentOverCurrentPercent) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_DOUBLE_EQ(r.opened[0].expected_profit, (150.2 - 145.1) / 145.1 * 100);
  EXPECT_NEAR(r.opened[0].expected_profit, 3.51481736733287, 1e-9);
}

TEST(EngineOpen, SymbolIsCopied) {
  Engine e;
  auto r = e.open(doc({item("NVDA", 200, 190)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].symbol, "NVDA");
}

TEST(EngineOpen, OpenedPositionIsListedCountedAndKnown) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(e.open_count(), 1u);
  ASSERT_EQ(e.open_positions().size(), 1u);
  EXPECT_EQ(e.open_positions()[0], r.opened[0]);
  EXPECT_TRUE(e.knows("AAPL", kJul12_1059));
  EXPECT_FALSE(r.refused);
  EXPECT_TRUE(r.problems.empty());
}

TEST(EngineOpen, OpenedListIsInDocumentOrder) {
  Engine e;
  auto r = e.open(doc({item("NVDA", 200, 190), item("AAPL", 150, 140), item("C", 70, 60)}));
  ASSERT_EQ(r.opened.size(), 3u);
  EXPECT_EQ(r.opened[0].symbol, "NVDA");
  EXPECT_EQ(r.opened[1].symbol, "AAPL");
  EXPECT_EQ(r.opened[2].symbol, "C");
}

TEST(EngineOpen, EmptyItemListOpensNothingAndIsNotRefused) {
  Engine e;
  auto r = e.open(doc({}));
  EXPECT_FALSE(r.refused);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(e.open_count(), 0u);
}

TEST(EngineOpen, PositionForComputesSameFieldsAsOpen) {
  auto p = qc::position_for(item("AAPL", 150.2, 145.1), kJul12_1059);
  Engine e;
  auto r = e.open(doc({item("AAPL", 150.2, 145.1)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(p, r.opened[0]);
}

// --- invalid items ----------------------------------------------------------------

void expect_single_invalid(const RecommendationItem& it, const std::string& field) {
  Engine e;
  auto r = e.open(doc({it}));
  EXPECT_TRUE(r.refused);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(e.open_count(), 0u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].item, 0);
  EXPECT_EQ(r.problems[0].field, field);
  EXPECT_FALSE(r.problems[0].reason.empty());
}

TEST(EngineOpenInvalid, UntrackedSymbolIsRejected) {
  expect_single_invalid(item("MSFT", 300, 280), "symbol");
}

TEST(EngineOpenInvalid, LowercaseSymbolIsNotTracked) {
  expect_single_invalid(item("aapl", 150, 140), "symbol");
}

TEST(EngineOpenInvalid, CurrentPriceZeroIsRejected) {
  expect_single_invalid(item("AAPL", 150, 0), "currentPrice");
}

TEST(EngineOpenInvalid, CurrentPriceNegativeIsRejected) {
  expect_single_invalid(item("AAPL", 150, -1), "currentPrice");
}

TEST(EngineOpenInvalid, TargetBelowCurrentIsRejected) {
  expect_single_invalid(item("AAPL", 140, 150), "targetPrice");
}

TEST(EngineOpenInvalid, TargetEqualToCurrentIsRejected) {
  expect_single_invalid(item("AAPL", 145.1, 145.1), "targetPrice");
}

TEST(EngineOpenInvalid, FinitePricesWhoseExpectedProfitOverflowsAreRejected) {
  // (1e300 - 1e-300) / 1e-300 * 100 is +inf: it would be served as null.
  expect_single_invalid(item("AAPL", 1e300, 1e-300), "targetPrice");
}

TEST(EngineOpenInvalid, LargestRepresentableExpectedProfitIsAccepted) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 1e300, 1e-5)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_TRUE(std::isfinite(r.opened[0].expected_profit));
}

TEST(EngineOpenInvalid, CurrentPriceNaNIsRejected) {
  expect_single_invalid(item("AAPL", 150, kNaN), "currentPrice");
}

TEST(EngineOpenInvalid, TargetPriceNaNIsRejected) {
  expect_single_invalid(item("AAPL", kNaN, 145), "targetPrice");
}

TEST(EngineOpenInvalid, TargetPricePlusInfinityIsRejected) {
  expect_single_invalid(item("AAPL", kInf, 145), "targetPrice");
}

TEST(EngineOpenInvalid, CurrentPriceMinusInfinityIsRejected) {
  expect_single_invalid(item("AAPL", 150, -kInf), "currentPrice");
}

TEST(EngineOpenInvalid, CurrentPricePlusInfinityIsRejected) {
  expect_single_invalid(item("AAPL", 150, kInf), "currentPrice");
}

TEST(EngineOpenInvalid, UnparsableUsDateFebruary30RefusesDocument) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140)}, "2021-02-30 10:00:00", ""));
  EXPECT_TRUE(r.refused);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(r.open_timestamp, std::nullopt);
  EXPECT_EQ(e.open_count(), 0u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].item, -1);
  EXPECT_EQ(r.problems[0].field, "us-date");
}

TEST(EngineOpenInvalid, UnparsableUsDateGarbageRefusesDocument) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140)}, "garbage", ""));
  EXPECT_TRUE(r.refused);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(e.open_count(), 0u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].field, "us-date");
}

TEST(EngineOpenInvalid, UnparsableUsDateOpensNothingEvenInSkipItemMode) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140)}, "garbage", ""), InvalidItems::SkipItem);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(e.open_count(), 0u);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(r.problems[0].field, "us-date");
}

TEST(EngineOpenInvalid, AddedTickerBecomesTrackedAndOpens) {
  Engine e;
  EXPECT_FALSE(e.is_tracked("MSFT"));
  EXPECT_TRUE(e.add_ticker({"MSFT", "NASDAQ", "Microsoft Corporation"}));
  EXPECT_TRUE(e.is_tracked("MSFT"));
  auto r = e.open(doc({item("MSFT", 300, 280)}));
  EXPECT_EQ(r.opened.size(), 1u);
}

TEST(EngineTickers, AddingAlreadyTrackedTickerReturnsFalseAndKeepsOrder) {
  Engine e;
  auto before = e.tickers();
  EXPECT_FALSE(e.add_ticker({"AAPL", "NASDAQ", "Apple Inc."}));
  EXPECT_EQ(e.tickers(), before);
}

TEST(EngineTickers, DefaultTickersAreTheElevenOfSpecInOrder) {
  Engine e;
  std::vector<std::string> symbols;
  for (const auto& t : e.tickers()) symbols.push_back(t.symbol);
  EXPECT_EQ(symbols, (std::vector<std::string>{"AAPL", "AMZN", "BABA", "GOOG", "SHOP", "BX", "C",
                                                "TLT", "NVDA", "BLK", "NOK"}));
}

// --- modes ------------------------------------------------------------------------

TEST(EngineOpenMode, RefuseDocumentOpensNothingWhenOneOfThreeItemsInvalid) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140), item("MSFT", 300, 280), item("NVDA", 200, 190)}),
                  InvalidItems::RefuseDocument);
  EXPECT_TRUE(r.refused);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_TRUE(r.already_known.empty());
  EXPECT_EQ(e.open_count(), 0u);
  EXPECT_FALSE(e.knows("AAPL", kJul12_1059));
  EXPECT_FALSE(e.knows("NVDA", kJul12_1059));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].item, 1);
  EXPECT_EQ(r.problems[0].field, "symbol");
}

TEST(EngineOpenMode, RefuseDocumentReportsEveryInvalidItemIndex) {
  Engine e;
  auto r = e.open(doc({item("MSFT", 300, 280), item("AAPL", 150, 140), item("NVDA", 190, 190)}));
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].item, 0);
  EXPECT_EQ(r.problems[0].field, "symbol");
  EXPECT_EQ(r.problems[1].item, 2);
  EXPECT_EQ(r.problems[1].field, "targetPrice");
}

TEST(EngineOpenMode, RefusedDocumentDoesNotBlockLaterValidDocumentWithSameIdentities) {
  Engine e;
  e.open(doc({item("AAPL", 150, 140), item("MSFT", 300, 280)}));
  auto r = e.open(doc({item("AAPL", 150, 140)}));
  EXPECT_FALSE(r.refused);
  EXPECT_EQ(r.opened.size(), 1u);
}

TEST(EngineOpenMode, RefuseDocumentIsTheDefaultMode) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140), item("MSFT", 300, 280)}));
  EXPECT_TRUE(r.refused);
  EXPECT_EQ(e.open_count(), 0u);
}

TEST(EngineOpenMode, SkipItemOpensTheValidItemsAndReportsTheInvalidOne) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140), item("MSFT", 300, 280), item("NVDA", 200, 190)}),
                  InvalidItems::SkipItem);
  EXPECT_FALSE(r.refused);
  ASSERT_EQ(r.opened.size(), 2u);
  EXPECT_EQ(r.opened[0].symbol, "AAPL");
  EXPECT_EQ(r.opened[1].symbol, "NVDA");
  EXPECT_EQ(e.open_count(), 2u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].item, 1);
}

TEST(EngineOpenMode, SkipItemWithAllItemsInvalidOpensNothing) {
  Engine e;
  auto r = e.open(doc({item("MSFT", 300, 280), item("AAPL", 100, 0)}), InvalidItems::SkipItem);
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(e.open_count(), 0u);
}

// --- exactly once -----------------------------------------------------------------

TEST(EngineOpenOnce, SameDocumentTwiceOpensOnce) {
  Engine e;
  auto d = doc({item("AAPL", 150, 140), item("NVDA", 200, 190)});
  auto first = e.open(d);
  auto second = e.open(d);
  EXPECT_EQ(first.opened.size(), 2u);
  EXPECT_TRUE(second.opened.empty());
  EXPECT_EQ(second.already_known.size(), 2u);
  EXPECT_FALSE(second.refused);
  EXPECT_EQ(e.open_count(), 2u);
  EXPECT_EQ(e.open_positions().size(), 2u);
}

TEST(EngineOpenOnce, SameIdentityWithDifferentPricesIsNotReopened) {
  Engine e;
  e.open(doc({item("AAPL", 150, 140)}));
  auto r = e.open(doc({item("AAPL", 160, 141)}));
  EXPECT_TRUE(r.opened.empty());
  ASSERT_EQ(r.already_known.size(), 1u);
  ASSERT_EQ(e.open_positions().size(), 1u);
  EXPECT_EQ(e.open_positions()[0].target_price, 150);
}

TEST(EngineOpenOnce, SameSymbolTwiceInOneDocumentOpensFirstOnce) {
  Engine e;
  auto r = e.open(doc({item("AAPL", 150, 140), item("AAPL", 160, 141)}));
  ASSERT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(r.opened[0].target_price, 150);
  EXPECT_EQ(r.already_known.size(), 1u);
  EXPECT_EQ(e.open_count(), 1u);
}

TEST(EngineOpenOnce, SameSymbolAtDifferentUsDatesOpensTwo) {
  Engine e;
  e.open(doc({item("AAPL", 150, 140)}, "2021-07-12 10:59:00", ""));
  auto r = e.open(doc({item("AAPL", 150, 140)}, "2021-07-12 11:00:00", ""));
  EXPECT_EQ(r.opened.size(), 1u);
  EXPECT_EQ(e.open_count(), 2u);
}

TEST(EngineOpenOnce, ClosedPositionIdentityIsNeverReopened) {
  Engine e;
  auto d = doc({item("AAPL", 110, 100)});
  ASSERT_EQ(e.open(d).opened.size(), 1u);
  MinuteBar bar{"AAPL", 105, 111, 104, 110, 1000, kJul12_1059 * 1000 + 60000,
                kJul12_1059 * 1000 + 120000};
  std::vector<qc::ClosedPosition> closed;
  e.apply(bar, closed);
  ASSERT_EQ(closed.size(), 1u);
  ASSERT_EQ(e.open_count(), 0u);
  auto again = e.open(d);
  EXPECT_TRUE(again.opened.empty());
  EXPECT_EQ(again.already_known.size(), 1u);
  EXPECT_EQ(e.open_count(), 0u);
  EXPECT_TRUE(e.knows("AAPL", kJul12_1059));
}

TEST(EngineOpenOnce, RestoredClosedIdentityIsNeverReopened) {
  Engine e;
  qc::ClosedPosition c;
  c.position = qc::position_for(item("AAPL", 110, 100), kJul12_1059);
  c.exit_price = 110;
  c.close_timestamp = kJul12_1059 + 120;
  c.pnl = 10;
  e.restore_closed(c);
  auto r = e.open(doc({item("AAPL", 110, 100)}));
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(r.already_known.size(), 1u);
  EXPECT_EQ(e.open_count(), 0u);
}

TEST(EngineOpenOnce, RestoredOpenIdentityIsNotOpenedAgain) {
  Engine e;
  e.restore_open(qc::position_for(item("AAPL", 110, 100), kJul12_1059));
  auto r = e.open(doc({item("AAPL", 110, 100)}));
  EXPECT_TRUE(r.opened.empty());
  EXPECT_EQ(r.already_known.size(), 1u);
  EXPECT_EQ(e.open_count(), 1u);
}

// --- what is held for an identity -------------------------------------------------

TEST(EngineHeld, NeverOpenedIdentityHoldsNothing) {
  Engine e;
  EXPECT_FALSE(e.held("AAPL", kJul12_1059).has_value());
}

TEST(EngineHeld, OpenIdentityHoldsTheFirstPricesNotARepostsPrices) {
  Engine e;
  e.open(doc({item("AAPL", 150.2, 145.1)}));
  auto again = e.open(doc({item("AAPL", 170, 160)}));
  EXPECT_TRUE(again.opened.empty());
  auto held = e.held("AAPL", kJul12_1059);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->state, qc::HeldPosition::State::Open);
  EXPECT_EQ(held->position.entry_price, 145.1);
  EXPECT_EQ(held->position.target_price, 150.2);
}

TEST(EngineHeld, ClosedIdentityHoldsTheClosedPosition) {
  Engine e;
  e.open(doc({item("NVDA", 220, 200)}));
  std::vector<qc::ClosedPosition> closed;
  MinuteBar b;
  b.symbol = "NVDA";
  b.open = 200;
  b.high = 221;
  b.low = 199;
  b.close = 220;
  b.start_ms = (kJul12_1059 + 60) * 1000;
  b.end_ms = b.start_ms + 60'000;
  e.apply(b, closed);
  ASSERT_EQ(closed.size(), 1u);
  auto held = e.held("NVDA", kJul12_1059);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->state, qc::HeldPosition::State::Closed);
  EXPECT_EQ(held->position.entry_price, 200);
}

}  // namespace
