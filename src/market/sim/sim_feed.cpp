#include "market/sim/sim_feed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "log/log.h"
#include "core/ny_time.h"

namespace qc {
namespace {

double base_price_of(const std::string& symbol) {
  static const std::map<std::string, double> prices = {
      {"AAPL", 145}, {"AMZN", 3300}, {"BABA", 200}, {"GOOG", 2600}, {"SHOP", 1500}, {"BX", 100},
      {"C", 70},     {"TLT", 145},   {"NVDA", 190}, {"BLK", 880},   {"NOK", 6}};
  auto it = prices.find(symbol);
  return it == prices.end() ? 100.0 : it->second;
}

double round_cents(double p) { return std::round(p * 100) / 100; }

constexpr int kOpenMinute = 9 * 60 + 30;
constexpr int kCloseMinute = 16 * 60;

}  // namespace

RandomWalkMarket::RandomWalkMarket(std::vector<Ticker> tickers, std::uint64_t seed)
    : tickers_(std::move(tickers)), state_(seed ^ 0x9E3779B97F4A7C15ULL) {
  for (const auto& t : tickers_) {
    base_.push_back(base_price_of(t.symbol));
    prices_.push_back(base_.back());
  }
}

double RandomWalkMarket::uniform() {
  // splitmix64
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

double RandomWalkMarket::normal() {
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

std::vector<MinuteBar> RandomWalkMarket::bars_at(std::int64_t minute_start) {
  constexpr double sigma = 0.0015, reversion = 0.002;
  std::vector<MinuteBar> bars;
  bars.reserve(tickers_.size());
  for (std::size_t i = 0; i < tickers_.size(); ++i) {
    double open = prices_[i];
    double drift = -reversion * std::log(open / base_[i]);
    double close = open * std::exp(drift + sigma * normal());
    double high = std::max(open, close) * (1 + std::abs(normal()) * sigma / 2);
    double low = std::min(open, close) * (1 - std::abs(normal()) * sigma / 2);
    MinuteBar b;
    b.symbol = tickers_[i].symbol;
    b.open = round_cents(open);
    b.close = round_cents(close);
    b.high = std::max({round_cents(high), b.open, b.close});
    b.low = std::min({round_cents(low), b.open, b.close});
    b.volume = std::round(1000 + 9000 * uniform());
    b.start_ms = minute_start * 1000;
    b.end_ms = b.start_ms + 60'000;
    prices_[i] = close;
    bars.push_back(std::move(b));
  }
  return bars;
}

std::int64_t next_session_minute(std::int64_t t) {
  t = (t + 59) / 60 * 60;
  // Minute by minute: at most ~4,000 steps over a long weekend, and correct
  // across DST changes without special cases.
  for (int guard = 0; guard < 10 * 24 * 60; ++guard, t += 60) {
    auto c = new_york_clock(t);
    bool weekday = c.weekday != 0 && c.weekday != 6;
    if (weekday && c.minute_of_day >= kOpenMinute && c.minute_of_day < kCloseMinute) return t;
  }
  return t;
}

SimFeed::SimFeed(std::vector<Ticker> tickers, SimOptions options)
    : market_(std::move(tickers), options.seed), options_(options) {}

SimFeed::~SimFeed() { stop(); }

std::string SimFeed::describe() const {
  return "SIMULATED market: seeded random walk (seed " + std::to_string(options_.seed) + "), " +
         "one simulated minute per " + std::to_string(options_.step_ms) +
         " ms, demo recommendations every " + std::to_string(options_.recommend_every) +
         " simulated minutes; prices are not real";
}

void SimFeed::start(FeedSink& sink) {
  thread_ = std::thread([this, &sink] { run(sink); });
}

void SimFeed::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void SimFeed::run(FeedSink& sink) {
  sink.set_market_open(true);
  std::int64_t t = next_session_minute(options_.start_unix);
  // Yesterday's close for today's change: one bar at the previous session's
  // last minute, at the base price.
  {
    std::int64_t prev = t - 24 * 3600;
    while (new_york_clock(prev).weekday == 0 || new_york_clock(prev).weekday == 6) prev -= 24 * 3600;
    auto c = new_york_clock(prev);
    prev += static_cast<std::int64_t>(kCloseMinute - 1 - c.minute_of_day) * 60;
    std::vector<MinuteBar> closes;
    for (std::size_t i = 0; i < market_.tickers().size(); ++i) {
      MinuteBar b;
      b.symbol = market_.tickers()[i].symbol;
      b.open = b.high = b.low = b.close = round_cents(market_.base_price(i));
      b.volume = 100;
      b.start_ms = prev * 1000;
      b.end_ms = b.start_ms + 60'000;
      closes.push_back(std::move(b));
    }
    if (!sink.submit_bars(std::move(closes))) return;
  }
  auto next_wake = std::chrono::steady_clock::now();
  std::uint64_t minutes = 0;
  std::size_t next_ticker = 0;
  while (!stop_) {
    if (options_.max_minutes && minutes >= options_.max_minutes) break;
    t = next_session_minute(t);
    clock_ = t;
    if (options_.recommend_every > 0 && minutes % options_.recommend_every == 0 && minutes > 0) {
      std::size_t i = next_ticker++ % market_.tickers().size();
      double entry = round_cents(market_.price(i));
      double target = round_cents(entry * (1.003 + 0.012 * market_.uniform()));
      if (target > entry && entry > 0) {
        RecommendationDocument doc;
        doc.us_date = format_new_york_time(t);
        doc.sg_date = format_singapore_time(t);
        doc.items.push_back({market_.tickers()[i].symbol, target, entry});
        sink.submit_document(std::move(doc));
        ++documents_;
      }
    }
    auto bars = market_.bars_at(t);
    bars_ += bars.size();
    if (!sink.submit_bars(std::move(bars))) return;
    t += 60;
    ++minutes;
    if (options_.step_ms > 0) {
      next_wake += std::chrono::milliseconds(options_.step_ms);
      auto now = std::chrono::steady_clock::now();
      if (next_wake < now) next_wake = now;
      while (!stop_ && std::chrono::steady_clock::now() < next_wake)
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            next_wake - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    }
  }
  // After the last minute (max_minutes): wait until it is all stored. On a
  // stop the ledger's own stop does that.
  if (!stop_ && !sink.flush()) log::warn("sim", "stopped before every simulated bar was stored");
}

void SimFeed::write_status(JsonWriter& w) const {
  w.key("simulated_time").value(clock_.load());
  w.key("bars_generated").value(static_cast<std::int64_t>(bars_.load()));
  w.key("demo_documents").value(static_cast<std::int64_t>(documents_.load()));
}

}  // namespace qc
