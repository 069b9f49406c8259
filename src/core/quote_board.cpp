#include "core/quote_board.h"


#include "core/ny_time.h"

namespace qc {

void QuoteBoard::on_bar(const MinuteBar& bar) {
  auto& q = quotes_[bar.symbol];
  auto day = new_york_clock(bar.start_ms / 1000).days_since_epoch;
  if (q.has_day && day != q.day) {
    if (day < q.day) return;  // older than what we show
    q.prev_day_close = q.last_close;
    q.has_prev = true;
  }
  if (q.has_day && day == q.day && bar.start_ms < q.last_start_ms) return;  // a late bar
  q.day = day;
  q.last_start_ms = bar.start_ms;
  q.has_day = true;
  q.last_close = bar.close;
}

void QuoteBoard::set_snapshot(std::string_view symbol, DailyChange change) {
  auto& q = quotes_[std::string(symbol)];
  q.has_snapshot = true;
  q.snapshot = change;
}

DailyChange QuoteBoard::change(std::string_view symbol) const {
  auto it = quotes_.find(std::string(symbol));
  if (it == quotes_.end()) return {};
  const auto& q = it->second;
  if (q.has_snapshot) return q.snapshot;
  if (!q.has_prev || q.prev_day_close == 0) return {};
  DailyChange c;
  c.change = q.last_close - q.prev_day_close;
  c.change_perc = c.change / q.prev_day_close * 100;
  return c;
}

std::optional<double> QuoteBoard::last_price(std::string_view symbol) const {
  auto it = quotes_.find(std::string(symbol));
  if (it == quotes_.end() || !it->second.has_day) return std::nullopt;
  return it->second.last_close;
}

}  // namespace qc
