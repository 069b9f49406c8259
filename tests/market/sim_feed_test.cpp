// The simulated market (SPEC §4.10): its calendar, its prices and demo
// documents (deterministic, wins and losses both), and the feed's timing on
// an injected wall clock (replay at speed, then real time; never past the
// wall clock; nothing outside regular sessions). No test sleeps: the fake
// clock jumps to whatever time the feed waits for.
#include "market/sim/sim_feed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "core/ny_time.h"
#include "market/sim/sim_market_status.h"
#include "market/sim/simulated_market.h"
#include "market/sim/trading_calendar.h"

namespace {

using qc::MinuteBar;
using qc::RecommendationDocument;

std::int64_t ny(const char* local) {
  return *qc::parse_new_york_time(local);
}
std::int32_t ny_day(const char* local) {
  return qc::new_york_clock(ny(local)).days_since_epoch;
}

// ---------------------------------------------------------------------------
// Calendar

TEST(TradingCalendar, RegularDayWeekendsAndHours) {
  auto monday = qc::us_equity_session(ny_day("2026-11-30 12:00:00"));
  ASSERT_TRUE(monday);
  EXPECT_EQ(monday->open_minute, 9 * 60 + 30);
  EXPECT_EQ(monday->close_minute, 16 * 60);
  EXPECT_FALSE(qc::us_equity_session(ny_day("2026-11-28 12:00:00")));  // Saturday
  EXPECT_FALSE(qc::us_equity_session(ny_day("2026-11-29 12:00:00")));  // Sunday
  EXPECT_FALSE(qc::us_equity_in_session(ny("2026-11-30 09:29:59")));
  EXPECT_TRUE(qc::us_equity_in_session(ny("2026-11-30 09:30:00")));
  EXPECT_TRUE(qc::us_equity_in_session(ny("2026-11-30 15:59:59")));
  EXPECT_FALSE(qc::us_equity_in_session(ny("2026-11-30 16:00:00")));
}

TEST(TradingCalendar, NyseHolidaysAreClosed) {
  for (const char* day : {"2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25",
                          "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25",
                          "2025-04-18", "2022-12-26", "2023-01-02", "2021-06-18x"}) {
    std::string d(day);
    bool expect_open = d.back() == 'x';  // Juneteenth was no holiday before 2022
    if (expect_open) d.pop_back();
    auto s = qc::us_equity_session(ny_day((d + " 12:00:00").c_str()));
    EXPECT_EQ(s.has_value(), expect_open) << d;
  }
  // New Year's Day on a Saturday is not observed on the Friday before.
  EXPECT_TRUE(qc::us_equity_session(ny_day("2021-12-31 12:00:00")));
  EXPECT_TRUE(qc::us_equity_session(ny_day("2026-07-02 12:00:00")));
}

TEST(TradingCalendar, EarlyClosesAtOnePm) {
  for (const char* day : {"2026-11-27", "2026-12-24", "2025-07-03", "2025-12-24"}) {
    auto s = qc::us_equity_session(ny_day((std::string(day) + " 12:00:00").c_str()));
    ASSERT_TRUE(s) << day;
    EXPECT_EQ(s->close_minute, 13 * 60) << day;
  }
  EXPECT_FALSE(qc::us_equity_in_session(ny("2026-11-27 13:00:00")));
  EXPECT_TRUE(qc::us_equity_in_session(ny("2026-11-27 12:59:00")));
}

TEST(TradingCalendar, NextSessionMinute) {
  // Mid-session: rounded up to the minute.
  EXPECT_EQ(qc::us_equity_next_session_minute(ny("2026-11-30 10:15:00")),
            ny("2026-11-30 10:15:00"));
  EXPECT_EQ(qc::us_equity_next_session_minute(ny("2026-11-30 10:15:01")),
            ny("2026-11-30 10:16:00"));
  // Friday's close to Monday's open, across the start of daylight time.
  EXPECT_EQ(qc::us_equity_next_session_minute(ny("2026-03-06 16:00:00")),
            ny("2026-03-09 09:30:00"));
  EXPECT_EQ(
      qc::us_equity_next_session_minute(ny("2026-03-09 09:30:00")) - ny("2026-03-06 16:00:00"),
      3 * 86400 - 6 * 3600 - 30 * 60 - 3600);
  // Over Thanksgiving to the early-close Friday, and from its 13:00 close to Monday.
  EXPECT_EQ(qc::us_equity_next_session_minute(ny("2026-11-25 16:00:00")),
            ny("2026-11-27 09:30:00"));
  EXPECT_EQ(qc::us_equity_next_session_minute(ny("2026-11-27 13:00:00")),
            ny("2026-11-30 09:30:00"));
  EXPECT_EQ(qc::us_equity_next_session_minute(ny("2026-11-30 03:00:00")),
            ny("2026-11-30 09:30:00"));
}

TEST(SimMarketStatus, OpenAndClosedInPolygonsShape) {
  std::string open = qc::simulated_market_status(ny("2026-11-30 10:00:00"));
  EXPECT_NE(open.find("\"market\":\"open\""), std::string::npos) << open;
  EXPECT_NE(open.find("\"nyse\":\"open\""), std::string::npos) << open;
  EXPECT_NE(open.find("\"serverTime\":\"2026-11-30T10:00:00-05:00\""), std::string::npos) << open;
  EXPECT_NE(open.find("\"simulated\":true"), std::string::npos) << open;
  std::string closed = qc::simulated_market_status(ny("2026-11-26 10:00:00"));  // Thanksgiving
  EXPECT_NE(closed.find("\"market\":\"closed\""), std::string::npos) << closed;
  std::string summer = qc::simulated_market_status(ny("2026-07-01 20:15:30"));
  EXPECT_NE(summer.find("\"serverTime\":\"2026-07-01T20:15:30-04:00\""), std::string::npos)
      << summer;
  EXPECT_NE(summer.find("\"market\":\"closed\""), std::string::npos) << summer;

  qc::SimMarketStatus proxy([] { return ny("2026-11-30 10:00:00"); });
  std::optional<qc::ProxyAnswer> answer;
  proxy.market_status([&](qc::ProxyAnswer a) { answer = std::move(a); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200u);
  EXPECT_EQ(answer->body, open);
  proxy.aggregates({"AAPL", 1, "minute", "2026-11-30", "2026-11-30"},
                   [&](qc::ProxyAnswer a) { answer = std::move(a); });
  EXPECT_EQ(answer->status, 503u);
}

// ---------------------------------------------------------------------------
// Prices and demo documents

// The session minutes in [from, to).
std::vector<std::int64_t> session_minutes(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (std::int64_t m = qc::us_equity_next_session_minute(from); m < to;
       m = qc::us_equity_next_session_minute(m + 60))
    out.push_back(m);
  return out;
}

TEST(SimulatedMarket, BarsAreConsistentAndAPureFunctionOfSeedSymbolAndMinute) {
  qc::SimulatedMarket a(qc::default_tickers(), 7), b(qc::default_tickers(), 7),
      c(qc::default_tickers(), 8);
  // The same symbol alone, or among others in another order, walks the same way.
  qc::SimulatedMarket nvda_only({qc::Ticker{"NVDA", "NASDAQ", "NVIDIA"}}, 7);
  std::size_t nvda = 8;
  ASSERT_EQ(a.tickers()[nvda].symbol, "NVDA");
  auto minutes = session_minutes(ny("2026-11-20 09:30:00"), ny("2026-11-25 16:00:00"));
  ASSERT_EQ(minutes.size(), 4u * 390);
  int differs = 0;
  std::optional<MinuteBar> previous;
  for (auto m : minutes) {
    auto bars = a.bars_at(m);
    ASSERT_EQ(bars.size(), 11u);
    for (std::size_t i = 0; i < bars.size(); ++i) {
      const auto& bar = bars[i];
      EXPECT_EQ(bar.symbol, a.tickers()[i].symbol);
      EXPECT_EQ(bar.start_ms, m * 1000);
      EXPECT_EQ(bar.end_ms, m * 1000 + 60'000);
      EXPECT_GT(bar.low, 0);
      EXPECT_LE(bar.low, std::min(bar.open, bar.close));
      EXPECT_GE(bar.high, std::max(bar.open, bar.close));
      EXPECT_EQ(bar.open, std::round(bar.open * 100) / 100);
      EXPECT_GT(bar.volume, 0);
    }
    auto again = b.bars_at(m);
    for (std::size_t i = 0; i < bars.size(); ++i) {
      EXPECT_EQ(bars[i].open, again[i].open);
      EXPECT_EQ(bars[i].high, again[i].high);
      EXPECT_EQ(bars[i].low, again[i].low);
      EXPECT_EQ(bars[i].close, again[i].close);
    }
    EXPECT_EQ(nvda_only.bar(0, m).close, bars[nvda].close);
    if (c.bar(0, m).close != bars[0].close) ++differs;
    // Within a session the open is the previous minute's close.
    if (previous && previous->end_ms == bars[nvda].start_ms) {
      EXPECT_EQ(bars[nvda].open, previous->close);
    }
    previous = bars[nvda];
  }
  EXPECT_GT(differs, static_cast<int>(minutes.size()) / 2);  // another seed, another market
}

TEST(SimulatedMarket, PricesMoveLikeStocksAndStayNearTheirBase) {
  qc::SimulatedMarket market(qc::default_tickers(), 20210712);
  // A year of daily closes: daily moves of about the symbol's volatility,
  // prices within a band around the base price.
  auto days = session_minutes(ny("2025-11-03 15:59:00"), ny("2026-11-03 16:00:00"));
  for (std::size_t i = 0; i < market.tickers().size(); ++i) {
    double sum_sq = 0, lowest = 1e300, highest = 0;
    int n = 0;
    std::optional<double> previous;
    for (auto m : days) {
      if (qc::new_york_clock(m).minute_of_day != 15 * 60 + 59)
        continue;  // the last minute of a full day
      double close = market.bar(i, m).close;
      lowest = std::min(lowest, close);
      highest = std::max(highest, close);
      if (previous) {
        double r = std::log(close / *previous);
        sum_sq += r * r;
        ++n;
      }
      previous = close;
    }
    ASSERT_GT(n, 200);
    double realized = std::sqrt(sum_sq / n), expected = market.daily_volatility(i);
    EXPECT_GT(realized, expected * 0.6) << market.tickers()[i].symbol;
    EXPECT_LT(realized, expected * 1.6) << market.tickers()[i].symbol;
    EXPECT_GT(lowest, market.base_price(i) * 0.4) << market.tickers()[i].symbol;
    EXPECT_LT(highest, market.base_price(i) * 2.5) << market.tickers()[i].symbol;
  }
}

TEST(SimulatedMarket, DemoDocumentsAtFixedSessionMinutesAtTheMinutesOpeningPrice) {
  qc::SimulatedMarket market(qc::default_tickers(), 20210712, 60);
  std::vector<std::string> times;
  for (auto m : session_minutes(ny("2026-11-30 00:00:00"), ny("2026-12-01 00:00:00"))) {
    auto doc = market.demo_document(m);
    if (!doc) continue;
    times.push_back(doc->us_date);
    EXPECT_EQ(doc->us_date, qc::format_new_york_time(m));
    EXPECT_EQ(doc->sg_date, qc::format_singapore_time(m));
    ASSERT_FALSE(doc->items.empty());
    EXPECT_LE(doc->items.size(), 2u);
    for (const auto& item : doc->items) {
      std::size_t i = 0;
      while (market.tickers()[i].symbol != item.symbol) ++i;
      EXPECT_EQ(item.current_price, market.bar(i, m).open);
      EXPECT_GT(item.target_price, item.current_price);
      EXPECT_LT(item.target_price, item.current_price * 1.25);
    }
  }
  EXPECT_EQ(times, (std::vector<std::string>{"2026-11-30 10:00:00", "2026-11-30 11:00:00",
                                             "2026-11-30 12:00:00", "2026-11-30 13:00:00",
                                             "2026-11-30 14:00:00", "2026-11-30 15:00:00"}));
  // An early-close day has fewer.
  int friday = 0;
  for (auto m : session_minutes(ny("2026-11-27 00:00:00"), ny("2026-11-28 00:00:00")))
    friday += market.demo_document(m).has_value();
  EXPECT_EQ(friday, 3);
}

// ---------------------------------------------------------------------------
// The feed on a fake clock

// A wall clock that jumps to whatever time the feed sleeps until, up to a
// limit; there the feed is parked until the limit moves or it is stopped.
class FakeClock final : public qc::SimClock {
 public:
  FakeClock(std::int64_t now_ms, std::int64_t limit_ms) : now_(now_ms), limit_(limit_ms) {}
  std::int64_t now_ms() override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void sleep_until_ms(std::int64_t until) override {
    std::unique_lock lock(mutex_);
    if (until > limit_) {
      now_ = std::max(now_, limit_);
      parked_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return interrupted_ || until <= limit_; });
      parked_ = false;
      if (interrupted_) return;
    }
    now_ = std::max(now_, until);
  }
  void interrupt() override {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
    cv_.notify_all();
  }
  // Waits until the feed has done everything due by the limit.
  bool wait_parked() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(120), [&] { return parked_; });
  }
  void set_limit(std::int64_t limit_ms) {
    std::lock_guard lock(mutex_);
    limit_ = limit_ms;
    parked_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::int64_t now_, limit_;
  bool parked_ = false, interrupted_ = false;
};

// Records what the feed delivers, when (on the fake clock), and runs it
// through the engine.
class RecordingSink final : public qc::FeedSink {
 public:
  explicit RecordingSink(FakeClock& clock) : clock_(clock) {}
  struct Delivery {
    std::int64_t start_ms, at_ms;
  };
  bool submit_bars(std::vector<MinuteBar> bars) override {
    std::lock_guard lock(mutex_);
    EXPECT_FALSE(bars.empty());
    minutes.push_back({bars.front().start_ms, clock_.now_ms()});
    for (const auto& bar : bars) {
      EXPECT_EQ(bar.start_ms, bars.front().start_ms);
      engine.apply(bar, closed);
    }
    return true;
  }
  void submit_document(RecommendationDocument doc) override {
    std::lock_guard lock(mutex_);
    documents.push_back({*qc::parse_new_york_time(doc.us_date) * 1000, clock_.now_ms()});
    auto r = engine.open(doc, qc::InvalidItems::SkipItem);
    EXPECT_TRUE(r.problems.empty());
    opened += r.opened.size();
  }
  bool flush() override { return true; }
  void set_market_open(bool open) override {
    std::lock_guard lock(mutex_);
    market_open.push_back({clock_.now_ms(), open});
  }
  void submit_quotes(std::vector<std::pair<std::string, qc::DailyChange>>) override {}
  std::vector<qc::BackfillRequest> backfill_plan() override { return {}; }

  std::mutex mutex_;
  FakeClock& clock_;
  qc::Engine engine{qc::default_tickers()};
  std::vector<Delivery> minutes, documents;
  std::vector<std::pair<std::int64_t, bool>> market_open;
  std::vector<qc::ClosedPosition> closed;
  std::size_t opened = 0;
};

struct FeedRun {
  FeedRun(std::int64_t now_s, std::int64_t limit_s, qc::SimOptions options)
      : clock(now_s * 1000, limit_s * 1000), sink(clock) {
    options.clock = &clock;
    feed = std::make_unique<qc::SimFeed>(qc::default_tickers(), options);
    feed->start(sink);
    EXPECT_TRUE(clock.wait_parked()) << "the feed never caught up with the fake clock";
  }
  ~FeedRun() { feed->stop(); }
  FakeClock clock;
  RecordingSink sink;
  std::unique_ptr<qc::SimFeed> feed;
};

TEST(SimFeed, ReplaysTheLastWeeksThenRunsInRealTimeAndNeverPastTheWallClock) {
  // Monday 14:00:00 New York time; the clock then runs to Friday 14:00.
  std::int64_t now = ny("2026-11-30 14:00:00"), limit = ny("2026-12-04 14:00:00");
  qc::SimOptions o;
  o.step_ms = 5;
  FeedRun run(now, limit, o);
  std::lock_guard lock(run.sink.mutex_);
  const auto& minutes = run.sink.minutes;
  ASSERT_FALSE(minutes.empty());

  // Every session minute from 21 days back up to the limit, once, in order.
  auto expected = session_minutes(now - 21 * 86400, limit - 59);
  ASSERT_EQ(minutes.size(), expected.size());
  EXPECT_EQ(minutes.front().start_ms / 1000, ny("2026-11-09 14:00:00"));
  EXPECT_EQ(minutes.back().start_ms / 1000, ny("2026-12-04 13:59:00"));
  std::int64_t previous_at = 0;
  int replayed = 0, live = 0;
  for (std::size_t i = 0; i < minutes.size(); ++i) {
    const auto& d = minutes[i];
    ASSERT_EQ(d.start_ms / 1000, expected[i]);
    EXPECT_TRUE(qc::us_equity_in_session(d.start_ms / 1000));
    // Never a bar whose minute has not ended on the wall clock.
    ASSERT_GE(d.at_ms, d.start_ms + 60'000) << qc::format_new_york_time(d.start_ms / 1000);
    EXPECT_GE(d.at_ms, previous_at);
    previous_at = d.at_ms;
    if (d.start_ms + 60'000 <= now * 1000) {
      // The past: replayed at step_ms per minute, from the start on.
      EXPECT_EQ(d.at_ms, now * 1000 + static_cast<std::int64_t>(i) * 5);
      ++replayed;
    } else if (d.start_ms >= now * 1000) {
      // The present: each bar as its minute ends.
      EXPECT_EQ(d.at_ms, d.start_ms + 60'000) << qc::format_new_york_time(d.start_ms / 1000);
      ++live;
    }
  }
  EXPECT_EQ(replayed, static_cast<int>(session_minutes(now - 21 * 86400, now).size()));
  EXPECT_GT(live, 3 * 390);
  // Documents: dated at their minute, never after the wall clock, and at
  // real pace once replayed.
  ASSERT_FALSE(run.sink.documents.empty());
  for (const auto& d : run.sink.documents) {
    EXPECT_GE(d.at_ms, d.start_ms);
    if (d.start_ms > (now + 60) * 1000) {
      EXPECT_EQ(d.at_ms, d.start_ms);
    }
  }
  EXPECT_EQ(run.sink.documents.back().start_ms / 1000, ny("2026-12-04 12:30:00"));
}

TEST(SimFeed, MarketOpensAndClosesWithTheSessionOnTheWallClock) {
  // Wednesday 15:00 before Thanksgiving to the Monday after, 10:00.
  std::int64_t now = ny("2026-11-25 15:00:00"), limit = ny("2026-11-30 10:00:00");
  qc::SimOptions o;
  o.step_ms = 0;
  o.replay_days = 0;
  FeedRun run(now, limit, o);
  std::lock_guard lock(run.sink.mutex_);
  std::vector<std::pair<std::int64_t, bool>> expected = {
      {now * 1000, true},
      {ny("2026-11-25 16:00:00") * 1000, false},
      {ny("2026-11-27 09:30:00") * 1000, true},  // Thanksgiving closed, Friday's short session
      {ny("2026-11-27 13:00:00") * 1000, false},
      {ny("2026-11-30 09:30:00") * 1000, true}};
  EXPECT_EQ(run.sink.market_open, expected);
  // Bars only in those sessions: 60 + 210 + 30 minutes.
  EXPECT_EQ(run.sink.minutes.size(), 60u + 210u + 30u);
  for (const auto& d : run.sink.minutes) {
    EXPECT_TRUE(qc::us_equity_in_session(d.start_ms / 1000));
    EXPECT_EQ(d.at_ms, d.start_ms + 60'000);
  }
}

TEST(SimFeed, AClosedMarketProducesNothing) {
  // Saturday noon, nothing to replay: no bar, market closed.
  std::int64_t now = ny("2026-11-28 12:00:00");
  qc::SimOptions o;
  o.replay_days = 0;
  FeedRun run(now, now + 86400, o);
  std::lock_guard lock(run.sink.mutex_);
  EXPECT_TRUE(run.sink.minutes.empty());
  EXPECT_TRUE(run.sink.documents.empty());
  EXPECT_EQ(run.sink.market_open,
            (std::vector<std::pair<std::int64_t, bool>>{{now * 1000, false}}));
}

TEST(SimFeed, ResumesAfterTheLastBarStored) {
  std::int64_t now = ny("2026-11-30 14:00:00");
  qc::SimOptions o;
  o.step_ms = 0;
  o.resume_after_ms = ny("2026-11-25 15:58:00") * 1000;
  FeedRun run(now, now, o);
  std::lock_guard lock(run.sink.mutex_);
  ASSERT_FALSE(run.sink.minutes.empty());
  EXPECT_EQ(run.sink.minutes.front().start_ms / 1000, ny("2026-11-25 15:59:00"));
  EXPECT_EQ(run.sink.minutes.back().start_ms / 1000, ny("2026-11-30 13:59:00"));
  EXPECT_EQ(run.sink.minutes.size(), 1u + 210 + 270);
  std::string status;
  qc::JsonWriter w(status);
  w.begin_object();
  run.feed->write_status(w);
  w.end_object();
  EXPECT_NE(status.find("\"simulated_time\":" + std::to_string(ny("2026-11-30 13:59:00"))),
            std::string::npos)
      << status;
  EXPECT_NE(status.find("\"replaying\":false"), std::string::npos) << status;
  EXPECT_NE(status.find("\"market_open\":true"), std::string::npos) << status;
  // Before it delivers anything: the last minute the store holds.
  qc::SimFeed idle(qc::default_tickers(), o);
  std::string before;
  qc::JsonWriter b(before);
  b.begin_object();
  idle.write_status(b);
  b.end_object();
  EXPECT_NE(before.find("\"simulated_time\":" + std::to_string(ny("2026-11-25 15:58:00"))),
            std::string::npos)
      << before;
  // Older than the replay window: the window wins.
  qc::SimOptions old = o;
  old.resume_after_ms = ny("2026-01-05 10:00:00") * 1000;
  qc::SimFeed feed(qc::default_tickers(), old);
  EXPECT_EQ(feed.first_minute(now * 1000), ny("2026-11-09 14:00:00"));
}

TEST(SimFeed, TheSystemClocksSleepEndsWhenInterrupted) {
  qc::SystemSimClock clock;
  std::int64_t an_hour_later = clock.now_ms() + 3'600'000;
  std::thread sleeper([&] { clock.sleep_until_ms(an_hour_later); });
  clock.interrupt();
  sleeper.join();                       // returns long before the hour is over
  clock.sleep_until_ms(an_hour_later);  // and so does every later sleep
  EXPECT_LT(clock.now_ms(), an_hour_later);
}

TEST(SimFeed, StopEndsAWaitAtOnce) {
  // Parked overnight on a real (system) clock would wait hours; stop() must
  // not. The fake clock parks the same way.
  std::int64_t now = ny("2026-11-28 12:00:00");
  qc::SimOptions o;
  o.replay_days = 0;
  auto run = std::make_unique<FeedRun>(now, now, o);
  run.reset();  // stop() and join: returns because the sleep is interrupted
  SUCCEED();
}

// ---------------------------------------------------------------------------
// A plausible track record

struct Record {
  int wins = 0, losses = 0, open = 0;
  double pnl = 0;
};

Record replay_record(std::uint64_t seed, std::int64_t now) {
  qc::SimOptions o;
  o.seed = seed;
  o.step_ms = 0;
  FeedRun run(now, now, o);
  std::lock_guard lock(run.sink.mutex_);
  Record r;
  for (const auto& c : run.sink.closed) {
    (c.pnl > 0 ? r.wins : r.losses) += 1;
    EXPECT_EQ(c.reason == qc::CloseReason::TargetPrice, c.pnl > 0);
    r.pnl += c.pnl;
  }
  r.open = static_cast<int>(run.sink.engine.open_count());
  return r;
}

TEST(SimTrackRecord, ThreeWeeksReplayedHaveWinsAndLossesBoth) {
  auto r = replay_record(20210712, ny("2026-11-30 14:00:00"));
  std::printf(
      "default seed, 21 days to 2026-11-30 14:00: %d wins, %d losses, %d still open, "
      "total pnl %.1f %%\n",
      r.wins, r.losses, r.open, r.pnl);
  EXPECT_GT(r.wins, 0);
  EXPECT_GT(r.losses, 0);
  EXPECT_GE(r.wins + r.losses, 20);
  double win_rate = static_cast<double>(r.wins) / (r.wins + r.losses);
  EXPECT_GE(win_rate, 0.35);
  EXPECT_LE(win_rate, 0.75);
}

TEST(SimTrackRecord, OverManySeedsTheWinRateIsBelievable) {
  int wins = 0, losses = 0, open = 0, seeds_with_both = 0, runs = 0;
  double pnl = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    for (const char* when : {"2026-11-30 14:00:00", "2026-06-15 11:00:00", "2027-03-01 10:00:00"}) {
      auto r = replay_record(seed * 7919, ny(when));
      wins += r.wins;
      losses += r.losses;
      open += r.open;
      pnl += r.pnl;
      seeds_with_both += r.wins > 0 && r.losses > 0;
      ++runs;
    }
  }
  double win_rate = static_cast<double>(wins) / (wins + losses);
  std::printf(
      "sim track record over %d replays: %d wins, %d losses (win rate %.3f), %d still open, "
      "total pnl %.1f %%\n",
      runs, wins, losses, win_rate, open, pnl);
  EXPECT_GE(win_rate, 0.45);
  EXPECT_LE(win_rate, 0.65);
  EXPECT_GE(seeds_with_both, runs * 3 / 4);
}

}  // namespace
