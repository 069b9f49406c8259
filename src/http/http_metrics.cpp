#include "http/http_metrics.h"

#include <iterator>

#include "core/json_writer.h"

namespace qc {

HttpMetrics::Route HttpMetrics::route_of(std::string_view path) {
  if (path == "/api/tickerlist") return TickerList;
  if (path == "/api/recommendations") return Recommendations;
  if (path == "/api/performance") return Performance;
  if (path == "/api/positions") return Positions;
  if (path == "/api/trades") return Trades;
  if (path == "/api/stats") return Stats;
  if (path == "/api/events") return Events;
  if (path.substr(0, 16) == "/api/aggregates/") return Aggregates;
  if (path == "/api/marketstatus") return MarketStatus;
  if (path == "/healthz") return Healthz;
  if (path == "/readyz") return Readyz;
  if (path == "/metrics") return Metrics;
  if (path == "/openapi.json") return OpenApi;
  if (path == "/docs" || path.substr(0, 6) == "/docs/") return Docs;
  if (path.substr(0, 10) == "/api/bars/") return Bars;
  if (path == "/" || path.substr(0, 5) == "/web/") return Dashboard;
  return Other;
}

const char* HttpMetrics::route_name(Route r) {
  static const char* names[] = {"/api/tickerlist", "/api/recommendations", "/api/performance",
                                "/api/positions", "/api/trades", "/api/stats", "/api/events",
                                "/api/aggregates/{symbol}", "/api/marketstatus", "/healthz",
                                "/readyz", "/metrics", "/docs", "/openapi.json", "/api/bars/{symbol}", "/",
                                "other"};
  static_assert(std::size(names) == kRouteCount, "a name for every route");
  return names[r];
}

const char* HttpMetrics::rejection_name(Rejection r) {
  static const char* names[] = {"malformed_json", "document_invalid", "body_too_large",
                                "malformed_request", "unauthorized", "bad_parameter"};
  return names[r];
}

void HttpMetrics::record(Route route, unsigned status, std::chrono::nanoseconds latency) {
  std::size_t s = kStatuses.size() - 1;
  for (std::size_t i = 0; i + 1 < kStatuses.size(); ++i)
    if (kStatuses[i] == status) {
      s = i;
      break;
    }
  counts_[route][s].fetch_add(1, std::memory_order_relaxed);
  double seconds = std::chrono::duration<double>(latency).count();
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  buckets_[route][b].fetch_add(1, std::memory_order_relaxed);
  sum_ns_[route].fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

void append_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ");
  append_json_number(out, value);
  out.append("\n");
}

void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::string_view labels, double value) {
  append_header(out, name, type, help);
  append_sample(out, name, labels, value);
}

void HttpMetrics::render(std::string& out) const {
  append_header(out, "qc_http_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (int r = 0; r < kRouteCount; ++r)
    for (std::size_t s = 0; s < kStatuses.size(); ++s) {
      auto n = counts_[r][s].load(std::memory_order_relaxed);
      if (!n) continue;
      std::string labels = std::string("route=\"") + route_name(static_cast<Route>(r)) +
                           "\",status=\"" + (kStatuses[s] ? std::to_string(kStatuses[s]) : "other") + "\"";
      append_sample(out, "qc_http_requests_total", labels, static_cast<double>(n));
    }
  append_header(out, "qc_http_request_duration_seconds", "histogram",
                "Time from a request's arrival to its answer being ready, by route.");
  for (int r = 0; r < kRouteCount; ++r) {
    std::uint64_t cumulative = 0;
    std::string route = std::string("route=\"") + route_name(static_cast<Route>(r)) + "\"";
    std::uint64_t total = 0;
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) total += buckets_[r][b].load(std::memory_order_relaxed);
    if (!total) continue;
    for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += buckets_[r][b].load(std::memory_order_relaxed);
      std::string le;
      if (b < kBuckets.size()) append_json_number(le, kBuckets[b]);
      else le = "+Inf";
      append_sample(out, "qc_http_request_duration_seconds_bucket", route + ",le=\"" + le + "\"",
                    static_cast<double>(cumulative));
    }
    append_sample(out, "qc_http_request_duration_seconds_sum", route,
                  static_cast<double>(sum_ns_[r].load(std::memory_order_relaxed)) / 1e9);
    append_sample(out, "qc_http_request_duration_seconds_count", route, static_cast<double>(cumulative));
  }
}

}  // namespace qc
