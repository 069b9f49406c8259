// The simulated market's prices and its demo recommendation source, as pure
// functions of (seed, symbol, minute): no state, no clock, so a replay, a
// restart or a second server with the same seed produces the same bars and
// documents for the same minutes, and nothing grows with time.
//
// Prices: per symbol, log(price / base) is a Brownian motion with the
// symbol's volatility, tied every ~16 trading days (2^13 time slots) to an
// independent random level (standard deviation 0.1) around the base price,
// so prices stay in a band around it however long it runs. Between those
// anchors it is a Brownian bridge, built by midpoint displacement, so the
// price of any minute costs 13 hash draws and trends come and go like market
// regimes. Time runs in slots: each trading day (weekday) has 390 session
// slots plus 130 slots for the night, whose move is the opening gap.
//
// The demo source issues a document at fixed session minutes (every
// `recommend_every`, offset by half of it), for one or two symbols, at the
// minute's opening price with a target a few daily volatilities above it.
// It has no foresight: with the engine's 10 % stop (SPEC §6.1) positions end
// at the stop as well as at the target.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/minute_bar.h"
#include "core/recommendation.h"
#include "core/ticker.h"

namespace qc {

class SimulatedMarket {
 public:
  SimulatedMarket(std::vector<Ticker> tickers, std::uint64_t seed, int recommend_every = 120);

  const std::vector<Ticker>& tickers() const { return tickers_; }
  std::uint64_t seed() const { return seed_; }
  int recommend_every() const { return recommend_every_; }

  // The bars of every ticker for the minute starting at `minute_start`
  // (UNIX s), which must be a session minute (us_equity_in_session).
  std::vector<MinuteBar> bars_at(std::int64_t minute_start) const;
  MinuteBar bar(std::size_t ticker, std::int64_t minute_start) const;
  // The price at the start of that session minute (unrounded).
  double price_at(std::size_t ticker, std::int64_t minute_start) const;
  double base_price(std::size_t ticker) const { return symbols_[ticker].base; }
  double daily_volatility(std::size_t ticker) const { return symbols_[ticker].daily_volatility; }

  // The demo document issued at the session minute `minute_start`, if any
  // (us-date = that minute; its items open before that minute's bar applies).
  std::optional<RecommendationDocument> demo_document(std::int64_t minute_start) const;

 private:
  struct Symbol {
    std::uint64_t key = 0;  // from the seed and the symbol's name
    double base = 100;
    double daily_volatility = 0.025;  // standard deviation of a day's log change
    double slot_sd = 0;               // of one slot
  };
  double log_level(const Symbol& s, std::int64_t slot) const;
  double price_at_slot(const Symbol& s, std::int64_t slot) const;

  std::vector<Ticker> tickers_;
  std::vector<Symbol> symbols_;
  std::uint64_t seed_;
  int recommend_every_;
};

// The time slot (see above) of a session minute.
std::int64_t simulated_slot(std::int64_t minute_start);

}  // namespace qc
