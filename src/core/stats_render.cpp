#include "core/stats_render.h"

#include <optional>

#include "core/json_writer.h"

namespace qc {
namespace {

void value_or_null(JsonWriter& w, const std::optional<double>& v) {
  if (v) w.value(*v);
  else w.null();
}

void write_mark(JsonWriter& w, const std::optional<TradeMark>& mark) {
  if (!mark) {
    w.null();
    return;
  }
  w.begin_object()
      .key("symbol").value(mark->symbol)
      .key("open_timestamp").value(mark->open_timestamp)
      .key("pnl").value(mark->pnl)
      .end_object();
}

void write_closed(JsonWriter& w, const ClosedSummary& s) {
  w.begin_object()
      .key("count").value(s.count)
      .key("wins").value(s.wins)
      .key("losses").value(s.losses)
      .key("breakeven").value(s.breakeven);
  w.key("win_rate");
  value_or_null(w, s.win_rate);
  w.key("total_pnl").value(s.total_pnl);
  w.key("avg_pnl");
  value_or_null(w, s.avg_pnl);
  w.key("median_pnl");
  value_or_null(w, s.median_pnl);
  w.key("avg_win");
  value_or_null(w, s.avg_win);
  w.key("avg_loss");
  value_or_null(w, s.avg_loss);
  w.key("profit_factor");
  value_or_null(w, s.profit_factor);
  w.key("best");
  write_mark(w, s.best);
  w.key("worst");
  write_mark(w, s.worst);
  w.key("avg_hold_seconds");
  value_or_null(w, s.avg_hold_seconds);
  w.key("max_drawdown").begin_object().key("pnl").value(s.max_drawdown.pnl);
  w.key("peak_time");
  value_or_null(w, s.max_drawdown.peak_time);
  w.key("trough_time");
  value_or_null(w, s.max_drawdown.trough_time);
  w.end_object().end_object();
}

template <class Label>
void write_periods(JsonWriter& w, const char* name, const char* key,
                   const std::vector<PeriodFigures>& periods, Label label) {
  w.key(name).begin_array();
  for (const auto& p : periods) {
    w.begin_object().key(key);
    label(p.key);
    w.key("count").value(p.count).key("pnl").value(p.pnl).end_object();
  }
  w.end_array();
}

}  // namespace

std::string render_stats_head(const StatsBook& stats) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("closed");
  write_closed(w, stats.closed());

  w.key("by_symbol").begin_array();
  for (const auto& [symbol, f] : stats.by_symbol()) {
    w.begin_object()
        .key("symbol").value(symbol)
        .key("count").value(f.count)
        .key("wins").value(f.wins)
        .key("win_rate").value(f.win_rate())
        .key("total_pnl").value(f.total_pnl)
        .key("avg_pnl").value(f.avg_pnl())
        .end_object();
  }
  w.end_array();

  w.key("by_exit").begin_array();
  for (const auto& e : stats.by_exit()) {
    w.begin_object()
        .key("notes").value(close_notes(e.notes))
        .key("count").value(e.count)
        .key("total_pnl").value(e.total_pnl)
        .end_object();
  }
  w.end_array();

  write_periods(w, "daily", "date", stats.daily(),
                [&](std::int64_t day) { w.value(format_calendar_date(day)); });
  write_periods(w, "weekly", "week", stats.weekly(),
                [&](std::int64_t monday) { w.value(format_iso_week(monday)); });
  write_periods(w, "monthly", "month", stats.monthly(),
                [&](std::int64_t month) { w.value(month); });
  w.key("equity").begin_array();
  return out;
}

void append_equity_point(std::string& out, const EquityPoint& point, bool first) {
  if (!first) out += ',';
  out += '[';
  append_json_number(out, point.close_timestamp);
  out += ',';
  append_json_number(out, point.cumulative_pnl);
  out += ']';
}

void append_equity_points(std::string& out, const std::vector<EquityPoint>& equity,
                          std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) append_equity_point(out, equity[i], i == 0);
}

std::string render_stats_tail(const OpenSummary& open) {
  std::string out = "],";
  JsonWriter w(out);
  w.key("open").begin_object()
      .key("count").value(open.count)
      .key("unrealized_pnl").value(open.unrealized_pnl)
      .end_object();
  out += '}';
  return out;
}

std::string render_stats(const StatsBook& stats, const OpenSummary& open) {
  return render_stats(stats, open, EquityMode::Full);
}

std::string render_stats_without_tail(const StatsBook& stats, EquityMode mode) {
  std::string out = render_stats_head(stats);
  const auto& equity = stats.equity();
  switch (mode) {
    case EquityMode::Full:
      out.reserve(out.size() + equity.size() * 32 + 64);
      append_equity_points(out, equity, 0, equity.size());
      return out;
    case EquityMode::None: return out;
    case EquityMode::Reduced: break;
  }
  auto kept = reduce_equity_indices(equity, kEquityDefaultPoints);
  out.reserve(out.size() + kept.size() * 32 + 64);
  for (std::size_t k = 0; k < kept.size(); ++k) append_equity_point(out, equity[kept[k]], k == 0);
  return out;
}

std::string render_stats(const StatsBook& stats, const OpenSummary& open, EquityMode mode) {
  return render_stats_without_tail(stats, mode) + render_stats_tail(open);
}

}  // namespace qc
