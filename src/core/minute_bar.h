// One minute bar (SPEC §6.2): a Polygon `AM` event reduced to what the engine
// and the ticker list need. Times are UNIX milliseconds, start inclusive.
#pragma once
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace qc {

struct MinuteBar {
  std::string symbol;
  double open = 0;
  double high = 0;
  double low = 0;
  double close = 0;
  double volume = 0;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
};

// The newest bar applied for a symbol, as the store keeps it (SPEC §6.3: the
// bar start decides what is stale; the close and end mark open positions to
// market, SPEC §4.6). `close` is empty for rows stored before prices were
// kept: such a symbol has no price until its next bar.
struct LastBar {
  LastBar() = default;
  LastBar(std::string symbol_, std::int64_t start_ms_, std::optional<double> close_ = std::nullopt,
          std::int64_t end_ms_ = 0)
      : symbol(std::move(symbol_)), start_ms(start_ms_), close(close_), end_ms(end_ms_) {}
  std::string symbol;
  std::int64_t start_ms = 0;
  std::optional<double> close;
  std::int64_t end_ms = 0;
  auto operator<=>(const LastBar&) const = default;
};

}  // namespace qc
