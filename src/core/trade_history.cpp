#include "core/trade_history.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace qc {
namespace {

// --- cursor text: base64url of [version][close bits][open][symbol][FNV-1a 32] ---

constexpr unsigned char kCursorVersion = 1;
constexpr std::size_t kCursorFixedBytes = 1 + 8 + 8;
constexpr std::size_t kCursorCheckBytes = 4;
constexpr std::size_t kCursorMaxSymbol = 64;
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::uint32_t fnv1a(std::string_view bytes) {
  std::uint32_t h = 2166136261u;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 16777619u;
  }
  return h;
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
std::uint64_t get_u64(std::string_view in, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out += kBase64Url[(v >> shift) & 63];
  }
  if (bytes.size() - i == 1) {
    std::uint32_t v = byte(i) << 16;
    out += kBase64Url[(v >> 18) & 63];
    out += kBase64Url[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kBase64Url[(v >> 18) & 63];
    out += kBase64Url[(v >> 12) & 63];
    out += kBase64Url[(v >> 6) & 63];
  }
  return out;
}

int base64url_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict: only the URL-safe alphabet, no padding, no stray bits.
std::optional<std::string> from_base64url(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int d = base64url_digit(c);
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

ParsedCursor refuse(std::string why) { return {std::nullopt, "invalid cursor: " + std::move(why)}; }

}  // namespace

TradeCursor cursor_of(const ClosedPosition& closed) {
  return {closed.close_timestamp, closed.position.open_timestamp, closed.position.symbol};
}

std::string encode_cursor(const TradeCursor& cursor) {
  std::string bytes;
  bytes += static_cast<char>(kCursorVersion);
  put_u64(bytes, std::bit_cast<std::uint64_t>(cursor.close_timestamp));
  put_u64(bytes, static_cast<std::uint64_t>(cursor.open_timestamp));
  bytes += cursor.symbol;
  std::uint32_t check = fnv1a(bytes);
  for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((check >> shift) & 0xff);
  return base64url(bytes);
}

ParsedCursor parse_cursor(std::string_view text) {
  constexpr std::size_t kMaxText = (kCursorFixedBytes + kCursorMaxSymbol + kCursorCheckBytes) * 4 / 3 + 4;
  if (text.empty()) return refuse("empty");
  if (text.size() > kMaxText) return refuse("too long to be a cursor this server gave out");
  auto bytes = from_base64url(text);
  if (!bytes) return refuse("not base64url text (A-Z a-z 0-9 - _, no padding)");
  if (bytes->size() < kCursorFixedBytes + 1 + kCursorCheckBytes)
    return refuse("too short to be a cursor this server gave out");
  std::string_view body(bytes->data(), bytes->size() - kCursorCheckBytes);
  std::uint32_t check = 0;
  for (std::size_t i = body.size(); i < bytes->size(); ++i)
    check = (check << 8) | static_cast<unsigned char>((*bytes)[i]);
  if (check != fnv1a(body)) return refuse("damaged or not given out by this server (check failed)");
  if (static_cast<unsigned char>(body[0]) != kCursorVersion) return refuse("unknown cursor version");
  TradeCursor c;
  c.close_timestamp = std::bit_cast<double>(get_u64(body, 1));
  c.open_timestamp = static_cast<std::int64_t>(get_u64(body, 9));
  c.symbol.assign(body.substr(kCursorFixedBytes));
  if (!std::isfinite(c.close_timestamp)) return refuse("close time is not a finite number");
  return {std::move(c), {}};
}

// --- TradeHistory ------------------------------------------------------------------

TradeHistory::SymbolId TradeHistory::intern(const std::string& symbol) {
  if (auto it = symbol_ids_.find(symbol); it != symbol_ids_.end()) return it->second;
  auto id = static_cast<SymbolId>(symbols_.size());
  symbols_.push_back(symbol);
  symbol_ids_.emplace(symbol, id);
  by_symbol_.emplace_back();
  return id;
}

TradeHistory::Row TradeHistory::row_of(const ClosedPosition& c, SymbolId symbol) const {
  const auto& p = c.position;
  return {c.close_timestamp, p.open_timestamp, c.pnl, p.entry_price, p.target_price,
          p.stop_loss, p.expected_profit, c.exit_price, symbol, c.reason};
}

ClosedPosition TradeHistory::materialize(const Row& row) const {
  ClosedPosition c;
  c.position.symbol = symbols_[row.symbol];
  c.position.target_price = row.target_price;
  c.position.entry_price = row.entry_price;
  c.position.open_timestamp = row.open_timestamp;
  c.position.stop_loss = row.stop_loss;
  c.position.expected_profit = row.expected_profit;
  c.exit_price = row.exit_price;
  c.close_timestamp = row.close_timestamp;
  c.pnl = row.pnl;
  c.reason = row.reason;
  return c;
}

// The order of closes_before (performance_book.h), on rows.
bool TradeHistory::row_before(const Row& a, const Row& b) const {
  if (a.close_timestamp != b.close_timestamp) return a.close_timestamp < b.close_timestamp;
  if (a.open_timestamp != b.open_timestamp) return a.open_timestamp < b.open_timestamp;
  return a.symbol != b.symbol && symbols_[a.symbol] < symbols_[b.symbol];
}

bool TradeHistory::row_before_key(const Row& row, const TradeCursor& key) const {
  if (row.close_timestamp != key.close_timestamp) return row.close_timestamp < key.close_timestamp;
  if (row.open_timestamp != key.open_timestamp) return row.open_timestamp < key.open_timestamp;
  return symbols_[row.symbol] < key.symbol;
}

bool TradeHistory::add(const ClosedPosition& closed) {
  if (rows_.size() >= std::numeric_limits<RowNumber>::max())
    throw std::length_error("TradeHistory: too many closed positions");
  SymbolId symbol = intern(closed.position.symbol);
  Row row = row_of(closed, symbol);
  auto& symbol_index = by_symbol_[symbol];
  auto& reason_index = by_reason_[reason_slot(closed.reason)];
  if (rows_.empty() || !row_before(row, rows_.back())) {
    auto n = static_cast<RowNumber>(rows_.size());
    rows_.push_back(row);
    symbol_index.push_back(n);
    reason_index.push_back(n);
    return true;
  }
  // A late close: insert it after every row that does not sort after it, and
  // shift the row numbers at or past it in every index.
  auto at = std::upper_bound(rows_.begin(), rows_.end(), row,
                             [this](const Row& a, const Row& b) { return row_before(a, b); });
  auto n = static_cast<RowNumber>(at - rows_.begin());
  rows_.insert(at, row);
  auto shift = [n](std::vector<RowNumber>& index) {
    for (auto it = std::lower_bound(index.begin(), index.end(), n); it != index.end(); ++it) ++*it;
  };
  for (auto& index : by_symbol_) shift(index);
  for (auto& index : by_reason_) shift(index);
  symbol_index.insert(std::lower_bound(symbol_index.begin(), symbol_index.end(), n), n);
  reason_index.insert(std::lower_bound(reason_index.begin(), reason_index.end(), n), n);
  return false;
}

ClosedPosition TradeHistory::at(std::size_t i) const { return materialize(rows_.at(i)); }

std::size_t TradeHistory::first_closing_from(double close_timestamp) const {
  return static_cast<std::size_t>(
      std::partition_point(rows_.begin(), rows_.end(),
                           [close_timestamp](const Row& r) { return r.close_timestamp < close_timestamp; }) -
      rows_.begin());
}

std::optional<ClosedPosition> TradeHistory::find(std::string_view symbol, std::int64_t open_timestamp) const {
  auto it = symbol_ids_.find(symbol);
  if (it == symbol_ids_.end()) return std::nullopt;
  const auto& index = by_symbol_[it->second];
  for (auto n = index.rbegin(); n != index.rend(); ++n)
    if (rows_[*n].open_timestamp == open_timestamp) return materialize(rows_[*n]);
  return std::nullopt;
}

std::optional<TradeHistory::Candidates> TradeHistory::candidates(const TradeFilter& filter) const {
  Candidates c;
  if (filter.symbol) {
    auto it = symbol_ids_.find(*filter.symbol);
    if (it == symbol_ids_.end()) return std::nullopt;
    c.index = &by_symbol_[it->second];
    if (filter.notes) {
      const auto* reason_index = &by_reason_[reason_slot(*filter.notes)];
      if (reason_index->size() < c.index->size()) {
        c.index = reason_index;
        c.symbol = it->second;
      } else {
        c.reason = filter.notes;
      }
    }
  } else if (filter.notes) {
    c.index = &by_reason_[reason_slot(*filter.notes)];
  }
  std::size_t n = c.index ? c.index->size() : rows_.size();
  // Positions whose rows satisfy `before` form a prefix (rows are in order).
  auto first_not = [&](std::size_t lo, std::size_t hi, auto before) {
    while (lo < hi) {
      std::size_t mid = lo + (hi - lo) / 2;
      if (before(rows_[row_number(c, mid)])) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  c.begin = filter.from ? first_not(0, n, [&](const Row& r) { return r.close_timestamp < *filter.from; })
                        : 0;
  c.end = filter.to ? first_not(c.begin, n, [&](const Row& r) { return r.close_timestamp <= *filter.to; })
                    : n;
  c.end = std::max(c.begin, c.end);
  return c;
}

bool matches(const TradeFilter& filter, const ClosedPosition& trade) {
  if (filter.symbol && *filter.symbol != trade.position.symbol) return false;
  if (filter.notes && *filter.notes != trade.reason) return false;
  if (filter.from && trade.close_timestamp < *filter.from) return false;
  if (filter.to && trade.close_timestamp > *filter.to) return false;
  return true;
}

TradePage TradeHistory::page(const TradeQuery& query) const {
  TradePage page;
  auto c = candidates(query.filter);
  if (!c) return page;
  std::size_t end = c->end;
  if (query.cursor) {
    // Only trades that sort before the cursor's key: they form a prefix.
    std::size_t lo = c->begin, hi = end;
    while (lo < hi) {
      std::size_t mid = lo + (hi - lo) / 2;
      if (row_before_key(rows_[row_number(*c, mid)], *query.cursor)) lo = mid + 1;
      else hi = mid;
    }
    end = lo;
  }
  std::size_t limit = std::clamp<std::size_t>(query.limit, 1, kMaxTradePageLimit);
  page.trades.reserve(std::min(limit, end - c->begin));
  for (std::size_t i = end; i > c->begin;) {
    const Row& row = rows_[row_number(*c, --i)];
    if (!accepts(*c, row)) continue;
    if (page.trades.size() == limit) {  // one more matches: the page continues
      page.next_cursor = cursor_of(page.trades.back());
      break;
    }
    page.trades.push_back(materialize(row));
  }
  return page;
}

void TradeHistory::for_each(const TradeFilter& filter,
                            const std::function<void(const ClosedPosition&)>& visit) const {
  for_each_row(filter, [&](const Row& row) { visit(materialize(row)); });
}

std::size_t TradeHistory::scan_size(const TradeFilter& filter) const {
  auto c = candidates(filter);
  return c ? c->end - c->begin : 0;
}

}  // namespace qc
