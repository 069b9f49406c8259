// Bar parsing (src/market/bar_parser.h): Polygon AM events as JSON, CSV rows,
// and BarFileReader over real files (chunking, line numbers, format
// detection). SPEC §6.4, §7; docs/decisions.md "Backtest input".
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "market/bar_parser.h"

namespace {

using qc::BarFileReader;
using qc::BarFormat;
using qc::MinuteBar;
using qc::RejectedLine;

constexpr std::int64_t kS = 1626101940000;  // 2021-07-12 10:59:00 EDT, in ms
constexpr std::int64_t kE = kS + 60000;

// parse_json_bar_line needs 64 readable bytes after the line (simdjson
// padding); the bytes are `fill`, never part of the parse.
std::string parse_json(std::string_view line, std::vector<MinuteBar>& out, char fill = ' ') {
  std::string buf(line);
  buf.append(64, fill);
  return qc::parse_json_bar_line(std::string_view(buf.data(), line.size()), out);
}

std::string am(std::string_view sym, double o, double h, double l, double c, std::int64_t s,
               std::int64_t e) {
  auto num = [](double v) { return std::to_string(v); };
  return std::string(R"({"ev":"AM","sym":")") + std::string(sym) + R"(","v":1200,"o":)" + num(o) +
         R"(,"h":)" + num(h) + R"(,"l":)" + num(l) + R"(,"c":)" + num(c) +
         R"(,"s":)" + std::to_string(s) + R"(,"e":)" + std::to_string(e) + "}";
}

// A complete AM event as Polygon sends it (every documented field).
const std::string kFullAm =
    R"({"ev":"AM","sym":"AAPL","v":4110,"av":61605221,"op":144.48,"vw":145.2296,)"
    R"("o":145.1,"c":145.31,"h":145.5,"l":145.02,"a":145.0105,"z":51,)"
    R"("s":1626101940000,"e":1626102000000})";

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// ---- parse_json_bar_line ----------------------------------------------------

TEST(BarParserJson, ValidAmObject) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(kFullAm, out), "");
  ASSERT_EQ(out.size(), 1u);
  const auto& b = out[0];
  EXPECT_EQ(b.symbol, "AAPL");
  EXPECT_EQ(b.open, 145.1);
  EXPECT_EQ(b.high, 145.5);
  EXPECT_EQ(b.low, 145.02);
  EXPECT_EQ(b.close, 145.31);
  EXPECT_EQ(b.volume, 4110);
  EXPECT_EQ(b.start_ms, kS);
  EXPECT_EQ(b.end_ms, kE);
}

TEST(BarParserJson, PaddingContentDoesNotMatter) {
  for (char fill : {'\0', ' ', 'x', '}', ']', '"', ','}) {
    std::vector<MinuteBar> out;
    EXPECT_EQ(parse_json(kFullAm, out, fill), "") << "fill " << int(fill);
    ASSERT_EQ(out.size(), 1u) << "fill " << int(fill);
    EXPECT_EQ(out[0].end_ms, kE);
  }
}

TEST(BarParserJson, ArrayOfTwoEvents) {
  std::vector<MinuteBar> out;
  std::string line = "[" + am("AAPL", 145.1, 145.5, 145, 145.3, kS, kE) + "," +
                     am("NVDA", 200, 201, 199, 200.5, kS, kE) + "]";
  EXPECT_EQ(parse_json(line, out), "");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].symbol, "AAPL");
  EXPECT_EQ(out[1].symbol, "NVDA");
  EXPECT_EQ(out[1].open, 200);
  EXPECT_EQ(out[1].close, 200.5);
}

TEST(BarParserJson, AppendsAfterExistingBars) {
  std::vector<MinuteBar> out(3);
  EXPECT_EQ(parse_json(kFullAm, out), "");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[3].symbol, "AAPL");
}

TEST(BarParserJson, EmptyArrayIsNothing) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json("[]", out), "");
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, StatusEventIsSkippedWithoutError) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(R"({"ev":"status","status":"connected","message":"Connected Successfully"})",
                       out),
            "");
  EXPECT_TRUE(out.empty());
  // `ev` need not come first.
  EXPECT_EQ(parse_json(R"({"status":"auth_success","ev":"status","message":"authenticated"})", out),
            "");
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, StatusEventsInAnArrayAreSkipped) {
  std::vector<MinuteBar> out;
  std::string line = R"([{"ev":"status","status":"success","message":"subscribed to: AM.AAPL"},)" +
                     am("AAPL", 145.1, 145.5, 145, 145.3, kS, kE) +
                     R"(,{"ev":"status","status":"success","message":"subscribed to: AM.NVDA"}])";
  EXPECT_EQ(parse_json(line, out), "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].symbol, "AAPL");
}

TEST(BarParserJson, OtherEventTypeIsRejectedWithReason) {
  std::vector<MinuteBar> out;
  auto reason = parse_json(R"({"ev":"T","sym":"AAPL","p":145.1,"s":100,"t":1626101940000})", out);
  EXPECT_TRUE(contains(reason, "'T'")) << reason;
  EXPECT_TRUE(contains(reason, "AM")) << reason;
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, EvMustBeAString) {
  std::vector<MinuteBar> out;
  std::string line = kFullAm;
  line.replace(line.find(R"("ev":"AM")"), 9, R"("ev":7)");
  auto reason = parse_json(line, out);
  EXPECT_TRUE(contains(reason, "ev")) << reason;
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, MissingFieldIsNamed) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"sym", R"("sym":"AAPL",)"}, {"o", R"("o":145.1,)"},
      {"h", R"("h":145.5,)"},     {"l", R"("l":145.02,)"},
      {"c", R"("c":145.31,)"},    {"s", R"("s":1626101940000,)"},
      {"e", R"(,"e":1626102000000)"}};
  for (const auto& [name, text] : fields) {
    std::string line = kFullAm;
    auto at = line.find(text);
    ASSERT_NE(at, std::string::npos) << text;
    line.erase(at, text.size());
    std::vector<MinuteBar> out;
    auto reason = parse_json(line, out);
    EXPECT_TRUE(contains(reason, "missing")) << name << ": " << reason;
    EXPECT_TRUE(contains(reason, "'" + name + "'")) << name << ": " << reason;
    EXPECT_TRUE(out.empty()) << name;
  }
}

TEST(BarParserJson, WrongTypesAreRejected) {
  struct Case {
    std::string from, to, field;
  };
  const std::vector<Case> cases = {
      {R"("s":1626101940000)", R"("s":"1626101940000")", "'s'"},
      {R"("e":1626102000000)", R"("e":"1626102000000")", "'e'"},
      {R"("o":145.1)", R"("o":"145.1")", "'o'"},
      {R"("h":145.5)", R"("h":null)", "'h'"},
      {R"("l":145.02)", R"("l":[145.02])", "'l'"},
      {R"("c":145.31)", R"("c":true)", "'c'"},
      {R"("sym":"AAPL")", R"("sym":42)", "'sym'"},
      {R"("sym":"AAPL")", R"("sym":"")", "'sym'"},
      {R"("s":1626101940000)", R"("s":1626101940000.5)", "'s'"},
  };
  for (const auto& c : cases) {
    std::string line = kFullAm;
    auto at = line.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    line.replace(at, c.from.size(), c.to);
    std::vector<MinuteBar> out;
    auto reason = parse_json(line, out);
    EXPECT_TRUE(contains(reason, c.field)) << c.to << ": '" << reason << "'";
    EXPECT_TRUE(out.empty()) << c.to;
  }
}

TEST(BarParserJson, NaNAndInfinityStringsAreRejected) {
  for (std::string bad : {R"("NaN")", R"("nan")", R"("Infinity")", R"("-inf")"}) {
    std::string line = kFullAm;
    line.replace(line.find("145.1,"), 5, bad);
    std::vector<MinuteBar> out;
    auto reason = parse_json(line, out);
    EXPECT_FALSE(reason.empty()) << line;
    EXPECT_TRUE(out.empty()) << line;
  }
  // Bare NaN is not JSON at all.
  std::string line = kFullAm;
  line.replace(line.find("145.1,"), 5, "NaN");
  std::vector<MinuteBar> out;
  EXPECT_FALSE(parse_json(line, out).empty());
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, HugeNumberIsRejected) {
  std::string line = kFullAm;
  line.replace(line.find("145.5,"), 5, "1e400");
  std::vector<MinuteBar> out;
  EXPECT_FALSE(parse_json(line, out).empty()) << line;
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, LowAboveHighIsRejected) {
  std::vector<MinuteBar> out;
  auto reason = parse_json(am("AAPL", 145, 145, 145.5, 145, kS, kE), out);
  EXPECT_TRUE(contains(reason, "low")) << reason;
  EXPECT_TRUE(out.empty());
  // low == high is a legitimate flat bar.
  EXPECT_EQ(parse_json(am("AAPL", 145, 145, 145, 145, kS, kE), out), "");
  EXPECT_EQ(out.size(), 1u);
}

TEST(BarParserJson, EndNotAfterStartIsRejected) {
  for (std::int64_t e : {kS, kS - 60000}) {
    std::vector<MinuteBar> out;
    auto reason = parse_json(am("AAPL", 145, 146, 144, 145, kS, e), out);
    EXPECT_TRUE(contains(reason, "'e'")) << reason;
    EXPECT_TRUE(out.empty());
  }
}

TEST(BarParserJson, TruncatedJsonIsRejected) {
  const std::vector<std::string> lines = {
      kFullAm.substr(0, kFullAm.size() - 1),
      kFullAm.substr(0, kFullAm.size() / 2),
      R"({"ev":"AM","sym":"AAP)",
      "{",
      "[" + kFullAm + ",",
      "[" + kFullAm + "," + kFullAm.substr(0, 40),
      "[" + kFullAm,
  };
  for (const auto& line : lines) {
    std::vector<MinuteBar> out;
    auto reason = parse_json(line, out);
    EXPECT_FALSE(reason.empty()) << line;
    EXPECT_TRUE(out.empty()) << line;
  }
}

TEST(BarParserJson, TrailingGarbageIsRejected) {
  const std::vector<std::string> tails = {" xyz", "x", " " + kFullAm, "}", "]", ",", " 1"};
  for (const auto& tail : tails) {
    std::vector<MinuteBar> out;
    auto reason = parse_json(kFullAm + tail, out);
    EXPECT_FALSE(reason.empty()) << "tail '" << tail << "'";
    EXPECT_TRUE(out.empty()) << "tail '" << tail << "'";
  }
  std::vector<MinuteBar> out;
  auto reason = parse_json("[" + kFullAm + "] xyz", out);
  EXPECT_FALSE(reason.empty());
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, TrailingWhitespaceIsFine) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(kFullAm + "   \t", out), "");
  EXPECT_EQ(parse_json("  " + kFullAm, out), "");
  EXPECT_EQ(out.size(), 2u);
}

TEST(BarParserJson, OneBadElementRejectsTheWholeLine) {
  std::vector<MinuteBar> out(2);  // bars of earlier lines must survive
  std::string line = "[" + am("AAPL", 145.1, 145.5, 145, 145.3, kS, kE) + "," +
                     am("NVDA", 200, 201, 199, 200.5, kS, kE) + "," +
                     am("C", 60, 59, 61, 60, kS, kE) + "]";
  auto reason = parse_json(line, out);
  EXPECT_TRUE(contains(reason, "element 2")) << reason;
  EXPECT_EQ(out.size(), 2u);

  line = "[" + am("AAPL", 145.1, 145.5, 145, 145.3, kS, kE) + ",42]";
  reason = parse_json(line, out);
  EXPECT_TRUE(contains(reason, "element 1")) << reason;
  EXPECT_EQ(out.size(), 2u);
}

TEST(BarParserJson, ScalarIsRejected) {
  for (std::string line : {"42", R"("AM")", "null", "true"}) {
    std::vector<MinuteBar> out;
    EXPECT_FALSE(parse_json(line, out).empty()) << line;
    EXPECT_TRUE(out.empty());
  }
}

TEST(BarParserJson, EmptyLineIsRejected) {
  std::vector<MinuteBar> out;
  EXPECT_FALSE(parse_json("", out).empty());
  EXPECT_FALSE(parse_json("   ", out).empty());
  EXPECT_TRUE(out.empty());
}

TEST(BarParserJson, UnknownFieldsAreTolerated) {
  std::string line = kFullAm;
  line.insert(1, R"("x":{"nested":[1,2,{"o":"not me"}]},"otc":true,"vv":null,"ss":"a",)");
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(line, out), "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].open, 145.1);
}

TEST(BarParserJson, IntegerPricesAreAccepted) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(R"({"ev":"AM","sym":"NVDA","v":10,"o":200,"h":205,"l":195,"c":201,)"
                       R"("s":1626101940000,"e":1626102000000})",
                       out),
            "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].open, 200.0);
  EXPECT_EQ(out[0].high, 205.0);
  EXPECT_EQ(out[0].low, 195.0);
  EXPECT_EQ(out[0].close, 201.0);
}

TEST(BarParserJson, VolumeIsOptional) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(R"({"ev":"AM","sym":"NVDA","o":200,"h":205,"l":195,"c":201,)"
                       R"("s":1626101940000,"e":1626102000000})",
                       out),
            "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].volume, 0);
}

TEST(BarParserJson, EscapedSymbolIsUnescaped) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(parse_json(R"({"ev":"AM","sym":"BRK\u002EB","o":1,"h":2,"l":1,"c":2,)"
                       R"("s":1626101940000,"e":1626102000000})",
                       out),
            "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].symbol, "BRK.B");
}

// ---- parse_csv_bar_line -----------------------------------------------------

TEST(BarParserCsv, ValidRow) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,1626101940,145.1,145.5,145.02,145.31,4110", out), "");
  ASSERT_EQ(out.size(), 1u);
  const auto& b = out[0];
  EXPECT_EQ(b.symbol, "AAPL");
  EXPECT_EQ(b.start_ms, kS);
  EXPECT_EQ(b.end_ms, kE);
  EXPECT_EQ(b.open, 145.1);
  EXPECT_EQ(b.high, 145.5);
  EXPECT_EQ(b.low, 145.02);
  EXPECT_EQ(b.close, 145.31);
  EXPECT_EQ(b.volume, 4110);
}

TEST(BarParserCsv, SecondsAndMillisecondsGiveTheSameBar) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,1626101940,1,2,1,2,0", out), "");
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,1626101940000,1,2,1,2,0", out), "");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start_ms, kS);
  EXPECT_EQ(out[1].start_ms, kS);
  EXPECT_EQ(out[1].end_ms, kE);
  // The threshold: above 10^11 is milliseconds.
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,100000000000,1,2,1,2,0", out), "");
  EXPECT_EQ(out.back().start_ms, 100000000000000);
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,100000000001,1,2,1,2,0", out), "");
  EXPECT_EQ(out.back().start_ms, 100000000001);
}

TEST(BarParserCsv, NewYorkLocalTime) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,2021-07-12 10:59,1,2,1,2,0", out), "");
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,2021-07-12 10:59:30,1,2,1,2,0", out), "");
  EXPECT_EQ(qc::parse_csv_bar_line("AAPL,2021-01-04 09:30,1,2,1,2,0", out), "");  // EST
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].start_ms, 1626101940000);
  EXPECT_EQ(out[0].end_ms, 1626102000000);
  EXPECT_EQ(out[1].start_ms, 1626101970000);
  EXPECT_EQ(out[2].start_ms, 1609770600000);
}

TEST(BarParserCsv, BadTimeIsRejected) {
  for (std::string t : {"yesterday", "-60", "", "2021-13-01 10:00", "2021-07-12", "16261019.5"}) {
    std::vector<MinuteBar> out;
    auto reason = qc::parse_csv_bar_line("AAPL," + t + ",1,2,1,2,0", out);
    EXPECT_TRUE(contains(reason, "time")) << "'" << t << "': " << reason;
    EXPECT_TRUE(out.empty()) << t;
  }
}

TEST(BarParserCsv, WrongColumnCountIsRejected) {
  for (std::string line : {"AAPL,1626101940,1,2,1,2", "AAPL,1626101940,1,2,1,2,0,extra",
                           "AAPL", "", "AAPL,1626101940,1,2,1,2,0,"}) {
    std::vector<MinuteBar> out;
    auto reason = qc::parse_csv_bar_line(line, out);
    EXPECT_TRUE(contains(reason, "7 columns")) << "'" << line << "': " << reason;
    EXPECT_TRUE(out.empty()) << line;
  }
}

TEST(BarParserCsv, NonNumericPriceIsRejected) {
  for (std::string line : {"AAPL,1626101940,abc,2,1,2,0", "AAPL,1626101940,1,,1,2,0",
                           "AAPL,1626101940,1,2,1x,2,0", "AAPL,1626101940,1,2,1,nan,0",
                           "AAPL,1626101940,1,inf,1,2,0"}) {
    std::vector<MinuteBar> out;
    auto reason = qc::parse_csv_bar_line(line, out);
    EXPECT_FALSE(reason.empty()) << line;
    EXPECT_TRUE(out.empty()) << line;
  }
  std::vector<MinuteBar> out;
  EXPECT_TRUE(contains(qc::parse_csv_bar_line("AAPL,1626101940,1,2,1,2,lots", out), "volume"));
  EXPECT_TRUE(out.empty());
}

TEST(BarParserCsv, LowAboveHighAndEmptySymbolAreRejected) {
  std::vector<MinuteBar> out;
  EXPECT_TRUE(contains(qc::parse_csv_bar_line("AAPL,1626101940,1,2,3,2,0", out), "low"));
  EXPECT_FALSE(qc::parse_csv_bar_line(" ,1626101940,1,2,1,2,0", out).empty());
  EXPECT_TRUE(out.empty());
}

TEST(BarParserCsv, SpacesAndCarriageReturnAreTolerated) {
  std::vector<MinuteBar> out;
  EXPECT_EQ(qc::parse_csv_bar_line(" AAPL , 1626101940 , 145.1 , 145.5 , 145 , 145.3 , 10\r", out),
            "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].symbol, "AAPL");
  EXPECT_EQ(out[0].start_ms, kS);
  EXPECT_EQ(out[0].close, 145.3);
  EXPECT_EQ(out[0].volume, 10);
}

// ---- BarFileReader ----------------------------------------------------------

class TempDir : public qc::testing::TempDir {
 public:
  TempDir() : qc::testing::TempDir("qc-bar-parser") {}
};

struct ReadResult {
  std::vector<MinuteBar> bars;
  std::vector<RejectedLine> rejected;
  BarFormat format = BarFormat::JsonLines;
  std::uint64_t lines = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t file_size = 0;
  int calls = 0;
};

// Reads the whole file in batches of `batch`; a batch may exceed it by at
// most the bars of one line (`bars_per_line`).
ReadResult read_all(const std::filesystem::path& path, std::size_t batch = 1000,
                    std::size_t bars_per_line = 1) {
  ReadResult r;
  BarFileReader reader(path);
  r.format = reader.format();
  auto on_reject = [&](const RejectedLine& l) { r.rejected.push_back(l); };
  for (;;) {
    std::size_t before = r.bars.size();
    bool more = reader.next(r.bars, batch, on_reject);
    ++r.calls;
    if (!more) {
      EXPECT_EQ(r.bars.size(), before) << "next() returned false but appended bars";
      break;
    }
    // "up to about max_bars": the line that reaches the limit is finished.
    EXPECT_LE(r.bars.size() - before, batch + bars_per_line - 1);
    if (r.calls > 1'000'000) {
      ADD_FAILURE() << "next() never reports the end of the file";
      break;
    }
  }
  r.lines = reader.lines_read();
  r.bytes_read = reader.bytes_read();
  r.file_size = reader.file_size();
  return r;
}

TEST(BarFileReader, JsonLinesWithBlankCrlfMalformedAndNoFinalNewline) {
  TempDir dir;
  std::string content = am("AAPL", 145.1, 145.5, 145, 145.3, kS, kE) + "\n" +   // 1
                        "\n" +                                                  // 2 blank
                        "   \t\n" +                                             // 3 blank
                        am("AAPL", 145.3, 146, 145.2, 145.9, kS + 60000, kE + 60000) +
                        "\r\n" +                                                // 4 CRLF
                        R"({"ev":"AM","sym":"AAPL","o":)" + "\n" +              // 5 malformed
                        "\r\n" +                                                // 6 blank CRLF
                        "[" + am("NVDA", 200, 201, 199, 200.5, kS, kE) + "]";  // 7, no newline
  auto r = read_all(dir.write("bars.jsonl", content));
  EXPECT_EQ(r.format, BarFormat::JsonLines);
  ASSERT_EQ(r.bars.size(), 3u);
  EXPECT_EQ(r.bars[0].symbol, "AAPL");
  EXPECT_EQ(r.bars[0].start_ms, kS);
  EXPECT_EQ(r.bars[1].start_ms, kS + 60000);
  EXPECT_EQ(r.bars[1].close, 145.9);
  EXPECT_EQ(r.bars[2].symbol, "NVDA");
  EXPECT_EQ(r.bars[2].close, 200.5);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].line, 5u);
  EXPECT_TRUE(contains(r.rejected[0].reason, "JSON")) << r.rejected[0].reason;
  EXPECT_EQ(r.lines, 7u);
  EXPECT_EQ(r.bytes_read, content.size());
  EXPECT_EQ(r.file_size, content.size());
}

TEST(BarFileReader, RejectedLinesCarryTheirLineNumbers) {
  TempDir dir;
  std::string content;
  std::vector<std::uint64_t> bad;
  for (int i = 1; i <= 50; ++i) {
    if (i % 7 == 0) {
      content += am("AAPL", 1, 1, 2, 1, kS + i * 60000, kE + i * 60000) + "\n";  // low > high
      bad.push_back(static_cast<std::uint64_t>(i));
    } else {
      content += am("AAPL", 1, 2, 1, 1, kS + i * 60000, kE + i * 60000) + "\n";
    }
  }
  auto r = read_all(dir.write("bars.jsonl", content), 3);
  EXPECT_EQ(r.bars.size(), 50u - bad.size());
  ASSERT_EQ(r.rejected.size(), bad.size());
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(r.rejected[i].line, bad[i]);
    EXPECT_TRUE(contains(r.rejected[i].reason, "low")) << r.rejected[i].reason;
  }
}

TEST(BarFileReader, CsvWithHeader) {
  TempDir dir;
  auto r = read_all(dir.write("bars.csv",
                              "symbol,time,open,high,low,close,volume\n"
                              "AAPL,1626101940,145.1,145.5,145,145.3,100\n"
                              "AAPL,2021-07-12 11:00,145.3,146,145.2,145.9,200\r\n"
                              "NVDA,1626101940000,200,201,199,200.5,300"));
  EXPECT_EQ(r.format, BarFormat::Csv);
  EXPECT_TRUE(r.rejected.empty()) << r.rejected[0].line << ": " << r.rejected[0].reason;
  ASSERT_EQ(r.bars.size(), 3u);
  EXPECT_EQ(r.bars[0].start_ms, kS);
  EXPECT_EQ(r.bars[1].start_ms, kS + 60000);
  EXPECT_EQ(r.bars[1].volume, 200);
  EXPECT_EQ(r.bars[2].symbol, "NVDA");
  EXPECT_EQ(r.bars[2].start_ms, kS);
}

TEST(BarFileReader, CsvWithoutHeader) {
  TempDir dir;
  auto r = read_all(dir.write("bars.csv",
                              "AAPL,1626101940,145.1,145.5,145,145.3,100\n"
                              "\n"
                              "AAPL,1626102000,x,146,145.2,145.9,200\n"
                              "AAPL,1626102060,145.9,146,145.2,145.5,200\n"));
  EXPECT_EQ(r.format, BarFormat::Csv);
  ASSERT_EQ(r.bars.size(), 2u);
  EXPECT_EQ(r.bars[1].start_ms, kS + 120000);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].line, 3u);
}

TEST(BarFileReader, CsvHeaderOnlyOnTheFirstLineIsSkipped) {
  TempDir dir;
  auto r = read_all(dir.write("bars.csv",
                              "symbol,time,open,high,low,close,volume\n"
                              "AAPL,1626101940,145.1,145.5,145,145.3,100\n"
                              "symbol,time,open,high,low,close,volume\n"));
  EXPECT_EQ(r.bars.size(), 1u);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].line, 3u);
}

TEST(BarFileReader, FormatIsDetectedFromTheFirstNonBlankCharacter) {
  TempDir dir;
  EXPECT_EQ(BarFileReader(dir.write("a", "\n\n  " + kFullAm + "\n")).format(),
            BarFormat::JsonLines);
  EXPECT_EQ(BarFileReader(dir.write("b", "\r\n\t[" + kFullAm + "]\n")).format(),
            BarFormat::JsonLines);
  EXPECT_EQ(BarFileReader(dir.write("c", "AAPL,1626101940,1,2,1,2,0\n")).format(), BarFormat::Csv);
  EXPECT_EQ(BarFileReader(dir.write("d", "\n symbol,time,open,high,low,close,volume\n")).format(),
            BarFormat::Csv);
  // The file name does not matter.
  EXPECT_EQ(BarFileReader(dir.write("e.csv", kFullAm)).format(), BarFormat::JsonLines);

  auto r = read_all(dir.write("f", "\n\n  " + kFullAm + "\n"));
  EXPECT_EQ(r.bars.size(), 1u);
  EXPECT_TRUE(r.rejected.empty());
}

TEST(BarFileReader, EmptyFileHasNoBars) {
  TempDir dir;
  auto r = read_all(dir.write("empty", ""));
  EXPECT_TRUE(r.bars.empty());
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.lines, 0u);
  auto blank = read_all(dir.write("blank", "\n\n \n"));
  EXPECT_TRUE(blank.bars.empty());
  EXPECT_TRUE(blank.rejected.empty());
}

TEST(BarFileReader, MissingFileThrows) {
  TempDir dir;
  EXPECT_THROW(BarFileReader(std::filesystem::temp_directory_path() / "qc-no-such-dir" / "x.jsonl"),
               std::runtime_error);
}

TEST(BarFileReader, FileLargerThanOneChunkIsReadExactlyOnceInOrder) {
  TempDir dir;
  constexpr int kLines = 120'000;
  std::string content;
  content.reserve(kLines * 150);
  for (int i = 0; i < kLines; ++i) {
    std::int64_t s = kS + std::int64_t{i} * 60000;
    content += R"({"ev":"AM","sym":"AAPL","v":)" + std::to_string(i) +
               R"(,"av":61605221,"op":144.48,"vw":145.2296,"o":145.1,"c":145.31,"h":145.5,)"
               R"("l":145.02,"a":145.0105,"z":51,"s":)" +
               std::to_string(s) + R"(,"e":)" + std::to_string(s + 60000) + "}\n";
  }
  ASSERT_GT(content.size(), std::size_t{8} << 20);
  auto r = read_all(dir.write("big.jsonl", content), 4096);
  EXPECT_TRUE(r.rejected.empty()) << r.rejected[0].line << ": " << r.rejected[0].reason;
  ASSERT_EQ(r.bars.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    if (r.bars[i].volume != i || r.bars[i].start_ms != kS + std::int64_t{i} * 60000) {
      ADD_FAILURE() << "bar " << i << " has volume " << r.bars[i].volume << " start "
                    << r.bars[i].start_ms;
      break;
    }
  }
  EXPECT_EQ(r.lines, static_cast<std::uint64_t>(kLines));
  EXPECT_EQ(r.bytes_read, content.size());
}

TEST(BarFileReader, LargeCsvFileIsReadExactlyOnceInOrder) {
  TempDir dir;
  constexpr int kLines = 300'000;
  std::string content = "symbol,time,open,high,low,close,volume\n";
  for (int i = 0; i < kLines; ++i)
    content += "AAPL," + std::to_string(1626101940 + std::int64_t{i} * 60) +
               ",145.1,145.5,145.02,145.31," + std::to_string(i) + "\n";
  ASSERT_GT(content.size(), std::size_t{8} << 20);
  auto r = read_all(dir.write("big.csv", content), 10'000);
  EXPECT_TRUE(r.rejected.empty());
  ASSERT_EQ(r.bars.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    if (r.bars[i].volume != i) {
      ADD_FAILURE() << "bar " << i << " has volume " << r.bars[i].volume;
      break;
    }
  }
}

TEST(BarFileReader, LineLongerThanOneChunkStillParses) {
  TempDir dir;
  constexpr int kEvents = 80'000;
  std::string line = "[";
  for (int i = 0; i < kEvents; ++i) {
    if (i) line += ',';
    std::int64_t s = kS + std::int64_t{i} * 60000;
    line += R"({"ev":"AM","sym":"NVDA","v":)" + std::to_string(i) +
            R"(,"av":61605221,"op":144.48,"vw":145.2296,"o":200,"c":200.5,"h":201,"l":199,)"
            R"("a":200.01,"z":51,"s":)" +
            std::to_string(s) + R"(,"e":)" + std::to_string(s + 60000) + "}";
  }
  line += "]";
  ASSERT_GT(line.size(), std::size_t{8} << 20);
  std::string content = am("AAPL", 1, 2, 1, 2, kS, kE) + "\n" + line + "\n" +
                        am("AAPL", 1, 2, 1, 2, kS + 60000, kE + 60000) + "\n" + line;
  auto r = read_all(dir.write("long.jsonl", content), 4096, kEvents);
  EXPECT_TRUE(r.rejected.empty()) << r.rejected[0].line << ": " << r.rejected[0].reason;
  ASSERT_EQ(r.bars.size(), 2u * kEvents + 2);
  EXPECT_EQ(r.bars[0].symbol, "AAPL");
  EXPECT_EQ(r.bars[1].symbol, "NVDA");
  EXPECT_EQ(r.bars[kEvents].volume, kEvents - 1);
  EXPECT_EQ(r.bars[kEvents + 1].symbol, "AAPL");
  EXPECT_EQ(r.bars[kEvents + 1].start_ms, kS + 60000);
  EXPECT_EQ(r.bars.back().volume, kEvents - 1);
  EXPECT_EQ(r.lines, 4u);
  EXPECT_EQ(r.bytes_read, content.size());
}

}  // namespace
