// `quantcrunch backtest` (SPEC §6.4): the live engine over files. Documents
// are applied before the first bar starting at or after their open time; bars
// are applied in file order, exactly as a live replay of the same file does.
#pragma once
#include <iosfwd>

#include "app/config.h"

namespace qc {

struct BacktestSummary {
  std::uint64_t documents = 0, documents_rejected = 0, documents_duplicate = 0, items_skipped = 0;
  std::uint64_t bars = 0, bars_applied = 0, bars_ignored = 0, bars_unknown_symbol = 0;
  std::uint64_t lines_rejected = 0, bars_out_of_order = 0;
  std::uint64_t opened = 0, closed = 0;
  double seconds = 0;
};

// Writes the /api/performance document to `out` and diagnostics to `err`.
// Throws std::runtime_error when an input file cannot be read.
BacktestSummary run_backtest(const BacktestConfig& config, std::ostream& out, std::ostream& err);

}  // namespace qc
