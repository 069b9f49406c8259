// SPEC §8 "live events": N subscribers of GET /api/events on one server; how
// long until an event has reached all of them.
//
// --threads threads hold the N streams (asio), another POSTs
// documents that open exactly one position each (a server with --feed
// none), one every --interval-ms. For event k: sent = just before POST k is
// written, first/last = when the first/last subscriber had read its
// `opened` frame. Reported: last − sent (a change made durable and pushed
// to every subscriber: the POST's parse, the store commit, the fan-out and
// the clients' reads) and last − first (the fan-out spread alone), p50/p99/max,
// and the 201 latency for comparison.
//
//   sse_fanout --port N [--subscribers 1000] [--events 200] [--interval-ms 20]
//              [--token T] [--host 127.0.0.1] [--symbol AAPL] [--threads 1]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  int subscribers = 1000;
  int events = 200;
  int interval_ms = 20;
  std::string token;
  std::string symbol = "AAPL";
  int threads = 1;  // client threads, each with its share of the subscribers
};

struct Timeline {
  explicit Timeline(int n) : first(n), last(n), count(n) {
    for (auto& f : first) f = INT64_MAX;
    for (auto& l : last) l = 0;
  }
  std::vector<std::atomic<std::int64_t>> first, last;  // ns since start
  std::vector<std::atomic<int>> count;
};

std::int64_t now_ns(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  Subscriber(asio::io_context& ioc, Timeline& tl, Clock::time_point t0, std::atomic<int>& ready)
      : socket_(ioc), tl_(tl), t0_(t0), ready_(ready) {}

  void start(const tcp::endpoint& ep, const std::string& host) {
    request_ = "GET /api/events HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n";
    socket_.async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail("connect", ec);
      asio::async_write(self->socket_, asio::buffer(self->request_),
                        [self](beast::error_code ec, std::size_t) {
                          if (ec) return self->fail("write", ec);
                          self->read();
                        });
    });
  }
  int received() const { return seen_; }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->fail("read", ec);
      self->on_data(n);
      self->read();
    });
  }
  void on_data(std::size_t n) {
    auto t = now_ns(t0_);
    text_.append(buf_.data(), n);
    if (!header_done_) {
      auto end = text_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      if (text_.rfind("HTTP/1.1 200", 0) != 0) {
        std::cerr << "subscriber refused: " << text_.substr(0, text_.find("\r\n")) << "\n";
        std::exit(1);
      }
      header_done_ = true;
      text_.erase(0, end + 4);
      ++ready_;
    }
    static const std::string marker = "\nevent: opened\n";
    std::size_t pos = 0;
    while ((pos = text_.find(marker, pos)) != std::string::npos) {
      int k = seen_++;
      if (k < static_cast<int>(tl_.first.size())) {
        auto f = tl_.first[k].load();
        while (t < f && !tl_.first[k].compare_exchange_weak(f, t)) {
        }
        auto l = tl_.last[k].load();
        while (t > l && !tl_.last[k].compare_exchange_weak(l, t)) {
        }
        ++tl_.count[k];
      }
      pos += marker.size();
    }
    // Keep a tail that may hold the start of a split marker.
    if (text_.size() > marker.size()) text_.erase(0, text_.size() - marker.size());
  }
  void fail(const char* what, beast::error_code ec) {
    std::cerr << "subscriber " << what << ": " << ec.message() << "\n";
    std::exit(1);
  }

  tcp::socket socket_;
  Timeline& tl_;
  Clock::time_point t0_;
  std::atomic<int>& ready_;
  std::string request_, text_;
  std::array<char, 16384> buf_{};
  bool header_done_ = false;
  int seen_ = 0;
};

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

void report(const char* what, std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))]; };
  std::printf("%-38s p50 %8.3f ms   p99 %8.3f ms   max %8.3f ms\n", what, ms(at(0.50)), ms(at(0.99)), ms(v.back()));
}

std::string us_date(int i) {
  // 2021-07-12 10:00:00 plus i minutes (distinct positions), New York time.
  int minutes = 10 * 60 + i;
  int day = 12 + minutes / (24 * 60);
  minutes %= 24 * 60;
  char out[32];
  std::snprintf(out, sizeof out, "2021-07-%02d %02d:%02d:00", day, minutes / 60, minutes % 60);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") a.host = v;
    else if (k == "--port") a.port = static_cast<unsigned short>(std::stoi(v));
    else if (k == "--subscribers") a.subscribers = std::stoi(v);
    else if (k == "--events") a.events = std::stoi(v);
    else if (k == "--interval-ms") a.interval_ms = std::stoi(v);
    else if (k == "--token") a.token = v;
    else if (k == "--symbol") a.symbol = v;
    else if (k == "--threads") a.threads = std::max(1, std::stoi(v));
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (!a.port || a.token.empty()) {
    std::cerr << "usage: sse_fanout --port N --token T [--subscribers 1000] [--events 200] [--interval-ms 20]\n";
    return 2;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  auto t0 = Clock::now();
  Timeline tl(a.events);
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  for (int t = 0; t < a.threads; ++t) iocs.push_back(std::make_unique<asio::io_context>(1));
  tcp::endpoint ep(asio::ip::make_address(a.host), a.port);
  std::atomic<int> ready{0};
  std::vector<std::shared_ptr<Subscriber>> subs;
  for (int i = 0; i < a.subscribers; ++i) {
    subs.push_back(std::make_shared<Subscriber>(*iocs[i % a.threads], tl, t0, ready));
    subs.back()->start(ep, a.host);
  }
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> io;
  for (auto& c : iocs) {
    guards.push_back(asio::make_work_guard(*c));
    io.emplace_back([&c] { c->run(); });
  }
  auto wait_until = [](auto pred, std::chrono::seconds limit) {
    auto until = Clock::now() + limit;
    while (!pred()) {
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  };
  if (!wait_until([&] { return ready.load() == a.subscribers; }, std::chrono::seconds(60))) {
    std::cerr << "only " << ready << " of " << a.subscribers << " subscribers connected\n";
    return 1;
  }
  std::printf("%d subscribers connected in %.0f ms\n", a.subscribers, ms(now_ns(t0)));

  // The poster: one keep-alive connection, one document (one position) per event.
  std::vector<std::int64_t> sent(a.events), answered(a.events);
  {
    asio::io_context pioc;
    beast::tcp_stream stream(pioc);
    stream.connect(ep);
    beast::flat_buffer buffer;
    for (int k = 0; k < a.events; ++k) {
      http::request<http::string_body> req{http::verb::post, "/api/recommendations", 11};
      req.set(http::field::host, a.host);
      req.set(http::field::authorization, "Bearer " + a.token);
      req.set(http::field::content_type, "application/json");
      req.body() = R"({"us-date":")" + us_date(k) + R"(","sg-date":")" + us_date(k) + R"(","recommendations":[{"symbol":")" + a.symbol +
                   R"(","targetPrice":1000,"currentPrice":100}]})";
      req.prepare_payload();
      sent[k] = now_ns(t0);
      http::write(stream, req);
      http::response<http::string_body> res;
      http::read(stream, buffer, res);
      answered[k] = now_ns(t0);
      if (res.result_int() != 201) {
        std::cerr << "POST " << k << " answered " << res.result_int() << ": " << res.body() << "\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
    }
  }
  bool all = wait_until([&] { return tl.count[a.events - 1].load() == a.subscribers; }, std::chrono::seconds(30));
  guards.clear();
  for (auto& c : iocs) c->stop();
  for (auto& t : io) t.join();
  int missing = 0;
  for (int k = 0; k < a.events; ++k) missing += a.subscribers - tl.count[k].load();
  if (!all || missing) {
    std::cerr << missing << " event deliveries missing\n";
    return 1;
  }
  std::vector<std::int64_t> to_last, spread, post;
  for (int k = 0; k < a.events; ++k) {
    to_last.push_back(tl.last[k] - sent[k]);
    spread.push_back(tl.last[k] - tl.first[k]);
    post.push_back(answered[k] - sent[k]);
  }
  std::printf("%d events x %d subscribers (%d client threads), one POST every %d ms\n", a.events, a.subscribers,
              a.threads, a.interval_ms);
  report("POST sent -> last subscriber has it", to_last);
  report("first -> last subscriber (fan-out)", spread);
  report("POST sent -> 201 received", post);
  return 0;
}
