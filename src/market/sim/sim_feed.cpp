#include "market/sim/sim_feed.h"

#include <algorithm>
#include <chrono>

#include "core/ny_time.h"
#include "log/log.h"
#include "market/sim/trading_calendar.h"

namespace qc {
namespace {

std::int64_t floor_seconds(std::int64_t ms) {
  return ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
}

}  // namespace

std::int64_t SystemSimClock::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SystemSimClock::sleep_until_ms(std::int64_t until_ms) {
  std::unique_lock lock(mutex_);
  // Waits on the steady clock (a wall-clock step does not stretch the wait);
  // the caller looks at the wall clock again afterwards.
  auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, until_ms - now_ms()));
  wake_.wait_for(lock, wait, [&] { return interrupted_; });
}

void SystemSimClock::interrupt() {
  {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
  }
  wake_.notify_all();
}

SimFeed::SimFeed(std::vector<Ticker> tickers, SimOptions options)
    : market_(std::move(tickers), options.seed, options.recommend_every),
      options_(options),
      clock_(options.clock ? options.clock : &system_clock_) {
  // Until this run delivers a minute: the last one the store holds.
  if (options.resume_after_ms) simulated_time_ = floor_seconds(*options.resume_after_ms);
}

SimFeed::~SimFeed() {
  stop();
}

std::string SimFeed::describe() const {
  std::string replay = options_.step_ms > 0
                           ? "one simulated minute per " + std::to_string(options_.step_ms) + " ms"
                           : "as fast as it is stored";
  return "SIMULATED market: seeded random walk (seed " + std::to_string(options_.seed) +
         "); replays the last " + std::to_string(options_.replay_days) +
         " days (or since the last bar stored), " + replay +
         ", then real time, bars only during New York regular sessions; demo recommendations "
         "every " +
         std::to_string(options_.recommend_every) + " session minutes; prices are not real";
}

std::int64_t SimFeed::first_minute(std::int64_t now_ms) const {
  std::int64_t from =
      floor_seconds(now_ms) - static_cast<std::int64_t>(options_.replay_days) * 86400;
  if (options_.resume_after_ms)
    from = std::max(from, floor_seconds(*options_.resume_after_ms) + 60);
  return us_equity_next_session_minute(from);
}

void SimFeed::start(FeedSink& sink) {
  thread_ = std::thread([this, &sink] { run(sink); });
}

void SimFeed::stop() {
  stop_ = true;
  clock_->interrupt();
  if (thread_.joinable()) thread_.join();
}

void SimFeed::update_market_open(FeedSink& sink, std::int64_t now_ms) {
  bool open = us_equity_in_session(floor_seconds(now_ms));
  market_open_ = open;
  if (open_state_ != static_cast<int>(open)) {
    open_state_ = open;
    sink.set_market_open(open);
  }
}

void SimFeed::run(FeedSink& sink) {
  std::int64_t now = clock_->now_ms();
  std::int64_t cursor =
      first_minute(now);  // the next minute to deliver is the first session minute from here
  if (options_.resume_after_ms && *options_.resume_after_ms > now)
    log::warn("sim", "the store holds simulated bars up to " +
                         format_new_york_time(floor_seconds(*options_.resume_after_ms)) +
                         " New York time, after the wall clock (an older version's simulated clock "
                         "ran ahead); new bars start after that time (start with an empty data "
                         "directory to see them now)");
  update_market_open(sink, now);
  std::int64_t paced_until = now;
  bool document_done = false;  // for the minute at `cursor`
  std::uint64_t minutes = 0;
  while (!stop_) {
    if (options_.max_minutes && minutes >= options_.max_minutes) break;
    std::int64_t minute = us_equity_next_session_minute(cursor);
    cursor = minute;
    now = clock_->now_ms();
    update_market_open(sink, now);
    // The demo document of a minute is dated at its start, its bar at its end:
    // neither is delivered before the wall clock reaches that time.
    if (!document_done && now >= minute * 1000) {
      if (auto doc = market_.demo_document(minute)) {
        sink.submit_document(std::move(*doc));
        ++documents_;
      }
      document_done = true;
    }
    if (now >= (minute + 60) * 1000) {
      auto bars = market_.bars_at(minute);
      bars_ += bars.size();
      simulated_time_ = minute;
      if (!sink.submit_bars(std::move(bars))) return;
      cursor = minute + 60;
      document_done = false;
      ++minutes;
      // Replaying the past (the next minute has ended too): at `step_ms` a minute.
      bool behind = now >= (us_equity_next_session_minute(cursor) + 60) * 1000;
      caught_up_ = !behind;
      if (behind && options_.step_ms > 0) {
        paced_until = std::max(paced_until + options_.step_ms, now - 1000);
        while (!stop_ && clock_->now_ms() < paced_until) clock_->sleep_until_ms(paced_until);
      }
      continue;
    }
    caught_up_ = true;
    // Wait for the document's or the bar's time, waking at every wall-clock
    // minute to keep the market status current.
    std::int64_t due = document_done ? (minute + 60) * 1000 : minute * 1000;
    std::int64_t next_minute = (floor_seconds(now) / 60 + 1) * 60 * 1000;
    clock_->sleep_until_ms(std::min(due, next_minute));
  }
  // After the last minute (max_minutes): wait until it is all stored. On a
  // stop the ledger's own stop does that.
  if (!stop_ && !sink.flush()) log::warn("sim", "stopped before every simulated bar was stored");
}

void SimFeed::write_status(JsonWriter& w) const {
  w.key("simulated_time").value(simulated_time_.load());
  w.key("replaying").value(!caught_up_.load());
  w.key("market_open").value(market_open_.load());
  w.key("bars_generated").value(static_cast<std::int64_t>(bars_.load()));
  w.key("demo_documents").value(static_cast<std::int64_t>(documents_.load()));
}

}  // namespace qc
