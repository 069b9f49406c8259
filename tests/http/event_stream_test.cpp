// Streamed answers over real loopback sockets: HttpServer + EventHub +
// events_endpoint, read by raw sockets (so a test can stop reading).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "http/event_hub.h"
#include "http/events_endpoint.h"
#include "http/server.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Polls `done` every 5 ms for at most `limit` (a safety bound, not a timing).
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A blocking client: sends one request, then reads the header and the body
// (chunked or not) as it arrives.
class Client {
 public:
  Client(std::uint16_t port, const std::string& request, int receive_buffer = 0) : socket_(ioc_) {
    socket_.open(tcp::v4());
    if (receive_buffer) {
      // Before connect, so that the window offered is small from the start.
      ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    asio::write(socket_, asio::buffer(request));
  }
  // The status line and headers.
  std::string header() {
    auto n = asio::read_until(socket_, asio::dynamic_buffer(raw_), "\r\n\r\n");
    std::string head = raw_.substr(0, n);
    raw_.erase(0, n);
    chunked_ = head.find("Transfer-Encoding: chunked") != std::string::npos;
    decode();  // what came with the header
    return head;
  }
  // Reads until `text` arrives after what the previous call found, or the
  // server closes (false).
  bool read_until_text(const std::string& text) {
    for (;;) {
      if (auto at = body_.find(text, mark_); at != std::string::npos) {
        mark_ = at + text.size();
        return true;
      }
      if (!read_some()) return false;
    }
  }
  // Reads until the server closes the connection.
  void read_to_end() {
    while (read_some()) {
    }
  }
  const std::string& body() const { return body_; }
  bool ended_with_last_chunk() const { return last_chunk_; }
  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }
  bool closed() const { return closed_; }

 private:
  bool read_some() {
    char buf[16384];
    boost::system::error_code ec;
    std::size_t n = socket_.read_some(asio::buffer(buf), ec);
    if (ec) {
      closed_ = true;
      return false;
    }
    raw_.append(buf, n);
    decode();
    return true;
  }
  void decode() {
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
      return;
    }
    for (;;) {
      auto eol = raw_.find("\r\n");
      if (eol == std::string::npos) return;
      std::size_t size = std::stoul(raw_.substr(0, eol), nullptr, 16);
      if (raw_.size() < eol + 2 + size + 2) return;
      if (size == 0) last_chunk_ = true;
      body_ += raw_.substr(eol + 2, size);
      raw_.erase(0, eol + 2 + size + 2);
    }
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  std::string raw_, body_;
  std::size_t mark_ = 0;
  bool chunked_ = false, last_chunk_ = false, closed_ = false;
};

std::string get_events(const std::string& extra = "", const char* method = "GET", const char* version = "1.1") {
  return std::string(method) + " /api/events HTTP/" + version + "\r\nHost: x\r\n" + extra + "\r\n";
}

class EventStreamTest : public ::testing::Test {
 protected:
  void start(qc::EventHubOptions hub_options = {}, std::chrono::seconds timeouts = 30s) {
    hub_options.heartbeat = 0ms;
    hub_ = std::make_unique<qc::EventHub>(hub_options);
    qc::HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.read_timeout = timeouts;
    o.handler_timeout = timeouts;
    o.decorate = [](const qc::HttpRequest&, qc::HttpResponse& r) {
      r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    };
    server_ = std::make_unique<qc::HttpServer>(ioc_, o, [this](qc::HttpRequest& req, qc::Respond respond) {
      std::string_view target = req.target();
      auto q = target.find('?');
      respond(qc::events_endpoint(hub_.get(), req, q == std::string_view::npos ? "" : target.substr(q + 1)));
    });
    server_->start();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  void TearDown() override {
    if (hub_) hub_->close();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
    hub_.reset();
  }
  std::uint16_t port() const { return server_->port(); }
  std::size_t subscribers() const { return hub_->counters().subscribers; }
  void publish(std::int64_t id, std::size_t data_bytes = 10) {
    hub_->publish({{id, "opened", "\"" + std::string(data_bytes, 'x') + "\""}});
  }

  asio::io_context ioc_;
  std::unique_ptr<qc::EventHub> hub_;
  std::unique_ptr<qc::HttpServer> server_;
  std::vector<std::thread> threads_;
};

TEST_F(EventStreamTest, EventsStreamAsChunkedTextEventStream) {
  start();
  Client c(port(), get_events());
  auto head = c.header();
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  for (const char* h : {"Content-Type: text/event-stream\r\n", "Cache-Control: no-cache\r\n",
                        "X-Accel-Buffering: no\r\n", "Transfer-Encoding: chunked\r\n", "Connection: close\r\n",
                        "Access-Control-Allow-Origin: *\r\n"})
    EXPECT_NE(head.find(h), std::string::npos) << h << " missing in\n" << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  ASSERT_TRUE(c.read_until_text("retry: 3000\n\n"));
  ASSERT_TRUE(eventually([&] { return subscribers() == 1; }));
  publish(7);
  ASSERT_TRUE(c.read_until_text("id: 7\nevent: opened\ndata: \"xxxxxxxxxx\"\n\n")) << c.body();
}

TEST_F(EventStreamTest, Http10IsDelimitedByTheClose) {
  start();
  Client c(port(), get_events("", "GET", "1.0"));
  auto head = c.header();
  EXPECT_EQ(head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  ASSERT_TRUE(eventually([&] { return subscribers() == 1; }));
  publish(1);
  ASSERT_TRUE(c.read_until_text("id: 1\nevent: opened\n")) << c.body();
  hub_->close();  // the stream ends: the connection closes
  c.read_to_end();
  EXPECT_TRUE(c.closed());
}

TEST_F(EventStreamTest, NeitherTimeoutEndsAnIdleHealthyStream) {
  start({}, 1s);
  Client c(port(), get_events());
  c.header();
  ASSERT_TRUE(c.read_until_text("retry: 3000\n\n"));
  std::this_thread::sleep_for(2500ms);  // longer than the read and the handler timeout
  publish(1);
  ASSERT_TRUE(c.read_until_text("id: 1\n")) << c.body();
  EXPECT_EQ(server_->counters().handler_timeouts, 0u);
}

TEST_F(EventStreamTest, AClientThatLeavesIsUnsubscribedAtOnce) {
  start();
  Client c(port(), get_events());
  c.header();
  ASSERT_TRUE(eventually([&] { return subscribers() == 1; }));
  c.close();  // nothing is published: noticed by the pending read, not a failed write
  EXPECT_TRUE(eventually([&] { return subscribers() == 0 && server_->open_connections() == 0; }));
}

TEST_F(EventStreamTest, DrainEndsStreamsWithTheLastChunk) {
  start();
  Client a(port(), get_events()), b(port(), get_events());
  a.header();
  b.header();
  ASSERT_TRUE(eventually([&] { return subscribers() == 2; }));
  std::atomic<bool> drained{false};
  std::atomic<std::size_t> left{99};
  server_->drain(10s, [&](std::size_t n) {
    left = n;
    drained = true;
  });
  a.read_to_end();
  b.read_to_end();
  EXPECT_TRUE(a.ended_with_last_chunk());
  EXPECT_TRUE(b.ended_with_last_chunk());
  ASSERT_TRUE(eventually([&] { return drained.load(); }))
      << server_->open_connections() << " connections, " << subscribers() << " subscribers";
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(subscribers(), 0u);
}

TEST_F(EventStreamTest, AClientThatStopsReadingIsDroppedAndTheOthersGetEverything) {
  qc::EventHubOptions o;
  o.queue_bytes = 64 * 1024;
  start(o);
  Client slow(port(), get_events(), 4096), fast(port(), get_events());
  slow.header();
  fast.header();
  ASSERT_TRUE(fast.read_until_text("retry: 3000\n\n"));
  ASSERT_TRUE(eventually([&] { return subscribers() == 2; }));
  // Published in batches, each read by the fast client before the next
  // (it is within its bound); the slow one reads nothing and falls behind
  // by kernel buffers + queue_bytes. A safety bound of 64 MB.
  std::int64_t id = 0;
  while (hub_->counters().dropped == 0 && id < 64'000) {
    for (int i = 0; i < 20; ++i) publish(++id, 1000);
    ASSERT_TRUE(fast.read_until_text("id: " + std::to_string(id) + "\n")) << "fast client cut off at " << id;
  }
  ASSERT_EQ(hub_->counters().dropped, 1u) << "slow client not dropped after " << id << " events";
  for (int i = 0; i < 20; ++i) publish(++id, 1000);
  ASSERT_TRUE(fast.read_until_text("id: " + std::to_string(id) + "\n"));
  std::size_t n = 0;
  for (std::size_t pos = 0; (pos = fast.body().find("event: opened\n", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, static_cast<std::size_t>(id));
  EXPECT_EQ(subscribers(), 1u);
  // The slow client's connection was closed: what it did get ends early.
  slow.read_to_end();
  EXPECT_TRUE(slow.closed());
  EXPECT_FALSE(slow.ended_with_last_chunk());
  EXPECT_LT(slow.body().size(), fast.body().size());
}

TEST_F(EventStreamTest, HeadAnswersTheHeadersOnly) {
  start();
  Client c(port(), get_events("", "HEAD"));
  auto head = c.header();
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos) << head;
  c.read_to_end();
  EXPECT_EQ(c.body(), "");
  EXPECT_TRUE(eventually([&] { return subscribers() == 0; }));
}

TEST_F(EventStreamTest, LastEventIdHeaderResumesAndWinsOverTheQueryParameter) {
  start();
  for (int id = 1; id <= 5; ++id) publish(id);
  Client c(port(), "GET /api/events?last_event_id=1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 3\r\n\r\n");
  c.header();
  ASSERT_TRUE(c.read_until_text("id: 5\n")) << c.body();
  EXPECT_EQ(c.body().find("id: 2\n"), std::string::npos) << c.body();
  EXPECT_NE(c.body().find("id: 4\n"), std::string::npos) << c.body();
  Client q(port(), "GET /api/events?last_event_id=4 HTTP/1.1\r\nHost: x\r\n\r\n");
  q.header();
  ASSERT_TRUE(q.read_until_text("id: 5\n")) << q.body();
  EXPECT_EQ(q.body().find("id: 4\n"), std::string::npos) << q.body();
}

TEST_F(EventStreamTest, AMalformedQueryParameterIs422) {
  start();
  Client c(port(), "GET /api/events?last_event_id=abc HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.header();
  EXPECT_EQ(head.rfind("HTTP/1.1 422", 0), 0u) << head;
  EXPECT_EQ(subscribers(), 0u);
}

TEST_F(EventStreamTest, OverTheSubscriberLimitIs503) {
  qc::EventHubOptions o;
  o.max_subscribers = 1;
  start(o);
  Client a(port(), get_events());
  a.header();
  Client b(port(), get_events());
  auto head = b.header();
  EXPECT_EQ(head.rfind("HTTP/1.1 503", 0), 0u) << head;
  EXPECT_NE(head.find("Retry-After: 5"), std::string::npos) << head;
}

}  // namespace
