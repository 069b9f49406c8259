// Minute bars for tests, counted in minutes from one fixed instant.
#pragma once
#include <cstdint>
#include <string>

#include "core/minute_bar.h"

namespace qc::testing {

inline constexpr std::int64_t kT0 = 1626101940;  // "2021-07-12 10:59:00" New York (EDT)

// The bar starting `minute` minutes after kT0, one minute long, volume 100.
inline MinuteBar bar(std::string sym, double o, double h, double l, double c, std::int64_t minute) {
  MinuteBar b;
  b.symbol = std::move(sym);
  b.open = o;
  b.high = h;
  b.low = l;
  b.close = c;
  b.volume = 100;
  b.start_ms = (kT0 + 60 * minute) * 1000;
  b.end_ms = b.start_ms + 60000;
  return b;
}

}  // namespace qc::testing
