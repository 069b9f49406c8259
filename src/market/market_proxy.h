// The port through which the HTTP API serves provider data the front end
// needs for charts, so the provider key stays on the server. Answers are
// JSON bodies (status 200) or a human-readable reason (any other status).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace qc {

struct AggregatesQuery {
  std::string symbol;
  int multiplier = 1;
  std::string timespan;  // minute, hour, day, week, month
  std::string from;      // YYYY-MM-DD or UNIX ms
  std::string to;
  std::string key() const {
    return symbol + "|" + std::to_string(multiplier) + "|" + timespan + "|" + from + "|" + to;
  }
};

struct ProxyAnswer {
  unsigned status = 503;
  std::string body;  // JSON when 200, else the reason
};

class MarketDataProxy {
 public:
  virtual ~MarketDataProxy() = default;
  // `done` is called exactly once, on any thread (possibly before the call
  // returns), also when the proxy is busy or stopping.
  virtual void aggregates(const AggregatesQuery& query, std::function<void(ProxyAnswer)> done) = 0;
  virtual void market_status(std::function<void(ProxyAnswer)> done) = 0;
  // Answers every waiting caller (503) and every later one; idempotent.
  virtual void stop() {}
  struct CacheStats {
    std::uint64_t hits = 0, misses = 0;  // lookups answered from the cache / not
    std::uint64_t coalesced = 0;         // misses that joined an identical fetch in flight
    std::uint64_t busy = 0;              // misses refused (503) because the fetch queue was full
  };
  virtual CacheStats cache_stats() const { return {}; }
};

}  // namespace qc
