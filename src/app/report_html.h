// The self-contained backtest report (`quantcrunch backtest --report`): the
// page of web/report.html with its styles, scripts, the chart library and the
// data inlined, so it opens from disk with no server and no network.
#pragma once
#include <string>
#include <string_view>

namespace qc {

// `stats_json` is the SPEC §4.8 document; `meta_json` an object describing
// the run (inputs and counts) that the page shows in its header.
std::string render_report_html(std::string_view stats_json, std::string_view meta_json);

}  // namespace qc
