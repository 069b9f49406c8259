// Simulated market (embedded default without a Polygon key): the bars and demo
// documents of a SimulatedMarket, delivered on the wall clock. At start it
// replays the recent past (by default the last 21 days, or from just after
// the last bar the store holds) as fast as `step_ms` allows, then goes on at
// real pace: the bar of a minute is delivered when that minute has ended, and
// only during regular sessions (trading_calendar.h), so a closed market
// produces nothing and shows as closed, as it would live. No bar or document
// is ever dated after the wall clock.
// Everything it produces is labelled simulated (startup log, /readyz).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/ticker.h"
#include "market/feed.h"
#include "market/sim/simulated_market.h"

namespace qc {

// The wall clock the feed follows; tests inject one they move by hand.
class SimClock {
 public:
  virtual ~SimClock() = default;
  virtual std::int64_t now_ms() = 0;  // UNIX milliseconds
  // Returns once now_ms() >= until_ms or interrupt() was called (spurious
  // early returns are allowed: the caller looks at the time again).
  virtual void sleep_until_ms(std::int64_t until_ms) = 0;
  virtual void interrupt() = 0;
};

// The system clock; interrupt() ends a sleep at once.
class SystemSimClock final : public SimClock {
 public:
  std::int64_t now_ms() override;
  void sleep_until_ms(std::int64_t until_ms) override;
  void interrupt() override;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool interrupted_ = false;
};

struct SimOptions {
  std::uint64_t seed = 20210712;
  // Wall-clock ms per simulated minute while replaying the past (0 = as fast
  // as the ledger takes the bars). At the wall clock, bars come in real time.
  int step_ms = 5;
  int recommend_every = 120;  // session minutes between demo documents
  int replay_days = 21;       // how far back the replay starts (calendar days)
  // The newest bar start the store holds (UNIX ms): the replay resumes after
  // it, when that is later than `replay_days` ago.
  std::optional<std::int64_t> resume_after_ms;
  std::uint64_t max_minutes = 0;  // stop after this many minutes (0 = forever)
  SimClock* clock = nullptr;      // not owned; nullptr = the system clock
};

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

  const SimulatedMarket& market() const { return market_; }
  // The first minute the replay starts from, for a wall clock at `now_ms`.
  std::int64_t first_minute(std::int64_t now_ms) const;

 private:
  void run(FeedSink& sink);
  void update_market_open(FeedSink& sink, std::int64_t now_ms);
  SimulatedMarket market_;
  SimOptions options_;
  SystemSimClock system_clock_;
  SimClock* clock_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> simulated_time_{0};
  std::atomic<bool> caught_up_{false}, market_open_{false};
  std::atomic<std::uint64_t> bars_{0}, documents_{0};
  int open_state_ = -1;  // feed thread: what set_market_open was last told (-1: nothing)
  std::thread thread_;
};

}  // namespace qc
