#include "http/api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <boost/beast/http.hpp>
#include <date/date.h>

#include "core/json_writer.h"
#include "core/render.h"
#include "core/stats_render.h"
#include "http/events_endpoint.h"
#include "http/query_string.h"

namespace qc {
namespace http = boost::beast::http;

namespace {

HttpResponse ok_json(std::shared_ptr<const std::string> body, unsigned status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse ok_json(ViewBodyPtr view) {
  HttpResponse r;
  r.view = std::move(view);
  return r;
}

const std::shared_ptr<const std::string>& healthz_body() {
  static const auto body = std::make_shared<const std::string>(R"({"status":"ok"})");
  return body;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

void write_loc(JsonWriter& w, const DocumentProblem& p) {
  w.key("loc").begin_array().value("body");
  if (p.item >= 0) w.value("recommendations").value(p.item);
  if (!p.field.empty()) w.value(p.field);
  w.end_array();
}

HttpResponse validation_error(const std::vector<DocumentProblem>& problems) {
  std::string detail = std::to_string(problems.size()) +
                       (problems.size() == 1 ? " problem: " : " problems: ");
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i) detail += "; ";
    detail += describe(problems[i]);
  }
  std::string body;
  JsonWriter w(body);
  w.begin_object().key("detail").value(detail).key("problems").begin_array();
  for (const auto& p : problems) {
    w.begin_object();
    write_loc(w, p);
    w.key("msg").value(p.reason).end_object();
  }
  w.end_array().end_object();
  return ok_json(std::make_shared<const std::string>(std::move(body)), 422);
}

HttpResponse limit_error(std::string_view given) {
  std::string msg = "limit must be an integer from 1 to " + std::to_string(ApiViews::kMaxLimit) +
                    ", got '" + std::string(given) + "'";
  std::string body;
  JsonWriter w(body);
  w.begin_object().key("detail").value(msg).key("problems").begin_array().begin_object();
  w.key("loc").begin_array().value("query").value("limit").end_array();
  w.key("msg").value(msg).end_object().end_array().end_object();
  return ok_json(std::make_shared<const std::string>(std::move(body)), 422);
}

// The Access-Control-Request-Headers of a preflight, when it is a plain
// comma-separated list of header names (RFC 9110 tokens); else empty.
std::string requested_headers(std::string_view asked) {
  auto token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  };
  std::string out;
  std::size_t i = 0;
  while (i < asked.size()) {
    while (i < asked.size() && (asked[i] == ' ' || asked[i] == '\t' || asked[i] == ',')) ++i;
    std::size_t start = i;
    while (i < asked.size() && token_char(asked[i])) ++i;
    if (i == start) {
      if (i < asked.size()) return {};  // not a header name
      break;
    }
    if (!out.empty()) out += ", ";
    out.append(asked.substr(start, i - start));
    while (i < asked.size() && (asked[i] == ' ' || asked[i] == '\t')) ++i;
    if (i < asked.size() && asked[i] != ',') return {};
  }
  return out;
}

constexpr const char* kGetOnly = "GET, HEAD, OPTIONS";
constexpr const char* kGetPost = "GET, HEAD, POST, OPTIONS";

HttpResponse method_not_allowed(std::string allow) {
  auto r = json_error(405, "Method Not Allowed");
  r.headers.emplace_back("Allow", std::move(allow));
  return r;
}

HttpResponse provider_not_configured() {
  return json_error(503, "live market data is not configured on this server (POLYGON_API_KEY "
                         "is unset); charts need the provider");
}

HttpResponse proxy_response(ProxyAnswer a) {
  if (a.status == 200) return ok_json(std::make_shared<const std::string>(std::move(a.body)));
  return json_error(a.status, a.body);
}

HttpResponse parameter_error(std::string_view where, std::string_view name, std::string msg) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().key("detail").value(msg).key("problems").begin_array().begin_object();
  w.key("loc").begin_array().value(where).value(name).end_array();
  w.key("msg").value(msg).end_object().end_array().end_object();
  return ok_json(std::make_shared<const std::string>(std::move(body)), 422);
}

// A whole decimal integer in [lo, hi], nothing else.
std::optional<int> int_in_range(const std::string& v, int lo, int hi) {
  int parsed = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), parsed);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size() || parsed < lo || parsed > hi)
    return std::nullopt;
  return parsed;
}

// YYYY-MM-DD (as UTC midnight) or UNIX milliseconds.
std::optional<std::int64_t> bound_ms(const std::string& v) {
  if (v.size() == 10 && v[4] == '-' && v[7] == '-') {
    int y = 0, m = 0, d = 0;
    if (std::from_chars(v.data(), v.data() + 4, y).ec != std::errc{} ||
        std::from_chars(v.data() + 5, v.data() + 7, m).ec != std::errc{} ||
        std::from_chars(v.data() + 8, v.data() + 10, d).ec != std::errc{})
      return std::nullopt;
    if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1970) return std::nullopt;
    auto first = date::sys_days{date::year{y} / date::month(static_cast<unsigned>(m)) / 1};
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               (first + date::days{d - 1}).time_since_epoch()).count();
  }
  std::int64_t ms = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), ms);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size() || ms < 0) return std::nullopt;
  return ms;
}

// A finite decimal number of UNIX seconds (fractions allowed), nothing else.
std::optional<double> unix_seconds(const std::string& v) {
  double parsed = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), parsed);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size() || !std::isfinite(parsed))
    return std::nullopt;
  return parsed;
}

// The filters shared by /api/trades and /api/stats (SPEC §4.7, §4.8);
// `error` is set (a 422) for a bad value.
struct FilterParse {
  TradeFilter filter;
  std::optional<HttpResponse> error;
};

bool parse_filter_param(const std::string& key, const std::string& value, FilterParse& out,
                        const std::function<bool(std::string_view)>& is_tracked) {
  if (key == "symbol") {
    if (!is_tracked || !is_tracked(value))
      out.error = parameter_error("query", "symbol", "'" + value + "' is not a tracked ticker");
    else
      out.filter.symbol = value;
    return true;
  }
  if (key == "from" || key == "to") {
    auto t = unix_seconds(value);
    if (!t)
      out.error = parameter_error("query", key, key + " must be UNIX seconds (a number), got '" + value + "'");
    else
      (key == "from" ? out.filter.from : out.filter.to) = *t;
    return true;
  }
  return false;
}

std::optional<HttpResponse> check_window(const TradeFilter& f) {
  if (f.from && f.to && *f.from > *f.to)
    return parameter_error("query", "from", "from must not be after to");
  return std::nullopt;
}

HttpResponse not_available(std::string_view what) {
  return json_error(503, std::string(what) + " are not available on this server");
}

}  // namespace

HttpResponse Api::get_trades(std::string_view query) const {
  if (!options_.trades) return not_available("trades");
  FilterParse parsed;
  TradeQuery q;
  for (const auto& [key, value] : parse_query_string(query)) {
    if (parse_filter_param(key, value, parsed, options_.is_tracked)) {
    } else if (key == "notes") {
      if (value == "target") parsed.filter.notes = CloseReason::TargetPrice;
      else if (value == "stop") parsed.filter.notes = CloseReason::StopLoss;
      else parsed.error = parameter_error("query", "notes", "notes must be target or stop, got '" + value + "'");
    } else if (key == "limit") {
      auto limit = int_in_range(value, 1, static_cast<int>(kMaxTradePageLimit));
      if (!limit)
        parsed.error = parameter_error("query", "limit", "limit must be an integer from 1 to " +
                                                             std::to_string(kMaxTradePageLimit) + ", got '" + value + "'");
      else
        q.limit = static_cast<std::size_t>(*limit);
    } else if (key == "cursor") {
      auto c = parse_cursor(value);
      if (!c.cursor) parsed.error = parameter_error("query", "cursor", "cursor is not one this server gave: " + c.error);
      else q.cursor = std::move(*c.cursor);
    }
    if (parsed.error) return std::move(*parsed.error);
  }
  if (auto e = check_window(parsed.filter)) return std::move(*e);
  q.filter = std::move(parsed.filter);
  return ok_json(std::make_shared<const std::string>(render_trades_page(options_.trades(q))));
}

HttpResponse Api::get_stats(std::string_view query) const {
  FilterParse parsed;
  bool filtered = false;
  EquityMode equity = EquityMode::Reduced;
  for (const auto& [key, value] : parse_query_string(query)) {
    if (key == "equity") {
      if (value == "full") equity = EquityMode::Full;
      else if (value == "none") equity = EquityMode::None;
      else
        return parameter_error("query", "equity",
                               "equity must be full or none (omit it for a curve of at most " +
                                   std::to_string(kEquityDefaultPoints) + " points), got '" + value + "'");
      continue;
    }
    filtered |= parse_filter_param(key, value, parsed, options_.is_tracked);
    if (parsed.error) return std::move(*parsed.error);
  }
  if (auto e = check_window(parsed.filter)) return std::move(*e);
  // `equity` alone is not a filter: the three curves are published.
  if (!filtered) return ok_json(views_.stats(equity));
  if (!options_.stats) return not_available("filtered statistics");
  auto body = options_.stats(parsed.filter, equity);
  if (!body)
    return json_error(503, "too many filtered statistics requests at once; try again in a moment "
                           "(the unfiltered /api/stats is always available)");
  return ok_json(std::move(*body));
}

void Api::get_aggregates(std::string_view symbol, std::string_view query, Respond respond) const {
  if (symbol.empty() || symbol.find('/') != std::string_view::npos ||
      !options_.is_tracked || !options_.is_tracked(symbol))
    return respond(parameter_error("path", "symbol",
                                   "'" + std::string(symbol) + "' is not a tracked ticker"));
  AggregatesQuery q;
  q.symbol = std::string(symbol);
  q.timespan = "day";
  bool has_from = false, has_to = false;
  if (!query.empty()) {
    for (const auto& [key, value] : parse_query_string(query)) {
      if (key == "multiplier") {
        auto m = int_in_range(value, 1, 1000);
        if (!m)
          return respond(parameter_error("query", "multiplier",
                                         "multiplier must be an integer from 1 to 1000, got '" + value + "'"));
        q.multiplier = *m;
      } else if (key == "timespan") {
        static const char* spans[] = {"minute", "hour", "day", "week", "month"};
        if (std::find(std::begin(spans), std::end(spans), value) == std::end(spans))
          return respond(parameter_error("query", "timespan",
                                         "timespan must be minute, hour, day, week or month, got '" + value + "'"));
        q.timespan = value;
      } else if (key == "from" || key == "to") {
        if (!bound_ms(value))
          return respond(parameter_error("query", key,
                                         key + " must be YYYY-MM-DD or UNIX milliseconds, got '" + value + "'"));
        (key == "from" ? q.from : q.to) = value;
        (key == "from" ? has_from : has_to) = true;
      }
    }
  }
  if (!has_from) return respond(parameter_error("query", "from", "from is required"));
  if (!has_to) return respond(parameter_error("query", "to", "to is required"));
  auto from = *bound_ms(q.from), to = *bound_ms(q.to);
  if (from > to) return respond(parameter_error("query", "from", "from must not be after to"));
  std::int64_t max_days = q.timespan == "minute" ? 31 : q.timespan == "hour" ? 366 : 20 * 366;
  if (to - from > max_days * 86'400'000)
    return respond(parameter_error("query", "to",
                                   "range too long for timespan " + q.timespan + " (at most " +
                                       std::to_string(max_days) + " days)"));
  if (!options_.market_proxy) return respond(provider_not_configured());
  options_.market_proxy->aggregates(
      q, [respond = std::move(respond)](ProxyAnswer a) { respond(proxy_response(std::move(a))); });
}

Api::Api(ApiViews& views, const StaticDocs& docs, ApiOptions options)
    : views_(views), docs_(docs), options_(std::move(options)) {
  any_origin_ = options_.cors_origins.empty() ||
                std::find(options_.cors_origins.begin(), options_.cors_origins.end(), "*") !=
                    options_.cors_origins.end();
}

void Api::decorate(const HttpRequest& request, HttpResponse& response) const {
  if (any_origin_) {
    response.headers.emplace_back("Access-Control-Allow-Origin", "*");
  } else {
    auto origin = request[http::field::origin];
    if (!origin.empty() && std::find(options_.cors_origins.begin(), options_.cors_origins.end(),
                                     origin) != options_.cors_origins.end())
      response.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    response.headers.emplace_back("Vary", "Origin");
  }
}

HttpResponse Api::get_recommendations(std::string_view query) const {
  int limit = ApiViews::kDefaultLimit;
  if (!query.empty()) {
    for (const auto& [key, v] : parse_query_string(query)) {
      if (key != "limit") continue;
      auto parsed = int_in_range(v, 1, ApiViews::kMaxLimit);
      if (!parsed) return limit_error(v);
      limit = *parsed;
    }
  }
  return ok_json(views_.recommendations(limit));
}

void Api::refused(unsigned status) const {
  metrics_->record(HttpMetrics::Other, status, std::chrono::nanoseconds(0));
  if (status == 413) metrics_->reject(HttpMetrics::BodyTooLarge);
  else if (status == 400 || status == 414 || status == 431) metrics_->reject(HttpMetrics::MalformedRequest);
}

void Api::handle(HttpRequest& request, Respond respond) const {
  std::string_view target = request.target();
  auto route_id = HttpMetrics::route_of(target.substr(0, target.find('?')));
  auto started = std::chrono::steady_clock::now();
  HttpMetrics* metrics = metrics_.get();
  route(request, [respond = std::move(respond), route_id, started, metrics](HttpResponse r) {
    metrics->record(route_id, r.status, std::chrono::steady_clock::now() - started);
    if (r.status == 401) metrics->reject(HttpMetrics::Unauthorized);
    if (r.status == 422 && route_id != HttpMetrics::Recommendations)
      metrics->reject(HttpMetrics::BadParameter);
    respond(std::move(r));
  });
}

void Api::route(HttpRequest& request, Respond respond) const {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query =
      path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view{};
  auto method = request.method();

  if (method == http::verb::options) {
    // Preflight: allow whatever request headers the page asks for, as the
    // earlier service did (its front end sends X-Custom-Header); the origin
    // policy is applied by decorate() like on every response.
    HttpResponse r;
    r.status = 204;
    std::string headers = requested_headers(request[http::field::access_control_request_headers]);
    if (headers.empty()) headers = "Authorization, Content-Type";
    r.headers = {{"Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS"},
                 {"Access-Control-Allow-Headers", std::move(headers)},
                 {"Access-Control-Max-Age", "600"},
                 {"Vary", "Access-Control-Request-Headers"}};
    return respond(std::move(r));
  }
  bool get = method == http::verb::get || method == http::verb::head;  // the server drops HEAD bodies

  if (path == "/api/tickerlist") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    return respond(ok_json(views_.tickerlist()));
  }
  if (path == "/api/positions") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    return respond(ok_json(views_.positions()));
  }
  if (path == "/api/trades" || path == "/api/stats") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    auto r = path == "/api/trades" ? get_trades(query) : get_stats(query);
    return respond(std::move(r));
  }
  if (path == "/api/performance") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    return respond(ok_json(views_.performance()));
  }
  if (path == "/api/recommendations") {
    if (get) {
      auto r = get_recommendations(query);
      if (r.status == 422) metrics_->reject(HttpMetrics::BadParameter);
      return respond(std::move(r));
    }
    if (method == http::verb::post) return post_recommendations(request, std::move(respond));
    return respond(method_not_allowed(kGetPost));
  }
  if (path == "/api/events") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    return respond(events_endpoint(options_.events, request, query));
  }
  if (path.substr(0, 16) == "/api/aggregates/") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    return get_aggregates(path.substr(16), query, std::move(respond));
  }
  if (path.substr(0, 10) == "/api/bars/") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    if (!options_.bars) return respond(not_available("recent bars"));
    return respond(options_.bars->answer(path.substr(10), query, options_.is_tracked));
  }
  if (path == "/api/marketstatus") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    if (!options_.market_proxy) return respond(provider_not_configured());
    return options_.market_proxy->market_status(
        [respond = std::move(respond)](ProxyAnswer a) { respond(proxy_response(std::move(a))); });
  }
  if (path == "/metrics") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    std::string body;
    metrics_->render(body);
    if (options_.metrics) options_.metrics(body);
    HttpResponse r;
    r.body = std::make_shared<const std::string>(std::move(body));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return respond(std::move(r));
  }
  if (path == "/healthz") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    return respond(ok_json(healthz_body()));
  }
  if (path == "/readyz") {
    if (!get) return respond(method_not_allowed(kGetOnly));
    auto [ready, body] = options_.readiness();
    return respond(ok_json(std::make_shared<const std::string>(std::move(body)), ready ? 200 : 503));
  }
  if (path == "/openapi.json" || path == "/docs" || path == "/docs/" ||
      path.substr(0, 6) == "/docs/" || path == "/" || path.substr(0, 5) == "/web/") {
    if (const StaticFile* f = docs_.find(std::string(path))) {
      if (!get) return respond(method_not_allowed(kGetOnly));
      HttpResponse r;
      r.body = f->body;
      r.content_type = f->content_type;
      return respond(std::move(r));
    }
    if (path == "/openapi.json" || path == "/docs" || path == "/docs/" || path == "/")
      return respond(json_error(503, "API docs and dashboard are not installed (missing " + docs_.missing() +
                                         " in " + docs_.dir().string() +
                                         "); run scripts/setup.sh and rebuild"));
  }
  return respond(json_error(404, "Not Found"));
}

std::optional<HttpResponse> Api::check_token(const HttpRequestHeader& header) const {
  if (options_.api_token.empty())
    return json_error(403, "writes are disabled: set QC_API_TOKEN on the server to enable "
                           "POST /api/recommendations");
  auto auth = header[http::field::authorization];
  auto unauthorized = [&](std::string_view why) {
    auto r = json_error(401, why);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  };
  if (auth.empty()) return unauthorized("missing Authorization: Bearer <token> header");
  constexpr std::string_view scheme = "bearer ";
  if (auth.size() <= scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), auth.begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
    return unauthorized("the Authorization header must be 'Bearer <token>'");
  std::string_view token = std::string_view(auth).substr(scheme.size());
  if (!equal_constant_time(token, options_.api_token)) return unauthorized("invalid bearer token");
  return std::nullopt;
}

std::optional<HttpResponse> Api::admit(const HttpRequestHeader& header) const {
  // Only POST /api/recommendations reads a body: its token is checked from
  // the header, and a body sent anywhere else is refused unread.
  std::string_view target = header.target();
  std::string_view path = target.substr(0, target.find('?'));
  bool has_body = header.find(http::field::content_length) != header.end()
                      ? header[http::field::content_length] != "0"
                      : header.find(http::field::transfer_encoding) != header.end();
  std::optional<HttpResponse> answer;
  if (header.method() == http::verb::post && path == "/api/recommendations") answer = check_token(header);
  else if (has_body && header.method() != http::verb::get) answer = header_only_answer(header.method(), path);
  if (!answer) return std::nullopt;
  auto route_id = HttpMetrics::route_of(path);
  metrics_->record(route_id, answer->status, std::chrono::nanoseconds(0));
  if (answer->status == 401) metrics_->reject(HttpMetrics::Unauthorized);
  return answer;
}

// For a request whose body will not be read: 404 or 405 as route() would say.
std::optional<HttpResponse> Api::header_only_answer(http::verb method, std::string_view path) const {
  if (method == http::verb::options) return std::nullopt;
  bool get_routes = path == "/api/tickerlist" || path == "/api/performance" || path == "/api/marketstatus" ||
                    path == "/api/positions" || path == "/api/trades" || path == "/api/stats" ||
                    path == "/api/events" ||
                    path == "/metrics" || path == "/healthz" || path == "/readyz" ||
                    path.substr(0, 16) == "/api/aggregates/" || path == "/openapi.json" ||
                    path.substr(0, 5) == "/docs" || path.substr(0, 10) == "/api/bars/" || path == "/" ||
                    path.substr(0, 5) == "/web/";
  if (path == "/api/recommendations") return method_not_allowed(kGetPost);
  if (get_routes) return method_not_allowed(kGetOnly);
  return json_error(404, "Not Found");
}

void Api::post_recommendations(HttpRequest& request, Respond respond) const {
  // The server asked admit() before reading the body; checked again for
  // callers that bypass it (tests, other servers).
  if (auto refused = check_token(request.base())) return respond(std::move(*refused));

  ParsedDocument parsed = parse_recommendation_document(request.body());
  if (parsed.malformed) {
    metrics_->reject(HttpMetrics::MalformedJson);
    return respond(json_error(400, parsed.problems.front().reason));
  }
  if (!parsed.problems.empty()) {
    metrics_->reject(HttpMetrics::DocumentInvalid);
    return respond(validation_error(parsed.problems));
  }

  options_.ingest(std::move(parsed.document), [respond = std::move(respond)](IngestReply reply) {
    if (reply.status == 422) return respond(validation_error(reply.problems));
    if (reply.status != 200 && reply.status != 201)
      return respond(json_error(reply.status, reply.error));
    std::string body;
    JsonWriter w(body);
    w.begin_object().key("results").begin_array();
    for (const auto& item : reply.results) {
      w.begin_object();
      write_open_position_fields(w, item.position);
      w.key("state").value(state_name(item.state)).end_object();
    }
    w.end_array().key("opened").value(reply.opened).end_object();
    respond(ok_json(std::make_shared<const std::string>(std::move(body)), reply.status));
  });
}

}  // namespace qc
