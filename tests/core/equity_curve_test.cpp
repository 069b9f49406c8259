// The default /api/stats equity curve (src/core/equity_curve.h): the
// reduction rule, its invariants (subset, order, size, max drawdown), and the
// incremental EquityReducer against the reduction from scratch.
#include "core/equity_curve.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/stats_book.h"
#include "core/stats_render.h"
#include "core/trade_history.h"

namespace {

using qc::EquityPoint;
using qc::EquityReducer;
using qc::kEquityDefaultPoints;
using qc::max_drawdown_points;
using qc::reduce_equity;
using qc::reduce_equity_indices;

constexpr double kT0 = 1626098400;

// A curve with the given cumulative values, one close a minute.
std::vector<EquityPoint> curve_of(const std::vector<double>& values) {
  std::vector<EquityPoint> out;
  for (std::size_t i = 0; i < values.size(); ++i)
    out.push_back({kT0 + 60.0 * static_cast<double>(i), values[i]});
  return out;
}

// A random walk of n closes; `step` 1 gives many equal values (ties).
std::vector<EquityPoint> random_curve(std::size_t n, unsigned seed, double step = 0.25) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> move(-40, 40);
  std::vector<double> values;
  double v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v += step * move(rng);
    values.push_back(v);
  }
  return curve_of(values);
}

std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = i;
  return out;
}

// The properties every reduction has.
void expect_invariants(const std::vector<EquityPoint>& curve, std::size_t cap) {
  auto kept = reduce_equity_indices(curve, cap);
  if (curve.size() <= cap) {
    EXPECT_EQ(kept, all_indices(curve.size()));
    return;
  }
  ASSERT_FALSE(kept.empty());
  EXPECT_LE(kept.size(), cap);
  EXPECT_TRUE(std::adjacent_find(kept.begin(), kept.end(), std::greater_equal<>{}) == kept.end())
      << "indices not strictly ascending";
  EXPECT_LT(kept.back(), curve.size());
  EXPECT_EQ(kept.back(), curve.size() - 1) << "the last point is kept";
  // The global extremes (earliest on ties) are kept.
  auto lo = std::min_element(curve.begin(), curve.end(),
                             [](auto& a, auto& b) { return a.cumulative_pnl < b.cumulative_pnl; });
  auto hi = std::max_element(curve.begin(), curve.end(),
                             [](auto& a, auto& b) { return a.cumulative_pnl < b.cumulative_pnl; });
  EXPECT_TRUE(
      std::binary_search(kept.begin(), kept.end(), static_cast<std::size_t>(lo - curve.begin())));
  EXPECT_TRUE(
      std::binary_search(kept.begin(), kept.end(), static_cast<std::size_t>(hi - curve.begin())));
  auto reduced = reduce_equity(curve, cap);
  ASSERT_EQ(reduced.size(), kept.size());
  for (std::size_t k = 0; k < kept.size(); ++k) EXPECT_EQ(reduced[k], curve[kept[k]]);
  EXPECT_EQ(max_drawdown_points(reduced).drawdown, max_drawdown_points(curve).drawdown);
}

TEST(EquityBucketSize, NothingReducedUpToTheCap) {
  EXPECT_EQ(qc::equity_bucket_size(0, kEquityDefaultPoints), 0u);
  EXPECT_EQ(qc::equity_bucket_size(kEquityDefaultPoints, kEquityDefaultPoints), 0u);
  EXPECT_EQ(qc::equity_bucket_size(9, 9), 0u);
}

TEST(EquityBucketSize, SmallestPowerOfTwoLeavingRoomForThreeMore) {
  // 2 * ceil(n / B) + 3 <= C.
  EXPECT_EQ(qc::equity_bucket_size(10'001, 10'000), 4u);       // B = 2: 10005 > C; B = 4: 5005
  EXPECT_EQ(qc::equity_bucket_size(19'992, 10'000), 4u);       // 2 * 4998 + 3 = 9999
  EXPECT_EQ(qc::equity_bucket_size(19'993, 10'000), 8u);       // 2 * 4999 + 3 = 10001
  EXPECT_EQ(qc::equity_bucket_size(1'000'000, 10'000), 256u);  // B = 128: 15629; 256: 7815
  EXPECT_EQ(qc::equity_bucket_size(10, 9), 4u);                // B = 2: 13; B = 4: 9
  EXPECT_EQ(qc::equity_bucket_size(6, 5), 8u);                 // one bucket: 2 + 3 = 5
}

TEST(EquityBucketSize, CapBelowFiveIsRefused) {
  EXPECT_THROW((void)qc::equity_bucket_size(10, 4), std::invalid_argument);
  EXPECT_THROW(EquityReducer(4), std::invalid_argument);
}

TEST(ReduceEquity, UpToTheCapEveryPointIsKept) {
  for (std::size_t n : {0u, 1u, 2u, 100u, 10'000u}) {
    auto c = random_curve(n, 11);
    EXPECT_EQ(reduce_equity(c), c) << n;
  }
}

TEST(ReduceEquity, OneOverTheCapIsReduced) {
  auto c = random_curve(kEquityDefaultPoints + 1, 12);
  auto r = reduce_equity(c);
  EXPECT_LT(r.size(), c.size());
  EXPECT_LE(r.size(), kEquityDefaultPoints);
  expect_invariants(c, kEquityDefaultPoints);
  expect_invariants(random_curve(10, 13), 9);
}

TEST(ReduceEquity, BucketsKeepMinimumAndMaximumInTimeOrder) {
  // C = 9, n = 10: B = 4, buckets [0, 4), [4, 8), [8, 10).
  //            0  1  2  3   4  5  6  7   8  9
  auto c = curve_of({5, 1, 9, 3, 4, 8, 2, 6, 7, 7});
  // First bucket: min 1 (index 1) before max 9 (index 2); second: max 8
  // (index 5) before min 2 (index 6); last: both 7, the earliest (8); the last
  // point (9) is added. The drawdown (9 at index 2 down to 2 at index 6) is
  // already kept.
  EXPECT_EQ(reduce_equity_indices(c, 9), (std::vector<std::size_t>{1, 2, 5, 6, 8, 9}));
}

TEST(ReduceEquity, FirstBucketWhoseFirstPointIsItsExtreme) {
  // C = 9, n = 10, B = 4: the first point is the first bucket's maximum.
  auto c = curve_of({9, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(reduce_equity_indices(c, 9), (std::vector<std::size_t>{0, 1, 4, 7, 8, 9}));
  // ... or its minimum (a fall from the starting 0: the drawdown's trough).
  auto d = curve_of({-1, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(reduce_equity_indices(d, 9), (std::vector<std::size_t>{0, 3, 4, 7, 8, 9}));
  expect_invariants(c, 9);
  expect_invariants(d, 9);
}

TEST(ReduceEquity, AllEqualValuesKeepEachBucketsFirstPointAndTheLast) {
  auto c = curve_of(std::vector<double>(10, 2.5));
  EXPECT_EQ(reduce_equity_indices(c, 9), (std::vector<std::size_t>{0, 4, 8, 9}));
  auto z = curve_of(std::vector<double>(25'000, 0));
  auto kept = reduce_equity_indices(z, kEquityDefaultPoints);
  EXPECT_EQ(kept.size(), 25'000u / 8 + 1);  // B = 8: one per bucket, the last point
  EXPECT_EQ(max_drawdown_points(reduce_equity(z)).drawdown, qc::Drawdown{});
  expect_invariants(z, kEquityDefaultPoints);
}

TEST(ReduceEquity, DrawdownInsideOneBucketIsKeptAlthoughNotItsExtremes) {
  // C = 9, n = 10, B = 4. In the first bucket the peak (10) and trough (0)
  // are neither its minimum (-5) nor its maximum (20): min/max alone would
  // lose the max drawdown (10 from index 1 to 2).
  auto c = curve_of({-5, 10, 0, 20, 21, 22, 23, 24, 25, 26});
  auto dd = max_drawdown_points(c);
  ASSERT_EQ(dd.drawdown.pnl, 10);
  ASSERT_EQ(dd.peak, 1u);
  ASSERT_EQ(dd.trough, 2u);
  EXPECT_EQ(reduce_equity_indices(c, 9), (std::vector<std::size_t>{0, 1, 2, 3, 4, 7, 8, 9}));
  EXPECT_EQ(max_drawdown_points(reduce_equity(c, 9)).drawdown, dd.drawdown);
  expect_invariants(c, 9);
}

TEST(ReduceEquity, PeakAndTroughAreTheExtremesOfOneBucket) {
  auto c = curve_of({1, 10, 0, 5, 6, 7, 8, 9, 9, 9});
  EXPECT_EQ(reduce_equity_indices(c, 9), (std::vector<std::size_t>{1, 2, 4, 7, 8, 9}));
  expect_invariants(c, 9);
}

TEST(ReduceEquity, TroughBeforePeakInOneBucket) {
  // The first bucket falls from the starting 0 to -3 (peak_time null), then
  // rises to 4; the drawdown of the curve is the later fall 4 -> -2.
  auto c = curve_of({-3, 4, 1, 2, 3, -2, 0, 1, 1, 1});
  auto dd = max_drawdown_points(c).drawdown;
  EXPECT_EQ(dd.pnl, 6);
  EXPECT_EQ(dd.peak_time, kT0 + 60);
  EXPECT_EQ(dd.trough_time, kT0 + 300);
  expect_invariants(c, 9);
  // A fall from the starting 0 alone: peak_time null.
  auto d = curve_of({-3, -1, -2, 0, -4, -1, 0, 0, 0, 0});
  EXPECT_EQ(max_drawdown_points(d).drawdown, (qc::Drawdown{4, std::nullopt, kT0 + 240}));
  expect_invariants(d, 9);
}

TEST(ReduceEquity, EqualDrawdownsKeepTheEarliest) {
  // Two falls of 5 (index 1 -> 2 and 5 -> 6): the earliest one is the max
  // drawdown, over the full curve and over the reduced one.
  auto c = curve_of({1, 6, 1, 2, 3, 7, 2, 3, 4, 4});
  auto dd = max_drawdown_points(c);
  EXPECT_EQ(dd.drawdown, (qc::Drawdown{5, kT0 + 60, kT0 + 120}));
  expect_invariants(c, 9);
  // The same pattern repeated over many buckets.
  std::vector<double> v;
  for (int i = 0; i < 30'000; ++i) v.push_back(i % 7 == 3 ? 0 : 5 + (i % 5));
  expect_invariants(curve_of(v), kEquityDefaultPoints);
}

TEST(ReduceEquity, RandomCurvesKeepEveryInvariant) {
  for (unsigned seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    std::size_t cap = seed % 4 == 0 ? kEquityDefaultPoints : 5 + rng() % 60;
    std::size_t n = seed % 4 == 0 ? kEquityDefaultPoints + rng() % 60'000 : rng() % 2'000;
    double step = seed % 2 ? 0.25 : 1;  // coarse steps: many ties
    SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " cap " +
                 std::to_string(cap));
    expect_invariants(random_curve(n, seed, step), cap);
  }
}

TEST(ReduceEquity, DrawdownIsTheStatsBooksOne) {
  qc::TradeHistory history;
  qc::StatsBook stats;
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    qc::ClosedPosition c;
    c.position.symbol = "AAPL";
    c.position.open_timestamp = static_cast<std::int64_t>(kT0) + i;
    c.close_timestamp = kT0 + 60.0 * (i / 2);  // two closes a second apart share a time
    c.pnl = static_cast<double>(static_cast<int>(rng() % 41) - 20) / 8;
    (void)history.add(c);
    stats.add(c, history);
  }
  EXPECT_EQ(max_drawdown_points(stats.equity()).drawdown, stats.closed().max_drawdown);
  EXPECT_EQ(max_drawdown_points(reduce_equity(stats.equity(), 100)).drawdown,
            stats.closed().max_drawdown);
}

TEST(RenderStats, ModesDifferOnlyInTheCurve) {
  qc::StatsBook stats;
  auto curve = random_curve(25'000, 9);
  double before = 0;
  for (std::size_t i = 0; i < curve.size(); ++i) {
    qc::ClosedPosition c;
    c.position.symbol = "AAPL";
    c.position.open_timestamp = static_cast<std::int64_t>(kT0) + static_cast<std::int64_t>(i);
    c.close_timestamp = curve[i].close_timestamp;
    c.pnl = curve[i].cumulative_pnl - before;
    before = curve[i].cumulative_pnl;
    ASSERT_TRUE(stats.add_in_order(c));
  }
  qc::OpenSummary open{2, 1.5};
  auto head = qc::render_stats_head(stats), tail = qc::render_stats_tail(open);
  EXPECT_EQ(qc::render_stats(stats, open, qc::EquityMode::Full), qc::render_stats(stats, open));
  EXPECT_EQ(qc::render_stats(stats, open, qc::EquityMode::None), head + tail);
  std::string points;
  auto reduced = reduce_equity(stats.equity());
  for (std::size_t k = 0; k < reduced.size(); ++k)
    qc::append_equity_point(points, reduced[k], k == 0);
  EXPECT_EQ(qc::render_stats(stats, open, qc::EquityMode::Reduced), head + points + tail);
  EXPECT_LE(reduced.size(), kEquityDefaultPoints);
}

// The incremental reducer equals the reduction from scratch at every size
// checked, rescans only when B doubles.
TEST(EquityReducer, GrowingCurveEqualsTheReductionFromScratch) {
  auto full = random_curve(45'000, 21);
  std::vector<EquityPoint> curve;
  EquityReducer reducer;
  std::size_t checks = 0;
  for (const auto& p : full) {
    curve.push_back(p);
    reducer.update(curve, 0);
    std::size_t n = curve.size();
    bool near_threshold =
        (n >= 9'995 && n <= 10'010) || (n >= 19'985 && n <= 20'000) || (n >= 39'980 && n <= 39'990);
    if (near_threshold || n % 997 == 0 || n == full.size()) {
      ASSERT_EQ(reducer.kept(curve), reduce_equity_indices(curve, kEquityDefaultPoints)) << n;
      ++checks;
    }
  }
  EXPECT_GT(checks, 60u);
  EXPECT_EQ(reducer.bucket_size(), 16u);
  EXPECT_EQ(reducer.full_scans(), 3u);  // B = 4, 8, 16
}

TEST(EquityReducer, PiecesAddUpToTheKeptPoints) {
  auto curve = random_curve(33'333, 22, 1);
  EquityReducer reducer;
  reducer.update(curve, 0);
  auto all = reducer.complete_kept();
  auto tail = reducer.tail_kept(curve);
  auto extra = reducer.drawdown_extra(curve);
  all.insert(all.end(), tail.begin(), tail.end());
  all.insert(all.end(), extra.begin(), extra.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, reduce_equity_indices(curve, kEquityDefaultPoints));
}

// Closes absorbed by a StatsBook, one out of order (a rebuild: generation
// changes), in batches of different sizes across doublings of B.
TEST(EquityReducer, FollowsAStatsBookThroughAnOutOfOrderClose) {
  qc::TradeHistory history;
  qc::StatsBook stats;
  EquityReducer reducer;
  std::mt19937 rng(8);
  auto close = [&](double t, std::int64_t id) {
    qc::ClosedPosition c;
    c.position.symbol = id % 2 ? "AAPL" : "NVDA";
    c.position.open_timestamp = id;
    c.close_timestamp = t;
    c.pnl = static_cast<double>(static_cast<int>(rng() % 81) - 40) / 4;
    (void)history.add(c);
    stats.add(c, history);
  };
  std::int64_t id = 1'000'000;
  for (int i = 0; i < 25'000; ++i) {
    close(kT0 + 60.0 * i, ++id);
    if (i % 1000 == 999 || i == 19'990 || i == 19'995) {  // B: 4 -> 8 at 19'993 points
      reducer.update(stats.equity(), stats.generation());
      ASSERT_EQ(reducer.kept(stats.equity()),
                reduce_equity_indices(stats.equity(), kEquityDefaultPoints))
          << i;
    }
  }
  EXPECT_EQ(reducer.bucket_size(), 8u);
  auto scans = reducer.full_scans();
  auto epoch_before = reducer.epoch();
  // One close sorting before the others: the book rebuilds, and so does the
  // reducer (its cached buckets hold other points now).
  auto generation = stats.generation();
  close(kT0 + 30, ++id);
  ASSERT_NE(stats.generation(), generation);
  reducer.update(stats.equity(), stats.generation());
  EXPECT_EQ(reducer.full_scans(), scans + 1);
  EXPECT_NE(reducer.epoch(), epoch_before);
  EXPECT_EQ(reducer.kept(stats.equity()),
            reduce_equity_indices(stats.equity(), kEquityDefaultPoints));
  for (int i = 0; i < 300; ++i) close(kT0 + 60.0 * (25'000 + i), ++id);
  reducer.update(stats.equity(), stats.generation());
  EXPECT_EQ(reducer.full_scans(), scans + 1);
  EXPECT_EQ(reducer.kept(stats.equity()),
            reduce_equity_indices(stats.equity(), kEquityDefaultPoints));
  EXPECT_EQ(max_drawdown_points(reduce_equity(stats.equity())).drawdown,
            stats.closed().max_drawdown);
}

}  // namespace
