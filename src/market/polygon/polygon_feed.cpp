#include "market/polygon/polygon_feed.h"

#include <simdjson.h>

#include "log/log.h"
#include "core/ny_time.h"
#include "market/bar_parser.h"
#include "market/polygon/endpoint.h"

namespace qc {

PolygonFeed::PolygonFeed(PolygonOptions options)
    : options_(std::move(options)),
      rest_client_(options_.rest_url, options_.api_key, options_.retry),
      snapshot_client_(options_.rest_url, options_.api_key, options_.retry),
      rest_(rest_client_),
      snapshot_rest_(snapshot_client_) {
  auto rest = parse_endpoint(options_.rest_url);
  if (!rest || (rest->scheme != "http" && rest->scheme != "https"))
    throw std::invalid_argument("POLYGON_API_URL must be an http:// or https:// URL, got '" +
                                options_.rest_url + "'");
  auto ws = parse_endpoint(options_.ws_url);
  if (!ws || (ws->scheme != "ws" && ws->scheme != "wss"))
    throw std::invalid_argument("POLYGON_WS_URL must be a ws:// or wss:// URL, got '" +
                                options_.ws_url + "'");
  StreamOptions so;
  so.url = options_.ws_url;
  so.api_key = options_.api_key;
  so.symbols = options_.symbols;
  so.stale_after = options_.stale_after;
  so.first_backoff = options_.first_backoff;
  so.max_backoff = options_.max_backoff;
  // Staleness counts only in the regular session, when every tracked ticker
  // trades each minute: the provider's word when fresh, else the clock.
  so.market_active = [this] {
    std::int64_t t = now();
    int status = market_status_.load();
    if (status >= 0 && t - market_status_at_.load() < 15 * 60) return status == 2;
    auto c = new_york_clock(t);
    return c.weekday != 0 && c.weekday != 6 && c.minute_of_day >= 9 * 60 + 30 &&
           c.minute_of_day < 16 * 60;
  };
  StreamCallbacks cb;
  cb.on_authenticated = [this] {
    std::lock_guard lock(mutex_);
    discarding_ = false;
    items_.push_back({true, {}});
    wake_.notify_all();
  };
  cb.on_frame = [this](std::string frame) { on_frame(std::move(frame)); };
  cb.on_fatal = [this](const std::string& reason) {
    if (options_.on_fatal) options_.on_fatal(reason);
  };
  stream_ = std::make_unique<PolygonStream>(std::move(so), std::move(cb));
}

PolygonFeed::~PolygonFeed() { stop(); }

std::int64_t PolygonFeed::now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

bool PolygonFeed::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

std::string PolygonFeed::describe() const {
  auto ws = parse_endpoint(options_.ws_url);
  auto rest = parse_endpoint(options_.rest_url);
  return "Polygon websocket " + ws->origin() + ws->target + " (AM minute bars for " +
         std::to_string(options_.symbols.size()) + " symbols) and REST " + rest->origin() +
         " (snapshot every " + std::to_string(options_.snapshot_interval.count()) +
         " s, backfill after every reconnect)";
}

void PolygonFeed::start(FeedSink& sink) {
  worker_ = std::thread([this, &sink] { work(sink); });
  snapshots_ = std::thread([this, &sink] { refresh_snapshots(sink); });
  stream_->start();
}

void PolygonFeed::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  rest_client_.stop();
  snapshot_client_.stop();
  stream_->stop();
  if (worker_.joinable()) worker_.join();
  if (snapshots_.joinable()) snapshots_.join();
}

void PolygonFeed::on_frame(std::string frame) {
  ++frames_;
  std::deque<Item> dropped;  // freed outside the lock
  std::size_t dropped_frames = 0, dropped_bytes = 0;
  {
    std::lock_guard lock(mutex_);
    if (discarding_) {
      ++frames_overflowed_;
      return;
    }
    if (queued_frames_ < options_.max_queued_frames &&
        frame.size() <=
            options_.max_queued_bytes - std::min(queued_bytes_, options_.max_queued_bytes)) {
      ++queued_frames_;
      queued_bytes_ += frame.size();
      queue_high_water_ = std::max(queue_high_water_, queued_frames_);
      items_.push_back({false, std::move(frame)});
      wake_.notify_all();
      return;
    }
    // Full: drop what waits (a queued backfill marker too: the reconnect
    // queues a new one) and everything this connection still sends.
    dropped_frames = queued_frames_ + 1;
    dropped_bytes = queued_bytes_ + frame.size();
    dropped.swap(items_);
    queued_frames_ = queued_bytes_ = 0;
    discarding_ = true;
  }
  ++queue_overflows_;
  frames_overflowed_ += dropped_frames;
  std::string why = "frame queue full (" + std::to_string(dropped_frames) + " frames, " +
                    std::to_string(dropped_bytes) + " bytes waiting; limits " +
                    std::to_string(options_.max_queued_frames) + " frames, " +
                    std::to_string(options_.max_queued_bytes) +
                    " bytes): the ledger is not keeping up";
  {
    std::lock_guard lock(error_mutex_);
    last_error_ = why;
  }
  log::error("polygon", why +
                            "; dropped the queued frames and reconnecting the websocket; the "
                            "backfill after the reconnect fetches the missed minute bars of "
                            "symbols with open positions");
  stream_->reconnect(why);
}

void PolygonFeed::work(FeedSink& sink) {
  std::vector<MinuteBar> bars;
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !items_.empty(); });
      if (stopping_) return;
      item = std::move(items_.front());
      items_.pop_front();
      if (!item.backfill) {
        --queued_frames_;
        queued_bytes_ -= item.frame.size();
      }
    }
    if (item.backfill) {
      backfill(sink);
      continue;
    }
    std::size_t length = item.frame.size();
    item.frame.append(simdjson::SIMDJSON_PADDING, ' ');
    bars.clear();
    std::string reason = parse_json_bar_line(std::string_view(item.frame.data(), length), bars);
    if (!reason.empty()) {
      auto n = ++frames_dropped_;
      if (n <= 100 || n % 1000 == 0)
        log::warn("polygon", "dropped a malformed frame (" + reason + "): " +
                                 item.frame.substr(0, std::min<std::size_t>(length, 120)));
      continue;
    }
    bars_received_ += bars.size();
    if (!bars.empty() && !sink.submit_bars(std::move(bars))) return;
    bars = {};
  }
}

void PolygonFeed::backfill(FeedSink& sink) {
  auto plan = sink.backfill_plan();
  if (plan.empty()) return;
  ++backfills_;
  std::int64_t to_ms = now() * 1000;
  std::uint64_t total = 0;
  log::info("backfill", "fetching missed minute bars for " + std::to_string(plan.size()) +
                            " symbols with open positions");
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& req = plan[i];
    if (req.from_ms > to_ms) continue;
    // Retried until it succeeds: live frames wait behind the backfill, so
    // giving up here would let a later live bar skip the gap for good.
    auto delay = std::chrono::milliseconds(1000);
    for (;;) {
      try {
        auto bars = rest_.minute_bars(req.symbol, req.from_ms, to_ms);
        total += bars.size();
        log::info("backfill", req.symbol + ": " + std::to_string(bars.size()) + " bars since " +
                                  format_new_york_time(req.from_ms / 1000) + " ET (" +
                                  std::to_string(i + 1) + "/" + std::to_string(plan.size()) + ")");
        backfilled_bars_ += bars.size();
        if (!bars.empty() && !sink.submit_bars(std::move(bars))) return;
        break;
      } catch (const ProviderError& e) {
        if (stopping()) return;  // stop() cut the request short
        ++backfill_errors_;
        {
          std::lock_guard lock(error_mutex_);
          last_error_ = std::string("backfill ") + req.symbol + ": " + e.what();
        }
        log::write(e.refused() ? log::Level::Error : log::Level::Warn, "backfill",
                   req.symbol + ": " + e.what() + "; retrying in " + std::to_string(delay.count()) +
                       " ms (live bars wait)");
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, delay, [&] { return stopping_; })) return;
        delay = std::min(delay * 2, std::chrono::milliseconds(60'000));
      }
    }
  }
  log::info("backfill", "done: " + std::to_string(total) + " bars");
}

bool PolygonFeed::market_active(std::int64_t t) const {
  // The provider's word, when fresh, wins over the clock (it knows holidays).
  int status = market_status_.load();
  if (status >= 0 && t - market_status_at_.load() < 15 * 60) return status >= 1;
  return us_equity_extended_hours(t);
}

void PolygonFeed::refresh_snapshots(FeedSink& sink) {
  auto interval = options_.snapshot_interval;
  std::int64_t next_status_check = 0;
  bool failing = false;
  for (;;) {
    std::int64_t t = now();
    if (t >= next_status_check) {
      next_status_check = t + 60;
      try {
        std::string body = snapshot_rest_.market_status_json();
        simdjson::dom::parser parser;
        std::string_view market;
        if (!parser.parse(body)["market"].get_string().get(market)) {
          market_status_ = market == "closed" ? 0 : market == "open" ? 2 : 1;
          market_status_at_ = t;
        }
      } catch (const ProviderError& e) {
        log::debug("snapshot", std::string("market status unavailable: ") + e.what());
      }
    }
    bool active = market_active(t);
    sink.set_market_open(active);
    auto wait = interval;
    if (active) {
      try {
        auto entries = snapshot_rest_.snapshot(options_.symbols);
        std::vector<std::pair<std::string, DailyChange>> quotes;
        for (auto& e : entries) quotes.emplace_back(std::move(e.symbol), e.change);
        sink.submit_quotes(std::move(quotes));
        ++snapshot_ok_;
        last_snapshot_ = t;
        if (failing) log::info("snapshot", "snapshot refresh recovered");
        failing = false;
      } catch (const ProviderError& e) {
        if (stopping()) return;
        ++snapshot_errors_;
        {
          std::lock_guard lock(error_mutex_);
          last_error_ = std::string("snapshot: ") + e.what();
        }
        if (!failing) log::warn("snapshot", std::string("refresh failed: ") + e.what() +
                                                "; the ticker list keeps its last values");
        failing = true;
        wait = std::min<std::chrono::seconds>(interval * 4, std::chrono::seconds(300));
      }
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, wait, [&] { return stopping_; })) return;
  }
}

FeedMetrics PolygonFeed::metrics() const {
  FeedMetrics m;
  m.frames = frames_.load();
  m.frames_dropped = frames_dropped_.load();
  m.frames_overflowed = frames_overflowed_.load();
  m.queue_overflows = queue_overflows_.load();
  m.reconnects = stream_->reconnects();
  m.backfilled_bars = backfilled_bars_.load();
  m.backfill_errors = backfill_errors_.load();
  m.snapshot_errors = snapshot_errors_.load();
  return m;
}

void PolygonFeed::write_status(JsonWriter& w) const {
  stream_->write_status(w);
  w.key("frames").value(static_cast<std::int64_t>(frames_.load()));
  w.key("frames_dropped").value(static_cast<std::int64_t>(frames_dropped_.load()));
  {
    std::lock_guard lock(mutex_);
    w.key("queued_frames").value(static_cast<std::int64_t>(queued_frames_));
    w.key("queued_bytes").value(static_cast<std::int64_t>(queued_bytes_));
    w.key("queue_high_water").value(static_cast<std::int64_t>(queue_high_water_));
  }
  w.key("queue_overflows").value(static_cast<std::int64_t>(queue_overflows_.load()));
  w.key("frames_overflowed").value(static_cast<std::int64_t>(frames_overflowed_.load()));
  w.key("bars_received").value(static_cast<std::int64_t>(bars_received_.load()));
  w.key("backfills").value(static_cast<std::int64_t>(backfills_.load()));
  w.key("backfilled_bars").value(static_cast<std::int64_t>(backfilled_bars_.load()));
  w.key("backfill_errors").value(static_cast<std::int64_t>(backfill_errors_.load()));
  w.key("snapshots").value(static_cast<std::int64_t>(snapshot_ok_.load()));
  w.key("snapshot_errors").value(static_cast<std::int64_t>(snapshot_errors_.load()));
  w.key("last_snapshot").value(last_snapshot_.load());
  w.key("market_open").value(market_active(now()));
  std::lock_guard lock(error_mutex_);
  if (!last_error_.empty()) w.key("last_error").value(last_error_);
}

}  // namespace qc
