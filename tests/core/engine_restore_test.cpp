// SPEC §6.3: restoring state (open positions, closed positions, last bar per
// symbol) and continuing gives the same result as a run without the restart.
#include <gtest/gtest.h>

#include "minute_bars.h"

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/render.h"

namespace {

using qc::ClosedPosition;
using qc::Engine;
using qc::InvalidItems;
using qc::MinuteBar;
using qc::RecommendationDocument;

using qc::testing::bar;
using qc::testing::kT0;


std::vector<RecommendationDocument> documents() {
  RecommendationDocument a;
  a.us_date = "2021-07-12 10:59:00";
  a.sg_date = "2021-07-12 22:59:00";
  a.items = {{"AAPL", 110, 100}, {"NVDA", 220, 200}, {"C", 66, 60}};
  RecommendationDocument b;
  b.us_date = "2021-07-12 11:01:00";
  b.sg_date = "2021-07-12 23:01:00";
  b.items = {{"AAPL", 115, 101}, {"TLT", 150, 145}};
  return {a, b};
}

// Bars minute 1..6 after kT0. AAPL(110/100) hits target at minute 3,
// AAPL(115/101) hits its target at minute 5; NVDA stops at minute 4;
// C gaps up at minute 6; TLT never closes.
std::vector<MinuteBar> bars() {
  return {
      bar("AAPL", 100, 102, 99, 101, 1),  bar("NVDA", 200, 205, 195, 201, 1),
      bar("AAPL", 101, 104, 100, 103, 2), bar("C", 60, 61, 59, 60.5, 2),
      bar("AAPL", 103, 112, 102, 104, 3), bar("TLT", 145, 146, 144, 145.5, 3),
      bar("NVDA", 190, 191, 170, 175, 4), bar("AAPL", 104, 116, 103, 105.5, 5),
      bar("C", 67, 68, 66.5, 67.5, 6),    bar("TLT", 145, 147, 140, 146, 6),
  };
}

struct Snapshot {
  std::vector<qc::OpenPosition> open;
  std::vector<ClosedPosition> closed;
  std::vector<qc::LastBar> last_bars;
};

Snapshot snapshot(const Engine& e) {
  Snapshot s;
  s.open = e.open_positions();
  for (const auto& [month, m] : e.performance().months())
    s.closed.insert(s.closed.end(), m.positions.begin(), m.positions.end());
  for (const auto& t : e.tickers())
    if (auto last = e.last_bar(t.symbol)) s.last_bars.push_back(*last);
  return s;
}

Engine restored(const Snapshot& s) {
  Engine e;
  for (const auto& p : s.open) e.restore_open(p);
  for (const auto& c : s.closed) e.restore_closed(c);
  for (const auto& bar : s.last_bars) e.restore_last_bar(bar);
  return e;
}

void feed(Engine& e, const std::vector<MinuteBar>& bs, std::size_t from, std::size_t to) {
  std::vector<ClosedPosition> closed;
  for (std::size_t i = from; i < to; ++i) e.apply(bs[i], closed);
}

// A fresh run: documents opened in order (the second after minute 1), all bars.
Engine fresh_run() {
  Engine e;
  auto docs = documents();
  auto bs = bars();
  e.open(docs[0], InvalidItems::SkipItem);
  feed(e, bs, 0, 2);
  e.open(docs[1], InvalidItems::SkipItem);
  feed(e, bs, 2, bs.size());
  return e;
}

TEST(EngineRestore, FreshRunClosesExpectedPositions) {
  Engine e = fresh_run();
  EXPECT_EQ(e.performance().position_count(), 4u);
  ASSERT_EQ(e.open_positions().size(), 1u);
  EXPECT_EQ(e.open_positions()[0].symbol, "TLT");
}

class EngineRestoreAt : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EngineRestoreAt, RestoreAfterKBarsThenContinueEqualsFreshRun) {
  const std::size_t k = GetParam();
  auto docs = documents();
  auto bs = bars();
  Engine a;
  a.open(docs[0], InvalidItems::SkipItem);
  feed(a, bs, 0, std::min<std::size_t>(k, 2));
  if (k >= 2) {
    a.open(docs[1], InvalidItems::SkipItem);
    feed(a, bs, 2, k);
  }
  Engine b = restored(snapshot(a));
  if (k < 2) {
    feed(b, bs, k, 2);
    b.open(docs[1], InvalidItems::SkipItem);
    feed(b, bs, 2, bs.size());
  } else {
    feed(b, bs, k, bs.size());
  }
  Engine fresh = fresh_run();
  EXPECT_EQ(qc::render_performance(b.performance()), qc::render_performance(fresh.performance()));
  EXPECT_EQ(b.open_positions(), fresh.open_positions());
  EXPECT_EQ(b.open_count(), fresh.open_count());
}

INSTANTIATE_TEST_SUITE_P(EveryCut, EngineRestoreAt, ::testing::Range<std::size_t>(0, 11));

TEST(EngineRestore, RestoredEngineReplayingAllInputsAgainChangesNothing) {
  Engine fresh = fresh_run();
  Engine b = restored(snapshot(fresh));
  auto docs = documents();
  for (const auto& d : docs) {
    auto r = b.open(d, InvalidItems::SkipItem);
    EXPECT_TRUE(r.opened.empty());
  }
  auto bs = bars();
  std::vector<ClosedPosition> closed;
  for (const auto& x : bs) EXPECT_EQ(b.apply(x, closed), qc::BarOutcome::Stale);
  EXPECT_TRUE(closed.empty());
  EXPECT_EQ(qc::render_performance(b.performance()),
            qc::render_performance(fresh.performance()));
  EXPECT_EQ(b.open_positions(), fresh.open_positions());
}

TEST(EngineRestore, RestoreOpenTwiceWithSameIdentityKeepsOne) {
  Engine e;
  auto p = qc::position_for({"AAPL", 110, 100}, kT0);
  e.restore_open(p);
  e.restore_open(p);
  EXPECT_EQ(e.open_count(), 1u);
  EXPECT_EQ(e.open_positions().size(), 1u);
}

TEST(EngineRestore, RestoreClosedTwiceWithSameIdentityBooksOnce) {
  Engine e;
  ClosedPosition c;
  c.position = qc::position_for({"AAPL", 110, 100}, kT0);
  c.exit_price = 110;
  c.close_timestamp = kT0 + 120;
  c.pnl = 10;
  e.restore_closed(c);
  e.restore_closed(c);
  EXPECT_EQ(e.performance().position_count(), 1u);
}

TEST(EngineRestore, RestoreOpenAfterRestoreClosedOfSameIdentityIsIgnored) {
  Engine e;
  ClosedPosition c;
  c.position = qc::position_for({"AAPL", 110, 100}, kT0);
  c.exit_price = 110;
  c.close_timestamp = kT0 + 120;
  c.pnl = 10;
  e.restore_closed(c);
  e.restore_open(c.position);
  EXPECT_EQ(e.open_count(), 0u);
  EXPECT_TRUE(e.knows("AAPL", kT0));
}

TEST(EngineRestore, RestoredOpenPositionClosesOnLaterBar) {
  Engine e;
  e.restore_open(qc::position_for({"AAPL", 110, 100}, kT0));
  std::vector<ClosedPosition> closed;
  EXPECT_EQ(e.apply(bar("AAPL", 105, 111, 101, 109, 1), closed), qc::BarOutcome::Applied);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].exit_price, 110);
  EXPECT_EQ(e.open_count(), 0u);
}

}  // namespace
