// MarketDataProxy over Polygon REST: slow provider calls never hold an HTTP
// thread, and no client can make the server queue work without limit.
//
// - A short-lived cache: a page of charts costs the provider one request per
//   distinct query.
// - Coalescing: callers missing the cache for a query already being fetched
//   wait for that fetch; N identical requests cost one provider request.
// - Bounds: at most `max_pending_fetches` distinct aggregates fetches queued
//   or running, and `max_waiters` callers waiting in all; beyond that a caller
//   is answered 503 ("busy") at once.
// - Lanes: aggregates and market status have their own worker threads, so a
//   flood of chart requests never delays /api/marketstatus.
// - stop() (and the destructor) answers every waiting caller with 503 and
//   cuts the requests in flight; every `done` is called exactly once.
#pragma once
#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "market/market_proxy.h"
#include "market/polygon/polygon_rest.h"

namespace qc {

struct ProxyOptions {
  RetryPolicy retry;
  std::size_t max_pending_fetches = 32;  // distinct aggregates queries queued or running
  std::size_t max_waiters = 1024;        // callers waiting for a fetch, per lane
  int fetch_threads = 4;                 // aggregates workers (market status has its own one)
  std::chrono::seconds minute_ttl{30};   // cache lifetime of minute aggregates
  std::chrono::seconds other_ttl{300};   // of hour/day/... aggregates
  std::chrono::seconds status_ttl{30};   // of the market status
  std::size_t max_cache_entries = 1000;
};

class PolygonProxy final : public MarketDataProxy {
 public:
  PolygonProxy(std::string rest_url, std::string api_key, RetryPolicy policy = {});
  PolygonProxy(std::string rest_url, std::string api_key, ProxyOptions options);
  ~PolygonProxy() override;
  void aggregates(const AggregatesQuery& query, std::function<void(ProxyAnswer)> done) override;
  void market_status(std::function<void(ProxyAnswer)> done) override;
  void stop() override;
  CacheStats cache_stats() const override;

 private:
  using Done = std::function<void(ProxyAnswer)>;
  struct Lane {
    Lane(int threads, std::size_t max_pending, std::size_t max_waiters)
        : pool(static_cast<std::size_t>(threads)),
          max_pending(max_pending),
          max_waiters(max_waiters) {}
    boost::asio::thread_pool pool;
    const std::size_t max_pending, max_waiters;
    std::size_t pending = 0, waiters = 0;  // guarded by mutex_
  };
  struct Flight {
    std::vector<Done> waiters;  // answered by whoever removes the flight
  };
  struct Entry {
    std::chrono::steady_clock::time_point expires;
    std::string body;
  };

  void serve(Lane& lane, const std::string& key, std::chrono::seconds ttl,
             std::function<std::string()> fetch, Done done);
  void fetch_and_answer(Lane& lane, const std::string& key, std::chrono::seconds ttl,
                        const std::function<std::string()>& fetch);

  ProxyOptions options_;
  RestClient client_;
  PolygonRest rest_;
  mutable std::mutex mutex_;
  bool stopping_ = false;
  std::map<std::string, Entry> cache_;
  std::map<std::string, Flight> flights_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, coalesced_{0}, busy_{0};
  // Last members: joined (in the destructor) before anything they use goes.
  Lane aggregates_lane_;
  Lane status_lane_;
};

}  // namespace qc
