// Webhook delivery over real loopback sockets: the HTTP client against the
// fake HTTP server (status, headers, timeouts, redirects, abort), and the
// notifier over a real SQLite outbox (order, retries, progress across a
// restart, new endpoints, a hanging endpoint that delays neither another
// endpoint nor stop()).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "fake_http_server.h"
#include "log/log.h"
#include "notify/webhook_client.h"
#include "notify/webhook_notifier.h"
#include "notify/webhook_signature.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace {

using namespace std::chrono_literals;
using qc::testing::FakeHttpServer;
using Clock = std::chrono::steady_clock;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The value of header `name` in a request head ("" when absent).
std::string header(const std::string& head, const std::string& name) {
  auto at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return head.substr(at, head.find("\r\n", at) - at);
}

template <class F>
bool eventually(F&& done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// ---- the client -------------------------------------------------------------------

TEST(WebhookClient, PostsTheBodyWithItsHeadersAndReads2xxAsDelivered) {
  FakeHttpServer server;
  auto endpoint = qc::parse_webhook_url(server.url() + "/hook/path?x=1", 1);
  qc::WebhookClient client(5s);
  auto r = client.post(endpoint, {{"Content-Type", "application/json"}, {"Idempotency-Key", "42"}}, "{\"a\":1}");
  EXPECT_TRUE(r.delivered()) << r.detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "");
  ASSERT_EQ(server.requests().size(), 1u);
  auto head = server.requests()[0];
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "POST /hook/path?x=1 HTTP/1.1");
  EXPECT_EQ(header(head, "Host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(header(head, "Content-Type"), "application/json");
  EXPECT_EQ(header(head, "Idempotency-Key"), "42");
  EXPECT_EQ(header(head, "Content-Length"), "7");
  EXPECT_EQ(header(head, "Connection"), "close");
}

TEST(WebhookClient, OtherStatusesAreFailuresNamedByStatusWithTheStartOfTheBody) {
  FakeHttpServer server;
  server.respond_with(500, "{\"error\":\"boom\"}");
  qc::WebhookClient client(5s);
  auto r = client.post(qc::parse_webhook_url(server.url() + "/h", 1), {}, "{}");
  EXPECT_FALSE(r.delivered());
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.reason, "http_500");
  EXPECT_TRUE(contains(r.detail, "HTTP 500")) << r.detail;
  EXPECT_FALSE(contains(r.detail, "boom")) << "the receiver's words are kept apart: " << r.detail;
  EXPECT_EQ(r.body, "{\"error\":\"boom\"}");
}

TEST(WebhookClient, RedirectsAreNotFollowed) {
  FakeHttpServer server;
  server.respond_with(302, "");
  qc::WebhookClient client(5s);
  auto r = client.post(qc::parse_webhook_url(server.url() + "/h", 1), {}, "{}");
  EXPECT_EQ(r.reason, "http_302");
  EXPECT_TRUE(contains(r.detail, "redirects are not followed")) << r.detail;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(WebhookClient, AnEndpointThatNeverAnswersTimesOut) {
  FakeHttpServer server;
  server.hold("/");
  qc::WebhookClient client(300ms);
  auto started = Clock::now();
  auto r = client.post(qc::parse_webhook_url(server.url() + "/h", 1), {}, "{}");
  auto took = Clock::now() - started;
  server.release();
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.reason, "timeout");
  EXPECT_TRUE(contains(r.detail, "300 ms")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "waiting for the answer")) << r.detail;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST(WebhookClient, RefusedConnectionIsAConnectFailure) {
  int port;
  { FakeHttpServer closed; port = closed.port(); }  // nothing listens there now
  qc::WebhookClient client(2s);
  auto r = client.post(qc::parse_webhook_url("http://127.0.0.1:" + std::to_string(port) + "/h", 1), {}, "{}");
  EXPECT_EQ(r.reason, "connect");
  EXPECT_TRUE(contains(r.detail, "refused")) << r.detail;
}

TEST(WebhookClient, AbortEndsThePostInFlightAndEveryLaterOne) {
  FakeHttpServer server;
  server.hold("/");
  qc::WebhookClient client(30s);
  auto endpoint = qc::parse_webhook_url(server.url() + "/h", 1);
  auto post = std::async(std::launch::async, [&] { return client.post(endpoint, {}, "{}"); });
  ASSERT_TRUE(server.wait_for_requests(1, 5s));
  auto started = Clock::now();
  client.abort();
  ASSERT_EQ(post.wait_for(2s), std::future_status::ready) << "abort() did not end the POST";
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_EQ(post.get().reason, "stopped");
  EXPECT_EQ(client.post(endpoint, {}, "{}").reason, "stopped");
  EXPECT_EQ(server.requests().size(), 1u);
  server.release();
}

// ---- the notifier -----------------------------------------------------------------

constexpr std::int64_t kE0 = 1714521600000000;

qc::LiveEvent event(std::int64_t n, const char* type = "closed") {
  return {kE0 + n, type, "{\"symbol\":\"AAPL\",\"n\":" + std::to_string(n) + "}"};
}

class WebhookNotifierTest : public ::testing::Test {
 protected:
  WebhookNotifierTest() : store_(dir_.path() / "quantcrunch.sqlite3") {}

  qc::WebhookOptions options(std::vector<std::string> urls) {
    qc::WebhookOptions o;
    int i = 0;
    for (const auto& u : urls) o.endpoints.push_back(qc::parse_webhook_url(u, ++i));
    o.secret = "whsec-test";
    o.timeout = 2s;
    o.first_retry = 20ms;
    o.max_retry = 100ms;
    o.batch_size = 3;  // several batches in a test
    return o;
  }
  // Commits `events` (as the ledger does) and tells the notifier.
  std::vector<qc::LiveEvent> commit(qc::WebhookNotifier* notifier, int from, int to) {
    qc::ChangeSet c;
    for (int n = from; n < to; ++n) c.events.push_back(event(n));
    store_.commit(c);
    if (notifier) notifier->notify(c.events);
    return c.events;
  }
  static std::vector<std::string> keys(const FakeHttpServer& server) {
    std::vector<std::string> out;
    for (const auto& head : server.requests()) out.push_back(header(head, "Idempotency-Key"));
    return out;
  }
  static std::vector<std::string> keys_of(const std::vector<qc::LiveEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(std::to_string(e.id));
    return out;
  }

  qc::testing::TempDir dir_{"webhooks"};
  qc::SqliteStore store_;
};

TEST_F(WebhookNotifierTest, DeliversEveryEventInOrderSignedAndRecordsTheProgress) {
  FakeHttpServer server;
  auto o = options({server.url() + "/hook"});
  auto endpoint = o.endpoints[0];
  qc::WebhookNotifier notifier(store_, o);
  notifier.start();
  auto events = commit(&notifier, 1, 8);
  ASSERT_TRUE(server.wait_for_requests(events.size(), 10s)) << server.requests().size();
  EXPECT_EQ(keys(server), keys_of(events));
  auto head = server.requests()[2];
  EXPECT_EQ(header(head, "X-QuantCrunch-Event"), "closed");
  EXPECT_EQ(header(head, "Content-Type"), "application/json");
  EXPECT_EQ(header(head, "X-QuantCrunch-Signature"),
            qc::webhook_signature("whsec-test", qc::webhook_body(qc::WebhookFormat::Json, events[2])));
  ASSERT_TRUE(eventually([&] { return store_.open_outbox()->delivered(endpoint.key) == events.back().id; }));
  ASSERT_TRUE(eventually([&] { return notifier.status()[0].deliveries == events.size(); }));
  auto s = notifier.status()[0];
  EXPECT_EQ(s.name, "http://127.0.0.1:" + std::to_string(server.port()) + "#1");
  EXPECT_EQ(s.backlog, 0);
  EXPECT_FALSE(s.failing);
  EXPECT_EQ(s.retries, 0u);
  // The progress key is the URL's hash: the store holds no URL.
  EXPECT_EQ(endpoint.key, qc::sha256_hex(server.url() + "/hook"));
}

TEST_F(WebhookNotifierTest, ANewEndpointReceivesTheEventsFromThenOn) {
  commit(nullptr, 1, 4);  // before the endpoint was configured
  FakeHttpServer server;
  qc::WebhookNotifier notifier(store_, options({server.url() + "/new"}));
  notifier.start();
  auto later = commit(&notifier, 10, 12);
  ASSERT_TRUE(server.wait_for_requests(2, 10s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(keys(server), keys_of(later));
}

TEST_F(WebhookNotifierTest, FailuresAreRetriedUntilDeliveredWithoutReordering) {
  FakeHttpServer server;
  server.respond_with(500, "down");
  qc::WebhookNotifier notifier(store_, options({server.url() + "/hook"}));
  notifier.start();
  auto events = commit(&notifier, 1, 5);
  ASSERT_TRUE(server.wait_for_requests(4, 10s));  // the first event, again and again
  for (const auto& k : keys(server)) EXPECT_EQ(k, keys_of(events)[0]);
  auto failing = notifier.status()[0];
  EXPECT_TRUE(failing.failing);
  EXPECT_GE(failing.retries, 3u);
  EXPECT_GE(failing.failures["http_500"], 3u);
  EXPECT_TRUE(contains(failing.last_error, "HTTP 500")) << failing.last_error;
  EXPECT_EQ(failing.backlog, 4);
  server.respond_with(200, "{}");
  ASSERT_TRUE(eventually([&] { return notifier.status()[0].deliveries == events.size(); }));
  // Every event at least once, in order: the delivered sequence without its
  // repeats is the committed sequence.
  auto seen = keys(server);
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen, keys_of(events));
  EXPECT_FALSE(notifier.status()[0].failing);
}

TEST_F(WebhookNotifierTest, UndeliveredEventsAreDeliveredByTheNextStart) {
  FakeHttpServer server;
  server.respond_with(503, "");
  auto o = options({server.url() + "/hook"});
  std::vector<qc::LiveEvent> events;
  {
    qc::WebhookNotifier first(store_, o);
    first.start();
    events = commit(&first, 1, 6);
    ASSERT_TRUE(server.wait_for_requests(1, 10s));
  }  // stopped (as by a crash, nothing more was delivered)
  server.respond_with(200, "{}");
  qc::WebhookNotifier second(store_, o);
  second.start();
  ASSERT_TRUE(eventually([&] { return second.status()[0].deliveries == events.size(); }));
  auto seen = keys(server);
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen, keys_of(events));
}

TEST_F(WebhookNotifierTest, AHangingEndpointDelaysNeitherAnotherOneNorStop) {
  FakeHttpServer hanging, healthy;
  hanging.hold("/");
  auto o = options({hanging.url() + "/slow", healthy.url() + "/fast"});
  o.timeout = 30s;
  auto notifier = std::make_unique<qc::WebhookNotifier>(store_, o);
  notifier->start();
  auto events = commit(notifier.get(), 1, 10);
  ASSERT_TRUE(healthy.wait_for_requests(events.size(), 10s)) << healthy.requests().size();
  EXPECT_EQ(keys(healthy), keys_of(events));
  ASSERT_TRUE(hanging.wait_for_requests(1, 5s));
  auto started = Clock::now();
  notifier->stop();
  EXPECT_LT(Clock::now() - started, 2s) << "stop() waited for the hanging POST";
  notifier.reset();
  hanging.release();
}

TEST_F(WebhookNotifierTest, PrunesWhatEveryEndpointDelivered) {
  FakeHttpServer a, b;
  auto o = options({a.url() + "/a", b.url() + "/b"});
  o.prune_interval = 0ms;
  qc::WebhookNotifier notifier(store_, o);
  notifier.start();
  auto events = commit(&notifier, 1, 7);
  ASSERT_TRUE(eventually([&] {
    auto s = notifier.status();
    return s[0].deliveries == events.size() && s[1].deliveries == events.size();
  }));
  commit(&notifier, 7, 8);  // one more delivery, one more prune
  ASSERT_TRUE(eventually([&] { return store_.open_outbox()->count_after(0) == 1; }));
  EXPECT_EQ(store_.load().last_event_id, kE0 + 7);
}

TEST_F(WebhookNotifierTest, LogLinesNameTheEndpointNeverItsPathAndABacklogIsAnError) {
  std::mutex mutex;
  std::vector<std::string> lines;
  qc::log::capture([&](std::string_view line) {
    std::lock_guard lock(mutex);
    lines.emplace_back(line);
  });
  qc::log::set_level(qc::log::Level::Debug);
  FakeHttpServer server;
  // A receiver that quotes the URL it was sent to (as Express's 404 page does).
  server.respond_with(404, "Cannot POST /services/T0/B0/SECRET-TOKEN-0123456789");
  auto o = options({server.url() + "/services/T0/B0/SECRET-TOKEN-0123456789"});
  o.backlog_alarm = 3;
  {
    qc::WebhookNotifier notifier(store_, o);
    notifier.start();
    commit(&notifier, 1, 6);
    ASSERT_TRUE(server.wait_for_requests(3, 10s));
    auto failing = notifier.status()[0];
    EXPECT_EQ(failing.last_error, "HTTP 404 X");  // the fake server's reason phrase
    server.respond_with(200, "{}");
    ASSERT_TRUE(eventually([&] { return notifier.status()[0].deliveries == 5; }));
  }
  qc::log::capture({});
  qc::log::set_level(qc::log::Level::Info);
  std::lock_guard lock(mutex);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  const std::string name = "http://127.0.0.1:" + std::to_string(server.port()) + "#1";
  EXPECT_TRUE(contains(all, "webhook " + name + ": new endpoint")) << all;
  EXPECT_TRUE(contains(all, "webhook " + name + ": event")) << all;
  EXPECT_TRUE(contains(all, "not delivered: HTTP 404 X: Cannot POST ***")) << all;
  EXPECT_TRUE(contains(all, "5 events wait for this endpoint")) << all;
  EXPECT_TRUE(contains(all, "delivering again")) << all;
  EXPECT_TRUE(contains(all, "backlog down to")) << all;
  EXPECT_FALSE(contains(all, "SECRET-TOKEN")) << all;
  EXPECT_FALSE(contains(all, "/services/")) << all;
}

TEST_F(WebhookNotifierTest, WithoutEndpointsItPrunesAtStartAndDescribesItselfOff) {
  commit(nullptr, 1, 5);
  qc::WebhookNotifier notifier(store_, options({}));
  EXPECT_FALSE(notifier.enabled());
  EXPECT_EQ(store_.open_outbox()->count_after(0), 1);  // the newest event keeps the last id
  EXPECT_TRUE(contains(notifier.describe(), "webhooks: off")) << notifier.describe();
  notifier.start();
  notifier.notify({event(9)});
  notifier.stop();
}

TEST_F(WebhookNotifierTest, DescribeNamesOriginsOnlyAndWhetherSigned) {
  auto o = options({"https://hooks.slack.com/services/T0/B0/SECRETTOKEN", "http://127.0.0.1:9/x?token=abc"});
  o.format = qc::WebhookFormat::Slack;
  qc::WebhookNotifier signed_notifier(store_, o);
  auto line = signed_notifier.describe();
  EXPECT_EQ(line,
            "webhooks: 2 endpoints (https://hooks.slack.com#1, http://127.0.0.1:9#2), format slack, signed "
            "(X-QuantCrunch-Signature, HMAC-SHA256 with QC_WEBHOOK_SECRET)");
  o.secret.clear();
  qc::WebhookNotifier unsigned_notifier(store_, o);
  EXPECT_TRUE(contains(unsigned_notifier.describe(), "NOT signed")) << unsigned_notifier.describe();
  EXPECT_FALSE(contains(unsigned_notifier.describe(), "SECRETTOKEN"));
}

}  // namespace
