// How long a webhook worker waits before the next attempt (SPEC §4.9:
// "retried with backoff"): exponential backoff with full jitter, the delay
// drawn uniformly from [0, min(cap, first · 2^attempt)] — endpoints that
// fail together do not retry together.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>

namespace qc {

// `attempt` counts the failures before this wait, from 0; `unit` is a random
// number in [0, 1]. Never negative, never above `cap`.
inline std::chrono::milliseconds retry_delay(unsigned attempt, std::chrono::milliseconds first,
                                             std::chrono::milliseconds cap, double unit) {
  auto ceiling = std::max(first, std::chrono::milliseconds(0));
  for (unsigned i = 0; i < attempt && ceiling < cap; ++i) ceiling *= 2;  // stops before overflowing
  ceiling = std::min(ceiling, cap);
  unit = std::isfinite(unit) ? std::clamp(unit, 0.0, 1.0) : 0.0;
  return std::chrono::milliseconds(
      static_cast<std::chrono::milliseconds::rep>(std::floor(static_cast<double>(ceiling.count()) * unit)));
}

}  // namespace qc
