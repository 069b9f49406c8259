// What /readyz and /metrics say about the running server (SPEC §4.5, §9).
//
// /readyz is 200 only when the database can be read (a background probe of
// Store::health every `probe_interval`, never a store call on an HTTP
// thread) and writes can be committed (the ledger's write health: the last
// commit or idle write probe succeeded). Its body says which part fails and
// why, without filesystem paths or secrets.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "app/ledger.h"
#include "cache/cache.h"
#include "http/event_hub.h"
#include "http/http_metrics.h"
#include "http/server.h"
#include "market/feed.h"
#include "market/market_proxy.h"
#include "notify/webhook_notifier.h"
#include "store/mongo/recommendation_watcher.h"
#include "store/store.h"

namespace qc {

class ServerStatus {
 public:
  struct Parts {
    Store& store;
    Ledger& ledger;
    Cache& cache;
    MarketFeed& feed;
    RecommendationWatcher* watcher = nullptr;
    MarketDataProxy* proxy = nullptr;
    const WebhookNotifier* webhooks = nullptr;
    const EventHub* events = nullptr;
  };
  explicit ServerStatus(Parts parts, std::chrono::milliseconds probe_interval = std::chrono::seconds(2));
  ~ServerStatus();
  ServerStatus(const ServerStatus&) = delete;
  ServerStatus& operator=(const ServerStatus&) = delete;

  // Once they exist (they need the status first).
  void attach(const HttpServer* server, const HttpMetrics* http);

  // (ready, body) for /readyz.
  std::pair<bool, std::string> readiness() const;
  // Appends the non-HTTP families of /metrics.
  void metrics(std::string& out) const;

 private:
  void probe_loop();

  Parts parts_;
  std::chrono::milliseconds probe_interval_;
  const HttpServer* server_ = nullptr;
  const HttpMetrics* http_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool readable_ = false;
  std::string read_detail_ = "not checked yet";
  std::chrono::steady_clock::time_point probed_at_{};
  std::chrono::steady_clock::time_point probe_started_{};
  bool probing_ = false;
  std::thread thread_;
};

}  // namespace qc
