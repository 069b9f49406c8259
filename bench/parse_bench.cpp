// Bar parsing rates. The backtest target (SPEC §8: >= 3 million JSON Lines
// bars per second end to end) needs the parser well above that, since the
// engine and the file reading share the same thread.
//
//  BM_ParseJsonLine          qc::parse_json_bar_line on Polygon AM events with
//                            every field (ev,sym,v,av,op,vw,o,c,h,l,a,z,s,e)
//  BM_ParseJsonArrayFrame    one websocket frame: a JSON array of 11 events
//  BM_ParseCsvLine/unix_ms   qc::parse_csv_bar_line, time as UNIX ms
//  BM_ParseCsvLine/ny_time   the same with "YYYY-MM-DD HH:MM" New York times
//  BM_BarFileReader/...      qc::BarFileReader over a file in the page cache
//                            (line splitting + parsing): the backtest's reader
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/ny_time.h"
#include "market/bar_parser.h"

namespace {

constexpr std::int64_t kFirstMinute = 1626096600;  // 2021-07-12 09:30 New York
constexpr std::size_t kPadding = 64;               // parse_json_bar_line's contract

struct Symbol {
  const char* name;
  double price;
  int volume;
};
constexpr Symbol kSymbols[] = {{"AAPL", 145, 120000}, {"AMZN", 3300, 6000}, {"BABA", 200, 25000},
                               {"GOOG", 2600, 2500},  {"SHOP", 1500, 3000}, {"BX", 100, 9000},
                               {"C", 70, 40000},      {"TLT", 145, 30000},  {"NVDA", 190, 60000},
                               {"BLK", 880, 1200},    {"NOK", 6, 80000}};
constexpr std::size_t kTickers = sizeof(kSymbols) / sizeof(kSymbols[0]);

struct Rng {
  std::uint64_t s = 20210712;
  double next() {  // [0, 1)
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s >> 11) * 0x1.0p-53;
  }
};

struct BarText {
  std::string sym;
  double o, h, l, c, vw, a, op;
  long v, av, z;
  std::int64_t s, e;
};

// Bars as bench/gen_data.py writes them: one per ticker per minute.
std::vector<BarText> make_bars(std::size_t n) {
  Rng rng;
  std::vector<BarText> out;
  out.reserve(n);
  long av[kTickers] = {};
  for (std::int64_t minute = 0; out.size() < n; ++minute) {
    for (std::size_t i = 0; i < kTickers && out.size() < n; ++i) {
      const auto& sy = kSymbols[i];
      double mid = sy.price * (1 + 0.02 * std::sin(static_cast<double>(minute) * 0.01 + static_cast<double>(i)));
      BarText b;
      b.sym = sy.name;
      b.o = mid * (1 + 0.002 * (rng.next() - 0.5));
      b.c = mid * (1 + 0.002 * (rng.next() - 0.5));
      b.h = std::max(b.o, b.c) * (1 + 0.001 * rng.next());
      b.l = std::min(b.o, b.c) * (1 - 0.001 * rng.next());
      b.vw = (b.o + b.h + b.l + b.c) / 4;
      b.a = mid;
      b.op = sy.price;
      b.v = static_cast<long>(sy.volume * (0.3 + 1.4 * rng.next()));
      av[i] += b.v;
      b.av = av[i];
      b.z = static_cast<long>(60 + 140 * rng.next());
      b.s = (kFirstMinute + 60 * minute) * 1000;
      b.e = b.s + 60000;
      out.push_back(b);
    }
  }
  return out;
}

std::string json_event(const BarText& b) {
  char buf[400];
  int n = std::snprintf(buf, sizeof buf,
                        R"({"ev":"AM","sym":"%s","v":%ld,"av":%ld,"op":%.2f,"vw":%.4f,"o":%.2f,)"
                        R"("c":%.2f,"h":%.2f,"l":%.2f,"a":%.4f,"z":%ld,"s":%lld,"e":%lld})",
                        b.sym.c_str(), b.v, b.av, b.op, b.vw, b.o, b.c, b.h, b.l, b.a, b.z,
                        static_cast<long long>(b.s), static_cast<long long>(b.e));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string csv_line(const BarText& b, bool ny_time) {
  char buf[200];
  std::string time = ny_time ? qc::format_new_york_time(b.s / 1000).substr(0, 16) : std::to_string(b.s);
  int n = std::snprintf(buf, sizeof buf, "%s,%s,%.2f,%.2f,%.2f,%.2f,%ld", b.sym.c_str(),
                        time.c_str(), b.o, b.h, b.l, b.c, b.v);
  return std::string(buf, static_cast<std::size_t>(n));
}

// Lines laid out back to back ('\n'-separated) in one padded buffer, as the
// file reader hands them to the parser.
struct LineSet {
  std::string buffer;
  std::vector<std::string_view> lines;
  std::size_t bytes = 0;
};

LineSet layout(const std::vector<std::string>& texts) {
  LineSet set;
  for (const auto& t : texts) set.bytes += t.size() + 1;
  set.buffer.reserve(set.bytes + kPadding);
  std::vector<std::size_t> offsets;
  for (const auto& t : texts) {
    offsets.push_back(set.buffer.size());
    set.buffer += t;
    set.buffer += '\n';
  }
  set.buffer.append(kPadding, '\0');
  for (std::size_t i = 0; i < texts.size(); ++i)
    set.lines.emplace_back(set.buffer.data() + offsets[i], texts[i].size());
  return set;
}

template <class Parse>
void parse_lines(benchmark::State& state, const LineSet& set, std::size_t bars_per_line, Parse parse) {
  std::vector<qc::MinuteBar> out;
  out.reserve(64);
  std::size_t i = 0;
  for (auto _ : state) {
    std::string reason = parse(set.lines[i], out);
    if (!reason.empty() || out.size() != bars_per_line) {
      state.SkipWithError(("rejected: " + reason).c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    out.clear();
    if (++i == set.lines.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * bars_per_line));
  state.SetBytesProcessed(static_cast<std::int64_t>(
      static_cast<double>(state.iterations()) * static_cast<double>(set.bytes) /
      static_cast<double>(set.lines.size())));
}

void BM_ParseJsonLine(benchmark::State& state) {
  static const LineSet set = [] {
    std::vector<std::string> texts;
    for (const auto& b : make_bars(1 << 14)) texts.push_back(json_event(b));
    return layout(texts);
  }();
  parse_lines(state, set, 1, qc::parse_json_bar_line);
}
BENCHMARK(BM_ParseJsonLine);

void BM_ParseJsonArrayFrame(benchmark::State& state) {
  static const LineSet set = [] {
    auto bars = make_bars(11 * 1024);
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < bars.size(); i += kTickers) {
      std::string frame = "[";
      for (std::size_t k = 0; k < kTickers; ++k) {
        if (k) frame += ',';
        frame += json_event(bars[i + k]);
      }
      frame += ']';
      texts.push_back(std::move(frame));
    }
    return layout(texts);
  }();
  parse_lines(state, set, kTickers, qc::parse_json_bar_line);
}
BENCHMARK(BM_ParseJsonArrayFrame);

void BM_ParseCsvLine(benchmark::State& state) {
  const bool ny_time = state.range(0) != 0;
  std::vector<std::string> texts;
  for (const auto& b : make_bars(1 << 14)) texts.push_back(csv_line(b, ny_time));
  const LineSet set = layout(texts);
  parse_lines(state, set, 1, qc::parse_csv_bar_line);
}
BENCHMARK(BM_ParseCsvLine)->ArgName("ny_time")->Arg(0)->Arg(1);

// ---- whole-file reading ------------------------------------------------------

std::filesystem::path temp_file(const char* suffix) {
  return std::filesystem::temp_directory_path() /
         ("qc_parse_bench_" + std::to_string(::getpid()) + suffix);
}

void read_file(benchmark::State& state, bool csv) {
  const std::size_t n = 500'000;
  auto path = temp_file(csv ? ".csv" : ".jsonl");
  {
    std::ofstream f(path, std::ios::binary);
    if (csv) f << "symbol,time,open,high,low,close,volume\n";
    for (const auto& b : make_bars(n)) f << (csv ? csv_line(b, false) : json_event(b)) << '\n';
  }
  const auto size = std::filesystem::file_size(path);
  std::vector<qc::MinuteBar> batch;
  batch.reserve(1 << 16);
  std::size_t rejected = 0, bars = 0;
  for (auto _ : state) {
    qc::BarFileReader reader(path);
    for (;;) {
      batch.clear();
      if (!reader.next(batch, 1 << 16, [&](const qc::RejectedLine&) { ++rejected; })) break;
      bars += batch.size();
    }
  }
  std::filesystem::remove(path);
  if (rejected || bars != n * state.iterations()) state.SkipWithError("lines rejected or missing");
  state.SetItemsProcessed(static_cast<std::int64_t>(bars));
  state.SetBytesProcessed(static_cast<std::int64_t>(size * state.iterations()));
}

void BM_BarFileReader_Json(benchmark::State& state) { read_file(state, false); }
BENCHMARK(BM_BarFileReader_Json)->Unit(benchmark::kMillisecond);

void BM_BarFileReader_Csv(benchmark::State& state) { read_file(state, true); }
BENCHMARK(BM_BarFileReader_Csv)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
