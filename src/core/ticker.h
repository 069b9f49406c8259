// A tracked ticker (SPEC §5 `tickers`): symbol, exchange, display name.
#pragma once
#include <string>
#include <vector>

namespace qc {

struct Ticker {
  std::string symbol;
  std::string exchange;
  std::string name;
  bool operator==(const Ticker&) const = default;
};

// The tickers seeded into an empty store (SPEC §5), in their listed order.
const std::vector<Ticker>& default_tickers();

}  // namespace qc
