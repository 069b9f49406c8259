// Closed positions grouped by UTC calendar month of their close (SPEC §4.3).
// Invariant: positions in a month stay sorted by (close_timestamp,
// open_timestamp, symbol); realized_pnl is summed in that order, so the same
// set of closes gives bit-identical output whatever order they arrived in.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "core/position.h"

namespace qc {

struct PerformanceMonth {
  std::int64_t month = 0;  // UNIX seconds of the month's first instant (UTC)
  std::vector<ClosedPosition> positions;
  double realized_pnl() const;
};

class PerformanceBook {
 public:
  void add(const ClosedPosition& closed);
  const std::map<std::int64_t, PerformanceMonth>& months() const { return months_; }
  std::size_t position_count() const { return count_; }

 private:
  std::map<std::int64_t, PerformanceMonth> months_;
  std::size_t count_ = 0;
};

bool closes_before(const ClosedPosition& a, const ClosedPosition& b);

}  // namespace qc
