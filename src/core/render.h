// JSON renderings shared by the HTTP API and the backtest (SPEC §4).
#pragma once
#include <string>
#include <vector>

#include <optional>

#include "core/json_writer.h"
#include "core/performance_book.h"
#include "core/position.h"
#include "core/quote_board.h"
#include "core/ticker.h"
#include "core/trade_history.h"

namespace qc {

// {"symbol","target_price","entry_price","open_timestamp","stop_loss","expected_profit"}
void write_open_position(JsonWriter& w, const OpenPosition& p);
// The same keys without the braces, for objects that add their own.
void write_open_position_fields(JsonWriter& w, const OpenPosition& p);
std::string render_open_position(const OpenPosition& p);
// A closed position in the shape of SPEC §4.3.
void write_closed_position(JsonWriter& w, const ClosedPosition& c);
std::string render_closed_position(const ClosedPosition& c);
// An open position marked to market (SPEC §4.6): the §4.2 keys plus
// last_price, last_time and unrealized_pnl (all null without a mark).
void write_marked_position(JsonWriter& w, const OpenPosition& p, const std::optional<PriceMark>& mark);
std::string render_marked_position(const OpenPosition& p, const std::optional<PriceMark>& mark);
// (last_price − entry) / entry × 100
double unrealized_pnl(const OpenPosition& p, const PriceMark& mark);
// The whole `/api/positions` document (SPEC §4.6): `positions` in the order
// given, each marked by `mark`.
template <class MarkOf>
std::string render_positions(const std::vector<OpenPosition>& positions, MarkOf&& mark) {
  std::string out;
  out.reserve(32 + positions.size() * 260);
  JsonWriter w(out);
  w.begin_object().key("positions").begin_array();
  for (const auto& p : positions) write_marked_position(w, p, mark(p));
  w.end_array().end_object();
  return out;
}
// {"trades":[closed position, ...],"next_cursor":"..." | null} (SPEC §4.7).
std::string render_trades_page(const TradePage& page);
// The whole `/api/performance` document.
std::string render_performance(const PerformanceBook& book);
// The same document in pieces, from a TradeHistory (§4.3 order is the
// history's order): it is kPerformanceOpen, then each month separated by
// ",", then kPerformanceClose.
inline constexpr const char* kPerformanceOpen = R"({"performance":[)";
inline constexpr const char* kPerformanceClose = "]}";
// One month object: the trades [begin, end) of `history`, all closing in
// the UTC month starting at `month`.
std::string render_performance_month(std::int64_t month, const TradeHistory& history, std::size_t begin,
                                     std::size_t end);
// The whole `/api/tickerlist` document.
std::string render_tickerlist(const std::vector<Ticker>& tickers, const QuoteBoard& quotes,
                              bool market_open);

}  // namespace qc
