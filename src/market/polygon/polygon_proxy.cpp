#include "market/polygon/polygon_proxy.h"

#include <boost/asio/post.hpp>
#include <optional>

#include "log/log.h"

namespace qc {

PolygonProxy::PolygonProxy(std::string rest_url, std::string api_key, RetryPolicy policy)
    : client_(std::move(rest_url), std::move(api_key), policy), rest_(client_) {}

PolygonProxy::~PolygonProxy() {
  client_.stop();
  pool_.join();
}

void PolygonProxy::serve(const std::string& key, std::chrono::seconds ttl,
                         std::function<std::string()> fetch, std::function<void(ProxyAnswer)> done) {
  auto now = std::chrono::steady_clock::now();
  std::optional<std::string> cached;
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end() && it->second.expires > now)
      cached = it->second.body;
  }
  if (cached) {
    ++hits_;
    return done({200, std::move(*cached)});
  }
  ++misses_;
  boost::asio::post(pool_, [this, key, ttl, fetch = std::move(fetch), done = std::move(done)] {
    ProxyAnswer answer;
    try {
      answer = {200, fetch()};
      std::lock_guard lock(mutex_);
      if (cache_.size() > 1000) cache_.clear();
      cache_[key] = {std::chrono::steady_clock::now() + ttl, answer.body};
    } catch (const ProviderError& e) {
      // The browser gets the status only; the provider's address and text
      // stay in the server log.
      if (e.refused())
        answer = {503,
                  "market data provider unavailable (it linked to another host, which was "
                  "not followed)"};
      else
        answer = {503, e.status() ? "market data provider unavailable (it answered HTTP " +
                                        std::to_string(e.status()) + ")"
                                  : std::string("market data provider unreachable")};
      log::write(e.refused() ? log::Level::Error : log::Level::Warn, "proxy",
                 std::string("provider request failed: ") + e.what());
    }
    done(std::move(answer));
  });
}

void PolygonProxy::aggregates(const AggregatesQuery& q, std::function<void(ProxyAnswer)> done) {
  auto ttl = q.timespan == "minute" ? std::chrono::seconds(30) : std::chrono::seconds(300);
  serve("aggs|" + q.key(), ttl,
        [this, q] { return rest_.aggregates_json(q.symbol, q.multiplier, q.timespan, q.from, q.to); },
        std::move(done));
}

void PolygonProxy::market_status(std::function<void(ProxyAnswer)> done) {
  serve("marketstatus", std::chrono::seconds(30), [this] { return rest_.market_status_json(); },
        std::move(done));
}

}  // namespace qc
