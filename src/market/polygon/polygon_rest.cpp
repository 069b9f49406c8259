#include "market/polygon/polygon_rest.h"

#include <cmath>

#include <simdjson.h>

#include "core/json_writer.h"

namespace qc {
namespace dom = simdjson::dom;

namespace {

double number_or(dom::element obj, const char* key, double fallback = 0) {
  dom::element v;
  if (obj[key].get(v)) return fallback;
  double d;
  if (!v.get_double().get(d)) return d;
  int64_t i;
  if (!v.get_int64().get(i)) return static_cast<double>(i);
  uint64_t u;
  if (!v.get_uint64().get(u)) return static_cast<double>(u);
  return fallback;
}

bool has_number(dom::element obj, const char* key) {
  dom::element v;
  return !obj[key].get(v) && v.is_number();
}

}  // namespace

std::string PolygonRest::get_json(const std::string& target) {
  RestResult r = client_.get(target);
  if (!r.ok())
    throw ProviderError(r.status, r.error.empty() ? "provider request failed" : r.error, r.refused);
  return std::move(r.body);
}

namespace {

// GETs `target` and every `next_url` after it (at most `max_pages`), calling
// `each` for every element of `results`.
template <class Get, class Each>
void for_each_aggregate(Get&& get_json, std::string target, int max_pages, const std::string& what,
                        Each&& each) {
  dom::parser parser;
  for (int page = 0; page < max_pages && !target.empty(); ++page) {
    std::string body = get_json(target);
    dom::element root;
    if (parser.parse(body).get(root)) throw ProviderError(200, what + ": malformed JSON from provider");
    target.clear();
    dom::array results;
    if (!root["results"].get_array().get(results))
      for (dom::element r : results) each(r);
    std::string_view next;
    if (!root["next_url"].get_string().get(next) && !next.empty()) target = std::string(next);
  }
}

}  // namespace

std::vector<MinuteBar> PolygonRest::minute_bars(const std::string& symbol, std::int64_t from_ms,
                                                std::int64_t to_ms) {
  std::vector<MinuteBar> bars;
  std::string what = "aggregates for " + symbol;
  auto get = [this](const std::string& t) { return get_json(t); };
  for_each_aggregate(get, "/v2/aggs/ticker/" + symbol + "/range/1/minute/" + std::to_string(from_ms) +
                         "/" + std::to_string(to_ms) + "?adjusted=true&sort=asc&limit=50000",
                     10000, what, [&](dom::element r) {
                       if (!has_number(r, "t") || !has_number(r, "o") || !has_number(r, "h") ||
                           !has_number(r, "l") || !has_number(r, "c"))
                         throw ProviderError(200, what + ": a bar lacks t/o/h/l/c");
                       MinuteBar b;
                       b.symbol = symbol;
                       b.start_ms = static_cast<std::int64_t>(number_or(r, "t"));
                       b.end_ms = b.start_ms + 60'000;
                       b.open = number_or(r, "o");
                       b.high = number_or(r, "h");
                       b.low = number_or(r, "l");
                       b.close = number_or(r, "c");
                       b.volume = number_or(r, "v");
                       if (b.start_ms >= from_ms && b.start_ms <= to_ms) bars.push_back(std::move(b));
                     });
  std::stable_sort(bars.begin(), bars.end(),
                   [](const MinuteBar& a, const MinuteBar& b) { return a.start_ms < b.start_ms; });
  return bars;
}

std::vector<SnapshotEntry> PolygonRest::snapshot(const std::vector<std::string>& symbols) {
  std::string list;
  for (const auto& s : symbols) list += (list.empty() ? "" : ",") + s;
  std::string body = get_json("/v2/snapshot/locale/us/markets/stocks/tickers?tickers=" + list);
  dom::parser parser;
  dom::element root;
  if (parser.parse(body).get(root)) throw ProviderError(200, "snapshot: malformed JSON from provider");
  std::vector<SnapshotEntry> out;
  dom::array tickers;
  if (root["tickers"].get_array().get(tickers)) return out;
  for (dom::element t : tickers) {
    std::string_view sym;
    if (t["ticker"].get_string().get(sym)) continue;
    double change = number_or(t, "todaysChange", NAN), perc = number_or(t, "todaysChangePerc", NAN);
    if (!std::isfinite(change) || !std::isfinite(perc)) continue;
    out.push_back({std::string(sym), {change, perc}});
  }
  return out;
}

std::string PolygonRest::aggregates_json(const std::string& symbol, int multiplier,
                                         const std::string& timespan, const std::string& from,
                                         const std::string& to) {
  std::string target = "/v2/aggs/ticker/" + symbol + "/range/" + std::to_string(multiplier) + "/" +
                       timespan + "/" + from + "/" + to + "?adjusted=true&sort=asc&limit=50000";
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("ticker").value(symbol).key("multiplier").value(multiplier)
      .key("timespan").value(timespan).key("results").begin_array();
  std::size_t count = 0;
  auto get = [this](const std::string& t) { return get_json(t); };
  for_each_aggregate(get, target, 100, "aggregates for " + symbol, [&](dom::element r) {
    w.begin_object();
    for (const char* k : {"t", "o", "h", "l", "c", "v", "vw", "n"})
      if (has_number(r, k)) w.key(k).value(number_or(r, k));
    w.end_object();
    ++count;
  });
  w.end_array().key("resultsCount").value(count).end_object();
  return out;
}

std::string PolygonRest::market_status_json() {
  std::string body = get_json("/v1/marketstatus/now");
  dom::parser parser;
  dom::element root;
  if (parser.parse(body).get(root) || !root.is_object())
    throw ProviderError(200, "market status: malformed JSON from provider");
  return body;
}

}  // namespace qc
