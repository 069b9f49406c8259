// The Polygon (Massive) REST endpoints the server uses, over RestClient:
// minute aggregates for backfill (following next_url), the ticker snapshot
// for the ticker list, and the key-free documents the front end's charts
// need (aggregates, market status), re-rendered so no provider URL or key
// leaks to a browser.
#pragma once
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/minute_bar.h"
#include "core/quote_board.h"
#include "market/polygon/rest_client.h"

namespace qc {

class ProviderError : public std::runtime_error {
 public:
  ProviderError(int status, const std::string& what, bool refused = false)
      : std::runtime_error(what), status_(status), refused_(refused) {}
  int status() const { return status_; }  // provider HTTP status, 0 = unreachable
  // A link off the configured provider origin was not followed (nothing sent).
  bool refused() const { return refused_; }

 private:
  int status_;
  bool refused_;
};

struct SnapshotEntry {
  std::string symbol;
  DailyChange change;
};

class PolygonRest {
 public:
  explicit PolygonRest(RestClient& client) : client_(client) {}
  // Minute bars starting in [from_ms, to_ms], ascending. Throws ProviderError.
  std::vector<MinuteBar> minute_bars(const std::string& symbol, std::int64_t from_ms,
                                     std::int64_t to_ms);
  std::vector<SnapshotEntry> snapshot(const std::vector<std::string>& symbols);
  // {"ticker","adjusted","resultsCount","results":[{"t","o","h","l","c","v","vw","n"}]}
  std::string aggregates_json(const std::string& symbol, int multiplier, const std::string& timespan,
                              const std::string& from, const std::string& to);
  std::string market_status_json();

 private:
  std::string get_json(const std::string& target);

  RestClient& client_;
};

}  // namespace qc
