// Webhooks (SPEC §4.9): delivers the store's outbox — the opened and closed
// events, written in the same commit as their change — to every endpoint of
// QC_WEBHOOK_URLS, at least once and in id order per endpoint.
//
// One worker thread per endpoint, each with its own outbox connection and
// HTTP client, so a dead or slow endpoint delays no other one and never the
// engine: the ledger only calls notify(), which wakes the workers and
// returns. A worker delivers the events after its endpoint's progress
// (durable, in the store) in batches, POSTs one event at a time, and records
// the progress after each 2xx. Anything else (another status, a redirect, a
// timeout, a refused connection, a TLS failure) is retried, the same event
// again, after retry_delay() (1 s doubling to 5 min, full jitter; a longer
// Retry-After wins, up to the cap) until it is delivered. Events therefore
// survive a crash between commit and delivery: the next start delivers
// whatever the outbox holds after each endpoint's progress.
//
// An endpoint seen for the first time starts at the store's last event id
// (it receives the events from then on); an endpoint no longer configured
// is forgotten. Events every configured endpoint has delivered are pruned
// (at startup, then at most every prune_interval); with no endpoint every
// event is, at startup. Memory is bounded by the batch size whatever the
// backlog; the backlog itself lives in the store (docs/decisions.md).
//
// stop() ends the workers at once: a POST in flight is abandoned (sent again
// at the next start). Logs name endpoints by `name` (scheme://host#index),
// never by URL.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/live_event.h"
#include "notify/webhook_body.h"
#include "notify/webhook_endpoint.h"
#include "store/store.h"

namespace qc {

struct WebhookOptions {
  std::vector<WebhookEndpoint> endpoints;
  WebhookFormat format = WebhookFormat::Json;
  std::string secret;  // empty: no X-QuantCrunch-Signature
  std::chrono::milliseconds timeout{10'000};      // one POST, connect to answer
  std::chrono::milliseconds first_retry{1'000};   // retry_delay's first ceiling
  std::chrono::milliseconds max_retry{300'000};   // and its cap
  std::size_t batch_size = 64;                    // events read from the store at once
  std::chrono::milliseconds poll_interval{30'000};    // re-read the outbox without notify()
  std::chrono::milliseconds store_retry{5'000};       // after a failed outbox read
  std::chrono::milliseconds prune_interval{600'000};
  std::int64_t backlog_alarm = 1'000;  // an error line at this many waiting events (and ×10, ×100...)
};

// One endpoint, as /metrics and /readyz show it.
struct WebhookEndpointStatus {
  std::string name;  // scheme://host[:port]#index
  std::uint64_t deliveries = 0;  // events delivered (2xx) by this process
  std::uint64_t retries = 0;     // failed attempts (each is retried)
  std::map<std::string, std::uint64_t> failures;  // failed attempts by reason (WebhookResponse::reason)
  std::int64_t backlog = 0;  // events not yet delivered (as last counted)
  bool failing = false;      // the last attempt failed
  std::string last_error;    // its reason in words, while failing
  std::int64_t failing_since = 0;  // UNIX s of the first failure of this streak
  std::int64_t last_delivery = 0;  // UNIX s of the last 2xx (0: none yet)
};

class WebhookNotifier {
 public:
  // Registers the endpoints in the store and prunes it; starts nothing.
  // Throws StoreError.
  WebhookNotifier(Store& store, WebhookOptions options);
  ~WebhookNotifier();
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  // Starts one worker per endpoint (none without endpoints).
  void start();
  // Called by the ledger after a commit: wakes the workers when `events`
  // holds an opened or closed event. Never blocks.
  void notify(const std::vector<LiveEvent>& events);
  // Abandons the POSTs in flight and tells the workers to end. Never blocks.
  void begin_stop();
  // begin_stop(), then joins the workers. Idempotent.
  void stop();

  bool enabled() const { return !options_.endpoints.empty(); }
  std::vector<WebhookEndpointStatus> status() const;
  // The startup line: "webhooks: off (...)" or "webhooks: 2 endpoints
  // (https://hooks.slack.com#1, ...), format slack, NOT signed ...".
  std::string describe() const;

 private:
  class Worker;
  // Prunes when no worker has within prune_interval; on the caller's outbox.
  void maybe_prune(Outbox& outbox);

  Store& store_;
  WebhookOptions options_;
  std::vector<std::string> keys_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::int64_t> last_prune_ms_{0};  // steady clock
};

}  // namespace qc
