// Builds the adapter each port uses, from the configuration (SPEC §2): the
// one place that knows which adapter is in use. Each function fills the
// adapter's own options from ServeConfig and returns it with the startup
// log line that says what it is.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "app/config.h"
#include "app/ledger.h"
#include "cache/cache.h"
#include "market/feed.h"
#include "market/market_proxy.h"
#include "notify/webhook_notifier.h"
#include "store/mongo/mongo_store.h"
#include "store/mongo/recommendation_watcher.h"
#include "store/store.h"

namespace qc {

struct OpenedStore {
  std::unique_ptr<Store> store;
  MongoStore* mongo = nullptr;  // set when the store is MongoDB
};
// MongoDB when MONGO_ATLAS_URI is set (never falling back), else SQLite under
// the data dir. Throws StoreError.
OpenedStore open_store(const ServeConfig& config);
// "database: SQLite at ... (N open, M closed positions, K documents)".
std::string describe_store(const OpenedStore& store, const LedgerCounters& held);

struct OpenedCache {
  std::unique_ptr<Cache> cache;
  std::string description;  // "cache: ..."
};
// Redis when REDIS_URL / REDIS_HOST is set, else in-process memory.
OpenedCache open_cache(const ServeConfig& config);

// The market feed chosen by QC_FEED (Polygon, replay, sim, none).
// `on_fatal` is called once if the provider refuses the configuration.
std::unique_ptr<MarketFeed> open_feed(const ServeConfig& config, const Ledger& ledger,
                                      std::function<void(const std::string&)> on_fatal);

// The chart proxy when POLYGON_API_KEY is set, else null; `description` is
// its startup line.
std::unique_ptr<MarketDataProxy> open_proxy(const ServeConfig& config, std::string& description);

// The watcher of documents the algorithm inserts into MongoDB (null without
// MongoDB).
std::unique_ptr<RecommendationWatcher> open_watcher(MongoStore* mongo, Ledger& ledger);

// The webhook notifier over the store's outbox (SPEC §4.9), not started;
// with no QC_WEBHOOK_URLS it has no endpoint (and only prunes the outbox).
// Registers the URLs' secret parts with the log redactor. Throws StoreError.
std::unique_ptr<WebhookNotifier> open_webhooks(const ServeConfig& config, Store& store);

}  // namespace qc
