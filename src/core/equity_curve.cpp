#include "core/equity_curve.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace qc {
namespace {

// Appends the kept points of bucket [begin, end): its minimum and its
// maximum (earliest on ties), in index order, once if they are one point.
void keep_bucket(const std::vector<EquityPoint>& curve, std::size_t begin, std::size_t end,
                 std::vector<std::size_t>& out) {
  std::size_t lo = begin, hi = begin;
  for (std::size_t i = begin + 1; i < end; ++i) {
    if (curve[i].cumulative_pnl < curve[lo].cumulative_pnl) lo = i;
    if (curve[i].cumulative_pnl > curve[hi].cumulative_pnl) hi = i;
  }
  out.push_back(std::min(lo, hi));
  if (lo != hi) out.push_back(std::max(lo, hi));
}

// One step of the running drawdown, exactly as StatsBook::add_in_order.
void absorb(const std::vector<EquityPoint>& curve, std::size_t i, double& peak,
            std::optional<std::size_t>& peak_index, DrawdownPoints& dd) {
  const double v = curve[i].cumulative_pnl;
  if (v > peak) {
    peak = v;
    peak_index = i;
  } else if (peak - v > dd.drawdown.pnl) {
    dd.peak = peak_index;
    dd.trough = i;
    dd.drawdown = {
        peak - v,
        peak_index ? std::optional<double>(curve[*peak_index].close_timestamp) : std::nullopt,
        curve[i].close_timestamp};
  }
}

void add_drawdown_points(const DrawdownPoints& dd, std::vector<std::size_t>& kept) {
  for (auto i : {dd.peak, dd.trough})
    if (i && !std::binary_search(kept.begin(), kept.end(), *i))
      kept.insert(std::lower_bound(kept.begin(), kept.end(), *i), *i);
}

}  // namespace

std::size_t equity_bucket_size(std::size_t n, std::size_t cap) {
  if (cap < 5) throw std::invalid_argument("an equity curve cap must be at least 5 points");
  if (n <= cap) return 0;
  std::size_t b = 2;
  while (2 * ((n + b - 1) / b) + 3 > cap) b *= 2;
  return b;
}

DrawdownPoints max_drawdown_points(const std::vector<EquityPoint>& curve) {
  DrawdownPoints dd;
  double peak = 0;
  std::optional<std::size_t> peak_index;
  for (std::size_t i = 0; i < curve.size(); ++i) absorb(curve, i, peak, peak_index, dd);
  return dd;
}

std::vector<std::size_t> reduce_equity_indices(const std::vector<EquityPoint>& curve,
                                               std::size_t cap) {
  const std::size_t n = curve.size();
  const std::size_t b = equity_bucket_size(n, cap);
  std::vector<std::size_t> kept;
  if (b == 0) {
    kept.resize(n);
    std::iota(kept.begin(), kept.end(), std::size_t{0});
    return kept;
  }
  for (std::size_t begin = 0; begin < n; begin += b)
    keep_bucket(curve, begin, std::min(begin + b, n), kept);
  if (kept.back() != n - 1) kept.push_back(n - 1);
  add_drawdown_points(max_drawdown_points(curve), kept);
  return kept;
}

std::vector<EquityPoint> reduce_equity(const std::vector<EquityPoint>& curve, std::size_t cap) {
  std::vector<EquityPoint> out;
  for (auto i : reduce_equity_indices(curve, cap)) out.push_back(curve[i]);
  return out;
}

EquityReducer::EquityReducer(std::size_t cap) : cap_(cap) {
  (void)equity_bucket_size(0, cap);
}

void EquityReducer::reset() {
  size_ = 0;
  peak_ = 0;
  peak_index_.reset();
  drawdown_ = {};
  bucket_ = 0;
  complete_buckets_ = 0;
  complete_kept_.clear();
  ++epoch_;
}

void EquityReducer::update(const std::vector<EquityPoint>& curve, std::uint64_t generation) {
  if (generation != generation_ || curve.size() < size_) {
    generation_ = generation;
    reset();
  }
  for (; size_ < curve.size(); ++size_) absorb(curve, size_, peak_, peak_index_, drawdown_);
  const std::size_t b = equity_bucket_size(size_, cap_);
  if (b != bucket_) {
    bucket_ = b;
    complete_buckets_ = 0;
    complete_kept_.clear();
    ++epoch_;
    if (b != 0) ++full_scans_;
  }
  if (bucket_ == 0) return;
  for (; (complete_buckets_ + 1) * bucket_ <= size_; ++complete_buckets_)
    keep_bucket(curve, complete_buckets_ * bucket_, (complete_buckets_ + 1) * bucket_,
                complete_kept_);
}

std::vector<std::size_t> EquityReducer::tail_kept(const std::vector<EquityPoint>& curve) const {
  std::vector<std::size_t> out;
  if (bucket_ == 0) {
    for (std::size_t i = 0; i < size_; ++i) out.push_back(i);
    return out;
  }
  const std::size_t begin = complete_buckets_ * bucket_;
  if (begin < size_) keep_bucket(curve, begin, size_, out);
  const std::size_t last = size_ - 1;  // size_ > cap_ >= 5
  if ((out.empty() ? complete_kept_.back() : out.back()) != last) out.push_back(last);
  return out;
}

std::vector<std::size_t> EquityReducer::drawdown_extra(
    const std::vector<EquityPoint>& curve) const {
  std::vector<std::size_t> out;
  if (bucket_ == 0) return out;
  auto tail = tail_kept(curve);
  for (auto i : {drawdown_.peak, drawdown_.trough}) {
    if (!i || std::binary_search(complete_kept_.begin(), complete_kept_.end(), *i) ||
        std::binary_search(tail.begin(), tail.end(), *i))
      continue;
    out.push_back(*i);  // the peak comes before the trough
  }
  return out;
}

std::vector<std::size_t> EquityReducer::kept(const std::vector<EquityPoint>& curve) const {
  std::vector<std::size_t> out = complete_kept_;
  auto tail = tail_kept(curve);
  out.insert(out.end(), tail.begin(), tail.end());
  if (bucket_ != 0) add_drawdown_points(drawdown_, out);
  return out;
}

}  // namespace qc
