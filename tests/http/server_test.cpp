// HttpServer over real loopback sockets: bounds that need a handler the API
// does not have (one that never answers, or answers late).
#include "http/server.h"

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

TEST(DefaultMaxConnections, LeavesRoomForTheServersOwnFiles) {
  EXPECT_EQ(qc::default_max_connections(1024), 896u);
  EXPECT_EQ(qc::default_max_connections(20000), 19872u);
  EXPECT_EQ(qc::default_max_connections(64), 32u);
  EXPECT_EQ(qc::default_max_connections(10), 8u);
}

}  // namespace
