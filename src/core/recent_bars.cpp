#include "core/recent_bars.h"

#include <algorithm>

#include "core/json_writer.h"

namespace qc {

RecentBars::RecentBars(std::size_t per_symbol) : per_symbol_(per_symbol ? per_symbol : 1) {}

bool RecentBars::add(const MinuteBar& bar) {
  auto& ring = bars_[bar.symbol];
  if (!ring.empty() && bar.start_ms <= ring.back().start_ms) return false;
  if (ring.size() == per_symbol_) ring.pop_front();
  ring.push_back(bar);
  return true;
}

std::vector<MinuteBar> RecentBars::latest(const std::string& symbol, std::size_t limit) const {
  auto it = bars_.find(symbol);
  if (it == bars_.end()) return {};
  const auto& ring = it->second;
  std::size_t n = std::min(limit, ring.size());
  return {ring.end() - static_cast<std::ptrdiff_t>(n), ring.end()};
}

std::string render_recent_bars(const std::string& symbol, const std::vector<MinuteBar>& bars) {
  std::string out;
  out.reserve(64 + bars.size() * 110);
  JsonWriter w(out);
  w.begin_object().key("symbol").value(symbol).key("bars").begin_array();
  for (const auto& b : bars) {
    w.begin_object()
        .key("start")
        .value(static_cast<double>(b.start_ms) / 1000.0)
        .key("end")
        .value(static_cast<double>(b.end_ms) / 1000.0)
        .key("open")
        .value(b.open)
        .key("high")
        .value(b.high)
        .key("low")
        .value(b.low)
        .key("close")
        .value(b.close)
        .key("volume")
        .value(b.volume)
        .end_object();
  }
  w.end_array().end_object();
  return out;
}

}  // namespace qc
