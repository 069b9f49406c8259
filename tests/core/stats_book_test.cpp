// SPEC §4.8: every figure of /api/stats, its edge cases and its JSON.
// Expected numbers are worked out by hand in the comments (pnls chosen to be
// exact in binary), or, for random data, by a sum written in the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/performance_book.h"
#include "core/position.h"
#include "core/stats_book.h"
#include "core/stats_render.h"
#include "core/trade_history.h"

namespace {

using qc::ClosedPosition;
using qc::CloseReason;
using qc::Drawdown;
using qc::EquityPoint;
using qc::StatsBook;
using qc::TradeFilter;
using qc::TradeHistory;
using qc::TradeMark;

constexpr std::int64_t kOpen = 1626098400;  // 2021-07-12 10:00 EDT (Monday)
constexpr double kT1 = kOpen + 3600;        // 11:00 EDT
constexpr double kT2 = kOpen + 7200;
constexpr double kT3 = kOpen + 10800;
constexpr double kT4 = kOpen + 14400;
constexpr double kT5 = kOpen + 18000;        // 15:00 EDT, still 2021-07-12
constexpr std::int64_t kJuly2021 = 1625097600;  // 2021-07-01 00:00 UTC

ClosedPosition closed(std::string symbol, std::int64_t open_ts, double close_ts, double pnl,
                      std::optional<CloseReason> reason = std::nullopt) {
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
  c.reason = reason.value_or(pnl < 0 ? CloseReason::StopLoss : CloseReason::TargetPrice);
  return c;
}

struct Book {
  TradeHistory history;
  StatsBook stats;
  void add(const ClosedPosition& c) {
    (void)history.add(c);
    stats.add(c, history);
  }
};

Book book_of(const std::vector<ClosedPosition>& trades) {
  Book b;
  for (const auto& t : trades) b.add(t);
  return b;
}

// Closes one hour apart from kT1 with the given pnls, all AAPL.
std::vector<ClosedPosition> curve(const std::vector<double>& pnls) {
  std::vector<ClosedPosition> out;
  for (std::size_t i = 0; i < pnls.size(); ++i)
    out.push_back(closed("AAPL", kOpen + static_cast<std::int64_t>(i), kT1 + 3600.0 * i, pnls[i]));
  return out;
}
double hour(std::size_t i) { return kT1 + 3600.0 * i; }

// The mixed example used by many tests:
//   t1 AAPL +4 target (hold 3600)    curve  4   peak 4 @T1
//   t2 MSFT -2 stop   (hold 7200)           2   fall 2
//   t3 AAPL -3 stop   (hold 10740)         -1   fall 5  <- largest
//   t4 NOK   0 target (hold 14400)         -1   fall 5 (tie: the earlier stays)
//   t5 MSFT +1 target (hold 17880)          0   fall 4
std::vector<ClosedPosition> mixed() {
  return {closed("AAPL", kOpen, kT1, 4), closed("MSFT", kOpen, kT2, -2),
          closed("AAPL", kOpen + 60, kT3, -3), closed("NOK", kOpen, kT4, 0),
          closed("MSFT", kOpen + 120, kT5, 1)};
}

std::vector<std::string> dates(const std::vector<qc::PeriodFigures>& days) {
  std::vector<std::string> out;
  for (const auto& d : days) out.push_back(qc::format_calendar_date(d.key));
  return out;
}
std::vector<std::string> weeks(const std::vector<qc::PeriodFigures>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(qc::format_iso_week(w.key));
  return out;
}

// --- empty set ------------------------------------------------------------------------

TEST(StatsEmpty, CountsZeroRatiosNull) {
  auto s = StatsBook{}.closed();
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.wins, 0u);
  EXPECT_EQ(s.losses, 0u);
  EXPECT_EQ(s.breakeven, 0u);
  EXPECT_EQ(s.total_pnl, 0);
  EXPECT_FALSE(s.win_rate);
  EXPECT_FALSE(s.avg_pnl);
  EXPECT_FALSE(s.median_pnl);
  EXPECT_FALSE(s.avg_win);
  EXPECT_FALSE(s.avg_loss);
  EXPECT_FALSE(s.profit_factor);
  EXPECT_FALSE(s.best);
  EXPECT_FALSE(s.worst);
  EXPECT_FALSE(s.avg_hold_seconds);
  EXPECT_EQ(s.max_drawdown, Drawdown{});
}

TEST(StatsEmpty, WholeDocument) {
  EXPECT_EQ(qc::render_stats(StatsBook{}, {}),
            "{\"closed\":{\"count\":0,\"wins\":0,\"losses\":0,\"breakeven\":0,\"win_rate\":null,"
            "\"total_pnl\":0,\"avg_pnl\":null,\"median_pnl\":null,\"avg_win\":null,\"avg_loss\":null,"
            "\"profit_factor\":null,\"best\":null,\"worst\":null,\"avg_hold_seconds\":null,"
            "\"max_drawdown\":{\"pnl\":0,\"peak_time\":null,\"trough_time\":null}},"
            "\"by_symbol\":[],\"by_exit\":[],\"daily\":[],\"weekly\":[],\"monthly\":[],\"equity\":[],"
            "\"open\":{\"count\":0,\"unrealized_pnl\":0}}");
}

TEST(StatsEmpty, FilterMatchingNothingIsTheEmptySet) {
  auto b = book_of(mixed());
  TradeFilter f;
  f.symbol = "TSLA";
  EXPECT_EQ(qc::render_stats(qc::compute_stats(b.history, f), {}),
            qc::render_stats(StatsBook{}, {}));
}

// --- one trade ------------------------------------------------------------------------

TEST(StatsOneTrade, WholeDocument) {
  auto b = book_of({closed("AAPL", kOpen, kT1, 2.5)});
  EXPECT_EQ(qc::render_stats(b.stats, {3, -1.25}),
            "{\"closed\":{\"count\":1,\"wins\":1,\"losses\":0,\"breakeven\":0,\"win_rate\":1,"
            "\"total_pnl\":2.5,\"avg_pnl\":2.5,\"median_pnl\":2.5,\"avg_win\":2.5,\"avg_loss\":null,"
            "\"profit_factor\":null,"
            "\"best\":{\"symbol\":\"AAPL\",\"open_timestamp\":1626098400,\"pnl\":2.5},"
            "\"worst\":{\"symbol\":\"AAPL\",\"open_timestamp\":1626098400,\"pnl\":2.5},"
            "\"avg_hold_seconds\":3600,"
            "\"max_drawdown\":{\"pnl\":0,\"peak_time\":null,\"trough_time\":null}},"
            "\"by_symbol\":[{\"symbol\":\"AAPL\",\"count\":1,\"wins\":1,\"win_rate\":1,"
            "\"total_pnl\":2.5,\"avg_pnl\":2.5}],"
            "\"by_exit\":[{\"notes\":\"Reached target price\",\"count\":1,\"total_pnl\":2.5}],"
            "\"daily\":[{\"date\":\"2021-07-12\",\"count\":1,\"pnl\":2.5}],"
            "\"weekly\":[{\"week\":\"2021-W28\",\"count\":1,\"pnl\":2.5}],"
            "\"monthly\":[{\"month\":1625097600,\"count\":1,\"pnl\":2.5}],"
            "\"equity\":[[1626102000,2.5]],"
            "\"open\":{\"count\":3,\"unrealized_pnl\":-1.25}}");
}

TEST(StatsOneTrade, ALosingTradeFallsFromTheStartingZero) {
  auto s = book_of({closed("AAPL", kOpen, kT1, -4)}).stats.closed();
  EXPECT_EQ(s.max_drawdown, (Drawdown{4, std::nullopt, kT1}));
}

// --- the mixed example -----------------------------------------------------------------

TEST(StatsMixed, Counts) {
  auto s = book_of(mixed()).stats.closed();
  EXPECT_EQ(s.count, 5u);
  EXPECT_EQ(s.wins, 2u);
  EXPECT_EQ(s.losses, 2u);
  EXPECT_EQ(s.breakeven, 1u);
}

TEST(StatsMixed, WinRateIsWinsOverAllTradesBreakevenIncluded) {
  EXPECT_EQ(book_of(mixed()).stats.closed().win_rate, 0.4);  // 2 / 5
}

TEST(StatsMixed, TotalAndAverage) {
  auto s = book_of(mixed()).stats.closed();
  EXPECT_EQ(s.total_pnl, 0);  // 4 - 2 - 3 + 0 + 1
  EXPECT_EQ(s.avg_pnl, 0);
}

TEST(StatsMixed, MedianOfOddCountIsTheMiddleValue) {
  EXPECT_EQ(book_of(mixed()).stats.closed().median_pnl, 0);  // -3 -2 [0] 1 4
}

TEST(StatsMixed, AverageWinAndAverageLossWhichIsNegative) {
  auto s = book_of(mixed()).stats.closed();
  EXPECT_EQ(s.avg_win, 2.5);    // (4 + 1) / 2
  EXPECT_EQ(s.avg_loss, -2.5);  // (-2 - 3) / 2
}

TEST(StatsMixed, ProfitFactorIsPositiveSumOverAbsoluteNegativeSum) {
  EXPECT_EQ(book_of(mixed()).stats.closed().profit_factor, 1);  // 5 / |-5|
}

TEST(StatsMixed, BestAndWorst) {
  auto s = book_of(mixed()).stats.closed();
  EXPECT_EQ(s.best, (TradeMark{"AAPL", kOpen, 4}));
  EXPECT_EQ(s.worst, (TradeMark{"AAPL", kOpen + 60, -3}));
}

TEST(StatsMixed, AverageHoldSeconds) {
  // (3600 + 7200 + 10740 + 14400 + 17880) / 5 = 53820 / 5
  EXPECT_EQ(book_of(mixed()).stats.closed().avg_hold_seconds, 10764);
}

TEST(StatsMixed, MaxDrawdownFromPeakToLowestLaterPoint) {
  EXPECT_EQ(book_of(mixed()).stats.closed().max_drawdown, (Drawdown{5, kT1, kT3}));
}

TEST(StatsMixed, BySymbolSortedBySymbol) {
  auto b = book_of(mixed());
  std::vector<std::string> keys;
  for (const auto& [symbol, f] : b.stats.by_symbol()) keys.push_back(symbol);
  EXPECT_EQ(keys, (std::vector<std::string>{"AAPL", "MSFT", "NOK"}));
}

TEST(StatsMixed, BySymbolFigures) {
  auto b = book_of(mixed());
  const auto& m = b.stats.by_symbol();
  EXPECT_EQ(m.at("AAPL"), (qc::SymbolFigures{2, 1, 1}));  // +4 -3
  EXPECT_EQ(m.at("AAPL").win_rate(), 0.5);
  EXPECT_EQ(m.at("AAPL").avg_pnl(), 0.5);
  EXPECT_EQ(m.at("MSFT"), (qc::SymbolFigures{2, 1, -1}));  // -2 +1
  EXPECT_EQ(m.at("MSFT").avg_pnl(), -0.5);
  EXPECT_EQ(m.at("NOK"), (qc::SymbolFigures{1, 0, 0}));  // breakeven is not a win
  EXPECT_EQ(m.at("NOK").win_rate(), 0);
}

TEST(StatsMixed, ByExitSortedByNotesText) {
  auto exits = book_of(mixed()).stats.by_exit();
  ASSERT_EQ(exits.size(), 2u);
  EXPECT_EQ(exits[0], (qc::ExitFigures{CloseReason::StopLoss, 2, -5}));
  EXPECT_EQ(exits[1], (qc::ExitFigures{CloseReason::TargetPrice, 3, 5}));  // 4 + 0 + 1
}

TEST(StatsMixed, ByExitJsonNamesTheFullNotes) {
  auto json = qc::render_stats(book_of(mixed()).stats, {});
  EXPECT_NE(json.find("\"by_exit\":[{\"notes\":\"Reached stop loss\",\"count\":2,\"total_pnl\":-5},"
                      "{\"notes\":\"Reached target price\",\"count\":3,\"total_pnl\":5}]"),
            std::string::npos)
      << json;
}

TEST(StatsMixed, EquityOnePointPerTrade) {
  EXPECT_EQ(book_of(mixed()).stats.equity(),
            (std::vector<EquityPoint>{{kT1, 4}, {kT2, 2}, {kT3, -1}, {kT4, -1}, {kT5, 0}}));
}

TEST(StatsMixed, AllOnOneNewYorkDay) {
  auto b = book_of(mixed());
  EXPECT_EQ(b.stats.daily(), (std::vector<qc::PeriodFigures>{{b.stats.daily().at(0).key, 5, 0}}));
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-07-12"}));
}

TEST(StatsMixed, SameFiguresWhateverTheArrivalOrder) {
  auto in_order = book_of(mixed());
  auto trades = mixed();
  std::reverse(trades.begin(), trades.end());
  auto reversed = book_of(trades);
  EXPECT_EQ(qc::render_stats(reversed.stats, {}), qc::render_stats(in_order.stats, {}));
}

// --- edge cases ---------------------------------------------------------------------------

TEST(StatsAllWins, NoLossesMeansNullProfitFactorAndAverageLoss) {
  auto s = book_of(curve({1, 2, 3})).stats.closed();
  EXPECT_EQ(s.win_rate, 1);
  EXPECT_EQ(s.avg_win, 2);
  EXPECT_FALSE(s.avg_loss);
  EXPECT_FALSE(s.profit_factor);
}

TEST(StatsAllWins, CurveNeverFallsSoDrawdownIsZeroWithNullTimes) {
  EXPECT_EQ(book_of(curve({1, 2, 3})).stats.closed().max_drawdown, Drawdown{});
}

TEST(StatsAllLosses, ProfitFactorIsZeroAndAverageWinNull) {
  auto s = book_of(curve({-1, -2})).stats.closed();
  EXPECT_EQ(s.profit_factor, 0);
  EXPECT_FALSE(s.avg_win);
  EXPECT_EQ(s.avg_loss, -1.5);
  EXPECT_EQ(s.win_rate, 0);
}

TEST(StatsAllLosses, ProfitFactorJsonIsZeroNotNull) {
  auto json = qc::render_stats(book_of(curve({-1, -2})).stats, {});
  EXPECT_NE(json.find("\"profit_factor\":0,"), std::string::npos) << json;
}

TEST(StatsAllLosses, DrawdownPeakIsTheStartingZero) {
  // curve -1, -3: the peak is the 0 before the first close
  EXPECT_EQ(book_of(curve({-1, -2})).stats.closed().max_drawdown,
            (Drawdown{3, std::nullopt, hour(1)}));
}

TEST(StatsBreakeven, NeitherWinNorLoss) {
  auto s = book_of(curve({0, 0})).stats.closed();
  EXPECT_EQ(s.breakeven, 2u);
  EXPECT_EQ(s.wins, 0u);
  EXPECT_EQ(s.losses, 0u);
  EXPECT_EQ(s.win_rate, 0);
  EXPECT_FALSE(s.avg_win);
  EXPECT_FALSE(s.avg_loss);
  EXPECT_FALSE(s.profit_factor);  // no losses
  EXPECT_EQ(s.median_pnl, 0);
}

TEST(StatsBreakeven, AFlatCurveNeverFalls) {
  EXPECT_EQ(book_of(curve({0, 0})).stats.closed().max_drawdown, Drawdown{});
}

TEST(StatsMedian, EvenCountIsTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(book_of(curve({1, 4, -2, 10})).stats.closed().median_pnl, 2.5);  // -2 [1 4] 10
}

TEST(StatsMedian, OddCount) {
  EXPECT_EQ(book_of(curve({5, -1, 3})).stats.closed().median_pnl, 3);  // -1 [3] 5
}

TEST(StatsMedian, TwoValues) {
  EXPECT_EQ(book_of(curve({-3, 2})).stats.closed().median_pnl, -0.5);
}

TEST(StatsMedian, RepeatedValues) {
  EXPECT_EQ(book_of(curve({2, 2, 2, 7, -1, 2})).stats.closed().median_pnl, 2);  // -1 2 [2 2] 2 7
}

TEST(StatsMedian, DescendingArrival) {
  EXPECT_EQ(book_of(curve({9, 7, 5, 3, 1, -1})).stats.closed().median_pnl, 4);  // (5 + 3) / 2
}

TEST(StatsDrawdown, PeakIsTheStartingZeroEvenWhenReachedAgain) {
  // curve -1, 0, -2: back to 0 at t2, but 0 was first reached at the start
  EXPECT_EQ(book_of(curve({-1, 1, -2})).stats.closed().max_drawdown,
            (Drawdown{2, std::nullopt, hour(2)}));
}

TEST(StatsDrawdown, PeakIsDatedByWhenItWasFirstReached) {
  // curve 2, 1, 2, -1: the peak 2 is first reached at t0, again at t2
  EXPECT_EQ(book_of(curve({2, -1, 1, -3})).stats.closed().max_drawdown,
            (Drawdown{3, hour(0), hour(3)}));
}

TEST(StatsDrawdown, EqualFallsFromTheSamePeakTheEarliestWins) {
  // curve 2, 1, 2, 1: falls of 1 at t1 and t3
  EXPECT_EQ(book_of(curve({2, -1, 1, -1})).stats.closed().max_drawdown,
            (Drawdown{1, hour(0), hour(1)}));
}

TEST(StatsDrawdown, EqualFallsFromDifferentPeaksTheEarliestWins) {
  // curve 2, 1, 3, 2: 2->1 at t1, then 3->2 at t3
  EXPECT_EQ(book_of(curve({2, -1, 2, -1})).stats.closed().max_drawdown,
            (Drawdown{1, hour(0), hour(1)}));
}

TEST(StatsDrawdown, ALaterLargerFallFromAHigherPeakWins) {
  // curve 2, 1, 5, 2: falls 1 (t0->t1), then 3 (t2->t3)
  EXPECT_EQ(book_of(curve({2, -1, 4, -3})).stats.closed().max_drawdown,
            (Drawdown{3, hour(2), hour(3)}));
}

TEST(StatsDrawdown, TroughIsTheLowestPointNotTheFirstFall) {
  // curve 3, 2, 0, 1: largest fall 3 -> 0 at t2
  EXPECT_EQ(book_of(curve({3, -1, -2, 1})).stats.closed().max_drawdown,
            (Drawdown{3, hour(0), hour(2)}));
}

TEST(StatsDrawdown, CurveThatOnlyRisesOrStaysNeverFalls) {
  EXPECT_EQ(book_of(curve({1, 0, 2})).stats.closed().max_drawdown, Drawdown{});
}

TEST(StatsDrawdown, JsonOfAPeakAtTheStartingZero) {
  auto json = qc::render_stats(book_of(curve({-1.5})).stats, {});
  EXPECT_NE(json.find("\"max_drawdown\":{\"pnl\":1.5,\"peak_time\":null,\"trough_time\":1626102000}"),
            std::string::npos)
      << json;
}

TEST(StatsBestWorst, TiesGoToTheEarlierTrade) {
  auto s = book_of({closed("MSFT", kOpen, kT1, 5), closed("AAPL", kOpen, kT2, 5),
                    closed("NOK", kOpen, kT3, -5), closed("BX", kOpen, kT4, -5)})
               .stats.closed();
  EXPECT_EQ(s.best, (TradeMark{"MSFT", kOpen, 5}));
  EXPECT_EQ(s.worst, (TradeMark{"NOK", kOpen, -5}));
}

TEST(StatsBestWorst, TiesGoToTheEarlierTradeWhenItArrivesLater) {
  auto s = book_of({closed("MSFT", kOpen, kT2, 5), closed("AAPL", kOpen, kT1, 5),
                    closed("NOK", kOpen, kT4, -5), closed("BX", kOpen, kT3, -5)})
               .stats.closed();
  EXPECT_EQ(s.best, (TradeMark{"AAPL", kOpen, 5}));
  EXPECT_EQ(s.worst, (TradeMark{"BX", kOpen, -5}));
}

TEST(StatsBestWorst, TiesInOneSecondGoByOpenTimeThenSymbol) {
  auto s = book_of({closed("AAPL", kOpen + 60, kT1, 5), closed("MSFT", kOpen, kT1, 5),
                    closed("NOK", kOpen + 60, kT2, -5), closed("BX", kOpen + 60, kT2, -5)})
               .stats.closed();
  EXPECT_EQ(s.best, (TradeMark{"MSFT", kOpen, 5}));  // smaller open time
  EXPECT_EQ(s.worst, (TradeMark{"BX", kOpen + 60, -5}));  // same open: BX < NOK
}

TEST(StatsHold, FractionalCloseTimes) {
  // holds 3600 and 5400.5
  auto s = book_of({closed("AAPL", kOpen, kOpen + 3600, 1), closed("MSFT", kOpen, kOpen + 5400.5, 1)})
               .stats.closed();
  EXPECT_EQ(s.avg_hold_seconds, 4500.25);
}

TEST(StatsBySymbol, OnlySymbolsWithTradesSortedWhateverTheArrival) {
  auto b = book_of({closed("NOK", kOpen, kT1, 1), closed("BX", kOpen, kT2, 1),
                    closed("AAPL", kOpen, kT3, 1)});
  std::vector<std::string> keys;
  for (const auto& [symbol, f] : b.stats.by_symbol()) keys.push_back(symbol);
  EXPECT_EQ(keys, (std::vector<std::string>{"AAPL", "BX", "NOK"}));
}

TEST(StatsByExit, OnlyExitsWithTrades) {
  auto exits = book_of(curve({1, 2})).stats.by_exit();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0], (qc::ExitFigures{CloseReason::TargetPrice, 2, 3}));
}

TEST(StatsEquity, TradesClosingInTheSameSecondAreSeparatePoints) {
  auto b = book_of({closed("AAPL", kOpen, kT1, 1), closed("MSFT", kOpen, kT1, 2)});
  EXPECT_EQ(b.stats.equity(), (std::vector<EquityPoint>{{kT1, 1}, {kT1, 3}}));
}

// --- calendar: New York days and ISO weeks, UTC months ----------------------------------

TEST(StatsCalendar, CloseAt0630UtcOnSpringForwardDayIs0130EstThatDay) {
  auto b = book_of({closed("AAPL", kOpen - 20000000, 1615703400, 1)});  // 2021-03-14 06:30 UTC
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-03-14"}));
}

TEST(StatsCalendar, OneSecondBeforeNewYorkMidnightIsThePreviousDay) {
  auto b = book_of({closed("AAPL", kOpen - 20000000, 1615697999, 1)});  // 2021-03-14 04:59:59 UTC
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-03-13"}));
}

TEST(StatsCalendar, AfterSpringForward0430UtcIsAlreadyTheNextDay) {
  // 2021-03-15 04:30 UTC = 00:30 EDT (it would be 23:30 the day before in EST)
  auto b = book_of({closed("AAPL", kOpen - 20000000, 1615782600, 1)});
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-03-15"}));
}

TEST(StatsCalendar, OnFallBackDay0430UtcIsStillEdt) {
  // 2021-11-07 04:30 UTC = 00:30 EDT on 11-07 (DST ends at 06:00 UTC)
  auto b = book_of({closed("AAPL", kOpen, 1636259400, 1)});
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-11-07"}));
}

TEST(StatsCalendar, AfterFallBack0430UtcIsTheDayBeforeInEst) {
  // 2021-11-08 04:30 UTC = 23:30 EST on 11-07 (it would be 00:30 11-08 in EDT)
  auto b = book_of({closed("AAPL", kOpen, 1636345800, 1)});
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-11-07"}));
}

TEST(StatsCalendar, DaysAscendingWithCountsAndPnl) {
  // 2021-07-12 11:00 and 12:00 EDT, then 2021-07-13 11:00 EDT
  auto b = book_of({closed("AAPL", kOpen, kT1, 1.5), closed("MSFT", kOpen, kT2, -0.5),
                    closed("NOK", kOpen, kT1 + 86400, 2)});
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-07-12", "2021-07-13"}));
  EXPECT_EQ(b.stats.daily()[0].count, 2u);
  EXPECT_EQ(b.stats.daily()[0].pnl, 1);
  EXPECT_EQ(b.stats.daily()[1].count, 1u);
  EXPECT_EQ(b.stats.daily()[1].pnl, 2);
}

TEST(StatsCalendar, January3rd2021IsWeek53Of2020) {
  auto b = book_of({closed("AAPL", kOpen - 20000000, 1609693200, 1)});  // Sun 2021-01-03 12:00 EST
  EXPECT_EQ(weeks(b.stats.weekly()), (std::vector<std::string>{"2020-W53"}));
}

TEST(StatsCalendar, MondayJanuary4th2021StartsWeek1) {
  auto b = book_of({closed("AAPL", kOpen - 20000000, 1609693200, 1),    // Sun 01-03
                    closed("MSFT", kOpen - 20000000, 1609772400, 2)});  // Mon 01-04 10:00 EST
  EXPECT_EQ(weeks(b.stats.weekly()), (std::vector<std::string>{"2020-W53", "2021-W01"}));
  EXPECT_EQ(b.stats.weekly()[0].count, 1u);
  EXPECT_EQ(b.stats.weekly()[1].pnl, 2);
}

TEST(StatsCalendar, MondayToSundayIsOneWeek) {
  // Mon 2020-12-28 10:00 EST and Sun 2021-01-03 12:00 EST: both 2020-W53
  auto b = book_of({closed("AAPL", kOpen - 20000000, 1609167600, 1),
                    closed("MSFT", kOpen - 20000000, 1609693200, 2)});
  EXPECT_EQ(weeks(b.stats.weekly()), (std::vector<std::string>{"2020-W53"}));
  EXPECT_EQ(b.stats.weekly()[0].count, 2u);
  EXPECT_EQ(b.stats.weekly()[0].pnl, 3);
}

TEST(StatsCalendar, NewYearInUtcIsStillDecember31stInNewYork) {
  // 2022-01-01 03:00 UTC = 2021-12-31 22:00 EST (a Friday)
  auto b = book_of({closed("AAPL", kOpen, 1641006000, 1)});
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-12-31"}));
  EXPECT_EQ(weeks(b.stats.weekly()), (std::vector<std::string>{"2021-W52"}));
  EXPECT_EQ(b.stats.monthly().at(0).key, 1640995200);  // January 2022, UTC as §4.3
}

TEST(StatsCalendar, MonthIsUtcWhileTheDayIsNewYork) {
  // 2021-07-01 02:00 UTC = 2021-06-30 22:00 EDT
  auto b = book_of({closed("AAPL", kOpen - 2000000, 1625104800, 1)});
  EXPECT_EQ(dates(b.stats.daily()), (std::vector<std::string>{"2021-06-30"}));
  EXPECT_EQ(b.stats.monthly().at(0).key, kJuly2021);
}

TEST(StatsCalendar, MonthsAscendingWithCountsAndPnl) {
  // 2021-06-30 23:59:59 UTC, 2021-07-01 00:00:00 UTC, 2021-07-12 11:00 EDT
  auto b = book_of({closed("AAPL", kOpen - 2000000, kJuly2021 - 1, 1),
                    closed("MSFT", kOpen - 2000000, kJuly2021, 2), closed("NOK", kOpen, kT1, 4)});
  EXPECT_EQ(b.stats.monthly(), (std::vector<qc::PeriodFigures>{{1622505600, 1, 1},
                                                                {kJuly2021, 2, 6}}));
}

TEST(StatsCalendar, MonthlyJsonUsesTheMonthsFirstInstant) {
  auto json = qc::render_stats(book_of({closed("AAPL", kOpen, kT1, 1)}).stats, {});
  EXPECT_NE(json.find("\"monthly\":[{\"month\":1625097600,\"count\":1,\"pnl\":1}]"), std::string::npos)
      << json;
}

// --- filters: the curve starts at 0 at the window start -------------------------------------

TEST(StatsFilter, FromWindowCurveStartsAtZero) {
  auto b = book_of(curve({5, -1, 2}));  // whole curve 5, 4, 6
  TradeFilter f;
  f.from = hour(1);
  auto w = qc::compute_stats(b.history, f);
  EXPECT_EQ(w.equity(), (std::vector<EquityPoint>{{hour(1), -1}, {hour(2), 1}}));
  EXPECT_EQ(w.closed().max_drawdown, (Drawdown{1, std::nullopt, hour(1)}));
  EXPECT_EQ(w.closed().total_pnl, 1);
}

TEST(StatsFilter, UnfilteredCurveOfTheSameTrades) {
  auto b = book_of(curve({5, -1, 2}));
  EXPECT_EQ(b.stats.closed().max_drawdown, (Drawdown{1, hour(0), hour(1)}));
}

TEST(StatsFilter, ToBoundIsInclusive) {
  auto b = book_of(curve({5, -1, 2}));
  TradeFilter f;
  f.from = hour(0);
  f.to = hour(1);
  auto w = qc::compute_stats(b.history, f);
  EXPECT_EQ(w.closed().count, 2u);
  EXPECT_EQ(w.closed().total_pnl, 4);
}

TEST(StatsFilter, SymbolCurveHasOnlyThatSymbolsTrades) {
  auto b = book_of(mixed());
  TradeFilter f;
  f.symbol = "AAPL";
  auto s = qc::compute_stats(b.history, f);
  EXPECT_EQ(s.equity(), (std::vector<EquityPoint>{{kT1, 4}, {kT3, 1}}));
  EXPECT_EQ(s.closed().max_drawdown, (Drawdown{3, kT1, kT3}));
  EXPECT_EQ(s.closed().count, 2u);
}

// --- incremental == scan ----------------------------------------------------------------------

std::vector<ClosedPosition> random_closes(std::uint32_t seed, std::size_t n) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> pnl(-10, 10);
  const char* symbols[] = {"AAPL", "MSFT", "NOK", "BX", "C", "SHOP"};
  std::vector<ClosedPosition> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t open_ts = kOpen - 40000000 + static_cast<std::int64_t>(i) * 61;
    // ~2.5 years of closes, some in the same second, some with fractions
    double close_ts = static_cast<double>(open_ts + 3600 + static_cast<std::int64_t>(rng() % 40000000));
    if (rng() % 5 == 0) close_ts = kOpen;  // many ties
    if (rng() % 3 == 0) close_ts += 0.25;
    double p = rng() % 10 == 0 ? 0.0 : pnl(rng);
    out.push_back(closed(symbols[rng() % 6], open_ts, close_ts, p));
  }
  return out;
}

TEST(StatsIncremental, RandomArrivalOrderEqualsAScanBitForBit) {
  auto trades = random_closes(42, 3000);
  std::mt19937 rng(9);
  std::shuffle(trades.begin(), trades.end(), rng);
  // Mostly in order, with some late closes: sort, then move 40 to the end.
  std::sort(trades.begin(), trades.end(), qc::closes_before);
  for (int i = 0; i < 40; ++i) {
    auto k = rng() % (trades.size() - 40);
    auto late = trades[k];
    trades.erase(trades.begin() + static_cast<std::ptrdiff_t>(k));
    trades.push_back(late);
  }
  auto b = book_of(trades);
  auto scan = qc::compute_stats(b.history);
  EXPECT_EQ(b.stats.closed(), scan.closed());
  EXPECT_EQ(b.stats.by_symbol(), scan.by_symbol());
  EXPECT_EQ(b.stats.by_exit(), scan.by_exit());
  EXPECT_EQ(b.stats.daily(), scan.daily());
  EXPECT_EQ(b.stats.weekly(), scan.weekly());
  EXPECT_EQ(b.stats.monthly(), scan.monthly());
  EXPECT_EQ(b.stats.equity(), scan.equity());
  EXPECT_EQ(qc::render_stats(b.stats, {}), qc::render_stats(scan, {}));
}

TEST(StatsIncremental, FullyShuffledArrivalEqualsSortedArrival) {
  auto trades = random_closes(3, 500);
  auto sorted = trades;
  std::sort(sorted.begin(), sorted.end(), qc::closes_before);
  std::mt19937 rng(4);
  std::shuffle(trades.begin(), trades.end(), rng);
  EXPECT_EQ(qc::render_stats(book_of(trades).stats, {}), qc::render_stats(book_of(sorted).stats, {}));
}

TEST(StatsIncremental, SumsAreLeftToRightInSection43Order) {
  auto trades = random_closes(5, 2000);
  std::sort(trades.begin(), trades.end(), qc::closes_before);
  auto b = book_of(trades);
  double total = 0, wins = 0, losses = 0;
  std::size_t nwins = 0, nlosses = 0;
  double peak = 0, worst_fall = 0;
  for (const auto& t : trades) {
    total += t.pnl;
    if (t.pnl > 0) wins += t.pnl, ++nwins;
    if (t.pnl < 0) losses += t.pnl, ++nlosses;
    peak = std::max(peak, total);
    worst_fall = std::max(worst_fall, peak - total);
  }
  auto s = b.stats.closed();
  EXPECT_EQ(s.total_pnl, total);
  EXPECT_EQ(s.avg_win, wins / static_cast<double>(nwins));
  EXPECT_EQ(s.avg_loss, losses / static_cast<double>(nlosses));
  EXPECT_EQ(s.profit_factor, wins / -losses);
  EXPECT_EQ(s.max_drawdown.pnl, worst_fall);
  EXPECT_EQ(b.stats.equity().back().cumulative_pnl, total);
}

TEST(StatsIncremental, MedianOfRandomSetsMatchesASortedCopy) {
  for (std::size_t n : {1u, 2u, 3u, 10u, 11u, 999u, 1000u}) {
    auto trades = random_closes(static_cast<std::uint32_t>(n), n);
    std::sort(trades.begin(), trades.end(), qc::closes_before);
    auto b = book_of(trades);
    std::vector<double> p;
    for (const auto& t : trades) p.push_back(t.pnl);
    std::sort(p.begin(), p.end());
    double expected = n % 2 ? p[n / 2] : (p[n / 2 - 1] + p[n / 2]) / 2;
    EXPECT_EQ(b.stats.closed().median_pnl, expected) << n;
  }
}

// --- the scan (compute_stats) == adding each matching trade in order --------------------------

// A book built by add_in_order from the trades `filter` matches, in §4.3 order.
StatsBook added_in_order(std::vector<ClosedPosition> trades, const TradeFilter& filter) {
  std::sort(trades.begin(), trades.end(), qc::closes_before);
  StatsBook s;
  for (const auto& t : trades) {
    if (qc::matches(filter, t)) {
      EXPECT_TRUE(s.add_in_order(t));
    }
  }
  return s;
}

void expect_same_book(const StatsBook& a, const StatsBook& b) {
  EXPECT_EQ(a.closed(), b.closed());
  EXPECT_EQ(a.by_symbol(), b.by_symbol());
  EXPECT_EQ(a.by_exit(), b.by_exit());
  EXPECT_EQ(a.daily(), b.daily());
  EXPECT_EQ(a.weekly(), b.weekly());
  EXPECT_EQ(a.monthly(), b.monthly());
  EXPECT_EQ(a.equity(), b.equity());
}

std::vector<TradeFilter> stats_filters(const std::vector<ClosedPosition>& trades) {
  auto sorted = trades;
  std::sort(sorted.begin(), sorted.end(), qc::closes_before);
  const double third = sorted[sorted.size() / 3].close_timestamp;
  const double two_thirds = sorted[sorted.size() * 2 / 3].close_timestamp;
  std::vector<TradeFilter> out(8);
  out[1].symbol = "AAPL";
  out[2].from = third;
  out[3].to = third;
  out[4].from = third, out[4].to = two_thirds;
  out[5].symbol = "NOK", out[5].from = third;
  out[6].symbol = "TSLA";            // never traded: an empty book
  out[7].from = two_thirds + 1e9;    // after every close: an empty book
  return out;
}

TEST(StatsScan, EqualsAddingEachMatchingTradeInOrderForEveryFilter) {
  auto trades = random_closes(21, 3000);  // ties in pnl, close time, zeros
  auto b = book_of(trades);
  for (const auto& f : stats_filters(trades)) {
    SCOPED_TRACE(testing::Message() << "symbol " << f.symbol.value_or("-") << " from "
                                    << f.from.value_or(-1) << " to " << f.to.value_or(-1));
    expect_same_book(qc::compute_stats(b.history, f), added_in_order(trades, f));
  }
}

TEST(StatsScan, BestAndWorstTiesGoToTheEarlierTrade) {
  auto b = book_of({closed("MSFT", kOpen, kT1, 2), closed("AAPL", kOpen, kT2, 2),
                    closed("NOK", kOpen, kT3, -3), closed("BX", kOpen, kT4, -3)});
  auto s = qc::compute_stats(b.history).closed();
  EXPECT_EQ(s.best, (TradeMark{"MSFT", kOpen, 2}));
  EXPECT_EQ(s.worst, (TradeMark{"NOK", kOpen, -3}));
}

TEST(StatsScan, MedianStaysRightWhenTradesAreAddedAfterAScan) {
  // The rebuild of StatsBook::add is a scan; later closes go on its halves.
  for (std::size_t scanned : {1u, 2u, 7u, 8u, 500u}) {
    auto trades = random_closes(31, 1000);
    std::sort(trades.begin(), trades.end(), qc::closes_before);
    Book first;
    for (std::size_t i = 0; i < scanned; ++i) (void)first.history.add(trades[i]);
    auto s = qc::compute_stats(first.history);
    for (std::size_t i = scanned; i < trades.size(); ++i) ASSERT_TRUE(s.add_in_order(trades[i]));
    EXPECT_EQ(s.closed(), added_in_order(trades, {}).closed()) << scanned;
  }
}

TEST(StatsScan, AnAddAfterAScanRefusesAnEarlierClose) {
  auto b = book_of({closed("AAPL", kOpen, kT2, 1)});
  auto s = qc::compute_stats(b.history);
  EXPECT_FALSE(s.add_in_order(closed("MSFT", kOpen, kT1, 5)));
  EXPECT_TRUE(s.add_in_order(closed("MSFT", kOpen, kT3, 5)));
}

TEST(StatsIncremental, MonthlyMatchesThePerformanceDocument) {
  auto trades = random_closes(8, 2000);
  std::sort(trades.begin(), trades.end(), qc::closes_before);
  auto b = book_of(trades);
  qc::PerformanceBook performance;
  for (const auto& t : trades) performance.add(t);
  std::vector<qc::PeriodFigures> expected;
  for (const auto& [month, m] : performance.months())
    expected.push_back({month, m.positions.size(), m.realized_pnl()});
  EXPECT_EQ(b.stats.monthly(), expected);
}

TEST(StatsIncremental, AddInOrderRefusesAnEarlierCloseAndChangesNothing) {
  StatsBook s;
  ASSERT_TRUE(s.add_in_order(closed("AAPL", kOpen, kT2, 1)));
  auto before = qc::render_stats(s, {});
  EXPECT_FALSE(s.add_in_order(closed("MSFT", kOpen, kT1, 5)));
  EXPECT_EQ(qc::render_stats(s, {}), before);
}

TEST(StatsIncremental, AddInOrderAcceptsTheSameSecondWithALaterKey) {
  StatsBook s;
  ASSERT_TRUE(s.add_in_order(closed("AAPL", kOpen, kT1, 1)));
  EXPECT_TRUE(s.add_in_order(closed("MSFT", kOpen, kT1, 1)));
  EXPECT_FALSE(s.add_in_order(closed("AAA", kOpen, kT1, 1)));
}

TEST(StatsIncremental, GenerationChangesOnlyWhenEquityIsRebuilt) {
  Book b;
  b.add(closed("AAPL", kOpen, kT2, 1));
  b.add(closed("AAPL", kOpen + 1, kT3, 1));
  EXPECT_EQ(b.stats.generation(), 0u);
  b.add(closed("MSFT", kOpen, kT1, 1));  // late
  EXPECT_EQ(b.stats.generation(), 1u);
  b.add(closed("MSFT", kOpen + 1, kT4, 1));
  EXPECT_EQ(b.stats.generation(), 1u);
}

// --- rendering in parts ------------------------------------------------------------------

TEST(StatsRender, HeadChunksAndTailMakeTheWholeDocument) {
  auto b = book_of(random_closes(12, 300));
  const auto& equity = b.stats.equity();
  std::string pieces = qc::render_stats_head(b.stats);
  qc::append_equity_points(pieces, equity, 0, 1);
  qc::append_equity_points(pieces, equity, 1, 120);
  qc::append_equity_points(pieces, equity, 120, 120);  // an empty chunk
  qc::append_equity_points(pieces, equity, 120, equity.size());
  pieces += qc::render_stats_tail({7, 3.5});
  EXPECT_EQ(pieces, qc::render_stats(b.stats, {7, 3.5}));
}

TEST(StatsRender, HeadEndsInsideTheEquityArrayAndTailClosesIt) {
  EXPECT_TRUE(qc::render_stats_head(StatsBook{}).ends_with(",\"equity\":["));
  EXPECT_EQ(qc::render_stats_tail({2, -0.75}), "],\"open\":{\"count\":2,\"unrealized_pnl\":-0.75}}");
}

TEST(StatsRender, EquityPointsInShortestRoundTripForm) {
  std::string out;
  std::vector<EquityPoint> points = {{1626102060.5, 0.1 + 0.2}, {1626102120, -1.5}};
  qc::append_equity_points(out, points, 0, 2);
  EXPECT_EQ(out, "[1626102060.5,0.30000000000000004],[1626102120,-1.5]");
}

TEST(StatsRender, DocumentIsValidJsonWithEveryKeyOfSection48) {
  auto json = qc::render_stats(book_of(random_closes(13, 200)).stats, {1, 2});
  auto v = boost::json::parse(json).as_object();
  for (const char* k : {"closed", "by_symbol", "by_exit", "daily", "weekly", "monthly", "equity", "open"})
    EXPECT_TRUE(v.contains(k)) << k;
  auto closed_obj = v.at("closed").as_object();
  for (const char* k : {"count", "wins", "losses", "breakeven", "win_rate", "total_pnl", "avg_pnl",
                        "median_pnl", "avg_win", "avg_loss", "profit_factor", "best", "worst",
                        "avg_hold_seconds", "max_drawdown"})
    EXPECT_TRUE(closed_obj.contains(k)) << k;
  EXPECT_EQ(v.at("equity").as_array().size(), 200u);
}

}  // namespace
