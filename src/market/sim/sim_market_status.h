// /api/marketstatus in sim mode: the simulated market's own session state at
// the wall clock, in the shape of Polygon's /v1/marketstatus/now (plus
// "simulated": true), so a client sees a closed market when the simulated
// feed produces no bars. It has no extended hours: "open" during the regular
// session, else "closed". Aggregates are not simulated (503).
#pragma once
#include <cstdint>
#include <functional>

#include "market/market_proxy.h"

namespace qc {

// The market-status document for the instant `unix_seconds`.
std::string simulated_market_status(std::int64_t unix_seconds);

class SimMarketStatus final : public MarketDataProxy {
 public:
  // `now` gives UNIX seconds; empty = the system clock.
  explicit SimMarketStatus(std::function<std::int64_t()> now = {});
  void aggregates(const AggregatesQuery& query, std::function<void(ProxyAnswer)> done) override;
  void market_status(std::function<void(ProxyAnswer)> done) override;

 private:
  std::function<std::int64_t()> now_;
};

}  // namespace qc
