#include "notify/webhook_notifier.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "log/log.h"
#include "log/redact.h"
#include "notify/retry_delay.h"
#include "notify/webhook_client.h"
#include "notify/webhook_signature.h"

namespace qc {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

constexpr const char* kLog = "webhooks";

}  // namespace

// The worker of one endpoint: its thread, its outbox, its HTTP client.
class WebhookNotifier::Worker {
 public:
  Worker(WebhookNotifier& owner, const WebhookEndpoint& endpoint, std::int64_t progress)
      : owner_(owner), endpoint_(endpoint), url_secrets_(webhook_url_secrets(endpoint)),
        client_(owner.options_.timeout), progress_(progress), rng_(std::random_device{}()) {
    status_.name = endpoint.name;
  }
  ~Worker() { join(); }

  void start() { thread_ = std::thread([this] { run(); }); }

  void wake() {
    {
      std::lock_guard lock(mutex_);
      ++wakeups_;
    }
    cv_.notify_all();
  }

  void begin_stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    client_.abort();
  }

  void join() {
    if (thread_.joinable()) thread_.join();
  }

  WebhookEndpointStatus status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  const WebhookOptions& options() const { return owner_.options_; }

  // Waits `d`, or until stopping (false), or, with `on_wake`, until notify().
  bool wait(std::chrono::milliseconds d, bool on_wake, std::uint64_t seen) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, d, [&] { return stopping_ || (on_wake && wakeups_ != seen); });
    return !stopping_;
  }
  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void run() {
    const WebhookOptions& o = options();
    std::unique_ptr<Outbox> outbox;
    std::vector<LiveEvent> batch;
    std::size_t next = 0;
    unsigned failures = 0;  // failed attempts for the current event
    std::string body;       // of batch[next], made once per event
    HttpHeaders headers;
    while (!stopping()) {
      if (next == batch.size()) {
        std::uint64_t seen;
        {
          std::lock_guard lock(mutex_);
          seen = wakeups_;
        }
        try {
          if (!outbox) outbox = owner_.store_.open_outbox();
          batch = outbox->events_after(progress_, o.batch_size);
          set_backlog(outbox->count_after(progress_));
          if (store_failing_) log::info(kLog, "webhook " + endpoint_.name + ": the outbox can be read again");
          store_failing_ = false;
        } catch (const std::exception& e) {
          batch.clear();
          if (!store_failing_)
            log::warn(kLog, "webhook " + endpoint_.name + ": cannot read the outbox: " + e.what() +
                                "; trying again every " + seconds_text(o.store_retry));
          store_failing_ = true;
          next = 0;
          if (!wait(o.store_retry, false, 0)) break;
          continue;
        }
        next = 0;
        if (batch.empty()) {
          if (!wait(o.poll_interval, true, seen)) break;
          continue;
        }
        prepare(batch[next], body, headers);
      }

      const LiveEvent& event = batch[next];
      WebhookResponse r = client_.post(endpoint_, headers, body);
      r.detail = without_url_secrets(std::move(r.detail));
      r.body = without_url_secrets(std::move(r.body));
      if (!r.delivered() && stopping()) break;  // abandoned: sent again at the next start
      if (r.delivered()) {
        progress_ = event.id;
        try {
          outbox->set_delivered(endpoint_.key, endpoint_.origin, progress_);
        } catch (const std::exception& e) {
          // Delivery goes on; after a restart the events since the last
          // recorded progress are sent again (at least once).
          log::warn(kLog, "webhook " + endpoint_.name + ": cannot record the delivery of event " +
                              std::to_string(event.id) + ": " + e.what());
        }
        // Counted once recorded: a backlog of 0 means nothing is sent again.
        delivered(event, failures);
        failures = 0;
        try {
          owner_.maybe_prune(*outbox);
        } catch (const std::exception& e) {
          log::warn(kLog, std::string("cannot prune the outbox: ") + e.what());
        }
        if (++next < batch.size()) prepare(batch[next], body, headers);
        continue;
      }

      auto delay = retry_delay(failures, o.first_retry, o.max_retry,
                               std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
      if (r.retry_after)
        delay = std::max(delay, std::min<std::chrono::milliseconds>(*r.retry_after, o.max_retry));
      ++failures;
      failed(event, r, failures, delay);
      try {
        set_backlog(outbox->count_after(progress_));
      } catch (const std::exception&) {
        // the count is informational; the next read reports the store
      }
      if (!wait_to_retry(delay, *outbox)) break;
    }
  }

  // Waits `delay` before the next attempt. New events meanwhile (notify())
  // only update the backlog. False when stopping.
  bool wait_to_retry(std::chrono::milliseconds delay, Outbox& outbox) {
    const auto until = Clock::now() + delay;
    for (;;) {
      std::uint64_t seen;
      {
        std::unique_lock lock(mutex_);
        seen = wakeups_;
        cv_.wait_until(lock, until, [&] { return stopping_ || wakeups_ != seen; });
        if (stopping_) return false;
        if (wakeups_ == seen) return true;  // the delay is over
      }
      try {
        set_backlog(outbox.count_after(progress_));
      } catch (const std::exception&) {
        // informational; the next attempt reads the outbox again
      }
    }
  }

  // A receiver's words may quote the URL it was sent to (e.g. "Cannot POST
  // /hooks/..."): its secret parts are masked before they are kept or logged.
  std::string without_url_secrets(std::string text) const {
    for (const auto& secret : url_secrets_) text = redact_secret(std::move(text), secret);
    return text;
  }

  // The body and headers of `event` (the same bytes on every attempt).
  void prepare(const LiveEvent& event, std::string& body, HttpHeaders& headers) const {
    const WebhookOptions& o = options();
    body = webhook_body(o.format, event);
    headers = {{"Content-Type", "application/json"},
               {"Idempotency-Key", std::to_string(event.id)},
               {"X-QuantCrunch-Event", event.type}};
    if (!o.secret.empty()) headers.emplace_back("X-QuantCrunch-Signature", webhook_signature(o.secret, body));
  }

  void set_backlog(std::int64_t backlog) {
    std::int64_t alarm = options().backlog_alarm;
    std::int64_t before;
    {
      std::lock_guard lock(mutex_);
      before = status_.backlog;
      status_.backlog = backlog;
    }
    if (alarm <= 0) return;
    // One line per crossing of alarm, 10 × alarm, 100 × alarm...
    for (std::int64_t level = alarm; level > 0 && level <= backlog; level *= 10)
      if (before < level)
        log::error(kLog, "webhook " + endpoint_.name + ": " + std::to_string(backlog) +
                             " events wait for this endpoint" +
                             (status_.failing ? " (it fails: " + status_.last_error + ")" : std::string()) +
                             "; they are kept in the store until it answers 2xx. If it does not "
                             "recover, fix it, or remove it from QC_WEBHOOK_URLS to drop them");
    if (before >= alarm && backlog < alarm)
      log::info(kLog, "webhook " + endpoint_.name + ": backlog down to " + std::to_string(backlog) + " events");
  }

  void delivered(const LiveEvent& event, unsigned failures) {
    std::int64_t since, backlog;
    {
      std::lock_guard lock(mutex_);
      ++status_.deliveries;
      backlog = std::max<std::int64_t>(0, status_.backlog - 1);
      status_.last_delivery = unix_now();
      since = status_.failing ? status_.failing_since : 0;
      status_.failing = false;
      status_.last_error.clear();
    }
    set_backlog(backlog);
    if (since)
      log::info(kLog, "webhook " + endpoint_.name + ": delivered event " + std::to_string(event.id) + " after " +
                          std::to_string(failures) + " failed attempts (failing for " +
                          std::to_string(unix_now() - since) + " s); delivering again");
    else
      log::debug(kLog, "webhook " + endpoint_.name + ": delivered event " + std::to_string(event.id) + " (" +
                           event.type + ")");
  }

  void failed(const LiveEvent& event, const WebhookResponse& r, unsigned attempt,
              std::chrono::milliseconds delay) {
    bool first, changed;
    {
      std::lock_guard lock(mutex_);
      ++status_.retries;
      ++status_.failures[r.reason];
      first = !status_.failing;
      changed = !first && status_.last_error != r.detail;
      if (first) status_.failing_since = unix_now();
      status_.failing = true;
      status_.last_error = r.detail;
    }
    std::string hint;
    if (r.status == 410)
      hint = " (410 Gone: the endpoint says it no longer exists; remove it from QC_WEBHOOK_URLS, "
             "or its events keep waiting)";
    const std::string what = "webhook " + endpoint_.name + ": event " + std::to_string(event.id) + " (" +
                             event.type + ") not delivered: " + r.detail +
                             (r.body.empty() ? std::string() : ": " + r.body) + hint;
    if (first)
      log::warn(kLog, what + "; retrying with backoff until it is (the events wait in the outbox)");
    else if (changed)
      log::warn(kLog, what + " (attempt " + std::to_string(attempt) + "); still retrying");
    else
      log::debug(kLog, what + " (attempt " + std::to_string(attempt) + "); next in " + seconds_text(delay));
  }

  WebhookNotifier& owner_;
  const WebhookEndpoint endpoint_;
  const std::vector<std::string> url_secrets_;  // the whole path and query first, then its long pieces
  WebhookClient client_;
  std::int64_t progress_;  // the worker thread's
  std::mt19937_64 rng_;    // the worker thread's
  bool store_failing_ = false;  // the worker thread's

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t wakeups_ = 0;
  WebhookEndpointStatus status_;
  std::thread thread_;
};

WebhookNotifier::WebhookNotifier(Store& store, WebhookOptions options)
    : store_(store), options_(std::move(options)) {
  auto outbox = store_.open_outbox();
  const std::int64_t last = outbox->last_event_id();
  std::vector<std::int64_t> progress;
  for (const auto& e : options_.endpoints) {
    keys_.push_back(e.key);
    auto delivered = outbox->delivered(e.key);
    if (!delivered) {
      outbox->set_delivered(e.key, e.origin, last);
      delivered = last;
      log::info(kLog, "webhook " + e.name + ": new endpoint; it receives the events from now on");
    }
    progress.push_back(*delivered);
  }
  auto removed = outbox->prune(keys_);
  last_prune_ms_ = steady_ms();
  if (removed > 0)
    log::info(kLog, "pruned " + std::to_string(removed) + " events from the outbox" +
                        (options_.endpoints.empty() ? " (no webhook is configured)"
                                                    : " (delivered to every endpoint)"));
  for (std::size_t i = 0; i < options_.endpoints.size(); ++i)
    workers_.push_back(std::make_unique<Worker>(*this, options_.endpoints[i], progress[i]));
}

WebhookNotifier::~WebhookNotifier() { stop(); }

void WebhookNotifier::start() {
  for (auto& w : workers_) w->start();
}

void WebhookNotifier::notify(const std::vector<LiveEvent>& events) {
  for (const auto& e : events)
    if (e.durable()) {
      for (auto& w : workers_) w->wake();
      return;
    }
}

void WebhookNotifier::begin_stop() {
  for (auto& w : workers_) w->begin_stop();
}

void WebhookNotifier::stop() {
  begin_stop();
  for (auto& w : workers_) w->join();
}

void WebhookNotifier::maybe_prune(Outbox& outbox) {
  std::int64_t now = steady_ms();
  std::int64_t last = last_prune_ms_.load();
  if (now - last < options_.prune_interval.count()) return;
  if (!last_prune_ms_.compare_exchange_strong(last, now)) return;  // another worker does it
  auto removed = outbox.prune(keys_);
  if (removed > 0)
    log::debug(kLog, "pruned " + std::to_string(removed) + " events delivered to every endpoint");
}

std::vector<WebhookEndpointStatus> WebhookNotifier::status() const {
  std::vector<WebhookEndpointStatus> out;
  for (const auto& w : workers_) out.push_back(w->status());
  return out;
}

std::string WebhookNotifier::describe() const {
  if (options_.endpoints.empty())
    return "webhooks: off (set QC_WEBHOOK_URLS to POST opened and closed positions)";
  std::string names;
  for (const auto& e : options_.endpoints) names += (names.empty() ? "" : ", ") + e.name;
  std::string line = "webhooks: " + std::to_string(options_.endpoints.size()) +
                     (options_.endpoints.size() == 1 ? " endpoint (" : " endpoints (") + names + "), format " +
                     webhook_format_name(options_.format) + ", ";
  if (!options_.secret.empty())
    line += "signed (X-QuantCrunch-Signature, HMAC-SHA256 with QC_WEBHOOK_SECRET)";
  else
    line += "NOT signed (QC_WEBHOOK_SECRET is unset: receivers cannot tell these POSTs from forged ones)";
  return line;
}

}  // namespace qc
