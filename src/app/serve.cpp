#include "app/serve.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "app/adapters.h"
#include "app/ledger.h"
#include "app/server_status.h"
#include "http/api.h"
#include "http/event_hub.h"
#include "http/server.h"
#include "log/log.h"
#include "log/redact.h"

namespace qc {
namespace {

// Exit statuses (docs/decisions.md, "Shutdown").
constexpr int kExitStartupFailed = 1;
constexpr int kExitShutdownTimedOut = 70;  // EX_SOFTWARE: killed by our own 15 s deadline
constexpr int kExitNotDurable = 75;        // EX_TEMPFAIL: stopped, some work was not stored
constexpr int kExitProviderRefused = 78;   // EX_CONFIG: the market-data provider refused the key
constexpr auto kShutdownDeadline = std::chrono::seconds(15);

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

// Process settings a server needs: a full disk (or a file-size limit) is an
// error the store reports, not a SIGXFSZ that kills us; a closed client
// socket is an error code, not SIGPIPE; as many file descriptors as allowed.
void prepare_process() {
  ::signal(SIGXFSZ, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1 << 20);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Ends the process if shutdown has not finished within the deadline.
class ShutdownWatchdog {
 public:
  void arm() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, kShutdownDeadline, [&] { return done_; })) return;
      log::error("shutdown", "did not finish within " + std::to_string(kShutdownDeadline.count()) +
                                 " s; exiting now (status 70). Work not yet stored is lost to this run; "
                                 "positions stored before are intact");
      log::flush_suppressed();
      std::_Exit(kExitShutdownTimedOut);
    });
  }
  ~ShutdownWatchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

int run_serve(const ServeConfig& config) {
  log::Options log_options;
  log::parse_level(config.log_level, log_options.level);
  log_options.json = config.log_format == "json";
  log::configure(log_options);
  for (const auto* secret : {&config.api_token, &config.polygon_api_key, &config.webhook_secret})
    log::add_secret(*secret);
  for (const auto* uri : {&config.mongo_uri, &config.redis_url})
    for (const auto& secret : uri_secrets(*uri)) log::add_secret(secret);
  prepare_process();

  OpenedStore db;
  try {
    db = open_store(config);
  } catch (const std::exception& e) {
    log::error("startup", std::string("database: ") + e.what());
    return kExitStartupFailed;
  }
  OpenedCache cache = open_cache(config);  // a bad REDIS_URL is a ConfigError (status 2)

  // Before the ledger: an endpoint new to the store starts at its last event.
  std::unique_ptr<WebhookNotifier> webhooks;
  try {
    webhooks = open_webhooks(config, *db.store);
  } catch (const std::exception& e) {
    log::error("startup", std::string("webhooks: cannot open the outbox: ") + e.what());
    return kExitStartupFailed;
  }

  // Live events (GET /api/events): the ledger publishes each durable change.
  EventHubOptions event_options;
  event_options.max_subscribers = static_cast<std::size_t>(config.events_max_subscribers);
  event_options.history_events = static_cast<std::size_t>(config.events_history);
  event_options.history_bytes = static_cast<std::size_t>(config.events_history_bytes);
  event_options.queue_bytes = static_cast<std::size_t>(config.events_queue_bytes);
  event_options.heartbeat = std::chrono::milliseconds(config.events_heartbeat_ms);
  EventHub events(event_options);

  // Whoever hears of live events (SPEC §4.9), in turn; none may block.
  LedgerOptions ledger_options;
  ledger_options.on_events = [&events, w = webhooks.get()](const std::vector<LiveEvent>& batch) {
    events.publish(batch);
    w->notify(batch);
  };

  RecentBarsEndpoint recent_bars;  // GET /api/bars/{symbol}
  ledger_options.on_bars = [&recent_bars](const std::vector<MinuteBar>& bars) { recent_bars.record(bars); };

  ApiViews views;
  std::unique_ptr<Ledger> ledger;
  try {
    ledger = std::make_unique<Ledger>(*db.store, *cache.cache, views, ledger_options);
  } catch (const std::exception& e) {
    log::error("startup", std::string("database: cannot load state: ") + e.what());
    return kExitStartupFailed;
  }
  log::info("startup", describe_store(db, ledger->counters()));
  auto watcher = open_watcher(db.mongo, *ledger);
  log::info("startup", cache.description);
  log::info("startup", webhooks->describe());

  boost::asio::io_context ioc(config.http_threads);
  std::atomic<int> exit_code{0};
  std::function<void()> shutdown;  // set below, once everything exists

  std::unique_ptr<MarketFeed> feed;
  try {
    feed = open_feed(config, *ledger, [&](const std::string&) {
      exit_code = kExitProviderRefused;
      boost::asio::post(ioc, [&] {
        if (shutdown) shutdown();
      });
    });
  } catch (const std::exception& e) {
    log::error("startup", std::string("market data: ") + e.what());
    ledger->stop();
    return kExitStartupFailed;
  }
  log::info("startup", "market data: " + feed->describe());
  std::string proxy_line;
  auto proxy = open_proxy(config, proxy_line);
  log::info("startup", proxy_line);

  StaticDocs docs(find_docs_dir(config));
  if (docs.missing().empty())
    log::info("startup", "docs: /docs, /openapi.json and the dashboard (/) from " + docs.dir().string());
  else
    log::warn("startup", "docs: missing " + docs.missing() + " in " + docs.dir().string() +
                             " (run scripts/setup.sh, then rebuild); /docs and / answer 503");
  log::info("startup", "events: GET /api/events, at most " + std::to_string(config.events_max_subscribers) +
                           " subscribers, the last " + std::to_string(config.events_history) +
                           " events kept for Last-Event-ID, heartbeat every " +
                           std::to_string(config.events_heartbeat_ms) + " ms");
  log::info("startup", config.api_token.empty()
                           ? "writes: disabled (set QC_API_TOKEN to enable POST /api/recommendations)"
                           : "writes: POST /api/recommendations enabled with a bearer token");

  ServerStatus status(
      {*db.store, *ledger, *cache.cache, *feed, watcher.get(), proxy.get(), webhooks.get(), &events});
  ApiOptions api_options;
  api_options.api_token = config.api_token;
  api_options.cors_origins = config.cors_origins;
  api_options.ingest = [l = ledger.get()](RecommendationDocument doc, std::function<void(IngestReply)> done) {
    l->submit_document(std::move(doc), InvalidItems::RefuseDocument,
                       [done = std::move(done)](DocumentOutcome o) { done(to_reply(std::move(o))); });
  };
  api_options.readiness = [&status] { return status.readiness(); };
  api_options.metrics = [&status](std::string& out) { status.metrics(out); };
  api_options.market_proxy = proxy.get();
  api_options.trades = [l = ledger.get()](const TradeQuery& q) { return l->trades_page(q); };
  api_options.stats = [l = ledger.get()](const TradeFilter& f, EquityMode mode) {
    return l->stats_body(f, mode);
  };
  api_options.events = &events;
  api_options.bars = &recent_bars;
  api_options.is_tracked = [l = ledger.get()](std::string_view symbol) {
    for (const auto& t : l->tickers())
      if (t.symbol == symbol) return true;
    return false;
  };
  Api api(views, docs, std::move(api_options));

  HttpServerOptions http_options;
  http_options.host = config.host;
  http_options.port = config.port;
  http_options.max_connections = static_cast<std::size_t>(config.max_connections);
  http_options.admit = [&api](const HttpRequestHeader& h) { return api.admit(h); };
  http_options.decorate = [&api](const HttpRequest& req, HttpResponse& r) { api.decorate(req, r); };
  http_options.on_refused = [&api](unsigned s) { api.refused(s); };
  HttpServer server(ioc, http_options, [&api](HttpRequest& req, Respond respond) { api.handle(req, std::move(respond)); });
  status.attach(&server, &api.http_metrics());
  try {
    server.start();
  } catch (const std::exception& e) {
    log::error("startup", std::string("http: ") + e.what());
    ledger->stop();
    return kExitStartupFailed;
  }
  log::info("startup", "http: listening on " + config.host + ":" + std::to_string(server.port()) + " with " +
                           std::to_string(config.http_threads) + " threads, at most " +
                           std::to_string(server.max_connections()) + " connections");

  feed->start(*ledger);
  if (watcher) watcher->start();
  webhooks->start();

  // Shutdown (SIGTERM/SIGINT, or a fatal provider error): stop accepting and
  // close idle connections; refuse new work; stop the sources; the ledger
  // applies and commits what is queued (giving up after its deadline);
  // requests in flight get their answers. A watchdog ends the process if
  // all this has not finished within 15 s.
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  ShutdownWatchdog watchdog;
  StopReport report;
  std::thread stopper;
  bool stopped = false;
  shutdown = [&] {
    if (stopped) return;
    stopped = true;
    watchdog.arm();
    signals.cancel();
    if (proxy) proxy->stop();  // chart requests waiting on the provider get 503 now
    auto begun = std::chrono::steady_clock::now();
    server.drain(std::chrono::seconds(10), [&, begun](std::size_t left) {
      if (left) log::warn("shutdown", std::to_string(left) + " connections still open at the deadline; closing them");
      log::info("shutdown", "drained in " +
                                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now() - begun).count()) +
                                " ms");
      ioc.stop();
    });
    // Off the I/O threads: the ledger may wait for the database.
    stopper = std::thread([&] {
      webhooks->begin_stop();  // POSTs in flight are abandoned: sent again at the next start
      ledger->begin_stop();
      if (watcher) watcher->stop();
      feed->stop();
      report = ledger->stop();
    });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::info("shutdown", std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") + "; stopping");
    shutdown();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < config.http_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  events.close();  // no session runs any more; nothing is woken from now on
  if (stopper.joinable()) stopper.join();
  if (watcher) watcher->stop();
  feed->stop();
  report = ledger->stop();
  webhooks->stop();
  log::flush_suppressed();
  if (exit_code != 0) {
    log::error("shutdown", "stopped because of a fatal market-data configuration error");
    return exit_code;
  }
  if (!report.durable) {
    log::error("shutdown", "stopped, but not everything was stored: " + std::to_string(report.bars_not_stored) +
                               " minute bars, " + std::to_string(report.documents_refused) +
                               " documents refused (status 75)");
    return kExitNotDurable;
  }
  log::info("shutdown", "stopped cleanly; everything accepted is stored");
  return 0;
}

}  // namespace qc
