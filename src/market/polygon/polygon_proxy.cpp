#include "market/polygon/polygon_proxy.h"

#include <boost/asio/post.hpp>
#include <optional>

#include "log/log.h"

namespace qc {

namespace {

const char* const kBusy =
    "the market data proxy is busy: too many chart requests are waiting for the provider; "
    "try again shortly";
const char* const kStopping = "the server is shutting down; market data request not answered";

// `done` must not take the other waiters down with it.
void answer(const std::function<void(ProxyAnswer)>& done, ProxyAnswer a) {
  try {
    done(std::move(a));
  } catch (const std::exception& e) {
    log::error("proxy", std::string("answering a caller failed: ") + e.what());
  } catch (...) {
    log::error("proxy", "answering a caller failed");
  }
}

}  // namespace

PolygonProxy::PolygonProxy(std::string rest_url, std::string api_key, RetryPolicy policy)
    : PolygonProxy(std::move(rest_url), std::move(api_key), [&] {
        ProxyOptions o;
        o.retry = policy;
        return o;
      }()) {}

PolygonProxy::PolygonProxy(std::string rest_url, std::string api_key, ProxyOptions options)
    : options_(options),
      client_(std::move(rest_url), std::move(api_key), options_.retry),
      rest_(client_),
      aggregates_lane_(std::max(1, options_.fetch_threads),
                       std::max<std::size_t>(1, options_.max_pending_fetches),
                       std::max<std::size_t>(1, options_.max_waiters)),
      status_lane_(1, 1, std::max<std::size_t>(1, options_.max_waiters)) {}

PolygonProxy::~PolygonProxy() {
  stop();
  aggregates_lane_.pool.join();
  status_lane_.pool.join();
}

void PolygonProxy::stop() {
  std::vector<Done> waiting;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [key, flight] : flights_)
      for (auto& w : flight.waiters) waiting.push_back(std::move(w));
    flights_.clear();
    aggregates_lane_.waiters = status_lane_.waiters = 0;
  }
  client_.stop();  // requests in flight end now; their workers find nobody to answer
  for (auto& w : waiting) answer(w, {503, kStopping});
}

MarketDataProxy::CacheStats PolygonProxy::cache_stats() const {
  return {hits_.load(), misses_.load(), coalesced_.load(), busy_.load()};
}

void PolygonProxy::serve(Lane& lane, const std::string& key, std::chrono::seconds ttl,
                         std::function<std::string()> fetch, Done done) {
  enum class Outcome { Hit, Joined, Started, Busy, Stopping } outcome;
  std::string cached;
  {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (stopping_) {
      outcome = Outcome::Stopping;
    } else if (auto it = cache_.find(key); it != cache_.end() && it->second.expires > now) {
      cached = it->second.body;
      outcome = Outcome::Hit;
    } else if (auto f = flights_.find(key); f != flights_.end()) {
      outcome = lane.waiters < lane.max_waiters ? Outcome::Joined : Outcome::Busy;
      if (outcome == Outcome::Joined) {
        f->second.waiters.push_back(std::move(done));
        ++lane.waiters;
      }
    } else if (lane.pending < lane.max_pending && lane.waiters < lane.max_waiters) {
      outcome = Outcome::Started;
      flights_[key].waiters.push_back(std::move(done));
      ++lane.pending;
      ++lane.waiters;
    } else {
      outcome = Outcome::Busy;
    }
  }
  switch (outcome) {
    case Outcome::Stopping:
      return answer(done, {503, kStopping});
    case Outcome::Hit:
      ++hits_;
      return answer(done, {200, std::move(cached)});
    case Outcome::Joined:
      ++misses_;
      ++coalesced_;
      return;
    case Outcome::Busy:
      ++misses_;
      if (++busy_ % 100 == 1)
        log::warn("proxy", "chart requests refused (503 busy): " + std::to_string(busy_.load()) +
                               " so far; the provider is slow or the server is flooded");
      return answer(done, {503, kBusy});
    case Outcome::Started:
      ++misses_;
      boost::asio::post(lane.pool, [this, &lane, key, ttl, fetch = std::move(fetch)] {
        fetch_and_answer(lane, key, ttl, fetch);
      });
      return;
  }
}

void PolygonProxy::fetch_and_answer(Lane& lane, const std::string& key, std::chrono::seconds ttl,
                                    const std::function<std::string()>& fetch) {
  bool stopping;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
  }
  ProxyAnswer result{503, kStopping};
  if (!stopping) {
    try {
      result = {200, fetch()};
    } catch (const ProviderError& e) {
      // The browser gets the status only; the provider's address and text
      // stay in the server log.
      if (e.refused())
        result = {503,
                  "market data provider unavailable (it linked to another host, which was "
                  "not followed)"};
      else if (e.status())
        result = {503, "market data provider unavailable (it answered HTTP " +
                           std::to_string(e.status()) + ")"};
      else
        result = {503, "market data provider unreachable"};
      bool cut_short;  // by stop(): nothing to report
      {
        std::lock_guard lock(mutex_);
        cut_short = stopping_;
      }
      if (!cut_short)
        log::write(e.refused() ? log::Level::Error : log::Level::Warn, "proxy",
                   std::string("provider request failed: ") + e.what());
    } catch (const std::exception& e) {
      result = {503, "market data request failed on the server"};
      log::error("proxy", std::string("market data request failed: ") + e.what());
    }
  }
  std::vector<Done> waiters;
  {
    std::lock_guard lock(mutex_);
    --lane.pending;
    if (result.status == 200 && !stopping_) {
      auto now = std::chrono::steady_clock::now();
      if (cache_.size() >= options_.max_cache_entries)
        std::erase_if(cache_, [&](const auto& kv) { return kv.second.expires <= now; });
      if (cache_.size() >= options_.max_cache_entries) cache_.clear();
      cache_[key] = {now + ttl, result.body};
    }
    // Gone when stop() has answered this flight's waiters already.
    if (auto it = flights_.find(key); it != flights_.end()) {
      waiters = std::move(it->second.waiters);
      flights_.erase(it);
      lane.waiters -= waiters.size();
    }
  }
  for (auto& w : waiters) answer(w, result);
}

void PolygonProxy::aggregates(const AggregatesQuery& q, std::function<void(ProxyAnswer)> done) {
  auto ttl = q.timespan == "minute" ? options_.minute_ttl : options_.other_ttl;
  serve(
      aggregates_lane_, "aggs|" + q.key(), ttl,
      [this, q] { return rest_.aggregates_json(q.symbol, q.multiplier, q.timespan, q.from, q.to); },
      std::move(done));
}

void PolygonProxy::market_status(std::function<void(ProxyAnswer)> done) {
  serve(
      status_lane_, "marketstatus", options_.status_ttl,
      [this] { return rest_.market_status_json(); }, std::move(done));
}

}  // namespace qc
