// GET /api/bars/{symbol}: the last minute bars the feed applied for a tracked
// symbol (RecentBars behind a mutex), so the dashboard can chart a symbol in
// embedded mode, where no provider serves /api/aggregates. The ledger thread
// records each committed batch's applied bars; HTTP threads read.
#pragma once
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/minute_bar.h"
#include "core/recent_bars.h"
#include "http/server.h"

namespace qc {

class RecentBarsEndpoint {
 public:
  explicit RecentBarsEndpoint(std::size_t per_symbol = RecentBars::kDefaultPerSymbol)
      : bars_(per_symbol) {}
  // Bars in the order they were applied; never blocks for long.
  void record(const std::vector<MinuteBar>& applied);
  // 200 with the bars; 404 for a symbol that is not tracked; 422 for a bad
  // `limit` (1 to per_symbol, default all kept).
  HttpResponse answer(std::string_view symbol, std::string_view query,
                      const std::function<bool(std::string_view)>& is_tracked) const;

 private:
  mutable std::mutex mutex_;
  RecentBars bars_;
};

}  // namespace qc
