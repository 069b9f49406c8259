#include "core/ticker.h"

namespace qc {

const std::vector<Ticker>& default_tickers() {
  static const std::vector<Ticker> tickers = {
      {"AAPL", "NASDAQ", "Apple Inc."},
      {"AMZN", "NASDAQ", "Amazon.com Inc."},
      {"BABA", "NYSE", "Alibaba Group Holdings Limited"},
      {"GOOG", "NASDAQ", "Alphabet Inc."},
      {"SHOP", "NYSE", "Shopify Inc."},
      {"BX", "NYSE", "Blackstone Group Inc."},
      {"C", "NYSE", "Citigroup Inc."},
      {"TLT", "NASDAQ", "iShares 20 Plus Year Treasury Bond ETF"},
      {"NVDA", "NASDAQ", "NVIDIA Corporation"},
      {"BLK", "NYSE", "BlackRock Inc."},
      {"NOK", "NYSE", "Nokia Corporation"},
  };
  return tickers;
}

}  // namespace qc
