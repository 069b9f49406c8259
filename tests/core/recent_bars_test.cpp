// The dashboard's recent bars (GET /api/bars/{symbol}): bounded per symbol,
// oldest dropped first, a bar not newer than the last one kept is ignored.
#include "core/recent_bars.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <string>

namespace {

using qc::MinuteBar;
using qc::RecentBars;

MinuteBar bar(std::string sym, std::int64_t start_s, double close) {
  MinuteBar b;
  b.symbol = std::move(sym);
  b.open = close - 1;
  b.high = close + 1;
  b.low = close - 2;
  b.close = close;
  b.volume = 1500;
  b.start_ms = start_s * 1000;
  b.end_ms = b.start_ms + 60000;
  return b;
}

TEST(RecentBars, KeepsTheNewestBarsPerSymbolOldestFirst) {
  RecentBars r(3);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.add(bar("AAPL", 60 * i, 100 + i)));
  EXPECT_TRUE(r.add(bar("NVDA", 0, 50)));
  auto aapl = r.latest("AAPL", 10);
  ASSERT_EQ(aapl.size(), 3u);
  EXPECT_EQ(aapl[0].start_ms, 120'000);
  EXPECT_EQ(aapl[2].close, 104);
  auto last_two = r.latest("AAPL", 2);
  ASSERT_EQ(last_two.size(), 2u);
  EXPECT_EQ(last_two[0].start_ms, 180'000);
  EXPECT_EQ(r.latest("NVDA", 10).size(), 1u);
  EXPECT_TRUE(r.latest("C", 10).empty());
}

TEST(RecentBars, IgnoresABarNotNewerThanTheLastKept) {
  RecentBars r(10);
  EXPECT_TRUE(r.add(bar("AAPL", 120, 100)));
  EXPECT_FALSE(r.add(bar("AAPL", 120, 101)));  // the same minute again (a correction)
  EXPECT_FALSE(r.add(bar("AAPL", 60, 99)));    // an older one (a replay)
  auto kept = r.latest("AAPL", 10);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].close, 100);
}

TEST(RecentBars, RendersSecondsAndFullPrecision) {
  auto b = bar("AAPL", 1626101940, 150.123456789);
  auto json = qc::render_recent_bars("AAPL", {b});
  auto v = boost::json::parse(json).as_object();
  EXPECT_EQ(v.at("symbol").as_string(), "AAPL");
  auto& first = v.at("bars").as_array().at(0).as_object();
  EXPECT_EQ(first.at("start").to_number<double>(), 1626101940.0);
  EXPECT_EQ(first.at("end").to_number<double>(), 1626102000.0);
  EXPECT_EQ(first.at("close").as_double(), 150.123456789);
  EXPECT_EQ(first.at("volume").to_number<double>(), 1500.0);
  EXPECT_EQ(qc::render_recent_bars("C", {}), R"({"symbol":"C","bars":[]})");
}

}  // namespace
