#include "app/serve.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <future>
#include <memory>
#include <thread>

#include "app/ledger.h"
#include "log/log.h"
#include "log/redact.h"
#include "cache/memory/memory_cache.h"
#include "cache/redis/redis_cache.h"
#include "cache/redis/redis_url.h"
#include "http/api.h"
#include "http/http_metrics.h"
#include "http/server.h"
#include "market/polygon/polygon_feed.h"
#include "market/polygon/polygon_proxy.h"
#include "market/replay/replay_feed.h"
#include "market/sim/sim_feed.h"
#include "store/mongo/mongo_store.h"
#include "store/mongo/recommendation_watcher.h"
#include "store/sqlite/sqlite_store.h"

namespace qc {
namespace {

std::filesystem::path find_docs_dir(const ServeConfig& c) {
  if (!c.docs_dir.empty()) return c.docs_dir;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto candidate : {exe.parent_path() / "docs", exe.parent_path() / "../share/quantcrunch/docs"})
      if (std::filesystem::exists(candidate / "openapi.json", ec)) return candidate;
  }
  return std::filesystem::path(QC_SOURCE_DIR) / "build" / "docs";
}

IngestReply to_reply(DocumentOutcome o) {
  IngestReply r;
  switch (o.status) {
    case DocumentOutcome::Status::Created: r.status = 201; break;
    case DocumentOutcome::Status::Duplicate: r.status = 200; break;
    case DocumentOutcome::Status::Invalid: r.status = 422; break;
    case DocumentOutcome::Status::Unavailable: r.status = 503; break;
  }
  r.problems = std::move(o.problems);
  r.results = std::move(o.results);
  r.opened = o.opened;
  r.error = std::move(o.error);
  return r;
}

}  // namespace

int run_serve(const ServeConfig& config) {
  log::Options log_options;
  log::parse_level(config.log_level, log_options.level);
  log_options.json = config.log_format == "json";
  log::configure(log_options);


  // Database
  std::unique_ptr<Store> store;
  MongoStore* mongo = nullptr;
  try {
    if (!config.mongo_uri.empty()) {
      // Never falls back to SQLite: positions must go where the operator said.
      auto m = std::make_unique<MongoStore>(config.mongo_uri);
      mongo = m.get();
      store = std::move(m);
    } else {
      store = std::make_unique<SqliteStore>(config.data_dir / "quantcrunch.sqlite3");
    }
  } catch (const std::exception& e) {
    log::error("startup", std::string("database: ") + e.what());
    return 1;
  }
  // Cache
  std::unique_ptr<Cache> cache;
  std::string cache_line = "cache: in-process memory";
  try {
    if (auto endpoint = redis_endpoint_from(config.redis_url, config.redis_host)) {
      auto redis = std::make_unique<RedisCache>(*endpoint);
      auto warm = redis->warm_start();
      cache_line = "cache: Redis at " + redis->location() + " (last run left: " + warm.summary() +
                   "; the database stays the source of truth)";
      cache = std::move(redis);
    } else {
      cache = std::make_unique<MemoryCache>();
    }
  } catch (const RedisUrlError& e) {
    if (config.redis_url.rfind("rediss://", 0) == 0) {
      // A TLS-only Redis (e.g. Heroku Key-Value Store) is a valid setting this
      // build cannot use; the cache is not the source of truth, so run without it.
      log::warn("startup", std::string("cache: ") + e.what() + "; using the in-process cache");
      cache = std::make_unique<MemoryCache>();
    } else {
      log::error("startup", std::string("cache: ") + e.what());
      return 2;
    }
  }

  ApiViews views;
  std::unique_ptr<Ledger> ledger;
  try {
    ledger = std::make_unique<Ledger>(*store, *cache, views);
  } catch (const std::exception& e) {
    log::error("startup", std::string("database: cannot load state: ") + e.what());
    return 1;
  }
  auto counters = ledger->counters();
  std::string held = " (" + std::to_string(counters.open_positions) + " open, " +
                     std::to_string(counters.closed_positions) + " closed positions, " +
                     std::to_string(counters.documents) + " recommendation documents)";
  if (mongo)
    log::info("startup", "database: MongoDB at " + store->location() + ", database " +
                             mongo->database() + held + "; closes are " +
                             (mongo->transactions()
                                  ? "multi-document transactions (replica set)"
                                  : "ordered idempotent writes (standalone server, no transactions)"));
  else
    log::info("startup", "database: SQLite at " + store->location() + held);

  // Recommendations the algorithm inserts straight into MongoDB.
  std::unique_ptr<RecommendationWatcher> watcher;
  if (mongo) {
    Ledger* l = ledger.get();
    watcher = std::make_unique<RecommendationWatcher>(*mongo, [l](StoredDocument doc) {
      std::promise<DocumentOutcome> done;
      auto future = done.get_future();
      std::string us_date = doc.document.us_date;
      l->submit_stored_document(std::move(doc), [&done](DocumentOutcome o) { done.set_value(std::move(o)); });
      DocumentOutcome o = future.get();
      for (const auto& p : o.problems)
        log::warn("watcher", "document " + us_date + ": " + describe(p) + " (skipped)");
      switch (o.status) {
        case DocumentOutcome::Status::Created:
        case DocumentOutcome::Status::Duplicate: return RecommendationWatcher::Outcome::Durable;
        case DocumentOutcome::Status::Invalid: return RecommendationWatcher::Outcome::Rejected;
        case DocumentOutcome::Status::Unavailable: break;
      }
      return RecommendationWatcher::Outcome::Unavailable;
    });
  }
  log::info("startup", cache_line);

  boost::asio::io_context ioc(config.http_threads);
  std::atomic<int> exit_code{0};
  std::function<void()> shutdown;  // set below, once everything exists

  // Market data
  std::unique_ptr<MarketFeed> feed;
  try {
    switch (config.feed) {
      case FeedKind::Polygon: {
        PolygonOptions o;
        o.api_key = config.polygon_api_key;
        o.ws_url = config.polygon_ws_url;
        o.rest_url = config.polygon_api_url;
        for (const auto& t : ledger->tickers()) o.symbols.push_back(t.symbol);
        o.snapshot_interval = std::chrono::seconds(config.snapshot_seconds);
        o.stale_after = std::chrono::seconds(config.stale_seconds);
        o.first_backoff = std::chrono::milliseconds(config.backoff_ms);
        o.max_backoff = std::chrono::milliseconds(std::max(config.backoff_ms, config.max_backoff_ms));
        o.retry.first_delay = std::chrono::milliseconds(std::min(config.backoff_ms, 500));
        o.on_fatal = [&](const std::string&) {
          exit_code = 78;  // EX_CONFIG
          boost::asio::post(ioc, [&] {
            if (shutdown) shutdown();
          });
        };
        feed = std::make_unique<PolygonFeed>(std::move(o));
        break;
      }
      case FeedKind::Replay:
        feed = std::make_unique<ReplayFeed>(config.replay_path, config.replay_rate);
        break;
      case FeedKind::Sim: {
        SimOptions o;
        o.seed = config.sim_seed;
        o.step_ms = config.sim_step_ms;
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
        o.start_unix = now;
        if (auto latest = ledger->latest_bar_start()) o.start_unix = std::max(now, *latest / 1000 + 60);
        feed = std::make_unique<SimFeed>(ledger->tickers(), o);
        break;
      }
      default:
        feed = std::make_unique<NoFeed>();
    }
  } catch (const std::exception& e) {
    log::error("startup", std::string("market data: ") + e.what());
    return 1;
  }
  log::info("startup", "market data: " + feed->describe());

  // Provider data for the front end's charts (key stays here).
  std::unique_ptr<MarketDataProxy> proxy;
  if (!config.polygon_api_key.empty()) {
    RetryPolicy retry;
    retry.first_delay = std::chrono::milliseconds(std::min(config.backoff_ms, 500));
    retry.max_attempts = 3;
    proxy = std::make_unique<PolygonProxy>(config.polygon_api_url, config.polygon_api_key, retry);
    log::info("startup", "charts: /api/aggregates and /api/marketstatus proxied to " +
                             redact_uri(config.polygon_api_url));
  } else {
    log::info("startup", "charts: /api/aggregates and /api/marketstatus answer 503 (no POLYGON_API_KEY)");
  }

  // HTTP
  StaticDocs docs(find_docs_dir(config));
  if (docs.missing().empty())
    log::info("startup", "docs: /docs and /openapi.json from " + docs.dir().string());
  else
    log::warn("startup", "docs: missing " + docs.missing() + " in " + docs.dir().string() +
                             " (run scripts/setup.sh, then rebuild); /docs answers 503");
  if (config.api_token.empty())
    log::info("startup", "writes: disabled (set QC_API_TOKEN to enable POST /api/recommendations)");
  else
    log::info("startup", "writes: POST /api/recommendations enabled with a bearer token");

  ApiOptions api_options;
  api_options.api_token = config.api_token;
  api_options.cors_origins = config.cors_origins;
  Ledger* ledger_ptr = ledger.get();
  api_options.ingest = [ledger_ptr](RecommendationDocument doc, std::function<void(IngestReply)> done) {
    ledger_ptr->submit_document(std::move(doc), InvalidItems::RefuseDocument,
                                [done = std::move(done)](DocumentOutcome o) { done(to_reply(std::move(o))); });
  };
  Store* store_ptr = store.get();
  Cache* cache_ptr = cache.get();
  MarketFeed* feed_ptr = feed.get();
  RecommendationWatcher* watcher_ptr = watcher.get();
  api_options.readiness = [=]() {
    auto health = store_ptr->health();
    auto c = ledger_ptr->counters();
    std::string body;
    JsonWriter w(body);
    w.begin_object().key("status").value(health.ok ? "ready" : "unavailable");
    w.key("database").begin_object().key("kind").value(store_ptr->kind()).key("ok").value(health.ok)
        .key("path").value(store_ptr->location());
    if (!health.ok) w.key("detail").value(health.detail);
    w.key("commit_failures").value(static_cast<std::int64_t>(c.commit_failures)).end_object();
    w.key("cache").begin_object().key("kind").value(cache_ptr->kind()).key("ok")
        .value(cache_ptr->healthy()).end_object();
    w.key("feed").begin_object().key("kind").value(feed_ptr->kind()).key("simulated")
        .value(feed_ptr->simulated());
    feed_ptr->write_status(w);
    w.key("bars_applied").value(static_cast<std::int64_t>(c.bars_applied))
        .key("bars_ignored").value(static_cast<std::int64_t>(c.bars_ignored))
        .key("bars_unknown_symbol").value(static_cast<std::int64_t>(c.bars_unknown_symbol))
        .end_object();
    w.key("positions").begin_object().key("open").value(static_cast<std::int64_t>(c.open_positions))
        .key("closed").value(static_cast<std::int64_t>(c.closed_positions)).end_object();
    w.key("documents").value(static_cast<std::int64_t>(c.documents));
    if (watcher_ptr) {
      w.key("watcher").begin_object();
      watcher_ptr->write_status(w);
      w.end_object();
    }
    w.end_object();
    return std::make_pair(health.ok, std::move(body));
  };
  api_options.market_proxy = proxy.get();
  MarketDataProxy* proxy_ptr = proxy.get();
  const HttpMetrics* http_metrics = nullptr;  // set once the Api exists
  api_options.metrics = [=, &http_metrics](std::string& out) {
    auto c = ledger_ptr->counters();
    auto f = feed_ptr->metrics();
    auto counter = [&](const char* name, const char* help, double v) {
      append_metric(out, name, "counter", help, "", v);
    };
    auto gauge = [&](const char* name, const char* help, double v) {
      append_metric(out, name, "gauge", help, "", v);
    };
    gauge("qc_open_positions", "Positions open now.", static_cast<double>(c.open_positions));
    counter("qc_positions_opened_total", "Positions opened by this process.",
            static_cast<double>(c.positions_opened));
    append_header(out, "qc_positions_closed_total", "counter", "Positions closed by this process, by notes.");
    append_sample(out, "qc_positions_closed_total", "notes=\"Reached stop loss\"",
                  static_cast<double>(c.closed_stop_loss));
    append_sample(out, "qc_positions_closed_total", "notes=\"Reached target price\"",
                  static_cast<double>(c.closed_target_price));
    counter("qc_bars_applied_total", "Minute bars applied to the engine.", static_cast<double>(c.bars_applied));
    append_header(out, "qc_rejected_inputs_total", "counter",
                  "Inputs refused or ignored, by reason (nothing stored changed).");
    const HttpMetrics& hm = *http_metrics;
    append_sample(out, "qc_rejected_inputs_total", "reason=\"document_invalid\"",
                  static_cast<double>(c.documents_rejected + hm.rejected(HttpMetrics::DocumentInvalid)));
    for (auto r : {HttpMetrics::MalformedJson, HttpMetrics::BodyTooLarge, HttpMetrics::MalformedRequest,
                   HttpMetrics::Unauthorized, HttpMetrics::BadParameter})
      append_sample(out, "qc_rejected_inputs_total",
                    std::string("reason=\"") + HttpMetrics::rejection_name(r) + "\"",
                    static_cast<double>(hm.rejected(r)));
    append_sample(out, "qc_rejected_inputs_total", "reason=\"item_invalid\"",
                  static_cast<double>(c.items_skipped));
    append_sample(out, "qc_rejected_inputs_total", "reason=\"bar_not_newer\"",
                  static_cast<double>(c.bars_ignored));
    append_sample(out, "qc_rejected_inputs_total", "reason=\"bar_unknown_symbol\"",
                  static_cast<double>(c.bars_unknown_symbol));
    append_sample(out, "qc_rejected_inputs_total", "reason=\"frame_malformed\"",
                  static_cast<double>(f.frames_dropped));
    append_sample(out, "qc_rejected_inputs_total", "reason=\"line_malformed\"",
                  static_cast<double>(f.lines_rejected));
    counter("qc_feed_frames_total", "Websocket frames received from the market-data provider.",
            static_cast<double>(f.frames));
    counter("qc_feed_reconnects_total", "Websocket reconnects.", static_cast<double>(f.reconnects));
    counter("qc_backfilled_bars_total", "Minute bars fetched by backfill after a gap.",
            static_cast<double>(f.backfilled_bars));
    counter("qc_backfill_errors_total", "Failed backfill requests (retried).",
            static_cast<double>(f.backfill_errors));
    counter("qc_snapshot_errors_total", "Failed ticker snapshot refreshes.",
            static_cast<double>(f.snapshot_errors));
    auto stats = proxy_ptr ? proxy_ptr->cache_stats() : MarketDataProxy::CacheStats{};
    append_header(out, "qc_cache_requests_total", "counter", "Chart proxy cache lookups, by result.");
    append_sample(out, "qc_cache_requests_total", "cache=\"proxy\",result=\"hit\"", static_cast<double>(stats.hits));
    append_sample(out, "qc_cache_requests_total", "cache=\"proxy\",result=\"miss\"", static_cast<double>(stats.misses));
    gauge("qc_cache_up", "1 when the cache (memory or Redis) is reachable.", cache_ptr->healthy() ? 1 : 0);
    counter("qc_store_errors_total", "Database commits that failed (nothing of the batch stored).",
            static_cast<double>(c.commit_failures));
  };
  api_options.is_tracked = [ledger_ptr](std::string_view symbol) {
    for (const auto& t : ledger_ptr->tickers())
      if (t.symbol == symbol) return true;
    return false;
  };
  Api api(views, docs, std::move(api_options));
  http_metrics = &api.http_metrics();

  HttpServerOptions http_options;
  http_options.host = config.host;
  http_options.port = config.port;
  http_options.decorate = [&api](const HttpRequest& req, HttpResponse& r) { api.decorate(req, r); };
  http_options.on_refused = [&api](unsigned status) { api.refused(status); };
  HttpServer server(ioc, http_options, [&api](HttpRequest& req, Respond respond) {
    api.handle(req, std::move(respond));
  });
  try {
    server.start();
  } catch (const std::exception& e) {
    log::error("startup", std::string("http: ") + e.what());
    ledger->stop();
    return 1;
  }
  log::info("startup", "http: listening on " + config.host + ":" + std::to_string(server.port()) +
                           " with " + std::to_string(config.http_threads) + " threads");

  feed->start(*ledger);
  if (watcher) watcher->start();

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  bool stopped = false;
  // Graceful: stop accepting and close idle connections; stop the sources;
  // the ledger applies, commits and answers everything queued; requests in
  // flight get their answers; then the I/O threads end (at most 10 s, well
  // within Heroku's 30 s).
  shutdown = [&] {
    if (stopped) return;
    stopped = true;
    signals.cancel();
    auto begun = std::chrono::steady_clock::now();
    server.drain(std::chrono::seconds(10), [&, begun](std::size_t left) {
      if (left)
        log::warn("shutdown", std::to_string(left) + " connections still open at the deadline; closing them");
      log::info("shutdown", "drained in " +
                                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now() - begun).count()) +
                                " ms");
      ioc.stop();
    });
    if (watcher) watcher->stop();
    feed->stop();
    ledger->stop();  // applies and commits everything queued, answering its writers
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::info("shutdown", std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                              "; stopping");
    shutdown();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < config.http_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  if (watcher) watcher->stop();
  feed->stop();
  ledger->stop();
  log::flush_suppressed();
  if (exit_code != 0) {
    log::error("shutdown", "stopped because of a fatal market-data configuration error");
    return exit_code;
  }
  log::info("shutdown", "stopped cleanly");
  return 0;
}

}  // namespace qc
