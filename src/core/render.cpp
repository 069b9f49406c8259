#include "core/render.h"

namespace qc {

void write_open_position_fields(JsonWriter& w, const OpenPosition& p) {
  w.key("symbol").value(p.symbol)
      .key("target_price").value(p.target_price)
      .key("entry_price").value(p.entry_price)
      .key("open_timestamp").value(p.open_timestamp)
      .key("stop_loss").value(p.stop_loss)
      .key("expected_profit").value(p.expected_profit);
}

void write_open_position(JsonWriter& w, const OpenPosition& p) {
  w.begin_object();
  write_open_position_fields(w, p);
  w.end_object();
}

std::string render_open_position(const OpenPosition& p) {
  std::string out;
  JsonWriter w(out);
  write_open_position(w, p);
  return out;
}

void write_closed_position(JsonWriter& w, const ClosedPosition& c) {
  const auto& p = c.position;
  w.begin_object()
      .key("symbol").value(p.symbol)
      .key("target_price").value(p.target_price)
      .key("entry_price").value(p.entry_price)
      .key("open_timestamp").value(p.open_timestamp)
      .key("stop_loss").value(p.stop_loss)
      .key("pnl").value(c.pnl)
      .key("notes").value(close_notes(c.reason))
      .key("close_timestamp").value(c.close_timestamp)
      .key("exit_price").value(c.exit_price)
      .end_object();
}

std::string render_closed_position(const ClosedPosition& c) {
  std::string out;
  JsonWriter w(out);
  write_closed_position(w, c);
  return out;
}

double unrealized_pnl(const OpenPosition& p, const PriceMark& mark) {
  return (mark.price - p.entry_price) / p.entry_price * 100.0;
}

void write_marked_position(JsonWriter& w, const OpenPosition& p, const std::optional<PriceMark>& mark) {
  w.begin_object();
  write_open_position_fields(w, p);
  if (mark) {
    w.key("last_price").value(mark->price).key("last_time").value(mark->time)
        .key("unrealized_pnl").value(unrealized_pnl(p, *mark));
  } else {
    w.key("last_price").null().key("last_time").null().key("unrealized_pnl").null();
  }
  w.end_object();
}

std::string render_marked_position(const OpenPosition& p, const std::optional<PriceMark>& mark) {
  std::string out;
  JsonWriter w(out);
  write_marked_position(w, p, mark);
  return out;
}

std::string render_trades_page(const TradePage& page) {
  std::string out;
  out.reserve(64 + page.trades.size() * 220);
  JsonWriter w(out);
  w.begin_object().key("trades").begin_array();
  for (const auto& c : page.trades) write_closed_position(w, c);
  w.end_array().key("next_cursor");
  if (page.next_cursor) w.value(encode_cursor(*page.next_cursor));
  else w.null();
  w.end_object();
  return out;
}

std::string render_performance(const PerformanceBook& book) {
  std::string out;
  out.reserve(64 + book.position_count() * 220);
  JsonWriter w(out);
  w.begin_object().key("performance").begin_array();
  for (const auto& [month, m] : book.months()) {
    w.begin_object().key("month").value(month).key("realized_pnl").value(m.realized_pnl());
    w.key("positions").begin_array();
    for (const auto& c : m.positions) write_closed_position(w, c);
    w.end_array().end_object();
  }
  w.end_array().end_object();
  return out;
}

std::string render_performance_month(std::int64_t month, const TradeHistory& history, std::size_t begin,
                                     std::size_t end) {
  // Summed in §4.3 order, like PerformanceMonth::realized_pnl: bit-identical.
  double realized = 0;
  for (std::size_t i = begin; i < end; ++i) realized += history.pnl_at(i);
  std::string out;
  out.reserve(64 + (end - begin) * 220);
  JsonWriter w(out);
  w.begin_object().key("month").value(month).key("realized_pnl").value(realized);
  w.key("positions").begin_array();
  for (std::size_t i = begin; i < end; ++i) write_closed_position(w, history.at(i));
  w.end_array().end_object();
  return out;
}

std::string render_tickerlist(const std::vector<Ticker>& tickers, const QuoteBoard& quotes,
                              bool market_open) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("tickerlist").begin_array();
  for (const auto& t : tickers) {
    DailyChange c = market_open ? quotes.change(t.symbol) : DailyChange{};
    w.begin_object()
        .key("name").value(t.name)
        .key("exchange").value(t.exchange)
        .key("symbol").value(t.symbol)
        .key("change").value(c.change)
        .key("change_perc").value(c.change_perc)
        .end_object();
  }
  w.end_array().end_object();
  return out;
}

}  // namespace qc
