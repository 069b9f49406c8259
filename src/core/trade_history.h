// Every closed position, in SPEC §4.3 order (close_timestamp, open_timestamp,
// symbol), and the pages of SPEC §4.7 over it.
//
// Invariants:
//  - rows_ is sorted by closes_before; a close that sorts after the last one
//    is appended (O(1) amortized), an earlier one is inserted (O(n));
//  - each position is held once, as a compact row (symbol interned); the
//    per-symbol and per-notes indexes hold row numbers (4 bytes), ascending,
//    and are renumbered when a row is inserted before the end;
//  - a cursor is the sort key of the last trade of a page, never a row
//    number, so a page continues exactly after it while trades arrive.
#pragma once
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/position.h"

namespace qc {

// The sort key of a closed position; also what a cursor holds. Compared
// member by member, keys are in §4.3 order (closes_before).
struct TradeCursor {
  double close_timestamp = 0;
  std::int64_t open_timestamp = 0;
  std::string symbol;
  bool operator==(const TradeCursor&) const = default;
  auto operator<=>(const TradeCursor&) const = default;
};
TradeCursor cursor_of(const ClosedPosition& closed);

// An opaque URL-safe text (base64url, no padding) for a cursor.
std::string encode_cursor(const TradeCursor& cursor);
struct ParsedCursor {
  std::optional<TradeCursor> cursor;
  std::string error;  // why the text is refused, when cursor is empty
};
ParsedCursor parse_cursor(std::string_view text);

// The filters of §4.7 and §4.8. from/to are inclusive bounds on
// close_timestamp; an unset field does not filter.
struct TradeFilter {
  std::optional<std::string> symbol;
  std::optional<double> from;
  std::optional<double> to;
  std::optional<CloseReason> notes;
};

// Whether `filter` selects `trade` (as TradeHistory::page and for_each do).
bool matches(const TradeFilter& filter, const ClosedPosition& trade);

inline constexpr std::size_t kMaxTradePageLimit = 1000;

struct TradeQuery {
  TradeFilter filter;
  std::size_t limit = 100;  // clamped to 1..kMaxTradePageLimit
  std::optional<TradeCursor> cursor;  // the page starts just before this key
};

struct TradePage {
  std::vector<ClosedPosition> trades;  // newest first (reverse §4.3 order)
  std::optional<TradeCursor> next_cursor;  // unset when no further trade matches
};

class TradeHistory {
 public:
  // Returns true when the close went at the end (it does not sort before the
  // last one), false when it was inserted earlier in the order.
  bool add(const ClosedPosition& closed);
  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // The i-th trade in §4.3 order.
  ClosedPosition at(std::size_t i) const;
  // Its pnl and close time alone (no symbol or notes strings made).
  double pnl_at(std::size_t i) const { return rows_.at(i).pnl; }
  double close_timestamp_at(std::size_t i) const { return rows_.at(i).close_timestamp; }
  // The first trade (in §4.3 order) closing at or after `close_timestamp`;
  // size() when none does.
  std::size_t first_closing_from(double close_timestamp) const;
  // The trade of an identity (a scan of the symbol's trades, newest first).
  std::optional<ClosedPosition> find(std::string_view symbol, std::int64_t open_timestamp) const;
  // Room for `n` trades, so a bulk load does not reallocate.
  void reserve(std::size_t n) { rows_.reserve(n); }

  TradePage page(const TradeQuery& query) const;
  // Calls `visit` for every trade matching `filter`, in §4.3 order.
  void for_each(const TradeFilter& filter,
                const std::function<void(const ClosedPosition&)>& visit) const;

  // A trade as held: compact, its symbol interned (symbol_name gives it).
  using SymbolId = std::uint32_t;
  struct Row {
    double close_timestamp;
    std::int64_t open_timestamp;
    double pnl;
    double entry_price;
    double target_price;
    double stop_loss;
    double expected_profit;
    double exit_price;
    SymbolId symbol;
    CloseReason reason;
  };
  const std::string& symbol_name(SymbolId id) const { return symbols_[id]; }
  std::size_t symbol_count() const { return symbols_.size(); }
  // At least as many as the trades matching `filter` (the rows a scan walks).
  std::size_t scan_size(const TradeFilter& filter) const;
  // Calls `visit(const Row&)` for every trade matching `filter`, in §4.3
  // order: for_each without making a ClosedPosition (strings) per trade.
  // The rows stay valid until the history changes.
  template <class Visit>
  void for_each_row(const TradeFilter& filter, Visit&& visit) const;

 private:
  using RowNumber = std::uint32_t;
  // The rows a query walks: every row, or one index, minus what the other
  // filters reject.
  struct Candidates {
    const std::vector<RowNumber>* index = nullptr;  // nullptr: every row
    std::optional<SymbolId> symbol;  // still to check, when not the index's key
    std::optional<CloseReason> reason;  // likewise
    std::size_t begin = 0, end = 0;  // positions in the index (or rows) in range
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  SymbolId intern(const std::string& symbol);
  Row row_of(const ClosedPosition& closed, SymbolId symbol) const;
  ClosedPosition materialize(const Row& row) const;
  bool row_before(const Row& a, const Row& b) const;
  bool row_before_key(const Row& row, const TradeCursor& key) const;
  static std::size_t reason_slot(CloseReason reason) { return static_cast<std::size_t>(reason); }
  // nullopt when the filter names a symbol never seen (nothing matches).
  std::optional<Candidates> candidates(const TradeFilter& filter) const;
  RowNumber row_number(const Candidates& c, std::size_t i) const {
    return c.index ? (*c.index)[i] : static_cast<RowNumber>(i);
  }
  bool accepts(const Candidates& c, const Row& row) const {
    return (!c.symbol || row.symbol == *c.symbol) && (!c.reason || row.reason == *c.reason);
  }

  std::vector<Row> rows_;
  std::vector<std::string> symbols_;  // by SymbolId
  std::unordered_map<std::string, SymbolId, StringHash, std::equal_to<>> symbol_ids_;
  std::vector<std::vector<RowNumber>> by_symbol_;  // by SymbolId
  std::array<std::vector<RowNumber>, 2> by_reason_;  // by reason_slot
};

template <class Visit>
void TradeHistory::for_each_row(const TradeFilter& filter, Visit&& visit) const {
  auto c = candidates(filter);
  if (!c) return;
  if (!c->index) {
    for (std::size_t i = c->begin; i < c->end; ++i) visit(rows_[i]);
    return;
  }
  // Rows of an index are scattered: fetch a few ahead of the one visited.
  constexpr std::size_t kAhead = 32;
  const auto& index = *c->index;
  for (std::size_t i = c->begin; i < c->end; ++i) {
    if (i + kAhead < c->end) {
      const Row* ahead = &rows_[index[i + kAhead]];
      __builtin_prefetch(ahead);
      __builtin_prefetch(reinterpret_cast<const char*>(ahead) + sizeof(Row) - 1);
    }
    const Row& row = rows_[index[i]];
    if (accepts(*c, row)) visit(row);
  }
}

}  // namespace qc
