#include "app/server_status.h"

#include "core/json_writer.h"

namespace qc {
namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string prometheus_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

ServerStatus::ServerStatus(Parts parts, std::chrono::milliseconds probe_interval)
    : parts_(parts), probe_interval_(probe_interval) {
  // The first probe runs here, so that the server is not "unavailable" for
  // one interval after a healthy start.
  auto h = parts_.store.health();
  readable_ = h.ok;
  read_detail_ = h.ok ? "ok" : h.detail;
  probed_at_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { probe_loop(); });
}

ServerStatus::~ServerStatus() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ServerStatus::attach(const HttpServer* server, const HttpMetrics* http) {
  server_ = server;
  http_ = http;
}

void ServerStatus::probe_loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, probe_interval_, [&] { return stopping_; })) {
    probing_ = true;
    probe_started_ = std::chrono::steady_clock::now();
    lock.unlock();
    StoreHealth h;
    try {
      h = parts_.store.health();
    } catch (const std::exception& e) {
      h = {false, e.what()};
    }
    lock.lock();
    probing_ = false;
    readable_ = h.ok;
    read_detail_ = h.ok ? "ok" : h.detail;
    probed_at_ = std::chrono::steady_clock::now();
  }
}

std::pair<bool, std::string> ServerStatus::readiness() const {
  bool readable;
  std::string read_detail;
  std::int64_t probe_age_ms;
  {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    readable = readable_;
    read_detail = read_detail_;
    probe_age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - probed_at_).count();
    // A health check that hangs (a database that stopped answering) is a
    // failure once it has taken longer than a few intervals.
    if (probing_ && now - probe_started_ > 3 * probe_interval_ + std::chrono::seconds(5)) {
      readable = false;
      read_detail = "the database has not answered a health check for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - probe_started_).count()) +
                    " s";
    }
  }
  auto write = parts_.ledger.write_health();
  auto c = parts_.ledger.counters();
  bool ready = readable && write.ok;
  // /readyz is public: store errors may name the database file, which the
  // startup log shows and this body does not.
  auto without_location = [this](std::string text) {
    std::string location = parts_.store.location();
    for (std::size_t pos; !location.empty() && (pos = text.find(location)) != std::string::npos;)
      text.replace(pos, location.size(), "the database");
    return text;
  };

  std::string body;
  JsonWriter w(body);
  w.begin_object().key("status").value(ready ? "ready" : "unavailable");
  w.key("database").begin_object().key("kind").value(parts_.store.kind()).key("ok").value(ready);
  w.key("readable").value(readable).key("writable").value(write.ok);
  if (!readable) w.key("detail").value(without_location(read_detail));
  else if (!write.ok) w.key("detail").value(without_location(write.reason));
  w.key("last_write_ok").value(write.last_success);
  w.key("checked_ms_ago").value(probe_age_ms);
  w.key("commit_failures").value(static_cast<std::int64_t>(c.commit_failures)).end_object();
  const bool cache_ok = parts_.cache.healthy();
  w.key("cache").begin_object().key("kind").value(parts_.cache.kind()).key("ok").value(cache_ok);
  if (auto transport = parts_.cache.transport(); !transport.empty()) w.key("transport").value(transport);
  if (auto detail = cache_ok ? std::string() : parts_.cache.detail(); !detail.empty()) w.key("detail").value(detail);
  w.end_object();
  w.key("feed").begin_object().key("kind").value(parts_.feed.kind()).key("simulated").value(parts_.feed.simulated());
  parts_.feed.write_status(w);
  w.key("bars_applied").value(static_cast<std::int64_t>(c.bars_applied))
      .key("bars_ignored").value(static_cast<std::int64_t>(c.bars_ignored))
      .key("bars_unknown_symbol").value(static_cast<std::int64_t>(c.bars_unknown_symbol))
      .key("bars_waiting").value(static_cast<std::int64_t>(c.queued_bars))
      .end_object();
  w.key("positions").begin_object().key("open").value(static_cast<std::int64_t>(c.open_positions))
      .key("closed").value(static_cast<std::int64_t>(c.closed_positions)).end_object();
  w.key("documents").value(static_cast<std::int64_t>(c.documents));
  if (parts_.watcher) {
    w.key("watcher").begin_object();
    parts_.watcher->write_status(w);
    w.end_object();
  }
  if (parts_.webhooks && parts_.webhooks->enabled()) {
    // Informational: readiness never depends on a webhook endpoint.
    w.key("webhooks").begin_array();
    for (const auto& e : parts_.webhooks->status()) {
      w.begin_object().key("endpoint").value(e.name).key("ok").value(!e.failing);
      w.key("backlog").value(e.backlog).key("delivered").value(static_cast<std::int64_t>(e.deliveries));
      w.key("last_delivery").value(e.last_delivery);
      if (e.failing) w.key("failing_since").value(e.failing_since).key("detail").value(e.last_error);
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
  return {ready, std::move(body)};
}

void ServerStatus::metrics(std::string& out) const {
  auto c = parts_.ledger.counters();
  auto f = parts_.feed.metrics();
  auto counter = [&](const char* name, const char* help, double v) { append_metric(out, name, "counter", help, "", v); };
  auto gauge = [&](const char* name, const char* help, double v) { append_metric(out, name, "gauge", help, "", v); };
  auto n = [](std::uint64_t v) { return static_cast<double>(v); };
  gauge("qc_open_positions", "Positions open now.", n(c.open_positions));
  counter("qc_positions_opened_total", "Positions opened by this process.", n(c.positions_opened));
  append_header(out, "qc_positions_closed_total", "counter", "Positions closed by this process, by notes.");
  append_sample(out, "qc_positions_closed_total", "notes=\"Reached stop loss\"", n(c.closed_stop_loss));
  append_sample(out, "qc_positions_closed_total", "notes=\"Reached target price\"", n(c.closed_target_price));
  counter("qc_bars_applied_total", "Minute bars applied to the engine.", n(c.bars_applied));
  append_header(out, "qc_rejected_inputs_total", "counter",
                "Inputs refused or ignored, by reason (nothing stored changed).");
  std::uint64_t http_invalid = http_ ? http_->rejected(HttpMetrics::DocumentInvalid) : 0;
  append_sample(out, "qc_rejected_inputs_total", "reason=\"document_invalid\"", n(c.documents_rejected + http_invalid));
  for (auto r : {HttpMetrics::MalformedJson, HttpMetrics::BodyTooLarge, HttpMetrics::MalformedRequest,
                 HttpMetrics::Unauthorized, HttpMetrics::BadParameter})
    append_sample(out, "qc_rejected_inputs_total", std::string("reason=\"") + HttpMetrics::rejection_name(r) + "\"",
                  n(http_ ? http_->rejected(r) : 0));
  append_sample(out, "qc_rejected_inputs_total", "reason=\"item_invalid\"", n(c.items_skipped));
  append_sample(out, "qc_rejected_inputs_total", "reason=\"bar_not_newer\"", n(c.bars_ignored));
  append_sample(out, "qc_rejected_inputs_total", "reason=\"bar_unknown_symbol\"", n(c.bars_unknown_symbol));
  append_sample(out, "qc_rejected_inputs_total", "reason=\"frame_malformed\"", n(f.frames_dropped));
  append_sample(out, "qc_rejected_inputs_total", "reason=\"line_malformed\"", n(f.lines_rejected));
  counter("qc_feed_frames_total", "Websocket frames received from the market-data provider.", n(f.frames));
  counter("qc_feed_reconnects_total", "Websocket reconnects.", n(f.reconnects));
  counter("qc_backfilled_bars_total", "Minute bars fetched by backfill after a gap.", n(f.backfilled_bars));
  counter("qc_backfill_errors_total", "Failed backfill requests (retried).", n(f.backfill_errors));
  counter("qc_snapshot_errors_total", "Failed ticker snapshot refreshes.", n(f.snapshot_errors));
  counter("qc_feed_frames_overflowed_total",
          "Websocket frames dropped because the queue to the ledger was full (recovered by the backfill after the "
          "forced reconnect).",
          n(f.frames_overflowed));
  counter("qc_feed_queue_overflows_total",
          "Times the websocket frame queue to the ledger filled; each forces a reconnect and backfill.",
          n(f.queue_overflows));
  auto stats = parts_.proxy ? parts_.proxy->cache_stats() : MarketDataProxy::CacheStats{};
  append_header(out, "qc_cache_requests_total", "counter",
                "Cache lookups, by cache (proxy: chart proxy; stats: filtered /api/stats answers kept between "
                "closes) and result (stats refresh: rendered again from kept statistics a close was added to, "
                "not scanned).");
  append_sample(out, "qc_cache_requests_total", "cache=\"proxy\",result=\"hit\"", n(stats.hits));
  append_sample(out, "qc_cache_requests_total", "cache=\"proxy\",result=\"miss\"", n(stats.misses));
  append_sample(out, "qc_cache_requests_total", "cache=\"stats\",result=\"hit\"",
                n(parts_.ledger.stats_cache_hits()));
  append_sample(out, "qc_cache_requests_total", "cache=\"stats\",result=\"miss\"",
                n(parts_.ledger.stats_cache_misses()));
  append_sample(out, "qc_cache_requests_total", "cache=\"stats\",result=\"refresh\"",
                n(parts_.ledger.stats_cache_refreshes()));
  counter("qc_proxy_coalesced_total", "Chart requests that waited for an identical provider fetch already in flight.",
          n(stats.coalesced));
  counter("qc_proxy_busy_total", "Chart requests answered 503 busy because the proxy's fetch queue was full.",
          n(stats.busy));
  gauge("qc_cache_up", "1 when the cache (memory or Redis) is reachable.", parts_.cache.healthy() ? 1 : 0);
  counter("qc_store_errors_total", "Database commits that failed (nothing of the batch stored).", n(c.commit_failures));
  auto write = parts_.ledger.write_health();
  gauge("qc_store_writable", "1 when the last commit or write probe succeeded.", write.ok ? 1 : 0);
  counter("qc_writes_unavailable_total",
          "Documents answered 503 (busy, waited too long, database unavailable, shutting down); nothing stored.",
          n(c.documents_unavailable));
  gauge("qc_ledger_waiting_bars", "Minute bars waiting for the ledger (queued or to be applied again).",
        n(c.queued_bars));
  gauge("qc_ledger_waiting_documents", "Documents waiting for the ledger.", n(c.queued_documents));
  if (parts_.webhooks && parts_.webhooks->enabled()) {
    // endpoint="scheme://host[:port]#index": never a URL's path (its secret).
    auto endpoints = parts_.webhooks->status();
    auto label = [](const std::string& name) { return "endpoint=\"" + prometheus_label_value(name) + "\""; };
    append_header(out, "qc_webhook_deliveries_total", "counter", "Events delivered to a webhook endpoint (2xx).");
    for (const auto& e : endpoints) append_sample(out, "qc_webhook_deliveries_total", label(e.name), n(e.deliveries));
    append_header(out, "qc_webhook_retries_total", "counter",
                  "Failed webhook attempts, each retried with backoff until delivered.");
    for (const auto& e : endpoints) append_sample(out, "qc_webhook_retries_total", label(e.name), n(e.retries));
    append_header(out, "qc_webhook_failures_total", "counter",
                  "Failed webhook attempts by reason: http_<status>, timeout, dns, connect, tls, network.");
    for (const auto& e : endpoints)
      for (const auto& [reason, count] : e.failures)
        append_sample(out, "qc_webhook_failures_total",
                      label(e.name) + ",reason=\"" + prometheus_label_value(reason) + "\"", n(count));
    append_header(out, "qc_webhook_backlog", "gauge", "Events in the outbox not yet delivered to the endpoint.");
    for (const auto& e : endpoints)
      append_sample(out, "qc_webhook_backlog", label(e.name), static_cast<double>(e.backlog));
  }
  if (parts_.events) {
    auto e = parts_.events->counters();
    gauge("qc_events_subscribers", "Clients connected to GET /api/events.", n(e.subscribers));
    counter("qc_events_published_total", "Live events published (opened, closed, quotes).", n(e.published));
    counter("qc_events_subscribers_dropped_total",
            "Event subscribers disconnected for falling too far behind (QC_EVENTS_QUEUE_BYTES).", n(e.dropped));
    counter("qc_events_subscribers_refused_total",
            "Event subscriptions answered 503 (QC_EVENTS_MAX_SUBSCRIBERS reached, or shutting down).", n(e.refused));
    counter("qc_events_resumed_total", "Event subscriptions resumed from the history with Last-Event-ID.",
            n(e.resumed));
    counter("qc_events_resets_total",
            "Event subscriptions whose Last-Event-ID could not be resumed (sent a reset event).", n(e.resets));
    gauge("qc_events_history", "Events kept for Last-Event-ID resume.", n(e.history_events));
    gauge("qc_events_history_bytes", "Bytes of the events kept for resume.", n(e.history_bytes));
  }
  if (server_) {
    auto s = server_->counters();
    gauge("qc_http_connections", "Open HTTP connections.", n(server_->open_connections()));
    gauge("qc_http_connections_max", "Connection limit (QC_MAX_CONNECTIONS).", n(server_->max_connections()));
    counter("qc_http_connections_refused_total", "Connections answered 503 over the limit.", n(s.connections_refused));
    counter("qc_http_accept_failures_total", "Failed accepts (e.g. no file descriptors left).", n(s.accept_failures));
    counter("qc_http_bodies_refused_total", "Requests answered 503: request bodies in flight at their limit.",
            n(s.bodies_refused));
    counter("qc_http_handler_timeouts_total", "Requests the server answered 503 because they took too long.",
            n(s.handler_timeouts));
  }
}

}  // namespace qc
