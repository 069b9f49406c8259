// MarketDataProxy over Polygon REST: a small worker pool so slow provider
// calls never hold an HTTP thread, and a short-lived cache so a page of
// charts costs the provider one request per distinct query.
#pragma once
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include "market/market_proxy.h"
#include "market/polygon/polygon_rest.h"

namespace qc {

class PolygonProxy final : public MarketDataProxy {
 public:
  PolygonProxy(std::string rest_url, std::string api_key, RetryPolicy policy = {});
  ~PolygonProxy() override;
  void aggregates(const AggregatesQuery& query, std::function<void(ProxyAnswer)> done) override;
  void market_status(std::function<void(ProxyAnswer)> done) override;
  CacheStats cache_stats() const override { return {hits_.load(), misses_.load()}; }

 private:
  void serve(const std::string& key, std::chrono::seconds ttl, std::function<std::string()> fetch,
             std::function<void(ProxyAnswer)> done);
  RestClient client_;
  PolygonRest rest_;
  boost::asio::thread_pool pool_{2};
  std::mutex mutex_;
  struct Entry {
    std::chrono::steady_clock::time_point expires;
    std::string body;
  };
  std::map<std::string, Entry> cache_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
};

}  // namespace qc
