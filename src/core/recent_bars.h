// The last minute bars applied per symbol, for the dashboard's chart when no
// provider serves aggregates (GET /api/bars/{symbol}). Bounded: at most
// `per_symbol` bars for each symbol, the oldest dropped first. A bar is kept
// only when it starts after the newest one kept for its symbol (the rule of
// SPEC §6.3), so a replayed or re-sent bar never shows twice. Not thread-safe.
#pragma once
#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/minute_bar.h"

namespace qc {

class RecentBars {
 public:
  static constexpr std::size_t kDefaultPerSymbol = 1'000;
  explicit RecentBars(std::size_t per_symbol = kDefaultPerSymbol);

  // False (and nothing kept) when the bar does not start after the newest
  // bar kept for its symbol.
  bool add(const MinuteBar& bar);
  // The newest `limit` bars of `symbol` (all kept when larger), oldest first.
  std::vector<MinuteBar> latest(const std::string& symbol, std::size_t limit) const;
  std::size_t per_symbol() const { return per_symbol_; }

 private:
  std::size_t per_symbol_;
  std::map<std::string, std::deque<MinuteBar>, std::less<>> bars_;
};

// {"symbol": S, "bars": [{"start", "end", "open", "high", "low", "close", "volume"}]}
// with times in UNIX seconds (SPEC §4), oldest first.
std::string render_recent_bars(const std::string& symbol, const std::vector<MinuteBar>& bars);

}  // namespace qc
