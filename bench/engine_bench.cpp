// Engine throughput (SPEC §8: >= 5 million bars applied per second, one
// thread): qc::Engine::apply over minute bars for the 11 default tickers with
// about 200 open positions spread over them.
//
//  BM_EngineApply_Quiet/P       P open positions, no bar reaches a target or
//                               stop: every bar walks its symbol's positions
//                               and keeps them all (the common case live and
//                               in backtests). P = 200 is the headline figure.
//  BM_EngineApply_Churn/N       every N-th bar closes one position (its high
//                               reaches that position's target) and a new
//                               recommendation document reopens one through
//                               Engine::open, so ~200 stay open.
//  BM_EngineApply_NoPositions   the lookup and staleness check alone.
//
// Bars are prepared outside the timed loop (64 Ki bars, ~5 MB, about what
// the backtest hands the engine per batch); when they run out the engine is
// rebuilt with timing paused, so every timed bar is a fresh, applicable bar.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/ny_time.h"

namespace {

constexpr std::int64_t kFirstMinute = 1626096600;  // 2021-07-12 09:30 New York
constexpr std::size_t kBars = 1 << 16;
constexpr int kPositions = 200;  // open positions in the Churn variants

double base_price(std::size_t ticker_index) {
  static const double prices[] = {145, 3300, 200, 2600, 1500, 100, 70, 145, 190, 880, 6};
  return prices[ticker_index % 11];
}

qc::RecommendationDocument document(std::int64_t open_unix, const std::string& symbol,
                                    double current, double target) {
  qc::RecommendationDocument d;
  d.us_date = qc::format_new_york_time(open_unix);
  d.sg_date = qc::format_singapore_time(open_unix);
  d.items.push_back({symbol, target, current});
  return d;
}

// A position's target: 20% or more above the price the bars move around, and
// unique, so a spiking bar closes exactly the position it aims at.
double target_for(std::size_t ticker_index, int serial) {
  return base_price(ticker_index) * (1.20 + 0.0001 * serial);
}

// One bar per ticker per minute, prices oscillating within about +-2.5% of
// the base price: never near a target (>= +20%) or a stop (-10%).
std::vector<qc::MinuteBar> quiet_bars(const std::vector<qc::Ticker>& tickers) {
  std::vector<qc::MinuteBar> bars;
  bars.reserve(kBars);
  std::uint64_t lcg = 12345;
  auto noise = [&] {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(lcg >> 11) * 0x1.0p-53 - 0.5;  // [-0.5, 0.5)
  };
  for (std::int64_t minute = 0; bars.size() < kBars; ++minute) {
    for (std::size_t i = 0; i < tickers.size() && bars.size() < kBars; ++i) {
      double base = base_price(i);
      double mid = base * (1 + 0.02 * std::sin(static_cast<double>(minute) * 0.01 + static_cast<double>(i)));
      qc::MinuteBar b;
      b.symbol = tickers[i].symbol;
      b.open = mid * (1 + 0.002 * noise());
      b.close = mid * (1 + 0.002 * noise());
      b.high = std::max(b.open, b.close) * 1.001;
      b.low = std::min(b.open, b.close) * 0.999;
      b.volume = 10000;
      b.start_ms = (kFirstMinute + 60 * minute) * 1000;
      b.end_ms = b.start_ms + 60000;
      bars.push_back(std::move(b));
    }
  }
  return bars;
}

// The ~200 positions open before the first bar, round-robin over the tickers,
// one document per position (an identity is (symbol, open_timestamp)).
std::vector<qc::RecommendationDocument> initial_documents(const std::vector<qc::Ticker>& tickers,
                                                         int positions) {
  std::vector<qc::RecommendationDocument> docs;
  for (int k = 0; k < positions; ++k) {
    std::size_t i = static_cast<std::size_t>(k) % tickers.size();
    docs.push_back(document(kFirstMinute - 86400 + 60 * k, tickers[i].symbol, base_price(i),
                            target_for(i, k)));
  }
  return docs;
}

struct Scenario {
  std::vector<qc::RecommendationDocument> initial;
  std::vector<qc::MinuteBar> bars;
  // reopen[i] >= 0: after bar i, open document reopen_docs[reopen[i]].
  std::vector<int> reopen;
  std::vector<qc::RecommendationDocument> reopen_docs;
  std::size_t expected_closes = 0;
  std::size_t positions = 0;
};

// Every `every`-th bar spikes to the lowest target among its symbol's open
// positions (closing exactly that one); a document dated 1 s after that bar
// opens a replacement, eligible from the symbol's next bar on.
Scenario churn_scenario(const std::vector<qc::Ticker>& tickers, std::size_t every,
                        int positions = kPositions) {
  Scenario s;
  s.positions = static_cast<std::size_t>(positions);
  s.initial = initial_documents(tickers, positions);
  s.bars = quiet_bars(tickers);
  s.reopen.assign(s.bars.size(), -1);
  if (every == 0) return s;
  std::vector<std::vector<double>> targets(tickers.size());  // open targets per ticker
  for (int k = 0; k < positions; ++k)
    targets[static_cast<std::size_t>(k) % tickers.size()].push_back(
        target_for(static_cast<std::size_t>(k) % tickers.size(), k));
  int serial = positions;
  for (std::size_t b = 0; b < s.bars.size(); ++b) {
    if (b % every != every - 1) continue;
    auto& bar = s.bars[b];
    std::size_t i = static_cast<std::size_t>(
        std::find_if(tickers.begin(), tickers.end(),
                     [&](const qc::Ticker& t) { return t.symbol == bar.symbol; }) -
        tickers.begin());
    auto& t = targets[i];
    if (t.empty()) continue;
    auto lowest = std::min_element(t.begin(), t.end());
    bar.high = *lowest;
    t.erase(lowest);
    ++s.expected_closes;
    double target = target_for(i, serial++);
    t.push_back(target);
    s.reopen[b] = static_cast<int>(s.reopen_docs.size());
    s.reopen_docs.push_back(document(bar.start_ms / 1000 + 1, bar.symbol, base_price(i), target));
  }
  return s;
}

std::unique_ptr<qc::Engine> fresh_engine(const Scenario& s) {
  auto engine = std::make_unique<qc::Engine>();
  for (const auto& d : s.initial) engine->open(d, qc::InvalidItems::SkipItem);
  return engine;
}

void run(benchmark::State& state, const Scenario& s, bool with_positions) {
  std::vector<qc::ClosedPosition> closed;
  closed.reserve(64);
  auto make = [&] {
    return with_positions ? fresh_engine(s) : std::make_unique<qc::Engine>();
  };

  // Check once, untimed, that the scenario does what it claims.
  {
    auto engine = make();
    std::size_t closes = 0;
    for (std::size_t i = 0; i < s.bars.size(); ++i) {
      if (engine->apply(s.bars[i], closed) != qc::BarOutcome::Applied) {
        state.SkipWithError("a prepared bar was not applied");
        return;
      }
      if (s.reopen[i] >= 0 &&
          engine->open(s.reopen_docs[static_cast<std::size_t>(s.reopen[i])],
                       qc::InvalidItems::SkipItem).opened.size() != 1) {
        state.SkipWithError("a reopening document opened nothing");
        return;
      }
      closes += closed.size();
      closed.clear();
    }
    if (closes != s.expected_closes ||
        engine->open_count() != (with_positions ? s.positions : 0)) {
      state.SkipWithError("scenario closed an unexpected number of positions");
      return;
    }
  }

  auto engine = make();
  std::size_t i = 0;
  std::size_t closes = 0;
  for (auto _ : state) {
    if (i == s.bars.size()) {
      state.PauseTiming();
      engine.reset();
      engine = make();
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(engine->apply(s.bars[i], closed));
    if (s.reopen[i] >= 0)
      engine->open(s.reopen_docs[static_cast<std::size_t>(s.reopen[i])], qc::InvalidItems::SkipItem);
    closes += closed.size();
    closed.clear();
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["closes_per_s"] =
      benchmark::Counter(static_cast<double>(closes), benchmark::Counter::kIsRate);
  state.counters["open_positions"] = static_cast<double>(engine->open_count());
}

void BM_EngineApply_Quiet(benchmark::State& state) {
  const Scenario s = churn_scenario(qc::default_tickers(), 0, static_cast<int>(state.range(0)));
  run(state, s, true);
}
// 200 is the figure the SPEC target is about; more open positions make every
// bar walk a longer list (a backtest over years whose targets are rarely
// reached piles up ~1,000).
BENCHMARK(BM_EngineApply_Quiet)->ArgName("positions")->Arg(200)->Arg(50)->Arg(1000);

void BM_EngineApply_Churn(benchmark::State& state) {
  const auto every = static_cast<std::size_t>(state.range(0));
  const Scenario s = churn_scenario(qc::default_tickers(), every);
  run(state, s, true);
}
BENCHMARK(BM_EngineApply_Churn)->ArgName("close_every")->Arg(1000)->Arg(100)->Arg(10)->Arg(1);

void BM_EngineApply_NoPositions(benchmark::State& state) {
  static const Scenario s = churn_scenario(qc::default_tickers(), 0);
  run(state, s, false);
}
BENCHMARK(BM_EngineApply_NoPositions);

}  // namespace

BENCHMARK_MAIN();
