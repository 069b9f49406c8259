// The equity curve of /api/stats (SPEC §4.8) as served by default: at most
// kEquityDefaultPoints points, chosen from the full curve (one point per
// closed trade) so that its shape, its extremes and its max drawdown stay
// exact (docs/decisions.md "The equity curve of /api/stats").
//
// The rule, for a curve of n points and a cap C (C >= 5):
//  - n <= C: every point;
//  - else B = the smallest power of two >= 2 with 2 * ceil(n / B) + 3 <= C;
//    the curve is cut into consecutive buckets of B points (the last may be
//    shorter); of each bucket its minimum-value and its maximum-value point
//    (the earliest on ties) are kept, once if they are the same point; the
//    last point of the curve is kept; and so are the peak and the trough of
//    the curve's max drawdown (as StatsBook computes it), which the
//    per-bucket extremes miss when both lie in one bucket (e.g. 10, 0, 20).
//    The "+ 3" leaves room for those two and the last point.
// Kept points are returned in time (index) order, each once.
//
// Invariants: every kept point is a point of the curve, order is preserved,
// at most C points are kept, and the max drawdown (pnl, peak_time,
// trough_time) of the kept points equals that of the whole curve.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/stats_book.h"

namespace qc {

// What /api/stats puts in "equity" (query parameter `equity`).
enum class EquityMode {
  Reduced,  // absent: at most kEquityDefaultPoints points (the rule above)
  Full,     // equity=full: every point
  None,     // equity=none: []
};

inline constexpr std::size_t kEquityDefaultPoints = 10000;

// B for a curve of n points under `cap`; 0 when n <= cap (nothing reduced).
// Throws std::invalid_argument for a cap below 5.
std::size_t equity_bucket_size(std::size_t n, std::size_t cap);

// The max drawdown of SPEC §4.8 over `curve` (cumulative values, starting
// at 0 before the first point), with the indices of its peak (nullopt: the
// starting 0) and trough (nullopt: the curve never falls).
struct DrawdownPoints {
  Drawdown drawdown;
  std::optional<std::size_t> peak, trough;
};
DrawdownPoints max_drawdown_points(const std::vector<EquityPoint>& curve);

// The indices of the points kept by the rule, ascending.
std::vector<std::size_t> reduce_equity_indices(const std::vector<EquityPoint>& curve,
                                               std::size_t cap);
std::vector<EquityPoint> reduce_equity(const std::vector<EquityPoint>& curve,
                                       std::size_t cap = kEquityDefaultPoints);

// The same reduction kept up to date as a curve grows (the ledger's
// unfiltered /api/stats): the kept points of complete buckets are cached;
// update() scans only new points, and scans the whole curve again only when
// B changes (it only doubles as the curve grows) or the curve was rebuilt
// (another `generation`, as StatsBook::generation(), or a shorter curve).
class EquityReducer {
 public:
  explicit EquityReducer(std::size_t cap = kEquityDefaultPoints);

  // `curve` must be the one of the previous call with points appended, unless
  // `generation` differs.
  void update(const std::vector<EquityPoint>& curve, std::uint64_t generation);

  std::size_t bucket_size() const { return bucket_; }  // 0: nothing reduced
  // Kept indices of the complete buckets, ascending; only appended to until
  // epoch() changes.
  const std::vector<std::size_t>& complete_kept() const { return complete_kept_; }
  // Changes whenever complete_kept() is rebuilt rather than appended to.
  std::uint64_t epoch() const { return epoch_; }
  // The methods below take the curve of the last update().
  // Kept indices after complete_kept() (partial bucket, last point), ascending.
  std::vector<std::size_t> tail_kept(const std::vector<EquityPoint>& curve) const;
  // The drawdown's peak and trough when kept for the drawdown alone (not
  // among complete_kept() or tail_kept()), ascending.
  std::vector<std::size_t> drawdown_extra(const std::vector<EquityPoint>& curve) const;
  // Every kept index, ascending: reduce_equity_indices(curve, cap).
  std::vector<std::size_t> kept(const std::vector<EquityPoint>& curve) const;
  // Times the cached buckets were rebuilt from the whole curve (tests).
  std::uint64_t full_scans() const { return full_scans_; }

 private:
  void reset();

  std::size_t cap_;
  std::uint64_t generation_ = 0;
  std::uint64_t epoch_ = 0;
  std::size_t size_ = 0;  // points absorbed
  // Running drawdown over the points absorbed (as StatsBook's).
  double peak_ = 0;
  std::optional<std::size_t> peak_index_;
  DrawdownPoints drawdown_;
  std::size_t bucket_ = 0;
  std::size_t complete_buckets_ = 0;
  std::vector<std::size_t> complete_kept_;
  std::uint64_t full_scans_ = 0;
};

}  // namespace qc
