// The comparison server of SPEC §8: a minimal asynchronous Boost.Beast HTTP
// server (after Beast's http_server_async example) answering every GET with
// the same ~600-byte JSON body, keep-alive, on N threads sharing one
// io_context. It does nothing else — no routing, no CORS, no logging — so it
// marks what Beast itself costs on this machine.
//
//   minimal_beast_server [--host 127.0.0.1] [--port 8081] [--threads 2]
//                        [--body-bytes 600]   (padded JSON of about that size)
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Recommendation items (~140 bytes each) up to `bytes`: 600 is the size of a
// small /api/recommendations answer (4 items).
std::string make_body(std::size_t bytes) {
  const std::string item =
      R"({"symbol":"AAPL","target_price":150.2,"entry_price":145.1,"open_timestamp":1626101940,)"
      R"("stop_loss":130.59,"expected_profit":3.514817367332874})";
  std::string body = R"({"results":[)";
  for (bool first = true; body.size() + item.size() + 3 <= bytes || first; first = false) {
    if (!first) body += ',';
    body += item;
  }
  body += "]}";
  if (body.size() < bytes) body.insert(body.size() - 2, bytes - body.size(), ' ');
  return body;
}
std::string kBody;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return close();
    response_ = {};
    response_.version(request_.version());
    response_.keep_alive(request_.keep_alive());
    if (request_.method() == http::verb::get) {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "application/json");
      response_.body() = kBody;
    } else {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::content_type, "application/json");
      response_.body() = R"({"detail":"Method Not Allowed"})";
    }
    response_.prepare_payload();
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec || !response_.keep_alive()) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, const tcp::endpoint& endpoint) : ioc_(ioc), acceptor_(asio::make_strand(ioc)) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }
  void run() { accept(); }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);  // as QuantCrunch does
      std::make_shared<Session>(std::move(socket))->run();
    }
    accept();
  }
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
};

int usage() {
  std::cerr << "usage: minimal_beast_server [--host 127.0.0.1] [--port 8081] [--threads 2] "
               "[--body-bytes 600]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 8081, threads = 2;
  long body_bytes = 600;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--host") host = argv[++i];
    else if (a == "--port") port = std::atoi(argv[++i]);
    else if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--body-bytes") body_bytes = std::atol(argv[++i]);
    else return usage();
  }
  if (port < 1 || port > 65535 || threads < 1 || threads > 64 || body_bytes < 1 ||
      body_bytes > (64 << 20))
    return usage();
  kBody = make_body(static_cast<std::size_t>(body_bytes));
  try {
    asio::io_context ioc(threads);
    std::make_shared<Listener>(ioc, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port)))->run();
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code&, int) { ioc.stop(); });
    std::cerr << "minimal_beast_server: listening on " << host << ":" << port << " with " << threads
              << " threads, " << kBody.size() << "-byte body\n";
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "minimal_beast_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
