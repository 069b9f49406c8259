// HTTP/1.1 server on Boost.Beast: one small session object per connection,
// keep-alive. Handlers answer through a callback so a write endpoint can wait
// for durability without blocking a thread; GET handlers answer inline from
// pre-rendered bodies.
//
// What a client without a token can cost is bounded (SPEC §9):
//  - connections: at most `max_connections` (default from the open-file
//    limit); over it a connection gets a 503 and is closed; a failing accept
//    (no file descriptors left) backs off instead of spinning;
//  - memory: the header is read first (16 KiB at most, target 8 KiB: 414)
//    and `admit` may answer from it (401/403/404/405) before one body byte
//    is read; a body is read only within `body_limit` and while the bodies
//    of all connections together stay within `max_body_bytes_in_flight`
//    (else 503);
//  - time: a request must arrive within `read_timeout`, an answer must be
//    taken by the client within it, and a handler that has not answered
//    within `handler_timeout` is answered 503 by the server.
// HEAD is answered for every route like GET, without the body.
//
// A handler may answer with a stream (HttpResponse::stream, e.g. Server-Sent
// Events): the header goes out at once and the body is written as the
// stream produces it, chunked (close-delimited for HTTP/1.0), until the
// stream ends, the client leaves, a write is not taken by the client within
// `read_timeout`, or the server drains. Neither timeout applies while the
// stream is idle; the connection counts against `max_connections`.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/view_body.h"

namespace qc {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpRequestHeader = boost::beast::http::request_header<>;

// The body of a streamed response, produced over time. The session calls
// start() once, then pull() and close() on its own strand; `wake` may be
// called from any thread.
class ResponseStream {
 public:
  using Chunks = std::vector<std::shared_ptr<const std::string>>;
  enum class Pull {
    More,   // chunks were appended; pull again once they are written
    Idle,   // nothing now: `wake(false)` will be called when there is
    End,    // the body is complete after the chunks appended (if any)
    Abort,  // close the connection now, without finishing the body
  };
  virtual ~ResponseStream() = default;
  // `wake(abort)`: there is something to pull (false), or the connection
  // must be closed at once, even mid-write (true). Must not block.
  virtual void start(std::function<void(bool abort)> wake) = 0;
  virtual Pull pull(Chunks& out) = 0;
  // The connection is over (or was never streamed, e.g. HEAD): no pull
  // follows. Called at most once; a stream that is never sent (its answer
  // came too late) is only destroyed, so implementations also release what
  // they hold on destruction.
  virtual void close() = 0;
};

struct HttpResponse {
  unsigned status = 200;
  std::shared_ptr<const std::string> body;  // shared, never copied on send
  // Set: the body is this published view (`body` is ignored), sent gzip-
  // encoded when the request accepts gzip and the view has its gzip form;
  // either way with `Vary: Accept-Encoding`.
  ViewBodyPtr view;
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body is this stream (`body` is ignored), see above.
  std::shared_ptr<ResponseStream> stream;
};

using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&, Respond)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 5050;
  std::size_t body_limit = 1 << 20;
  std::size_t max_body_bytes_in_flight = 64 << 20;
  std::size_t max_connections = 0;  // 0: derived from the open-file limit
  std::size_t max_target = 8192;
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds handler_timeout{30};
  // SO_SNDBUF of a streamed answer's socket (the kernel doubles it): a
  // client that stops reading holds at most this much kernel memory, and
  // its stream sees it fall behind after that much, not after the several
  // MB autotuning would allow. 0: the kernel's autotuning.
  std::size_t stream_send_buffer = 64 * 1024;
  // Called with the request's header before its body is read: a response
  // to send instead (the body is then never read and the connection closes
  // if one was announced), or nullopt to go on.
  std::function<std::optional<HttpResponse>(const HttpRequestHeader&)> admit;
  // Added to every response (CORS); computed per request from its Origin.
  std::function<void(const HttpRequest&, HttpResponse&)> decorate;
  // Told about requests the server answers itself (400, 413, 414, 431, 503),
  // which never reach the handler.
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
  std::size_t max_connections() const;
  std::uint16_t port() const;

  struct Counters {
    std::uint64_t connections_refused = 0;  // over max_connections
    std::uint64_t accept_failures = 0;      // e.g. EMFILE
    std::uint64_t bodies_refused = 0;       // over max_body_bytes_in_flight
    std::uint64_t handler_timeouts = 0;
  };
  Counters counters() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A JSON error body {"detail": "..."}.
HttpResponse json_error(unsigned status, std::string_view detail);

// The connection limit for an open-file limit of `fd_limit`: room is left
// for the database, the cache, the market feed and the process itself.
std::size_t default_max_connections(std::uint64_t fd_limit);

}  // namespace qc
