#include "core/stats_book.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <utility>

#include <date/date.h>

namespace qc {
namespace {

// Days since 1970-01-01 (a Thursday) of the Monday starting the ISO week.
std::int64_t monday_of(std::int64_t days) {
  std::int64_t since_monday = ((days + 3) % 7 + 7) % 7;
  return days - since_monday;
}

// Adds `pnl` to the last period when `key` is its key, else opens a period.
// Keys arrive in ascending order (closes are absorbed in time order).
void book_period(std::vector<PeriodFigures>& periods, std::int64_t key, double pnl) {
  if (periods.empty() || periods.back().key != key) periods.push_back({key, 0, 0});
  ++periods.back().count;
  periods.back().pnl += pnl;
}

}  // namespace

void StatsBook::absorb(double close_timestamp, std::int64_t open_timestamp, double p,
                       CloseReason reason) {
  ++count_;
  if (p > 0) {
    ++wins_;
    win_sum_ += p;
  } else if (p < 0) {
    ++losses_;
    loss_sum_ += p;
  } else {
    ++breakeven_;
  }
  total_pnl_ += p;
  hold_sum_ += close_timestamp - static_cast<double>(open_timestamp);

  // The curve after this close is total_pnl_ (the same left-to-right sum).
  const double cumulative = total_pnl_;
  if (cumulative > peak_) {
    peak_ = cumulative;
    peak_time_ = close_timestamp;
  } else if (peak_ - cumulative > max_drawdown_.pnl) {
    max_drawdown_ = {peak_ - cumulative, peak_time_, close_timestamp};
  }
  equity_.push_back({close_timestamp, cumulative});

  auto& exit = by_exit_[static_cast<std::size_t>(reason)];
  exit.notes = reason;
  ++exit.count;
  exit.total_pnl += p;

  auto day = new_york_days_.day_of(static_cast<std::int64_t>(std::floor(close_timestamp)));
  book_period(daily_, day, p);
  book_period(weekly_, monday_of(day), p);
  if (monthly_.empty() || close_timestamp >= static_cast<double>(month_end_)) {
    std::int64_t month = month_start_utc(close_timestamp);
    month_end_ = month_start_utc(static_cast<double>(month + 32 * 86400));
    monthly_.push_back({month, 0, 0});
  }
  ++monthly_.back().count;
  monthly_.back().pnl += p;
}

bool StatsBook::add_in_order(const ClosedPosition& closed) {
  auto key = cursor_of(closed);
  if (last_ && key < *last_) return false;
  const double p = closed.pnl;
  const auto& position = closed.position;
  absorb(closed.close_timestamp, position.open_timestamp, p, closed.reason);
  // Strict comparisons: on ties the earlier trade in §4.3 order stays.
  if (!best_ || p > best_->pnl) best_ = TradeMark{position.symbol, position.open_timestamp, p};
  if (!worst_ || p < worst_->pnl) worst_ = TradeMark{position.symbol, position.open_timestamp, p};

  if (lower_half_.empty() || p <= lower_half_.front()) {
    lower_half_.push_back(p);
    std::push_heap(lower_half_.begin(), lower_half_.end());
  } else {
    upper_half_.push_back(p);
    std::push_heap(upper_half_.begin(), upper_half_.end(), std::greater<>{});
  }
  if (lower_half_.size() > upper_half_.size() + 1) {
    std::pop_heap(lower_half_.begin(), lower_half_.end());
    upper_half_.push_back(lower_half_.back());
    lower_half_.pop_back();
    std::push_heap(upper_half_.begin(), upper_half_.end(), std::greater<>{});
  } else if (upper_half_.size() > lower_half_.size()) {
    std::pop_heap(upper_half_.begin(), upper_half_.end(), std::greater<>{});
    lower_half_.push_back(upper_half_.back());
    upper_half_.pop_back();
    std::push_heap(lower_half_.begin(), lower_half_.end());
  }

  auto symbol = by_symbol_.find(position.symbol);
  if (symbol == by_symbol_.end()) symbol = by_symbol_.emplace(position.symbol, SymbolFigures{}).first;
  symbol->second.add(p);

  last_ = std::move(key);
  return true;
}

void StatsBook::add(const ClosedPosition& closed, const TradeHistory& history) {
  if (add_in_order(closed)) return;
  auto generation = generation_;
  *this = compute_stats(history);
  generation_ = generation + 1;
}

ClosedSummary StatsBook::closed() const {
  ClosedSummary s;
  s.count = count_;
  s.wins = wins_;
  s.losses = losses_;
  s.breakeven = breakeven_;
  s.total_pnl = total_pnl_;
  s.best = best_;
  s.worst = worst_;
  s.max_drawdown = max_drawdown_;
  const auto n = static_cast<double>(count_);
  if (count_ > 0) {
    s.win_rate = static_cast<double>(wins_) / n;
    s.avg_pnl = total_pnl_ / n;
    s.median_pnl = count_ % 2 == 1 ? lower_half_.front()
                                    : (lower_half_.front() + upper_half_.front()) / 2;
    s.avg_hold_seconds = hold_sum_ / n;
  }
  if (wins_ > 0) s.avg_win = win_sum_ / static_cast<double>(wins_);
  if (losses_ > 0) {
    s.avg_loss = loss_sum_ / static_cast<double>(losses_);
    s.profit_factor = win_sum_ / std::fabs(loss_sum_);  // 0 without wins
  }
  return s;
}

std::size_t StatsBook::bytes() const {
  constexpr std::size_t kMapNode = 96;  // a std::map node with a short key, on 64-bit
  return sizeof(StatsBook) + equity_.capacity() * sizeof(EquityPoint) +
         (lower_half_.capacity() + upper_half_.capacity()) * sizeof(double) +
         (daily_.capacity() + weekly_.capacity() + monthly_.capacity()) * sizeof(PeriodFigures) +
         by_symbol_.size() * kMapNode;
}

std::vector<ExitFigures> StatsBook::by_exit() const {
  std::vector<ExitFigures> out;
  for (const auto& e : by_exit_)
    if (e.count > 0) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const ExitFigures& a, const ExitFigures& b) {
    return close_notes(a.notes) < close_notes(b.notes);
  });
  return out;
}

StatsBook compute_stats(const TradeHistory& history, const TradeFilter& filter) {
  // What add_in_order does for each trade, on the history's rows (no strings
  // made per trade): every sum is the same left-to-right sum, so the book is
  // the one add_in_order would build. The marks and the last key are made
  // once at the end, the median's halves from all the pnl at once.
  StatsBook book;
  using Row = TradeHistory::Row;
  const std::size_t bound = history.scan_size(filter);
  book.equity_.reserve(bound);
  std::vector<double> pnl;
  pnl.reserve(bound);
  std::vector<SymbolFigures> symbols(history.symbol_count());
  const Row* best = nullptr;
  const Row* worst = nullptr;
  const Row* last = nullptr;
  history.for_each_row(filter, [&](const Row& row) {
    const double p = row.pnl;
    book.absorb(row.close_timestamp, row.open_timestamp, p, row.reason);
    // Strict comparisons: on ties the earlier trade in §4.3 order stays.
    if (!best || p > best->pnl) best = &row;
    if (!worst || p < worst->pnl) worst = &row;
    pnl.push_back(p);
    symbols[row.symbol].add(p);
    last = &row;
  });
  if (!last) return book;
  auto mark = [&](const Row& row) {
    return TradeMark{history.symbol_name(row.symbol), row.open_timestamp, row.pnl};
  };
  book.best_ = mark(*best);
  book.worst_ = mark(*worst);
  book.last_ = TradeCursor{last->close_timestamp, last->open_timestamp, history.symbol_name(last->symbol)};
  for (std::size_t id = 0; id < symbols.size(); ++id)
    if (symbols[id].count > 0)
      book.by_symbol_.emplace(history.symbol_name(static_cast<TradeHistory::SymbolId>(id)), symbols[id]);
  // The lower half holds the ceil(n / 2) smallest (add_in_order's balance).
  const auto lower = static_cast<std::ptrdiff_t>((pnl.size() + 1) / 2);
  std::nth_element(pnl.begin(), pnl.begin() + (lower - 1), pnl.end());
  book.upper_half_.assign(pnl.begin() + lower, pnl.end());
  pnl.resize(static_cast<std::size_t>(lower));
  book.lower_half_ = std::move(pnl);
  std::make_heap(book.lower_half_.begin(), book.lower_half_.end());
  std::make_heap(book.upper_half_.begin(), book.upper_half_.end(), std::greater<>{});
  return book;
}

std::string format_calendar_date(std::int64_t days) {
  date::year_month_day ymd{date::sys_days{date::days{days}}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string format_iso_week(std::int64_t monday) {
  // The ISO week-year is the year of the week's Thursday.
  date::sys_days thursday{date::days{monday + 3}};
  auto year = date::year_month_day{thursday}.year();
  auto week = (thursday - date::sys_days{year / 1 / 1}).count() / 7 + 1;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-W%02d", static_cast<int>(year), static_cast<int>(week));
  return buf;
}

}  // namespace qc
