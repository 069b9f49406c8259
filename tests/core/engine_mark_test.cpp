// SPEC §4.6: an open position is marked with the close and end of the newest
// bar applied for its symbol, if that bar started at or after the open.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/render.h"

namespace {

using qc::Engine;
using qc::MinuteBar;
using qc::OpenPosition;
using qc::PriceMark;

constexpr std::int64_t kOpenTs = 1626101940;  // "2021-07-12 10:59:00" EDT

MinuteBar bar(std::int64_t start_ms, double close, std::string symbol = "AAPL") {
  MinuteBar b;
  b.symbol = std::move(symbol);
  b.open = b.high = b.low = b.close = close;  // between stop 90 and target 110
  b.start_ms = start_ms;
  b.end_ms = start_ms + 60000;
  return b;
}

struct MarkTest : ::testing::Test {
  void SetUp() override {
    qc::RecommendationDocument d;
    d.us_date = "2021-07-12 10:59:00";
    d.items = {{"AAPL", 110, 100}};
    auto r = engine.open(d);
    ASSERT_EQ(r.opened.size(), 1u);
    pos = r.opened[0];
  }
  void apply(const MinuteBar& b) {
    std::vector<qc::ClosedPosition> closed;
    engine.apply(b, closed);
    ASSERT_TRUE(closed.empty());
  }
  Engine engine;
  OpenPosition pos;
};

TEST_F(MarkTest, NoBarYetGivesNoMark) { EXPECT_FALSE(engine.mark(pos).has_value()); }

TEST_F(MarkTest, NewestBarGivesItsCloseAndEndInSeconds) {
  apply(bar(kOpenTs * 1000, 101));
  apply(bar((kOpenTs + 60) * 1000, 102.5));
  EXPECT_EQ(engine.mark(pos), (PriceMark{102.5, static_cast<double>(kOpenTs + 120)}));
}

TEST_F(MarkTest, BarStartingExactlyAtTheOpenMarks) {
  apply(bar(kOpenTs * 1000, 101));
  EXPECT_EQ(engine.mark(pos), (PriceMark{101, static_cast<double>(kOpenTs + 60)}));
}

TEST_F(MarkTest, NewestBarStartedBeforeTheOpenGivesNoMark) {
  // A bar that began before the position existed says nothing of it (SPEC §6.2).
  apply(bar((kOpenTs - 60) * 1000, 101));
  EXPECT_FALSE(engine.mark(pos).has_value());
}

TEST_F(MarkTest, AnotherSymbolsBarGivesNoMark) {
  apply(bar(kOpenTs * 1000, 101, "NVDA"));
  EXPECT_FALSE(engine.mark(pos).has_value());
}

TEST_F(MarkTest, StaleBarDoesNotChangeTheMark) {
  apply(bar((kOpenTs + 60) * 1000, 102));
  apply(bar(kOpenTs * 1000, 105));  // older start: ignored (SPEC §6.3)
  EXPECT_EQ(engine.mark(pos), (PriceMark{102, static_cast<double>(kOpenTs + 120)}));
}

TEST(MarkRestore, RestoredLastBarWithItsPriceMarks) {
  Engine engine;
  OpenPosition p{"AAPL", 110, 100, kOpenTs, 90, 10};
  engine.restore_open(p);
  engine.restore_last_bar({"AAPL", kOpenTs * 1000, 104.0, (kOpenTs + 60) * 1000});
  EXPECT_EQ(engine.mark(p), (PriceMark{104, static_cast<double>(kOpenTs + 60)}));
}

TEST(MarkRestore, RestoredLastBarWithoutAPriceGivesNoMark) {
  Engine engine;
  OpenPosition p{"AAPL", 110, 100, kOpenTs, 90, 10};
  engine.restore_open(p);
  engine.restore_last_bar({"AAPL", kOpenTs * 1000});
  EXPECT_FALSE(engine.mark(p).has_value());
}

TEST(MarkRender, UnrealizedPnlIsPercentOfEntry) {
  OpenPosition p{"AAPL", 110, 80, kOpenTs, 72, 37.5};
  EXPECT_EQ(qc::unrealized_pnl(p, {90, 0}), 12.5);   // (90 - 80) / 80 * 100
  EXPECT_EQ(qc::unrealized_pnl(p, {60, 0}), -25.0);  // a loss is negative
}

TEST(MarkRender, WithoutAMarkTheThreeFieldsAreNull) {
  OpenPosition p{"AAPL", 110, 100, kOpenTs, 90, 10};
  EXPECT_EQ(qc::render_marked_position(p, std::nullopt),
            R"({"symbol":"AAPL","target_price":110,"entry_price":100,"open_timestamp":1626101940,)"
            R"("stop_loss":90,"expected_profit":10,"last_price":null,"last_time":null,"unrealized_pnl":null})");
}

TEST(MarkRender, WithAMarkTheFieldsAreNumbers) {
  OpenPosition p{"AAPL", 110, 100, kOpenTs, 90, 10};
  EXPECT_EQ(qc::render_marked_position(p, PriceMark{101.5, 1626102000.5}),
            R"({"symbol":"AAPL","target_price":110,"entry_price":100,"open_timestamp":1626101940,)"
            R"("stop_loss":90,"expected_profit":10,"last_price":101.5,"last_time":1626102000.5,"unrealized_pnl":1.5})");
}

}  // namespace
