// Request counts and latency histograms per route and status, lock-free
// (relaxed atomics in fixed arrays), rendered in the Prometheus text format.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace qc {

class HttpMetrics {
 public:
  enum Route : int {
    TickerList, Recommendations, Performance, Positions, Trades, Stats, Events, Aggregates,
    MarketStatus, Healthz, Readyz,
    Metrics, Docs, OpenApi, Bars, Dashboard, Other, kRouteCount
  };
  static Route route_of(std::string_view path);
  static const char* route_name(Route r);

  void record(Route route, unsigned status, std::chrono::nanoseconds latency);

  // Inputs refused at the HTTP layer, before anything reaches the ledger.
  enum Rejection : int {
    MalformedJson, DocumentInvalid, BodyTooLarge, MalformedRequest, Unauthorized, BadParameter,
    kRejectionCount
  };
  static const char* rejection_name(Rejection r);
  void reject(Rejection r) { rejected_[r].fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t rejected(Rejection r) const { return rejected_[r].load(std::memory_order_relaxed); }
  // Appends qc_http_requests_total and qc_http_request_duration_seconds.
  void render(std::string& out) const;

  static constexpr std::array<unsigned, 16> kStatuses = {200, 201, 204, 400, 401, 403, 404, 405,
                                                         413, 414, 422, 431, 500, 502, 503, 0};
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    2.5};

 private:
  std::atomic<std::uint64_t> counts_[kRouteCount][kStatuses.size()] = {};
  std::atomic<std::uint64_t> buckets_[kRouteCount][kBuckets.size() + 1] = {};
  std::atomic<std::uint64_t> sum_ns_[kRouteCount] = {};
  std::atomic<std::uint64_t> rejected_[kRejectionCount] = {};
};

// Appends one metric family: "# HELP", "# TYPE" and one sample.
void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::string_view labels, double value);
// Appends only a sample line (the family header written before).
void append_sample(std::string& out, std::string_view name, std::string_view labels, double value);
void append_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help);

}  // namespace qc
