// The JSON of `/api/stats` (SPEC §4.8), whole or in three parts, so that the
// equity array (one point per closed trade: ~30 MB at a million) can be kept
// rendered in chunks and only new points rendered after a close:
//   render_stats_head(stats) + points [0, n) + render_stats_tail(open)
// is exactly render_stats(stats, open), however [0, n) is cut into chunks.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/equity_curve.h"
#include "core/stats_book.h"

namespace qc {

// {"closed":{...},"by_symbol":[...],"by_exit":[...],"daily":[...],
//  "weekly":[...],"monthly":[...],"equity":[      (ends inside the array)
std::string render_stats_head(const StatsBook& stats);
// Appends points [begin, end) of `equity` as [close_timestamp,cumulative_pnl],
// each after a comma unless it is the array's first point (begin == 0).
void append_equity_points(std::string& out, const std::vector<EquityPoint>& equity,
                          std::size_t begin, std::size_t end);
// Appends `point` as [close_timestamp,cumulative_pnl], after a comma unless
// `first` (the array's first point).
void append_equity_point(std::string& out, const EquityPoint& point, bool first);
// ],"open":{"count":N,"unrealized_pnl":X}}
std::string render_stats_tail(const OpenSummary& open);
// The whole document with every point (backtest --stats, tests).
std::string render_stats(const StatsBook& stats, const OpenSummary& open);
// The whole document with the curve `mode` asks for (equity_curve.h):
// render_stats_without_tail(stats, mode) + render_stats_tail(open).
std::string render_stats(const StatsBook& stats, const OpenSummary& open, EquityMode mode);
std::string render_stats_without_tail(const StatsBook& stats, EquityMode mode);

}  // namespace qc
