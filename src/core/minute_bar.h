// One minute bar (SPEC §6.2): a Polygon `AM` event reduced to what the engine
// and the ticker list need. Times are UNIX milliseconds, start inclusive.
#pragma once
#include <cstdint>
#include <string>

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

}  // namespace qc
