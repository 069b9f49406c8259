// The figures of SPEC §4.8 ("how good is the algorithm") over a set of closed
// positions, kept up to date one close at a time.
//
// Invariants:
//  - closes are absorbed in §4.3 order (closes_before), so every sum (total,
//    wins, losses, hold times, per symbol / exit / day / week / month) is the
//    left-to-right sum in that order: the book is bit-identical to one built
//    by a scan of the same set (compute_stats), whatever order closes came in;
//  - a close that sorts before the last one absorbed rebuilds the book from
//    the history (and bumps generation(), since equity points change);
//  - the equity curve starts at 0 before the first close absorbed (with a
//    from/to window: at the window's start); the running peak is dated by the
//    close that first reached it, the starting 0 by no date.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ny_time.h"
#include "core/position.h"
#include "core/trade_history.h"

namespace qc {

struct TradeMark {  // best / worst
  std::string symbol;
  std::int64_t open_timestamp = 0;
  double pnl = 0;
  bool operator==(const TradeMark&) const = default;
};

struct Drawdown {
  double pnl = 0;                     // percentage points, >= 0
  std::optional<double> peak_time;    // null: the peak is the starting 0
  std::optional<double> trough_time;  // null (with peak_time): the curve never falls
  bool operator==(const Drawdown&) const = default;
};

// The "closed" object of §4.8; a ratio without a denominator is nullopt.
struct ClosedSummary {
  std::size_t count = 0, wins = 0, losses = 0, breakeven = 0;
  std::optional<double> win_rate;
  double total_pnl = 0;
  std::optional<double> avg_pnl, median_pnl, avg_win, avg_loss, profit_factor;
  std::optional<TradeMark> best, worst;
  std::optional<double> avg_hold_seconds;
  Drawdown max_drawdown;
  bool operator==(const ClosedSummary&) const = default;
};

struct SymbolFigures {
  std::size_t count = 0, wins = 0;
  double total_pnl = 0;
  void add(double pnl) {
    ++count;
    if (pnl > 0) ++wins;
    total_pnl += pnl;
  }
  double win_rate() const { return static_cast<double>(wins) / static_cast<double>(count); }
  double avg_pnl() const { return total_pnl / static_cast<double>(count); }
  bool operator==(const SymbolFigures&) const = default;
};

struct ExitFigures {
  CloseReason notes = CloseReason::TargetPrice;
  std::size_t count = 0;
  double total_pnl = 0;
  bool operator==(const ExitFigures&) const = default;
};

// One day, ISO week or month. `key` is: for a day, its New York calendar
// date as days since 1970-01-01; for a week, the same for its Monday; for a
// month, the UNIX time of its first instant (UTC, as §4.3).
struct PeriodFigures {
  std::int64_t key = 0;
  std::size_t count = 0;
  double pnl = 0;
  bool operator==(const PeriodFigures&) const = default;
};

struct EquityPoint {
  double close_timestamp = 0;
  double cumulative_pnl = 0;
  bool operator==(const EquityPoint&) const = default;
};

// The "open" object of §4.8, computed by the caller from the open positions.
struct OpenSummary {
  std::size_t count = 0;
  double unrealized_pnl = 0;
};

class StatsBook {
 public:
  // Absorbs a close that does not sort before the last one absorbed; returns
  // false, changing nothing, for one that does.
  [[nodiscard]] bool add_in_order(const ClosedPosition& closed);
  // Absorbs a close in any order. `history` must already hold it (and every
  // close absorbed before): a close that sorts before the last one rebuilds
  // the book from the whole history.
  void add(const ClosedPosition& closed, const TradeHistory& history);

  ClosedSummary closed() const;
  const std::map<std::string, SymbolFigures, std::less<>>& by_symbol() const { return by_symbol_; }
  std::vector<ExitFigures> by_exit() const;  // keys with trades, by notes text
  const std::vector<PeriodFigures>& daily() const { return daily_; }
  const std::vector<PeriodFigures>& weekly() const { return weekly_; }
  const std::vector<PeriodFigures>& monthly() const { return monthly_; }
  const std::vector<EquityPoint>& equity() const { return equity_; }
  // Changes whenever points already in equity() change (a rebuild); equity
  // JSON rendered earlier stays valid while it does not.
  std::uint64_t generation() const { return generation_; }
  // About how much memory the book holds (its vectors' capacity, the map's
  // nodes), for a cache that keeps books.
  std::size_t bytes() const;

 private:
  friend StatsBook compute_stats(const TradeHistory& history, const TradeFilter& filter);
  // Every figure of a close but the symbol's, best / worst and the median.
  void absorb(double close_timestamp, std::int64_t open_timestamp, double pnl, CloseReason reason);

  std::size_t count_ = 0, wins_ = 0, losses_ = 0, breakeven_ = 0;
  double total_pnl_ = 0, win_sum_ = 0, loss_sum_ = 0, hold_sum_ = 0;
  std::optional<TradeMark> best_, worst_;
  // Running curve and its largest fall.
  double peak_ = 0;
  std::optional<double> peak_time_;
  Drawdown max_drawdown_;
  // Median: every pnl, split in two heaps of equal size (lower one larger by
  // one for an odd count).
  std::vector<double> lower_half_;  // max-heap
  std::vector<double> upper_half_;  // min-heap
  std::map<std::string, SymbolFigures, std::less<>> by_symbol_;
  std::array<ExitFigures, 2> by_exit_{};  // by CloseReason
  std::vector<PeriodFigures> daily_, weekly_, monthly_;
  std::int64_t month_end_ = 0;  // first instant after monthly_.back()
  NewYorkDays new_york_days_;
  std::vector<EquityPoint> equity_;
  std::optional<TradeCursor> last_;  // sort key of the last close absorbed
  std::uint64_t generation_ = 0;
};

// The figures over the trades of `history` matching `filter` (a scan, for
// filtered requests); the curve starts at 0 before the first of them.
StatsBook compute_stats(const TradeHistory& history, const TradeFilter& filter = {});

// "YYYY-MM-DD" of a day, "YYYY-Www" (ISO week-year and week) of a week's
// Monday, both as days since 1970-01-01 (PeriodFigures::key).
std::string format_calendar_date(std::int64_t days);
std::string format_iso_week(std::int64_t monday);

}  // namespace qc
