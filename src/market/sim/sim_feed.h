// Simulated market (embedded default without a Polygon key): a deterministic
// seeded random walk per ticker, one bar per ticker per simulated minute of
// the regular session, on an accelerated clock; plus a demo recommendation
// source so all three endpoints show data within a minute of start.
// Everything it produces is labelled simulated (startup log, /readyz).
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "core/ticker.h"
#include "market/feed.h"

namespace qc {

struct SimOptions {
  std::uint64_t seed = 20210712;
  int step_ms = 50;             // wall-clock ms per simulated minute (0 = no pause)
  int recommend_every = 10;     // simulated minutes between demo documents
  std::int64_t start_unix = 0;  // first simulated minute (snapped into a session)
  std::uint64_t max_minutes = 0;  // stop after this many minutes (0 = forever)
};

// A deterministic bar generator, independent of threads and clocks.
class RandomWalkMarket {
 public:
  RandomWalkMarket(std::vector<Ticker> tickers, std::uint64_t seed);
  // Bars for the minute starting at `minute_start` (UNIX s), one per ticker.
  std::vector<MinuteBar> bars_at(std::int64_t minute_start);
  double price(std::size_t ticker_index) const { return prices_[ticker_index]; }
  double base_price(std::size_t ticker_index) const { return base_[ticker_index]; }
  const std::vector<Ticker>& tickers() const { return tickers_; }
  double uniform();  // [0, 1)

 private:
  double normal();
  std::vector<Ticker> tickers_;
  std::vector<double> base_, prices_;
  std::uint64_t state_;
};

// The next regular-session minute at or after `t` (weekdays 9:30-16:00 ET).
std::int64_t next_session_minute(std::int64_t t);

class SimFeed final : public MarketFeed {
 public:
  SimFeed(std::vector<Ticker> tickers, SimOptions options);
  ~SimFeed() override;
  std::string kind() const override { return "sim"; }
  bool simulated() const override { return true; }
  std::string describe() const override;
  void start(FeedSink& sink) override;
  void stop() override;
  void write_status(JsonWriter& w) const override;

 private:
  void run(FeedSink& sink);
  RandomWalkMarket market_;
  SimOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> clock_{0};
  std::atomic<std::uint64_t> bars_{0}, documents_{0};
  std::thread thread_;
};

}  // namespace qc
