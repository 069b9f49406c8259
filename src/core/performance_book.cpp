#include "core/performance_book.h"

#include <algorithm>
#include <cmath>

#include <date/date.h>

namespace qc {

std::int64_t month_start_utc(double unix_seconds) {
  using namespace std::chrono;
  auto secs = static_cast<std::int64_t>(std::floor(unix_seconds));
  auto days = floor<date::days>(sys_seconds{seconds{secs}});
  date::year_month_day ymd{days};
  date::sys_days first{ymd.year() / ymd.month() / date::day{1}};
  return duration_cast<seconds>(first.time_since_epoch()).count();
}

bool closes_before(const ClosedPosition& a, const ClosedPosition& b) {
  if (a.close_timestamp != b.close_timestamp) return a.close_timestamp < b.close_timestamp;
  if (a.position.open_timestamp != b.position.open_timestamp)
    return a.position.open_timestamp < b.position.open_timestamp;
  return a.position.symbol < b.position.symbol;
}

double PerformanceMonth::realized_pnl() const {
  double sum = 0;
  for (const auto& p : positions) sum += p.pnl;
  return sum;
}

void PerformanceBook::add(const ClosedPosition& closed) {
  auto month = month_start_utc(closed.close_timestamp);
  auto& m = months_[month];
  m.month = month;
  auto& v = m.positions;
  if (v.empty() || !closes_before(closed, v.back()))
    v.push_back(closed);  // the common case: closes arrive in time order
  else
    v.insert(std::upper_bound(v.begin(), v.end(), closed, closes_before), closed);
  ++count_;
}

}  // namespace qc
