// SPEC §4.7: the closed-trade history, its order (§4.3), its filters and
// its cursor pages. Expected pages come from a brute-force filter and sort
// of the same trades in the test (closes_before), never from TradeHistory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/performance_book.h"
#include "core/position.h"
#include "core/render.h"
#include "core/trade_history.h"

namespace {

using qc::ClosedPosition;
using qc::CloseReason;
using qc::TradeCursor;
using qc::TradeFilter;
using qc::TradeHistory;
using qc::TradeQuery;

constexpr std::int64_t kOpen = 1626098400;  // 2021-07-12 14:00:00 UTC

ClosedPosition closed(std::string symbol, std::int64_t open_ts, double close_ts, double pnl = 1,
                      CloseReason reason = CloseReason::TargetPrice) {
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
  c.reason = reason;
  return c;
}

std::vector<std::string> symbols_of(const std::vector<ClosedPosition>& trades) {
  std::vector<std::string> out;
  for (const auto& t : trades) out.push_back(t.position.symbol);
  return out;
}

std::vector<ClosedPosition> all_in_order(const TradeHistory& h) {
  std::vector<ClosedPosition> out;
  for (std::size_t i = 0; i < h.size(); ++i) out.push_back(h.at(i));
  return out;
}

bool matches(const ClosedPosition& c, const TradeFilter& f) {
  return (!f.symbol || c.position.symbol == *f.symbol) && (!f.from || c.close_timestamp >= *f.from) &&
         (!f.to || c.close_timestamp <= *f.to) && (!f.notes || c.reason == *f.notes);
}

// The trades a walk over every page must give: newest first.
std::vector<ClosedPosition> expected_newest_first(std::vector<ClosedPosition> trades,
                                                  const TradeFilter& f) {
  std::vector<ClosedPosition> out;
  std::sort(trades.begin(), trades.end(), qc::closes_before);
  for (auto it = trades.rbegin(); it != trades.rend(); ++it)
    if (matches(*it, f)) out.push_back(*it);
  return out;
}

std::vector<ClosedPosition> walk_pages(const TradeHistory& h, const TradeFilter& f,
                                       std::size_t limit, std::size_t* pages = nullptr) {
  std::vector<ClosedPosition> out;
  TradeQuery q;
  q.filter = f;
  q.limit = limit;
  std::size_t n = 0;
  for (;;) {
    auto page = h.page(q);
    ++n;
    EXPECT_LE(page.trades.size(), limit);
    out.insert(out.end(), page.trades.begin(), page.trades.end());
    if (!page.next_cursor) break;
    EXPECT_EQ(page.trades.size(), limit) << "a page with a next cursor is full";
    // Through the text form, as a client would.
    auto parsed = qc::parse_cursor(qc::encode_cursor(*page.next_cursor));
    EXPECT_TRUE(parsed.cursor) << parsed.error;
    q.cursor = parsed.cursor;
    if (n > 100000) break;
  }
  if (pages) *pages = n;
  return out;
}

// 400 trades over 5 symbols with many ties on close and open time, both
// notes, added in a shuffled order.
std::vector<ClosedPosition> random_trades(std::uint32_t seed, std::size_t n = 400) {
  std::mt19937 rng(seed);
  const char* symbols[] = {"AAPL", "MSFT", "NOK", "BRK.B", "C"};
  std::vector<ClosedPosition> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string symbol = symbols[rng() % 5];
    std::int64_t open_ts = kOpen + static_cast<std::int64_t>(rng() % 50) * 60;
    double close_ts = static_cast<double>(kOpen + 3600 + static_cast<std::int64_t>(rng() % 120) * 60);
    if (rng() % 4 == 0) close_ts += 0.5;
    auto reason = rng() % 3 == 0 ? CloseReason::StopLoss : CloseReason::TargetPrice;
    double pnl = reason == CloseReason::StopLoss ? -10.0 : static_cast<double>(rng() % 7);
    bool duplicate_identity = std::any_of(out.begin(), out.end(), [&](const ClosedPosition& c) {
      return c.position.symbol == symbol && c.position.open_timestamp == open_ts;
    });
    if (duplicate_identity) continue;  // (symbol, open_timestamp) closes once
    out.push_back(closed(symbol, open_ts, close_ts, pnl, reason));
  }
  return out;
}

// --- order ------------------------------------------------------------------------------

TEST(TradeHistory, StartsEmpty) {
  TradeHistory h;
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.empty());
}

TEST(TradeHistory, AddInTimeOrderAppends) {
  TradeHistory h;
  EXPECT_TRUE(h.add(closed("AAPL", kOpen, kOpen + 60)));
  EXPECT_TRUE(h.add(closed("MSFT", kOpen, kOpen + 120)));
  EXPECT_EQ(symbols_of(all_in_order(h)), (std::vector<std::string>{"AAPL", "MSFT"}));
}

TEST(TradeHistory, LateCloseIsInsertedInPlace) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, kOpen + 60));
  (void)h.add(closed("MSFT", kOpen, kOpen + 180));
  EXPECT_FALSE(h.add(closed("NOK", kOpen, kOpen + 120)));
  EXPECT_EQ(symbols_of(all_in_order(h)), (std::vector<std::string>{"AAPL", "NOK", "MSFT"}));
}

TEST(TradeHistory, SameCloseTimeOrdersByOpenTimestamp) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen + 60, kOpen + 600));
  (void)h.add(closed("MSFT", kOpen, kOpen + 600));
  EXPECT_EQ(symbols_of(all_in_order(h)), (std::vector<std::string>{"MSFT", "AAPL"}));
}

TEST(TradeHistory, SameCloseAndOpenTimeOrdersBySymbol) {
  TradeHistory h;
  (void)h.add(closed("MSFT", kOpen, kOpen + 600));
  (void)h.add(closed("AAPL", kOpen, kOpen + 600));
  EXPECT_EQ(symbols_of(all_in_order(h)), (std::vector<std::string>{"AAPL", "MSFT"}));
}

TEST(TradeHistory, AFractionalCloseSortsAfterTheWholeSecond) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, kOpen + 600.5));
  (void)h.add(closed("MSFT", kOpen + 60, kOpen + 600));
  EXPECT_EQ(symbols_of(all_in_order(h)), (std::vector<std::string>{"MSFT", "AAPL"}));
}

TEST(TradeHistory, KeepsEveryFieldOfThePosition) {
  TradeHistory h;
  ClosedPosition c = closed("BRK.B", kOpen, kOpen + 60.25, -10, CloseReason::StopLoss);
  c.position.entry_price = 145.1;
  c.position.target_price = 150.2;
  c.position.stop_loss = 145.1 * 0.9;
  c.position.expected_profit = (150.2 - 145.1) / 145.1 * 100;
  c.exit_price = 130.59;
  (void)h.add(c);
  EXPECT_EQ(h.at(0), c);
}

TEST(TradeHistory, RandomArrivalOrderGivesSection43Order) {
  auto trades = random_trades(7);
  TradeHistory h;
  for (const auto& t : trades) (void)h.add(t);
  auto sorted = trades;
  std::sort(sorted.begin(), sorted.end(), qc::closes_before);
  EXPECT_EQ(all_in_order(h), sorted);
}

TEST(TradeHistory, PnlAndCloseTimeAloneMatchTheWholeTrade) {
  auto trades = random_trades(11);
  TradeHistory h;
  for (const auto& t : trades) (void)h.add(t);
  ASSERT_EQ(h.size(), trades.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h.pnl_at(i), h.at(i).pnl) << i;
    EXPECT_EQ(h.close_timestamp_at(i), h.at(i).close_timestamp) << i;
  }
}

// --- pages -------------------------------------------------------------------------------

TEST(TradePage, EmptyHistoryGivesNoTradesAndNoCursor) {
  TradeHistory h;
  auto page = h.page({});
  EXPECT_TRUE(page.trades.empty());
  EXPECT_FALSE(page.next_cursor);
}

TEST(TradePage, NewestFirst) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, kOpen + 60));
  (void)h.add(closed("MSFT", kOpen, kOpen + 120));
  (void)h.add(closed("NOK", kOpen, kOpen + 180));
  EXPECT_EQ(symbols_of(h.page({}).trades), (std::vector<std::string>{"NOK", "MSFT", "AAPL"}));
}

TEST(TradePage, CursorIsTheKeyOfTheLastTradeReturned) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, kOpen + 60));
  (void)h.add(closed("MSFT", kOpen + 1, kOpen + 120.5));
  (void)h.add(closed("NOK", kOpen, kOpen + 180));
  TradeQuery q;
  q.limit = 2;
  auto page = h.page(q);
  ASSERT_TRUE(page.next_cursor);
  EXPECT_EQ(*page.next_cursor, (TradeCursor{kOpen + 120.5, kOpen + 1, "MSFT"}));
}

TEST(TradePage, NoCursorWhenThePageTakesTheLastMatchingTrade) {
  TradeHistory h;
  for (int i = 0; i < 3; ++i) (void)h.add(closed("AAPL", kOpen + i, kOpen + 60 + i));
  TradeQuery q;
  q.limit = 3;
  auto page = h.page(q);
  EXPECT_EQ(page.trades.size(), 3u);
  EXPECT_FALSE(page.next_cursor);
}

TEST(TradePage, NoCursorWhenTheOnlyLaterTradesDoNotMatch) {
  TradeHistory h;
  (void)h.add(closed("MSFT", kOpen, kOpen + 10));
  (void)h.add(closed("AAPL", kOpen, kOpen + 60));
  (void)h.add(closed("MSFT", kOpen + 1, kOpen + 70));
  TradeQuery q;
  q.filter.symbol = "AAPL";
  q.limit = 1;
  auto page = h.page(q);
  EXPECT_EQ(symbols_of(page.trades), (std::vector<std::string>{"AAPL"}));
  EXPECT_FALSE(page.next_cursor);
}

TEST(TradePage, LimitAbove1000GivesAPageOf1000) {
  TradeHistory h;
  for (int i = 0; i < 1001; ++i) (void)h.add(closed("AAPL", kOpen + i, kOpen + 60 + i));
  TradeQuery q;
  q.limit = 5000;
  auto page = h.page(q);
  EXPECT_EQ(page.trades.size(), 1000u);
  EXPECT_TRUE(page.next_cursor);
}

TEST(TradePage, LimitZeroGivesAPageOfOne) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, kOpen + 60));
  (void)h.add(closed("AAPL", kOpen + 1, kOpen + 61));
  TradeQuery q;
  q.limit = 0;
  EXPECT_EQ(h.page(q).trades.size(), 1u);
}

TEST(TradePage, FromAndToAreInclusiveOnCloseTimestamp) {
  TradeHistory h;
  (void)h.add(closed("A", kOpen, 1000));
  (void)h.add(closed("B", kOpen, 2000));
  (void)h.add(closed("C", kOpen, 3000));
  (void)h.add(closed("D", kOpen, 4000));
  TradeQuery q;
  q.filter.from = 2000;
  q.filter.to = 3000;
  EXPECT_EQ(symbols_of(h.page(q).trades), (std::vector<std::string>{"C", "B"}));
}

TEST(TradePage, FromEqualToToGivesThatSecond) {
  TradeHistory h;
  (void)h.add(closed("A", kOpen, 1000));
  (void)h.add(closed("B", kOpen, 2000));
  (void)h.add(closed("C", kOpen + 1, 2000));
  (void)h.add(closed("D", kOpen, 2000.5));
  TradeQuery q;
  q.filter.from = 2000;
  q.filter.to = 2000;
  EXPECT_EQ(symbols_of(h.page(q).trades), (std::vector<std::string>{"C", "B"}));
}

TEST(TradePage, FromAfterToGivesNothing) {
  TradeHistory h;
  (void)h.add(closed("A", kOpen, 1000));
  TradeQuery q;
  q.filter.from = 2000;
  q.filter.to = 1000;
  auto page = h.page(q);
  EXPECT_TRUE(page.trades.empty());
  EXPECT_FALSE(page.next_cursor);
}

TEST(TradePage, UnknownSymbolGivesNothing) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, kOpen + 60));
  TradeQuery q;
  q.filter.symbol = "TSLA";
  EXPECT_TRUE(h.page(q).trades.empty());
}

TEST(TradePage, NotesFilterKeepsOneExitKind) {
  TradeHistory h;
  (void)h.add(closed("A", kOpen, 1000, 5, CloseReason::TargetPrice));
  (void)h.add(closed("B", kOpen, 2000, -10, CloseReason::StopLoss));
  (void)h.add(closed("C", kOpen, 3000, 5, CloseReason::TargetPrice));
  TradeQuery q;
  q.filter.notes = CloseReason::StopLoss;
  EXPECT_EQ(symbols_of(h.page(q).trades), (std::vector<std::string>{"B"}));
  q.filter.notes = CloseReason::TargetPrice;
  EXPECT_EQ(symbols_of(h.page(q).trades), (std::vector<std::string>{"C", "A"}));
}

TEST(TradePage, SymbolAndNotesWhenTheSymbolHasFewerTrades) {
  TradeHistory h;
  for (int i = 0; i < 10; ++i) (void)h.add(closed("MSFT", kOpen + i, 1000 + i, -10, CloseReason::StopLoss));
  (void)h.add(closed("AAPL", kOpen, 2000, -10, CloseReason::StopLoss));
  (void)h.add(closed("AAPL", kOpen + 1, 2001, 5, CloseReason::TargetPrice));
  TradeQuery q;
  q.filter.symbol = "AAPL";
  q.filter.notes = CloseReason::StopLoss;
  auto page = h.page(q);
  ASSERT_EQ(page.trades.size(), 1u);
  EXPECT_EQ(page.trades[0].close_timestamp, 2000);
}

TEST(TradePage, SymbolAndNotesWhenTheNotesHaveFewerTrades) {
  TradeHistory h;
  for (int i = 0; i < 10; ++i) (void)h.add(closed("AAPL", kOpen + i, 1000 + i, 5, CloseReason::TargetPrice));
  (void)h.add(closed("MSFT", kOpen, 1500, -10, CloseReason::StopLoss));
  (void)h.add(closed("AAPL", kOpen + 100, 2000, -10, CloseReason::StopLoss));
  TradeQuery q;
  q.filter.symbol = "AAPL";
  q.filter.notes = CloseReason::StopLoss;
  auto page = h.page(q);
  ASSERT_EQ(page.trades.size(), 1u);
  EXPECT_EQ(page.trades[0].close_timestamp, 2000);
  EXPECT_EQ(page.trades[0].position.symbol, "AAPL");
}

TEST(TradePage, LateCloseShowsInTheSymbolAndNotesFilters) {
  TradeHistory h;
  (void)h.add(closed("AAPL", kOpen, 1000, 5, CloseReason::TargetPrice));
  (void)h.add(closed("MSFT", kOpen, 3000, -10, CloseReason::StopLoss));
  (void)h.add(closed("AAPL", kOpen + 1, 4000, -10, CloseReason::StopLoss));
  (void)h.add(closed("MSFT", kOpen + 1, 2000, 5, CloseReason::TargetPrice));  // late
  TradeQuery q;
  q.filter.symbol = "AAPL";
  auto aapl = h.page(q).trades;
  ASSERT_EQ(aapl.size(), 2u);
  EXPECT_EQ(aapl[0].close_timestamp, 4000);
  EXPECT_EQ(aapl[1].close_timestamp, 1000);
  q.filter.symbol = "MSFT";
  auto msft = h.page(q).trades;
  ASSERT_EQ(msft.size(), 2u);
  EXPECT_EQ(msft[0].close_timestamp, 3000);
  EXPECT_EQ(msft[1].close_timestamp, 2000);
  q.filter = {};
  q.filter.notes = CloseReason::TargetPrice;
  auto targets = h.page(q).trades;
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].close_timestamp, 2000);
  EXPECT_EQ(targets[1].close_timestamp, 1000);
}

// Every combination of: no symbol or one of `symbols`; no `from` or a close
// time present in random_trades (with a .5 twin); no `to` or another; no
// exit or each exit.
std::vector<TradeFilter> every_filter(const std::vector<std::string>& symbols) {
  const double from = kOpen + 3600 + 30 * 60;
  const double to = kOpen + 3600 + 90 * 60 + 0.5;
  std::vector<std::optional<std::string>> ss = {std::nullopt};
  ss.insert(ss.end(), symbols.begin(), symbols.end());
  std::vector<TradeFilter> out;
  for (const auto& s : ss)
    for (auto f : {std::optional<double>(), std::optional<double>(from)})
      for (auto t : {std::optional<double>(), std::optional<double>(to)})
        for (auto n : {std::optional<CloseReason>(), std::optional<CloseReason>(CloseReason::StopLoss),
                       std::optional<CloseReason>(CloseReason::TargetPrice)})
          out.push_back(TradeFilter{s, f, t, n});
  return out;
}

TEST(TradePage, WalkingAllPagesGivesEveryMatchingTradeOnceInOrder) {
  auto trades = random_trades(11);
  TradeHistory h;
  for (const auto& t : trades) (void)h.add(t);
  for (const auto& filter : every_filter({"AAPL", "BRK.B", "TSLA"}))
    for (std::size_t limit : {1, 7, 100, 1000}) {
      const auto& [s, f, t, n] = filter;
      auto expected = expected_newest_first(trades, filter);
      std::size_t pages = 0;
      auto got = walk_pages(h, filter, limit, &pages);
      SCOPED_TRACE(::testing::Message() << "symbol=" << s.value_or("-") << " from=" << f.has_value()
                                        << " to=" << t.has_value() << " notes=" << (n ? int(*n) : -1)
                                        << " limit=" << limit);
      EXPECT_EQ(got, expected);
      std::size_t full_pages = expected.size() / limit;
      std::size_t expected_pages = expected.empty() ? 1 : full_pages + (expected.size() % limit ? 1 : 0);
      EXPECT_EQ(pages, expected_pages);
    }
}

TEST(TradePage, TradesAppendedBetweenPagesNeitherSkipNorRepeatEarlierOnes) {
  auto trades = random_trades(23);
  std::sort(trades.begin(), trades.end(), qc::closes_before);
  TradeHistory h;
  for (const auto& t : trades) (void)h.add(t);
  auto expected = expected_newest_first(trades, {});

  std::vector<ClosedPosition> got;
  TradeQuery q;
  q.limit = 9;
  double later = trades.back().close_timestamp;
  std::int64_t serial = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    auto page = h.page(q);
    got.insert(got.end(), page.trades.begin(), page.trades.end());
    if (!page.next_cursor) break;
    q.cursor = page.next_cursor;
    // New closes arrive: later ones, and late ones at the cursor's very
    // second that sort just before it (an earlier open time).
    (void)h.add(closed("NEW" + std::to_string(serial), kOpen + serial, later + 60 + serial));
    (void)h.add(closed("LATE" + std::to_string(serial), kOpen - 1000 - serial,
                       q.cursor->close_timestamp));
    ++serial;
  }
  // Every trade that existed at the first request, exactly once, in order.
  std::vector<ClosedPosition> original_seen;
  std::vector<std::string> late_seen;
  for (const auto& c : got) {
    const auto& s = c.position.symbol;
    EXPECT_NE(s.rfind("NEW", 0), 0u) << "newer than the first page: never in a later page";
    if (s.rfind("LATE", 0) == 0) late_seen.push_back(s);
    else original_seen.push_back(c);
  }
  EXPECT_EQ(original_seen, expected);
  // A late close sorting before the cursor shows in a following page, once.
  std::sort(late_seen.begin(), late_seen.end());
  EXPECT_EQ(std::adjacent_find(late_seen.begin(), late_seen.end()), late_seen.end());
  EXPECT_EQ(late_seen.size(), static_cast<std::size_t>(serial));
}

TEST(TradePage, ACursorForAKeyNotInTheHistoryContinuesBeforeThatKey) {
  TradeHistory h;
  (void)h.add(closed("A", kOpen, 1000));
  (void)h.add(closed("B", kOpen, 2000));
  (void)h.add(closed("C", kOpen, 3000));
  TradeQuery q;
  q.cursor = TradeCursor{2500, 0, "X"};
  EXPECT_EQ(symbols_of(h.page(q).trades), (std::vector<std::string>{"B", "A"}));
}

// --- for_each (filtered stats) ----------------------------------------------------------

TEST(TradeHistory, ForEachVisitsMatchingTradesInSection43Order) {
  auto trades = random_trades(5);
  TradeHistory h;
  for (const auto& t : trades) (void)h.add(t);
  TradeFilter f;
  f.symbol = "MSFT";
  f.from = kOpen + 3600 + 20 * 60;
  std::vector<ClosedPosition> got;
  h.for_each(f, [&](const ClosedPosition& c) { got.push_back(c); });
  auto expected = expected_newest_first(trades, f);
  std::reverse(expected.begin(), expected.end());
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(got, expected);
}

// qc::matches (what the filtered /api/stats cache drops answers by) selects
// exactly the trades the history's indexes select, for every kind of filter.
TEST(TradeHistory, MatchesSelectsWhatForEachVisits) {
  auto trades = random_trades(13);
  TradeHistory h;
  for (const auto& t : trades) (void)h.add(t);
  for (const auto& filter : every_filter({"AAPL", "NOPE"})) {
    std::vector<ClosedPosition> visited, matched;
    h.for_each(filter, [&](const ClosedPosition& c) { visited.push_back(c); });
    for (std::size_t i = 0; i < h.size(); ++i)
      if (qc::matches(filter, h.at(i))) matched.push_back(h.at(i));
    SCOPED_TRACE(::testing::Message() << "symbol=" << filter.symbol.value_or("-") << " from="
                                      << filter.from.has_value() << " to=" << filter.to.has_value()
                                      << " notes=" << filter.notes.has_value());
    EXPECT_EQ(matched, visited);
  }
}

// --- cursor text ------------------------------------------------------------------------

TEST(TradeCursor, TextRoundTrips) {
  TradeCursor c{1626102060.5, 1626098400, "BRK.B"};
  auto parsed = qc::parse_cursor(qc::encode_cursor(c));
  ASSERT_TRUE(parsed.cursor) << parsed.error;
  EXPECT_EQ(*parsed.cursor, c);
}

TEST(TradeCursor, TextRoundTripsForEverySymbolLength) {
  std::string symbol;
  for (int n = 1; n <= 20; ++n) {
    symbol += static_cast<char>('A' + n);
    TradeCursor c{1e9 + n, -n, symbol};
    auto parsed = qc::parse_cursor(qc::encode_cursor(c));
    ASSERT_TRUE(parsed.cursor) << parsed.error;
    EXPECT_EQ(*parsed.cursor, c);
  }
}

TEST(TradeCursor, OrderIsTheSection43Order) {
  auto trades = random_trades(31, 200);
  for (const auto& a : trades)
    for (const auto& b : trades)
      ASSERT_EQ(qc::cursor_of(a) < qc::cursor_of(b), qc::closes_before(a, b))
          << a.position.symbol << " " << b.position.symbol;
}

TEST(TradeCursor, TextIsUrlSafe) {
  auto text = qc::encode_cursor({1626102060.25, 1626098400, "BRK.B"});
  for (char ch : text)
    EXPECT_TRUE((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_')
        << text;
}

TEST(TradeCursor, EmptyTextIsRefused) {
  auto parsed = qc::parse_cursor("");
  EXPECT_FALSE(parsed.cursor);
  EXPECT_EQ(parsed.error, "invalid cursor: empty");
}

TEST(TradeCursor, NonBase64TextIsRefused) {
  auto parsed = qc::parse_cursor("abc!def=");
  EXPECT_FALSE(parsed.cursor);
  EXPECT_NE(parsed.error.find("not base64url"), std::string::npos) << parsed.error;
}

TEST(TradeCursor, ShortTextIsRefused) {
  auto parsed = qc::parse_cursor("abcd");
  EXPECT_FALSE(parsed.cursor);
  EXPECT_NE(parsed.error.find("too short"), std::string::npos) << parsed.error;
}

TEST(TradeCursor, OneChangedCharacterIsRefused) {
  auto text = qc::encode_cursor({1626102060, 1626098400, "AAPL"});
  text[5] = text[5] == 'A' ? 'B' : 'A';
  auto parsed = qc::parse_cursor(text);
  EXPECT_FALSE(parsed.cursor);
  EXPECT_NE(parsed.error.find("check failed"), std::string::npos) << parsed.error;
}

TEST(TradeCursor, TruncatedTextIsRefused) {
  auto text = qc::encode_cursor({1626102060, 1626098400, "AAPL"});
  for (std::size_t n = 1; n < text.size(); ++n) {
    auto parsed = qc::parse_cursor(std::string_view(text).substr(0, n));
    EXPECT_FALSE(parsed.cursor) << n;
    EXPECT_EQ(parsed.error.rfind("invalid cursor: ", 0), 0u) << parsed.error;
  }
}

TEST(TradeCursor, VeryLongTextIsRefused) {
  auto parsed = qc::parse_cursor(std::string(10000, 'A'));
  EXPECT_FALSE(parsed.cursor);
  EXPECT_NE(parsed.error.find("too long"), std::string::npos) << parsed.error;
}

TEST(TradeCursor, PaddedTextIsRefused) {
  auto text = qc::encode_cursor({1626102060, 1626098400, "AAPL"});
  EXPECT_FALSE(qc::parse_cursor(text + "=").cursor);
  EXPECT_FALSE(qc::parse_cursor(text + "==").cursor);
}

// --- JSON ----------------------------------------------------------------------------------

TEST(TradePageJson, PageWithANextCursor) {
  qc::TradePage page;
  page.trades.push_back(closed("AAPL", 1626098400, 1626102060.5, 10, CloseReason::TargetPrice));
  page.next_cursor = TradeCursor{1626102060.5, 1626098400, "AAPL"};
  EXPECT_EQ(qc::render_trades_page(page),
            "{\"trades\":[{\"symbol\":\"AAPL\",\"target_price\":110,\"entry_price\":100,"
            "\"open_timestamp\":1626098400,\"stop_loss\":90,\"pnl\":10,\"notes\":\"Reached target "
            "price\",\"close_timestamp\":1626102060.5,\"exit_price\":110}],\"next_cursor\":\"" +
                qc::encode_cursor(*page.next_cursor) + "\"}");
}

TEST(TradePageJson, LastPageHasNullCursor) {
  EXPECT_EQ(qc::render_trades_page({}), "{\"trades\":[],\"next_cursor\":null}");
}

}  // namespace
