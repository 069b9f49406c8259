// HTTP/1.1 server on Boost.Beast: one small session object per connection,
// keep-alive, 1 MiB body limit, 30 s read timeout. Handlers answer through a
// callback so a write endpoint can wait for durability without blocking a
// thread; GET handlers answer inline from pre-rendered bodies.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace qc {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpResponse {
  unsigned status = 200;
  std::shared_ptr<const std::string> body;  // shared, never copied on send
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&, Respond)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 5050;
  std::size_t body_limit = 1 << 20;
  int read_timeout_seconds = 30;
  // Added to every response (CORS); computed per request from its Origin.
  std::function<void(const HttpRequest&, HttpResponse&)> decorate;
  // Told about requests the server answers itself (413, 431, 400 for
  // malformed HTTP), which never reach the handler.
  std::function<void(unsigned status)> on_refused;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  // Binds and starts accepting. Throws std::system_error with a clear message.
  void start();
  // Stops accepting new connections.
  void stop();
  // Graceful stop: stops accepting, closes idle keep-alive connections, lets
  // requests in flight finish (their connections close after the answer), and
  // calls `done` on an I/O thread once no connection is left or `deadline`
  // has passed. Never blocks.
  void drain(std::chrono::milliseconds deadline, std::function<void(std::size_t left)> done);
  std::size_t open_connections() const;
  std::uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A JSON error body {"detail": "..."}.
HttpResponse json_error(unsigned status, std::string_view detail);

}  // namespace qc
