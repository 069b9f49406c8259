#include "app/adapters.h"

#include <future>

#include "cache/memory/memory_cache.h"
#include "cache/redis/redis_cache.h"
#include "cache/redis/redis_url.h"
#include "log/log.h"
#include "log/redact.h"
#include "market/polygon/polygon_feed.h"
#include "market/polygon/polygon_proxy.h"
#include "market/replay/replay_feed.h"
#include "market/sim/sim_feed.h"
#include "market/sim/sim_market_status.h"
#include "store/sqlite/sqlite_store.h"

namespace qc {

OpenedStore open_store(const ServeConfig& config) {
  OpenedStore out;
  if (!config.mongo_uri.empty()) {
    auto m = std::make_unique<MongoStore>(config.mongo_uri);
    out.mongo = m.get();
    out.store = std::move(m);
  } else {
    out.store = std::make_unique<SqliteStore>(config.data_dir / "quantcrunch.sqlite3");
  }
  return out;
}

std::string describe_store(const OpenedStore& s, const LedgerCounters& c) {
  std::string held = " (" + std::to_string(c.open_positions) + " open, " + std::to_string(c.closed_positions) +
                     " closed positions, " + std::to_string(c.documents) + " recommendation documents)";
  if (!s.mongo) return "database: SQLite at " + s.store->location() + held;
  // location() is the redacted URI; transport() says how the connection is
  // made ("over TLS (certificate verified against ...)", "over plain TCP").
  return "database: MongoDB at " + s.store->location() + ", database " + s.mongo->database() +
         held + ", " + s.mongo->transport() + "; closes are " +
         (s.mongo->transactions()
              ? "multi-document transactions (replica set)"
              : "ordered idempotent writes (standalone server, no transactions)");
}

OpenedCache open_cache(const ServeConfig& config) {
  OpenedCache out;
  try {
    if (auto endpoint = redis_endpoint_from(config.redis_url, config.redis_host,
                                            {config.redis_tls_verify, config.redis_tls_ca_file})) {
      auto redis = std::make_unique<RedisCache>(*endpoint);
      auto warm = redis->warm_start();
      out.description = "cache: Redis at " + redis->location() + " over " +
                        endpoint->transport_description(warm.reached) +
                        " (last run left: " + warm.summary() +
                        "; the database stays the source of truth)";
      if (!endpoint->tls && (config.redis_tls_verify || !config.redis_tls_ca_file.empty()))
        out.description +=
            "; QC_REDIS_TLS_VERIFY and QC_REDIS_TLS_CA_FILE apply to rediss:// URLs only";
      out.cache = std::move(redis);
      return out;
    }
  } catch (const RedisUrlError& e) {
    // The configuration has checked the URL; what is left is a CA file that
    // holds no certificate. Never a silent fallback to the in-process cache.
    throw ConfigError(e.what());
  }
  out.cache = std::make_unique<MemoryCache>();
  out.description = "cache: in-process memory";
  return out;
}

std::unique_ptr<MarketFeed> open_feed(const ServeConfig& config, const Ledger& ledger,
                                      std::function<void(const std::string&)> on_fatal) {
  switch (config.feed) {
    case FeedKind::Polygon: {
      PolygonOptions o;
      o.api_key = config.polygon_api_key;
      o.ws_url = config.polygon_ws_url;
      o.rest_url = config.polygon_api_url;
      for (const auto& t : ledger.tickers()) o.symbols.push_back(t.symbol);
      o.snapshot_interval = std::chrono::seconds(config.snapshot_seconds);
      o.stale_after = std::chrono::seconds(config.stale_seconds);
      o.first_backoff = std::chrono::milliseconds(config.backoff_ms);
      o.max_backoff = std::chrono::milliseconds(std::max(config.backoff_ms, config.max_backoff_ms));
      o.retry.first_delay = std::chrono::milliseconds(std::min(config.backoff_ms, 500));
      o.on_fatal = std::move(on_fatal);
      return std::make_unique<PolygonFeed>(std::move(o));
    }
    case FeedKind::Replay:
      return std::make_unique<ReplayFeed>(config.replay_path, config.replay_rate);
    case FeedKind::Sim: {
      SimOptions o;
      o.seed = config.sim_seed;
      o.step_ms = config.sim_step_ms;
      o.replay_days = config.sim_replay_days;
      o.resume_after_ms = ledger.latest_bar_start();
      return std::make_unique<SimFeed>(ledger.tickers(), o);
    }
    case FeedKind::None:
      break;
  }
  return std::make_unique<NoFeed>();
}

std::unique_ptr<MarketDataProxy> open_proxy(const ServeConfig& config, std::string& description) {
  if (config.polygon_api_key.empty()) {
    if (config.feed == FeedKind::Sim) {
      description =
          "charts: /api/marketstatus answers the simulated market's session state; "
          "/api/aggregates answers 503 (no POLYGON_API_KEY)";
      return std::make_unique<SimMarketStatus>();
    }
    description = "charts: /api/aggregates and /api/marketstatus answer 503 (no POLYGON_API_KEY)";
    return nullptr;
  }
  RetryPolicy retry;
  retry.first_delay = std::chrono::milliseconds(std::min(config.backoff_ms, 500));
  retry.max_attempts = 3;
  description = "charts: /api/aggregates and /api/marketstatus proxied to " + redact_uri(config.polygon_api_url);
  return std::make_unique<PolygonProxy>(config.polygon_api_url, config.polygon_api_key, retry);
}

std::unique_ptr<RecommendationWatcher> open_watcher(MongoStore* mongo, Ledger& ledger) {
  if (!mongo) return nullptr;
  Ledger* l = &ledger;
  return std::make_unique<RecommendationWatcher>(*mongo, [l](StoredDocument doc) {
    std::promise<DocumentOutcome> done;
    auto future = done.get_future();
    std::string us_date = doc.document.us_date;
    l->submit_stored_document(std::move(doc), [&done](DocumentOutcome o) { done.set_value(std::move(o)); });
    DocumentOutcome o = future.get();
    for (const auto& p : o.problems) log::warn("watcher", "document " + us_date + ": " + describe(p) + " (skipped)");
    switch (o.status) {
      case DocumentOutcome::Status::Created:
      case DocumentOutcome::Status::Duplicate: return RecommendationWatcher::Outcome::Durable;
      case DocumentOutcome::Status::Invalid: return RecommendationWatcher::Outcome::Rejected;
      case DocumentOutcome::Status::Unavailable: break;
    }
    return RecommendationWatcher::Outcome::Unavailable;
  });
}

std::unique_ptr<WebhookNotifier> open_webhooks(const ServeConfig& config, Store& store) {
  WebhookOptions o;
  for (std::size_t i = 0; i < config.webhook_urls.size(); ++i) {
    o.endpoints.push_back(parse_webhook_url(config.webhook_urls[i], static_cast<int>(i + 1)));
    for (const auto& secret : webhook_url_secrets(o.endpoints.back())) log::add_secret(secret);
  }
  o.format = parse_webhook_format(config.webhook_format).value_or(WebhookFormat::Json);
  o.secret = config.webhook_secret;
  o.timeout = std::chrono::milliseconds(config.webhook_timeout_ms);
  o.first_retry = std::chrono::milliseconds(config.webhook_backoff_ms);
  o.max_retry = std::chrono::milliseconds(std::max(config.webhook_backoff_ms, config.webhook_max_backoff_ms));
  return std::make_unique<WebhookNotifier>(store, std::move(o));
}

}  // namespace qc
