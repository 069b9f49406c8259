#include "core/engine.h"

#include <algorithm>

#include "core/ny_time.h"

namespace qc {

std::optional<ClosedPosition> close_on_bar(const OpenPosition& p, const MinuteBar& bar) {
  double exit;
  CloseReason reason;
  if (bar.open <= p.stop_loss) {
    exit = bar.open;
    reason = CloseReason::StopLoss;
  } else if (bar.open >= p.target_price) {
    exit = bar.open;
    reason = CloseReason::TargetPrice;
  } else if (bar.low <= p.stop_loss) {
    exit = p.stop_loss;
    reason = CloseReason::StopLoss;
  } else if (bar.high >= p.target_price) {
    exit = p.target_price;
    reason = CloseReason::TargetPrice;
  } else {
    return std::nullopt;
  }
  ClosedPosition c;
  c.position = p;
  c.exit_price = exit;
  c.close_timestamp = static_cast<double>(bar.end_ms) / 1000.0;
  c.pnl = (exit - p.entry_price) / p.entry_price * 100;
  c.reason = reason;
  return c;
}

Engine::Engine(std::vector<Ticker> tickers, Closes closes) : keep_closed_(closes == Closes::Kept) {
  for (const auto& t : tickers) add_ticker(t);
}

bool Engine::add_ticker(const Ticker& ticker) {
  if (is_tracked(ticker.symbol)) return false;
  tickers_.push_back(ticker);
  book_for(ticker.symbol);
  return true;
}

bool Engine::is_tracked(std::string_view symbol) const {
  return std::any_of(tickers_.begin(), tickers_.end(),
                     [&](const Ticker& t) { return t.symbol == symbol; });
}

Engine::SymbolBook* Engine::find(std::string_view symbol) {
  auto it = books_.find(symbol);
  return it == books_.end() ? nullptr : &it->second;
}
const Engine::SymbolBook* Engine::find(std::string_view symbol) const {
  auto it = books_.find(symbol);
  return it == books_.end() ? nullptr : &it->second;
}
Engine::SymbolBook& Engine::book_for(std::string_view symbol) {
  if (auto* b = find(symbol)) return *b;
  return books_.emplace(std::string(symbol), SymbolBook{}).first->second;
}

void Engine::restore_open(const OpenPosition& position) {
  auto& b = book_for(position.symbol);
  if (!b.known.insert(position.open_timestamp).second) return;
  b.add(position);
  ++open_count_;
}

bool Engine::restore_closed(const ClosedPosition& closed) {
  auto& b = book_for(closed.position.symbol);
  if (!b.known.insert(closed.position.open_timestamp).second) return false;
  if (keep_closed_) book_.add(closed);
  return true;
}

void Engine::restore_last_bar(const LastBar& bar) {
  auto& b = book_for(bar.symbol);
  if (!b.has_last || bar.start_ms > b.last_start_ms) {
    b.has_last = true;
    b.last_start_ms = bar.start_ms;
    b.last_close = bar.close;
    b.last_end_ms = bar.end_ms;
  }
}

OpenResult Engine::open(const RecommendationDocument& doc, InvalidItems mode) {
  OpenResult r;
  r.open_timestamp = parse_new_york_time(doc.us_date, doc.sg_date);
  if (!r.open_timestamp) {
    r.problems.push_back(
        {-1, "us-date", "must be a date-time \"YYYY-MM-DD HH:MM:SS\" (New York time)"});
    r.refused = true;
    return r;
  }
  std::vector<bool> valid(doc.items.size(), true);
  for (std::size_t i = 0; i < doc.items.size(); ++i) {
    if (auto p = validate_item(doc.items[i], static_cast<int>(i),
                               [this](std::string_view s) { return is_tracked(s); })) {
      r.problems.push_back(std::move(*p));
      valid[i] = false;
    }
  }
  if (mode == InvalidItems::RefuseDocument && !r.problems.empty()) {
    r.refused = true;
    return r;
  }
  for (std::size_t i = 0; i < doc.items.size(); ++i) {
    if (!valid[i]) continue;
    OpenPosition p = position_for(doc.items[i], *r.open_timestamp);
    auto& b = book_for(p.symbol);
    if (!b.known.insert(p.open_timestamp).second) {
      r.already_known.push_back(std::move(p));
      continue;
    }
    b.add(p);
    ++open_count_;
    r.opened.push_back(std::move(p));
  }
  return r;
}

BarOutcome Engine::apply(const MinuteBar& bar, std::vector<ClosedPosition>& closed) {
  SymbolBook* b = find(bar.symbol);
  if (!b) return BarOutcome::UnknownSymbol;
  if (b->has_last && bar.start_ms <= b->last_start_ms) return BarOutcome::Stale;
  b->has_last = true;
  b->last_start_ms = bar.start_ms;
  b->last_close = bar.close;
  b->last_end_ms = bar.end_ms;
  auto& open = b->open;
  if (open.empty()) return BarOutcome::Applied;
  if (std::min(bar.open, bar.low) > b->max_stop && std::max(bar.open, bar.high) < b->min_target)
    return BarOutcome::Applied;  // no position of this symbol can close on this bar
  std::size_t kept = 0;
  double max_stop = -std::numeric_limits<double>::infinity();
  double min_target = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < open.size(); ++i) {
    // No look-ahead: P.open_timestamp <= s / 1000.
    if (open[i].open_timestamp * 1000 <= bar.start_ms) {
      if (auto c = close_on_bar(open[i], bar)) {
        if (keep_closed_) book_.add(*c);
        closed.push_back(std::move(*c));
        --open_count_;
        continue;
      }
    }
    max_stop = std::max(max_stop, open[i].stop_loss);
    min_target = std::min(min_target, open[i].target_price);
    if (kept != i) open[kept] = std::move(open[i]);
    ++kept;
  }
  open.resize(kept);
  b->max_stop = max_stop;
  b->min_target = min_target;
  return BarOutcome::Applied;
}

std::vector<OpenPosition> Engine::open_positions() const {
  std::vector<OpenPosition> out;
  out.reserve(open_count_);
  for (const auto& t : tickers_)
    if (auto* b = find(t.symbol)) out.insert(out.end(), b->open.begin(), b->open.end());
  for (const auto& [symbol, b] : books_)
    if (!is_tracked(symbol)) out.insert(out.end(), b.open.begin(), b.open.end());
  std::stable_sort(out.begin(), out.end(), [](const OpenPosition& a, const OpenPosition& b) {
    return a.open_timestamp < b.open_timestamp;
  });
  return out;
}

std::optional<std::int64_t> Engine::last_bar_start(std::string_view symbol) const {
  auto* b = find(symbol);
  if (!b || !b->has_last) return std::nullopt;
  return b->last_start_ms;
}

std::optional<LastBar> Engine::last_bar(std::string_view symbol) const {
  auto* b = find(symbol);
  if (!b || !b->has_last) return std::nullopt;
  return LastBar{std::string(symbol), b->last_start_ms, b->last_close, b->last_end_ms};
}

std::optional<PriceMark> Engine::mark(const OpenPosition& position) const {
  auto* b = find(position.symbol);
  if (!b || !b->has_last || !b->last_close) return std::nullopt;
  // Whole seconds times 1000 cannot overflow for any parseable us-date.
  if (b->last_start_ms < position.open_timestamp * 1000) return std::nullopt;
  return PriceMark{*b->last_close, static_cast<double>(b->last_end_ms) / 1000.0};
}

std::optional<std::int64_t> Engine::latest_bar_start() const {
  std::optional<std::int64_t> latest;
  for (const auto& [symbol, b] : books_)
    if (b.has_last && (!latest || b.last_start_ms > *latest)) latest = b.last_start_ms;
  return latest;
}

bool Engine::knows(std::string_view symbol, std::int64_t open_timestamp) const {
  auto* b = find(symbol);
  return b && b->known.count(open_timestamp) > 0;
}

std::string_view state_name(ItemOutcome::State state) {
  switch (state) {
    case ItemOutcome::State::Opened: return "opened";
    case ItemOutcome::State::AlreadyOpen: return "already_open";
    case ItemOutcome::State::Closed: return "closed";
  }
  return "?";
}

std::optional<HeldPosition> Engine::held(std::string_view symbol, std::int64_t open_timestamp) const {
  auto* b = find(symbol);
  if (!b || !b->known.count(open_timestamp)) return std::nullopt;
  for (const auto& p : b->open)
    if (p.open_timestamp == open_timestamp) return HeldPosition{p, HeldPosition::State::Open};
  for (const auto& [month, m] : book_.months())
    for (const auto& c : m.positions)
      if (c.position.open_timestamp == open_timestamp && c.position.symbol == symbol)
        return HeldPosition{c.position, HeldPosition::State::Closed};
  return std::nullopt;
}

}  // namespace qc
