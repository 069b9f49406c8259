#include "market/sim/sim_market_status.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/json_writer.h"
#include "core/ny_time.h"
#include "market/sim/trading_calendar.h"

namespace qc {

std::string simulated_market_status(std::int64_t unix_seconds) {
  bool open = us_equity_in_session(unix_seconds);
  const char* state = open ? "open" : "closed";
  // serverTime as Polygon writes it: New York local time with its UTC offset.
  auto c = new_york_clock(unix_seconds);
  std::int64_t local = static_cast<std::int64_t>(c.days_since_epoch) * 86400 +
                       c.minute_of_day * 60 + ((unix_seconds % 60) + 60) % 60;
  std::int64_t offset_minutes = (local - unix_seconds) / 60;
  char zone[8];
  std::snprintf(zone, sizeof zone, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+',
                static_cast<int>(std::abs(offset_minutes) / 60),
                static_cast<int>(std::abs(offset_minutes) % 60));
  std::string server_time = format_new_york_time(unix_seconds);
  server_time[10] = 'T';
  server_time += zone;

  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("market").value(state);
  w.key("serverTime").value(server_time);
  w.key("earlyHours").value(false);
  w.key("afterHours").value(false);
  w.key("exchanges").begin_object();
  w.key("nyse").value(state).key("nasdaq").value(state).key("otc").value(state);
  w.end_object();
  w.key("simulated").value(true);
  w.end_object();
  return out;
}

SimMarketStatus::SimMarketStatus(std::function<std::int64_t()> now) : now_(std::move(now)) {
  if (!now_)
    now_ = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
}

void SimMarketStatus::aggregates(const AggregatesQuery&, std::function<void(ProxyAnswer)> done) {
  done({503, "the simulated market serves no aggregates (set POLYGON_API_KEY for charts)"});
}

void SimMarketStatus::market_status(std::function<void(ProxyAnswer)> done) {
  done({200, simulated_market_status(now_())});
}

}  // namespace qc
