#include "http/bars_endpoint.h"

#include <charconv>
#include <memory>
#include <string>

#include "core/json_writer.h"
#include "http/query_string.h"

namespace qc {

void RecentBarsEndpoint::record(const std::vector<MinuteBar>& applied) {
  std::lock_guard lock(mutex_);
  for (const auto& bar : applied) bars_.add(bar);
}

HttpResponse RecentBarsEndpoint::answer(
    std::string_view symbol, std::string_view query,
    const std::function<bool(std::string_view)>& is_tracked) const {
  if (symbol.empty() || !is_tracked || !is_tracked(symbol))
    return json_error(404, "'" + std::string(symbol.substr(0, 40)) + "' is not a tracked ticker");
  std::size_t limit = bars_.per_symbol();
  for (const auto& [key, value] : parse_query_string(query)) {
    if (key != "limit") continue;
    std::size_t parsed = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (value.empty() || r.ec != std::errc{} || r.ptr != value.data() + value.size() ||
        parsed < 1 || parsed > bars_.per_symbol()) {
      std::string msg = "limit must be an integer from 1 to " + std::to_string(bars_.per_symbol()) +
                        ", got '" + value.substr(0, 40) + "'";
      std::string body;
      JsonWriter w(body);
      w.begin_object().key("detail").value(msg).key("problems").begin_array().begin_object();
      w.key("loc").begin_array().value("query").value("limit").end_array();
      w.key("msg").value(msg).end_object().end_array().end_object();
      HttpResponse bad;
      bad.status = 422;
      bad.body = std::make_shared<const std::string>(std::move(body));
      return bad;
    }
    limit = parsed;
  }
  std::string sym(symbol);
  std::vector<MinuteBar> bars;
  {
    std::lock_guard lock(mutex_);
    bars = bars_.latest(sym, limit);
  }
  HttpResponse r;
  r.body = std::make_shared<const std::string>(render_recent_bars(sym, bars));
  return r;
}

}  // namespace qc
