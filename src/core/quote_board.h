// Today's change per ticker for the ticker list (SPEC §4.1), from the feed's
// own bars (embedded mode) or from a provider snapshot (production).
// "Today" is the New York trading day of the newest bar seen for the symbol;
// the change is against the last close of the previous day seen.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/minute_bar.h"

namespace qc {

struct DailyChange {
  double change = 0;
  double change_perc = 0;
};

class QuoteBoard {
 public:
  void on_bar(const MinuteBar& bar);
  // A provider snapshot value overrides what bars computed.
  void set_snapshot(std::string_view symbol, DailyChange change);
  DailyChange change(std::string_view symbol) const;
  std::optional<double> last_price(std::string_view symbol) const;

 private:
  struct Quote {
    std::int32_t day = 0;
    std::int64_t last_start_ms = 0;
    bool has_day = false;
    double last_close = 0;
    double prev_day_close = 0;
    bool has_prev = false;
    bool has_snapshot = false;
    DailyChange snapshot;
  };
  std::unordered_map<std::string, Quote> quotes_;
};

}  // namespace qc
