// The REST API of SPEC §4: routing, parameter checks, auth, CORS, and the
// mapping of every failure to {"detail": ...} with its status. Reads come
// from ApiViews; the single write goes through an ingest callback.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/equity_curve.h"
#include "core/trade_history.h"
#include "core/recommendation.h"
#include "http/api_views.h"
#include "http/bars_endpoint.h"
#include "http/event_hub.h"
#include "http/http_metrics.h"
#include "http/server.h"
#include "http/static_docs.h"
#include "market/market_proxy.h"

namespace qc {

struct IngestReply {
  unsigned status = 503;  // 200 duplicate, 201 created, 422 invalid, 503 unavailable
  std::vector<DocumentProblem> problems;
  std::vector<ItemOutcome> results;  // every valid item: the position held and its state
  std::size_t opened = 0;
  std::string error;
};

struct ApiOptions {
  std::string api_token;                  // empty: writes answer 403
  std::vector<std::string> cors_origins;  // {"*"} allows any
  // Hands a valid document to the ledger; must call `done` exactly once.
  std::function<void(RecommendationDocument, std::function<void(IngestReply)> done)> ingest;
  // Body and readiness for /readyz.
  std::function<std::pair<bool, std::string>()> readiness;
  // Provider data for charts; null in embedded mode (those routes answer 503).
  MarketDataProxy* market_proxy = nullptr;
  std::function<bool(std::string_view symbol)> is_tracked;
  // SPEC §4.7 pages and §4.8 statistics with filters (the unfiltered
  // statistics come from ApiViews); null: those requests answer 503.
  std::function<TradePage(const TradeQuery&)> trades;
  // nullopt: too many filtered scans at once (answered 503).
  std::function<std::optional<ViewBodyPtr>(const TradeFilter&, EquityMode)> stats;
  // Appends the non-HTTP families of GET /metrics (Prometheus text format).
  std::function<void(std::string&)> metrics;
  // GET /api/events; null: that route answers 503.
  EventHub* events = nullptr;
  // GET /api/bars/{symbol}; null: that route answers 503.
  const RecentBarsEndpoint* bars = nullptr;
};

class Api {
 public:
  Api(ApiViews& views, const StaticDocs& docs, ApiOptions options);
  void handle(HttpRequest& request, Respond respond) const;
  // For HttpServerOptions::admit: answers from the header alone (bad token,
  // body sent where none is taken) so such a body is never read.
  std::optional<HttpResponse> admit(const HttpRequestHeader& header) const;
  const HttpMetrics& http_metrics() const { return *metrics_; }
  // For HttpServerOptions::on_refused.
  void refused(unsigned status) const;
  // Adds the CORS headers for the request's Origin.
  void decorate(const HttpRequest& request, HttpResponse& response) const;

 private:
  void route(HttpRequest& request, Respond respond) const;
  void post_recommendations(HttpRequest& request, Respond respond) const;
  std::optional<HttpResponse> check_token(const HttpRequestHeader& header) const;
  std::optional<HttpResponse> header_only_answer(boost::beast::http::verb method, std::string_view path) const;
  HttpResponse get_recommendations(std::string_view query) const;
  HttpResponse get_trades(std::string_view query) const;
  HttpResponse get_stats(std::string_view query) const;
  void get_aggregates(std::string_view symbol, std::string_view query, Respond respond) const;

  ApiViews& views_;
  const StaticDocs& docs_;
  ApiOptions options_;
  bool any_origin_ = true;
  std::unique_ptr<HttpMetrics> metrics_ = std::make_unique<HttpMetrics>();
};

}  // namespace qc
