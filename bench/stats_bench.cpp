// History at scale (SPEC §8: 1,000,000 closed positions; /api/stats p50
// < 1 ms, a /api/trades page < 2 ms, RSS < 400 MB): qc::TradeHistory and
// qc::StatsBook over a million closes on the 11 default tickers.
//
//  BM_AddCloses/history,stats   1 M closes in §4.3 order into TradeHistory
//                               and StatsBook (what restoring a store does);
//                               reports the RSS growth they caused.
//  BM_RenderStatsHead           /api/stats without the equity points (what
//                               is re-rendered after each close).
//  BM_RenderEquity              all 1 M equity points (rendered once; later
//                               closes append to the kept chunks).
//  BM_TradesPage_*              a 100-trade /api/trades page (+ JSON), first
//                               page and one deep in the history via a cursor,
//                               with each filter.
//  BM_ComputeStats_*            a filtered /api/stats (a scan by design).
//
// The million closes are built once (outside any timing) and shared.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/performance_book.h"
#include "core/render.h"
#include "core/stats_book.h"
#include "core/stats_render.h"
#include "core/ticker.h"
#include "core/trade_history.h"

namespace {

constexpr std::size_t kCloses = 1'000'000;
constexpr std::int64_t kFirstClose = 1626102000;  // 2021-07-12 11:00 New York

// RSS in bytes from /proc/self/statm (0 where it is not available).
double rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * 4096;
}

// Closes every ~40 s of calendar time (~1.3 years), holds of 1 hour to 5
// days, ~2/3 targets (pnl 0.5..6) and 1/3 stops (pnl -10), some closes in
// the same second and some with fractions, as bars end on minute marks.
const std::vector<qc::ClosedPosition>& closes() {
  static const std::vector<qc::ClosedPosition> all = [] {
    std::vector<qc::ClosedPosition> out;
    out.reserve(kCloses);
    auto tickers = qc::default_tickers();
    std::mt19937_64 rng(2021);
    double close = kFirstClose;
    for (std::size_t i = 0; i < kCloses; ++i) {
      if (rng() % 4 != 0) close += 60.0 * static_cast<double>(1 + rng() % 2);
      qc::ClosedPosition c;
      c.position.symbol = tickers[rng() % tickers.size()].symbol;
      c.position.open_timestamp =
          static_cast<std::int64_t>(close) - 3600 - static_cast<std::int64_t>(rng() % (5 * 86400));
      c.position.entry_price = 100 + static_cast<double>(rng() % 10000) / 100;
      c.position.stop_loss = c.position.entry_price * 0.9;
      c.position.target_price = c.position.entry_price * 1.05;
      c.position.expected_profit = 5;
      bool stop = rng() % 3 == 0;
      c.reason = stop ? qc::CloseReason::StopLoss : qc::CloseReason::TargetPrice;
      c.exit_price = stop ? c.position.stop_loss : c.position.target_price;
      c.pnl = (c.exit_price - c.position.entry_price) / c.position.entry_price * 100;
      c.close_timestamp = close;
      out.push_back(std::move(c));
    }
    // Closes in one second are ordered by open time, then symbol (§4.3).
    std::sort(out.begin(), out.end(), qc::closes_before);
    return out;
  }();
  return all;
}

struct Loaded {
  qc::TradeHistory history;
  qc::StatsBook stats;
};
const Loaded& loaded() {
  static const Loaded l = [] {
    Loaded out;
    for (const auto& c : closes()) {
      (void)out.history.add(c);
      out.stats.add(c, out.history);
    }
    return out;
  }();
  return l;
}

void BM_AddCloses(benchmark::State& state) {
  const auto& all = closes();
  const bool with_history = state.range(0) != 0;
  const bool with_stats = state.range(1) != 0;
  double rss_growth = -1;
  bool in_order = true;
  for (auto _ : state) {
    double before = rss_bytes();
    {
      qc::TradeHistory history;
      qc::StatsBook stats;
      for (const auto& c : all) {
        if (with_history) in_order &= history.add(c);
        if (with_stats) in_order &= stats.add_in_order(c);
      }
      // The first run's growth: later runs reuse memory the allocator kept.
      if (rss_growth < 0) rss_growth = rss_bytes() - before;
      benchmark::DoNotOptimize(history.size());
      benchmark::DoNotOptimize(stats.equity().size());
      state.PauseTiming();  // not the freeing
    }
    state.ResumeTiming();
  }
  if (!in_order) state.SkipWithError("a close did not come in order");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * all.size()));
  state.counters["rss_growth_MB"] = rss_growth / 1e6;
}
BENCHMARK(BM_AddCloses)
    ->ArgNames({"history", "stats"})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

void BM_RenderStatsHead(benchmark::State& state) {
  const auto& l = loaded();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto head = qc::render_stats_head(l.stats);
    auto tail = qc::render_stats_tail({10000, 12.5});
    bytes = head.size() + tail.size();
    benchmark::DoNotOptimize(head.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["daily"] = static_cast<double>(l.stats.daily().size());
}
BENCHMARK(BM_RenderStatsHead)->Unit(benchmark::kMicrosecond);

void BM_RenderEquity(benchmark::State& state) {
  const auto& equity = loaded().stats.equity();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string out;
    out.reserve(equity.size() * 32);
    qc::append_equity_points(out, equity, 0, equity.size());
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderEquity)->Unit(benchmark::kMillisecond);

// One appended close's worth of equity: the per-close rendering work.
void BM_RenderOneEquityPoint(benchmark::State& state) {
  const auto& equity = loaded().stats.equity();
  std::string out;
  for (auto _ : state) {
    out.clear();
    qc::append_equity_points(out, equity, equity.size() - 1, equity.size());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_RenderOneEquityPoint);

enum Filter { kNone, kSymbol, kNotes, kSymbolNotes, kSymbolNotesWindow };

qc::TradeQuery query(Filter filter, bool deep) {
  qc::TradeQuery q;
  q.limit = 100;
  const auto& all = closes();
  if (filter == kSymbol || filter == kSymbolNotes || filter == kSymbolNotesWindow)
    q.filter.symbol = "NVDA";
  if (filter == kNotes || filter == kSymbolNotes || filter == kSymbolNotesWindow)
    q.filter.notes = qc::CloseReason::StopLoss;
  if (filter == kSymbolNotesWindow) {  // the middle fifth of the history
    q.filter.from = all[all.size() * 2 / 5].close_timestamp;
    q.filter.to = all[all.size() * 3 / 5].close_timestamp;
  }
  if (deep) q.cursor = qc::cursor_of(all[all.size() / 2]);
  return q;
}

void BM_TradesPage(benchmark::State& state) {
  const auto& history = loaded().history;
  auto q = query(static_cast<Filter>(state.range(0)), state.range(1) != 0);
  const bool json = state.range(2) != 0;
  std::size_t n = 0;
  for (auto _ : state) {
    auto page = history.page(q);
    n = page.trades.size();
    if (json) {
      auto text = qc::render_trades_page(page);
      benchmark::DoNotOptimize(text.data());
    }
    benchmark::DoNotOptimize(page.trades.data());
  }
  if (n != 100) state.SkipWithError("the page is not full");
}
BENCHMARK(BM_TradesPage)
    ->ArgNames({"filter", "deep", "json"})
    ->ArgsProduct({{kNone, kSymbol, kNotes, kSymbolNotes, kSymbolNotesWindow}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

void BM_ComputeStats(benchmark::State& state) {
  const auto& history = loaded().history;
  auto q = query(static_cast<Filter>(state.range(0)), false);
  q.filter.notes.reset();  // /api/stats filters by symbol, from, to
  std::size_t n = 0;
  for (auto _ : state) {
    auto stats = qc::compute_stats(history, q.filter);
    n = stats.closed().count;
    benchmark::DoNotOptimize(n);
  }
  state.counters["trades"] = static_cast<double>(n);
}
BENCHMARK(BM_ComputeStats)
    ->ArgName("filter")
    ->Arg(kSymbol)
    ->Arg(kSymbolNotesWindow)
    ->Unit(benchmark::kMillisecond);

// A whole filtered /api/stats answer but its "open" part (what a first ask
// costs before the socket): the scan and the rendering, default (reduced)
// equity curve. Filters: one symbol; the last 7 days; the whole history.
void BM_FilteredStatsAnswer(benchmark::State& state) {
  const auto& history = loaded().history;
  const auto& all = closes();
  qc::TradeFilter filter;
  switch (state.range(0)) {
    case 0: filter.symbol = "NVDA"; break;
    case 1: filter.from = all.back().close_timestamp - 7 * 86400; break;
    default: filter.from = all.front().close_timestamp; break;
  }
  std::size_t n = 0, bytes = 0;
  for (auto _ : state) {
    auto stats = qc::compute_stats(history, filter);
    auto text = qc::render_stats_without_tail(stats, qc::EquityMode::Reduced);
    n = stats.closed().count;
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["trades"] = static_cast<double>(n);
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_FilteredStatsAnswer)
    ->ArgName("symbol_week_all")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond);

// The same answer refreshed after a close it matches (StatsAnswerCache):
// the close added to the kept statistics, then the JSON rendered again; no
// scan. Filters: one symbol; the last 7 days.
void BM_FilteredStatsRefresh(benchmark::State& state) {
  const auto& history = loaded().history;
  const auto& all = closes();
  qc::TradeFilter filter;
  if (state.range(0) == 0) filter.symbol = "NVDA";
  else filter.from = all.back().close_timestamp - 7 * 86400;
  auto book = qc::compute_stats(history, filter);
  // A later close the filter matches, one second after the previous one.
  qc::ClosedPosition next = all.back();
  next.position.symbol = "NVDA";
  std::size_t bytes = 0;
  for (auto _ : state) {
    next.close_timestamp += 1;
    if (!book.add_in_order(next)) state.SkipWithError("the close did not come in order");
    auto text = qc::render_stats_without_tail(book, qc::EquityMode::Reduced);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_FilteredStatsRefresh)->ArgName("symbol_week")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
