// HttpServer over real loopback sockets: bounds that need a handler the API
// does not have (one that never answers, or answers late).
#include "http/server.h"

#include "http/view_body.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

class ServerFixture : public ::testing::Test {
 protected:
  void start(qc::HttpHandler handler, std::chrono::seconds handler_timeout) {
    qc::HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.handler_timeout = handler_timeout;
    server_ = std::make_unique<qc::HttpServer>(ioc_, o, std::move(handler));
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    {
      std::lock_guard lock(mutex_);
      for (auto& r : pending_) r(qc::json_error(500, "test over"));
      pending_.clear();
    }
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  // One GET on a new connection: status and body.
  std::pair<unsigned, std::string> get(const std::string& target) {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    stream.expires_after(20s);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "x");
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return {res.result_int(), res.body()};
  }

  asio::io_context ioc_;
  std::unique_ptr<qc::HttpServer> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<qc::Respond> pending_;  // answers held back by the handler
};

TEST_F(ServerFixture, HandlerThatNeverAnswersIsAnswered503AfterTheTimeout) {
  start(
      [this](qc::HttpRequest&, qc::Respond respond) {
        std::lock_guard lock(mutex_);
        pending_.push_back(std::move(respond));  // never called during the test
      },
      1s);
  auto started = std::chrono::steady_clock::now();
  auto [status, body] = get("/slow");
  EXPECT_EQ(status, 503u);
  EXPECT_NE(body.find("could not finish this request in time"), std::string::npos) << body;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  EXPECT_EQ(server_->counters().handler_timeouts, 1u);
}

TEST_F(ServerFixture, AnswerArrivingAfterTheTimeoutIsDroppedAndTheServerGoesOn) {
  std::atomic<int> calls{0};
  start(
      [this, &calls](qc::HttpRequest& req, qc::Respond respond) {
        if (++calls == 1) {
          std::lock_guard lock(mutex_);
          pending_.push_back(std::move(respond));
          return;
        }
        auto r = qc::json_error(200, std::string(req.target()));
        respond(std::move(r));
      },
      1s);
  auto first = get("/slow");
  EXPECT_EQ(first.first, 503u);
  {
    std::lock_guard lock(mutex_);
    for (auto& r : pending_) r(qc::json_error(200, "late"));  // after the 503: dropped
    pending_.clear();
  }
  auto second = get("/fast");
  EXPECT_EQ(second.first, 200u);
  EXPECT_NE(second.second.find("/fast"), std::string::npos);
}

TEST_F(ServerFixture, HandlerAnsweringAtOnceArmsNoTimeout) {
  start([](qc::HttpRequest&, qc::Respond respond) { respond(qc::json_error(200, "ok")); }, 1s);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/").first, 200u);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(server_->counters().handler_timeouts, 0u);
}

// A view whose big parts keep only their deflated form (as /api/performance's
// months do), the text it stands for, and the answer to one request for it.
struct GzipOnlyView {
  qc::ViewBodyPtr body;
  std::string text;
};

GzipOnlyView gzip_only_view() {
  GzipOnlyView v;
  std::vector<qc::BodyPartPtr> parts;
  for (int m = 0; m < 3; ++m) {
    std::string month;
    for (int i = 0; i < 20000; ++i) month += "{\"m\":" + std::to_string(m) + ",\"i\":" + std::to_string(i) + "},";
    v.text += month;
    auto part = std::make_shared<const qc::BodyPart>(std::move(month), qc::BodyPart::Keep::GzipOnly);
    part->compress();
    parts.push_back(std::move(part));
  }
  auto tail = std::make_shared<const qc::BodyPart>("{}");
  tail->compress();
  parts.push_back(std::move(tail));
  v.text += "{}";
  v.body = std::make_shared<const qc::ViewBody>(std::move(parts));
  return v;
}

struct Answer {
  unsigned status = 0;
  std::string body, encoding, length;
};

Answer request(std::uint16_t port, http::verb verb, const char* accept_encoding) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.expires_after(20s);
  http::request<http::empty_body> req{verb, "/view", 11};
  req.set(http::field::host, "x");
  if (accept_encoding) req.set(http::field::accept_encoding, accept_encoding);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(verb == http::verb::head);
  http::read(stream, buffer, parser);
  auto& res = parser.get();
  return {res.result_int(), res.body(), std::string(res[http::field::content_encoding]),
          std::string(res[http::field::content_length])};
}

// A handler answering every request with `body`.
qc::HttpHandler answering_with(qc::ViewBodyPtr body) {
  return [body](qc::HttpRequest&, qc::Respond respond) {
    qc::HttpResponse r;
    r.view = body;
    respond(std::move(r));
  };
}

TEST_F(ServerFixture, APlainAnswerInflatesGzipOnlyPartsToExactlyTheText) {
  auto view = gzip_only_view();
  ASSERT_GT(view.text.size(), 2 * qc::ViewBodyReader::kChunk);  // several pieces
  start(answering_with(view.body), 10s);
  auto a = request(server_->port(), http::verb::get, nullptr);
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.encoding, "");
  EXPECT_EQ(a.length, std::to_string(view.text.size()));
  EXPECT_TRUE(a.body == view.text);
  // The connection stays usable: a second answer on a new one is the same.
  EXPECT_TRUE(request(server_->port(), http::verb::get, "identity").body == view.text);
}

TEST_F(ServerFixture, HeadOfAViewWithGzipOnlyPartsGivesThePlainLength) {
  auto view = gzip_only_view();
  start(answering_with(view.body), 10s);
  auto a = request(server_->port(), http::verb::head, nullptr);
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.length, std::to_string(view.text.size()));
  EXPECT_TRUE(a.body.empty());
}

TEST_F(ServerFixture, AGzipAnswerOfGzipOnlyPartsIsTheirDeflatedBytes) {
  auto view = gzip_only_view();
  start(answering_with(view.body), 10s);
  auto a = request(server_->port(), http::verb::get, "gzip");
  EXPECT_EQ(a.encoding, "gzip");
  ASSERT_NE(view.body->gzip(), nullptr);
  EXPECT_EQ(a.body.size(), view.body->gzip()->size);
  EXPECT_LT(a.body.size(), view.text.size() / 4);
}

TEST(DefaultMaxConnections, LeavesRoomForTheServersOwnFiles) {
  EXPECT_EQ(qc::default_max_connections(1024), 896u);
  EXPECT_EQ(qc::default_max_connections(20000), 19872u);
  EXPECT_EQ(qc::default_max_connections(64), 32u);
  EXPECT_EQ(qc::default_max_connections(10), 8u);
}

}  // namespace
