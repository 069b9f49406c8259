// PolygonFeed's queue between the websocket and the ledger is bounded
// (SPEC §9): when a slow ledger lets it fill, the queued frames are dropped,
// one error is logged, the websocket reconnects and the backfill of the new
// session runs before any later frame. A fake stocks socket (Beast, in
// process) plays the provider; a sink whose submit_bars blocks plays a
// ledger whose database is down.
#include "market/polygon/polygon_feed.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::int64_t kS0 = 1717767000000;  // 2024-06-07 09:30 New York

std::string am_frame(std::int64_t s, std::size_t padding = 0) {
  std::string f = R"([{"ev":"AM","sym":"AAPL","v":1,"av":1,"op":1,"vw":1,"o":1,"c":1,"h":1,)"
                  R"("l":1,"a":1,"z":1,"s":)" +
                  std::to_string(s) + R"(,"e":)" + std::to_string(s + 60'000);
  if (padding) f += R"(,"pad":")" + std::string(padding, 'x') + '"';
  return f + "}]";
}

bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ok()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The provider's stocks socket: every connection gets `connected`, answers
// auth with auth_success, and after the subscribe message sends the frames
// scripted for it (connection k gets scripts[k], later ones nothing);
// `after_first_frame` runs between the first frame of connection 0 and the rest.
class FakeStocksSocket {
 public:
  FakeStocksSocket(std::vector<std::vector<std::string>> scripts,
                   std::function<void()> after_first_frame)
      : scripts_(std::move(scripts)),
        after_first_frame_(std::move(after_first_frame)),
        acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~FakeStocksSocket() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    {  // wake the blocking accept
      beast::error_code ec;
      tcp::socket s(ioc_);
      s.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    accept_thread_.join();
    for (auto& t : threads_) t.join();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/stocks"; }
  std::size_t subscribed() const {
    std::lock_guard lock(mutex_);
    return subscribed_;
  }

 private:
  void accept_loop() {
    for (std::size_t index = 0;; ++index) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (ec) continue;
      threads_.emplace_back(
          [this, index, s = std::move(socket)]() mutable { serve(index, std::move(s)); });
    }
  }

  void serve(std::size_t index, tcp::socket socket) {
    try {
      websocket::stream<tcp::socket> ws(std::move(socket));
      // Shut down by the destructor while open (never after: the number may be reused).
      struct Registration {
        FakeStocksSocket& self;
        int fd;
        Registration(FakeStocksSocket& s, int f) : self(s), fd(f) {
          std::lock_guard lock(self.mutex_);
          if (self.stopping_) ::shutdown(fd, SHUT_RDWR);
          self.fds_.push_back(fd);
        }
        ~Registration() {
          std::lock_guard lock(self.mutex_);
          std::erase(self.fds_, fd);
        }
      } registration(*this, ws.next_layer().native_handle());
      ws.accept();
      ws.text(true);
      ws.write(asio::buffer(std::string(
          R"([{"ev":"status","status":"connected","message":"Connected Successfully"}])")));
      beast::flat_buffer buffer;
      ws.read(buffer);  // auth
      ws.write(asio::buffer(
          std::string(R"([{"ev":"status","status":"auth_success","message":"authenticated"}])")));
      buffer.clear();
      ws.read(buffer);  // subscribe
      {
        std::lock_guard lock(mutex_);
        ++subscribed_;
      }
      if (index < scripts_.size())
        for (std::size_t i = 0; i < scripts_[index].size(); ++i) {
          ws.write(asio::buffer(scripts_[index][i]));
          if (index == 0 && i == 0 && after_first_frame_) after_first_frame_();
        }
      for (;;) {  // until the client goes
        buffer.clear();
        ws.read(buffer);
      }
    } catch (const std::exception&) {
    }
  }

  std::vector<std::vector<std::string>> scripts_;
  std::function<void()> after_first_frame_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  bool stopping_ = false;
  std::size_t subscribed_ = 0;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

// A ledger that cannot keep up: submit_bars blocks until open() (or shut()).
class BlockingSink final : public qc::FeedSink {
 public:
  bool submit_bars(std::vector<qc::MinuteBar> bars) override {
    std::unique_lock lock(mutex_);
    for (const auto& b : bars) events_.push_back("bar " + std::to_string(b.start_ms));
    ++blocked_;
    cv_.wait(lock, [&] { return open_ || shut_; });
    --blocked_;
    return !shut_;
  }
  void submit_document(qc::RecommendationDocument) override {}
  bool flush() override { return true; }
  void set_market_open(bool) override {}
  void submit_quotes(std::vector<std::pair<std::string, qc::DailyChange>>) override {}
  std::vector<qc::BackfillRequest> backfill_plan() override {
    std::lock_guard lock(mutex_);
    events_.push_back("backfill");
    return {};
  }

  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void shut() {
    std::lock_guard lock(mutex_);
    shut_ = true;
    cv_.notify_all();
  }
  int blocked() {
    std::lock_guard lock(mutex_);
    return blocked_;
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false, shut_ = false;
  int blocked_ = 0;
  std::vector<std::string> events_;
};

class PolygonFeedQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    qc::log::capture([this](std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_.emplace_back(line);
    });
  }
  void TearDown() override {
    sink_.shut();  // a blocked worker must not keep stop() waiting
    if (feed_) feed_->stop();
    feed_.reset();
    socket_.reset();
    qc::log::capture({});
  }

  // Connection 0 sends one frame (taken by the worker, which then blocks in
  // the sink) and `queued` more; connection 1 sends one frame after its auth.
  void start(std::size_t max_frames, std::size_t max_bytes, std::size_t queued,
             std::size_t padding = 0) {
    std::vector<std::string> first{am_frame(kS0, padding)};
    for (std::size_t i = 1; i <= queued; ++i) first.push_back(am_frame(kS0 + 60'000 * i, padding));
    // The rest of the frames come once the worker is stuck in the ledger.
    socket_ = std::make_unique<FakeStocksSocket>(
        std::vector<std::vector<std::string>>{first, {am_frame(kAfterReconnect)}},
        [this] { eventually([&] { return sink_.blocked() == 1; }); });
    qc::PolygonOptions o;
    o.api_key = "QCKEYfeedtest";
    o.ws_url = socket_->url();
    o.rest_url = "http://127.0.0.1:1";  // snapshots fail fast; the plan is empty: no backfill calls
    o.symbols = {"AAPL"};
    o.snapshot_interval = 3600s;
    o.first_backoff = 10ms;
    o.max_backoff = 100ms;
    o.retry.max_attempts = 1;
    o.max_queued_frames = max_frames;
    o.max_queued_bytes = max_bytes;
    feed_ = std::make_unique<qc::PolygonFeed>(std::move(o));
    feed_->start(sink_);
  }

  simdjson::dom::element status() {
    status_text_.clear();
    qc::JsonWriter w(status_text_);
    w.begin_object();
    feed_->write_status(w);
    w.end_object();
    return parser_.parse(status_text_).value();
  }
  std::int64_t status_int(const char* key) { return status()[key].get_int64().value(); }

  std::vector<std::string> log_lines() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

  static constexpr std::int64_t kAfterReconnect = kS0 + 3'600'000;
  BlockingSink sink_;
  std::unique_ptr<FakeStocksSocket> socket_;
  std::unique_ptr<qc::PolygonFeed> feed_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
  simdjson::dom::parser parser_;
  std::string status_text_;
};

TEST_F(PolygonFeedQueueTest, QueuedFramesNeverExceedTheFrameLimit) {
  start(5, 64u << 20, 40);
  ASSERT_TRUE(eventually([&] { return status_int("queue_overflows") >= 1; }))
      << "the queue never overflowed";
  EXPECT_LE(status_int("queue_high_water"), 5);
  EXPECT_LE(status_int("queued_frames"), 5);
  EXPECT_GE(status_int("frames_overflowed"), 6);
  auto m = feed_->metrics();
  EXPECT_GE(m.queue_overflows, 1u);
  EXPECT_GE(m.frames_overflowed, 6u);
}

TEST_F(PolygonFeedQueueTest, QueuedBytesNeverExceedTheByteLimit) {
  // 1,000-byte frames, 4,000 bytes allowed: the byte limit is reached first.
  start(10'000, 4'000, 40, 1'000);
  ASSERT_TRUE(eventually([&] { return status_int("queue_overflows") >= 1; }))
      << "the queue never overflowed";
  EXPECT_LE(status_int("queue_high_water"), 3);
  EXPECT_LE(status_int("queued_bytes"), 4'000);
}

TEST_F(PolygonFeedQueueTest, OverflowIsLoggedAsOneError) {
  start(5, 64u << 20, 40);
  ASSERT_TRUE(eventually([&] { return status_int("queue_overflows") >= 1; }));
  std::size_t errors = 0;
  for (const auto& line : log_lines())
    if (line.find("error [polygon] frame queue full") != std::string::npos) ++errors;
  EXPECT_EQ(errors, 1u);
  EXPECT_EQ(status_int("queue_overflows"), 1);
}

TEST_F(PolygonFeedQueueTest, OverflowReconnectsTheWebsocket) {
  start(5, 64u << 20, 40);
  ASSERT_TRUE(eventually([&] { return socket_->subscribed() >= 2; }))
      << "no new connection after the overflow";
  EXPECT_GE(status()["websocket"]["reconnects"].get_int64().value(), 1);
  EXPECT_NE(std::string(status()["websocket"]["last_error"].get_string().value())
                .find("frame queue full"),
            std::string::npos);
}

TEST_F(PolygonFeedQueueTest,
       BackfillOfTheNewSessionRunsBeforeItsFramesAndDroppedFramesNeverArrive) {
  start(5, 64u << 20, 40);
  ASSERT_TRUE(eventually([&] { return socket_->subscribed() >= 2 && sink_.blocked() == 1; }));
  sink_.open();  // the ledger recovers
  const std::string after = "bar " + std::to_string(kAfterReconnect);
  ASSERT_TRUE(eventually([&] {
    auto e = sink_.events();
    return !e.empty() && e.back() == after;
  })) << "the first frame of the new session never reached the ledger";
  // Only the frame the worker held while the queue overflowed, then the
  // backfill marker of the new session, then its live frame.
  std::vector<std::string> want{"backfill", "bar " + std::to_string(kS0), "backfill", after};
  EXPECT_EQ(sink_.events(), want);
}

}  // namespace
