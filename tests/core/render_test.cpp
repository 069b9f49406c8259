// JSON output (SPEC §4): shortest round-trip numbers, escaped strings and the
// exact shapes of /api/performance and /api/tickerlist.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/json_writer.h"
#include "core/performance_book.h"
#include "core/quote_board.h"
#include "core/render.h"

namespace {

std::string number(double d) {
  std::string out;
  qc::append_json_number(out, d);
  return out;
}

std::string string_json(std::string_view s) {
  std::string out;
  qc::append_json_string(out, s);
  return out;
}

// --- numbers ------------------------------------------------------------------------

TEST(JsonNumber, OnePointFiveIsNotExponentForm) { EXPECT_EQ(number(1.5), "1.5"); }

TEST(JsonNumber, ZeroPointOneStaysZeroPointOne) { EXPECT_EQ(number(0.1), "0.1"); }

TEST(JsonNumber, WholeDouble150RendersAs150) { EXPECT_EQ(number(150.0), "150"); }

TEST(JsonNumber, PriceWithTwoDecimalsRendersShortest) { EXPECT_EQ(number(145.1), "145.1"); }

TEST(JsonNumber, SumWithRoundingErrorKeepsAllDigits) {
  EXPECT_EQ(number(0.1 + 0.2), "0.30000000000000004");
}

TEST(JsonNumber, NegativeNumber) { EXPECT_EQ(number(-10.5), "-10.5"); }

TEST(JsonNumber, NegativeZeroRendersAsZero) { EXPECT_EQ(number(-0.0), "0"); }

TEST(JsonNumber, FractionalTimestamp) { EXPECT_EQ(number(1626102060.5), "1626102060.5"); }

TEST(JsonNumber, WholeTimestampHasNoFraction) { EXPECT_EQ(number(1626102060.0), "1626102060"); }

// Whole numbers below 2^53 take a faster path; its text must be the one the
// general (shortest, fixed) path gives. Edges: 2^53 - 1 (the last one taken),
// 2^53 (not taken), negative, 1e15.
TEST(JsonNumber, WholeNumbersReadTheSameOnBothPaths) {
  for (double d : {1.0, -1.0, 60.0, 1626102060.0, -1626102060.0, 1e15, 9007199254740991.0,
                   -9007199254740991.0, 9007199254740992.0, 1e20}) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    EXPECT_EQ(number(d), std::string(buf, r.ptr)) << d;
  }
}

TEST(JsonNumber, NaNRendersAsNull) {
  EXPECT_EQ(number(std::numeric_limits<double>::quiet_NaN()), "null");
}

TEST(JsonNumber, InfinityRendersAsNull) {
  EXPECT_EQ(number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(number(-std::numeric_limits<double>::infinity()), "null");
}

TEST(JsonNumber, EveryValueReadsBackToTheSameDouble) {
  for (double d : {0.1, 1.5, 150.0, 145.1 * 0.9, 3.51481736733287, 150.17849999999999, 1e21, 1e-7,
                   123456789.125, -2.5e-300, 1.7976931348623157e308, 5e-324}) {
    auto text = number(d);
    double back = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), back);
    ASSERT_EQ(r.ec, std::errc{}) << text;
    EXPECT_EQ(r.ptr, text.data() + text.size()) << text;
    EXPECT_EQ(back, d) << text;
  }
}

TEST(JsonNumber, EveryValueIsValidJsonNumberText) {
  for (double d : {0.1, 1.5, 150.0, 1e21, 1e-7, -2.5e-300, 1.7976931348623157e308, 5e-324}) {
    auto text = number(d);
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    EXPECT_FALSE(ec) << text;
    EXPECT_TRUE(v.is_number()) << text;
  }
}

TEST(JsonWriter, Int64RendersAsInteger) {
  std::string out;
  qc::JsonWriter(out).value(std::int64_t{1626101940});
  EXPECT_EQ(out, "1626101940");
}

TEST(JsonWriter, NestedObjectsAndArraysGetCommasRight) {
  std::string out;
  qc::JsonWriter w(out);
  w.begin_object()
      .key("a").value(1)
      .key("b").begin_array().value(1.5).value("x").value(true).null().begin_object().end_object()
      .end_array()
      .key("c").begin_object().key("d").value(false).end_object()
      .key("e").raw("[1,2]")
      .end_object();
  EXPECT_EQ(out, R"({"a":1,"b":[1.5,"x",true,null,{}],"c":{"d":false},"e":[1,2]})");
}

TEST(JsonWriter, EmptyArrayAndObject) {
  std::string out;
  qc::JsonWriter w(out);
  w.begin_array().begin_array().end_array().begin_object().end_object().end_array();
  EXPECT_EQ(out, "[[],{}]");
}

// --- strings ------------------------------------------------------------------------

TEST(JsonString, QuoteAndBackslashAreEscaped) {
  EXPECT_EQ(string_json(R"(a"b\c)"), R"("a\"b\\c")");
}

TEST(JsonString, NewlineTabCarriageReturnAreEscaped) {
  EXPECT_EQ(string_json("a\nb\tc\rd"), R"("a\nb\tc\rd")");
}

TEST(JsonString, BackspaceAndFormFeedAreEscaped) {
  EXPECT_EQ(string_json("\b\f"), R"("\b\f")");
}

TEST(JsonString, OtherControlCharactersUseUnicodeEscape) {
  EXPECT_EQ(string_json(std::string_view("\x01\x1f", 2)), R"("\u0001\u001f")");
}

TEST(JsonString, NulCharacterIsEscaped) {
  EXPECT_EQ(string_json(std::string_view("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonString, Utf8PassesThroughUnchanged) {
  EXPECT_EQ(string_json("Soci\xc3\xa9t\xc3\xa9"), "\"Soci\xc3\xa9t\xc3\xa9\"");
}

TEST(JsonString, SlashIsNotEscaped) { EXPECT_EQ(string_json("a/b"), R"("a/b")"); }

// --- positions --------------------------------------------------------------------

TEST(RenderOpenPosition, ExactShape) {
  qc::OpenPosition p{"AAPL", 150.2, 145.1, 1626101940, 130.5, 3.5};
  EXPECT_EQ(qc::render_open_position(p),
            R"({"symbol":"AAPL","target_price":150.2,"entry_price":145.1,)"
            R"("open_timestamp":1626101940,"stop_loss":130.5,"expected_profit":3.5})");
}

qc::ClosedPosition closed(std::string sym, double target, double entry, std::int64_t open_ts,
                          double stop, double exit, double close_ts, double pnl,
                          qc::CloseReason reason) {
  qc::ClosedPosition c;
  c.position = qc::OpenPosition{std::move(sym), target, entry, open_ts, stop,
                                (target - entry) / entry * 100};
  c.exit_price = exit;
  c.close_timestamp = close_ts;
  c.pnl = pnl;
  c.reason = reason;
  return c;
}

TEST(RenderPerformance, EmptyBook) {
  qc::PerformanceBook b;
  EXPECT_EQ(qc::render_performance(b), R"({"performance":[]})");
}

TEST(RenderPerformance, ExactDocumentForTwoMonths) {
  qc::PerformanceBook b;
  // Inserted out of order on purpose.
  b.add(closed("NVDA", 60, 50, 1627700000, 45, 60, 1627779600, 20, qc::CloseReason::TargetPrice));
  b.add(closed("AMZN", 220, 200, 1626101940, 180, 170, 1626105600, -15, qc::CloseReason::StopLoss));
  b.add(closed("AAPL", 110, 100, 1626101940, 90, 110, 1626102060.5, 10,
               qc::CloseReason::TargetPrice));
  const std::string expected =
      R"({"performance":[)"
      R"({"month":1625097600,"realized_pnl":-5,"positions":[)"
      R"({"symbol":"AAPL","target_price":110,"entry_price":100,"open_timestamp":1626101940,)"
      R"("stop_loss":90,"pnl":10,"notes":"Reached target price","close_timestamp":1626102060.5,)"
      R"("exit_price":110},)"
      R"({"symbol":"AMZN","target_price":220,"entry_price":200,"open_timestamp":1626101940,)"
      R"("stop_loss":180,"pnl":-15,"notes":"Reached stop loss","close_timestamp":1626105600,)"
      R"("exit_price":170}]},)"
      R"({"month":1627776000,"realized_pnl":20,"positions":[)"
      R"({"symbol":"NVDA","target_price":60,"entry_price":50,"open_timestamp":1627700000,)"
      R"("stop_loss":45,"pnl":20,"notes":"Reached target price","close_timestamp":1627779600,)"
      R"("exit_price":60}]}]})";
  EXPECT_EQ(qc::render_performance(b), expected);
}

TEST(RenderPerformance, OutputIsValidJson) {
  qc::PerformanceBook b;
  b.add(closed("AAPL", 150.2, 145.1, 1626101940, 145.1 * 0.9, 145.1 * 0.9, 1626102060.5,
               (145.1 * 0.9 - 145.1) / 145.1 * 100, qc::CloseReason::StopLoss));
  boost::system::error_code ec;
  auto v = boost::json::parse(qc::render_performance(b), ec);
  ASSERT_FALSE(ec);
  const auto& pos = v.at("performance").at(0).at("positions").at(0);
  EXPECT_EQ(pos.at("stop_loss").as_double(), 145.1 * 0.9);
  EXPECT_EQ(pos.at("close_timestamp").as_double(), 1626102060.5);
}

// --- ticker list ------------------------------------------------------------------

qc::MinuteBar day_bar(std::string sym, double close, std::int64_t start_s) {
  qc::MinuteBar b;
  b.symbol = std::move(sym);
  b.open = b.high = b.low = b.close = close;
  b.start_ms = start_s * 1000;
  b.end_ms = b.start_ms + 60000;
  return b;
}

TEST(RenderTickerlist, MarketClosedGivesZeroChangesEvenWithQuotesAndSnapshot) {
  std::vector<qc::Ticker> tickers = {{"AAPL", "NASDAQ", "Apple Inc."},
                                     {"C", "NYSE", "Citigroup Inc."}};
  qc::QuoteBoard q;
  q.on_bar(day_bar("AAPL", 100, 1626101940));  // Mon 2021-07-12
  q.on_bar(day_bar("AAPL", 104, 1626183000));  // Tue 2021-07-13
  q.set_snapshot("C", {1.5, 2.5});
  EXPECT_EQ(qc::render_tickerlist(tickers, q, false),
            R"({"tickerlist":[)"
            R"({"name":"Apple Inc.","exchange":"NASDAQ","symbol":"AAPL","change":0,"change_perc":0},)"
            R"({"name":"Citigroup Inc.","exchange":"NYSE","symbol":"C","change":0,"change_perc":0}]})");
}

TEST(RenderTickerlist, MarketOpenShowsChangesInTickerOrder) {
  std::vector<qc::Ticker> tickers = {{"C", "NYSE", "Citigroup Inc."},
                                     {"AAPL", "NASDAQ", "Apple Inc."}};
  qc::QuoteBoard q;
  q.on_bar(day_bar("AAPL", 100, 1626101940));
  q.on_bar(day_bar("AAPL", 104, 1626183000));
  q.set_snapshot("C", {1.5, 2.5});
  EXPECT_EQ(qc::render_tickerlist(tickers, q, true),
            R"({"tickerlist":[)"
            R"({"name":"Citigroup Inc.","exchange":"NYSE","symbol":"C","change":1.5,"change_perc":2.5},)"
            R"({"name":"Apple Inc.","exchange":"NASDAQ","symbol":"AAPL","change":4,"change_perc":4}]})");
}

TEST(RenderTickerlist, UnknownQuoteGivesZeroWhenMarketOpen) {
  std::vector<qc::Ticker> tickers = {{"NOK", "NYSE", "Nokia Corporation"}};
  qc::QuoteBoard q;
  EXPECT_EQ(qc::render_tickerlist(tickers, q, true),
            R"({"tickerlist":[{"name":"Nokia Corporation","exchange":"NYSE","symbol":"NOK",)"
            R"("change":0,"change_perc":0}]})");
}

TEST(RenderTickerlist, EmptyTickerList) {
  qc::QuoteBoard q;
  EXPECT_EQ(qc::render_tickerlist({}, q, true), R"({"tickerlist":[]})");
}

TEST(RenderTickerlist, NameIsEscaped) {
  std::vector<qc::Ticker> tickers = {{"X", "NYSE", "A \"quoted\" name"}};
  qc::QuoteBoard q;
  EXPECT_NE(qc::render_tickerlist(tickers, q, false).find(R"("name":"A \"quoted\" name")"),
            std::string::npos);
}

}  // namespace
