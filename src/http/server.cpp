// HttpServer: listener + per-connection sessions (after Beast's
// advanced_server example). A session reads one request, hands it to the
// handler, writes the answer, and loops while the client keeps it alive.
#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "log/log.h"
#include "core/json_writer.h"

namespace qc {
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

HttpResponse json_error(unsigned status, std::string_view detail) {
  std::string body = R"({"detail":)";
  append_json_string(body, detail);
  body += '}';
  HttpResponse r;
  r.status = status;
  r.body = std::make_shared<const std::string>(std::move(body));
  return r;
}

namespace {

class Session;

// Live sessions, for a graceful stop.
struct SessionRegistry {
  std::mutex mutex;
  std::vector<std::weak_ptr<Session>> sessions;
  std::atomic<bool> draining{false};
  std::size_t count() {
    std::lock_guard lock(mutex);
    std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    return sessions.size();
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpServerOptions& options, const HttpHandler& handler,
          std::shared_ptr<SessionRegistry> registry)
      : stream_(std::move(socket)), options_(options), handler_(handler),
        registry_(std::move(registry)) {}

  // Closes the connection if it is waiting for a request (not mid-request).
  void close_if_idle() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->close();
    });
  }

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
  void read() {
    if (registry_->draining) return close();
    busy_ = false;
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    stream_.expires_after(std::chrono::seconds(options_.read_timeout_seconds));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return close();
    if (ec == http::error::body_limit) {
      auto r = json_error(413, "request body larger than " +
                                   std::to_string(options_.body_limit) + " bytes");
      keep_alive_ = false;
      if (options_.on_refused) options_.on_refused(413);
      return send(std::move(r));
    }
    if (ec) {
      if (ec == http::error::header_limit) {
        keep_alive_ = false;
        if (options_.on_refused) options_.on_refused(431);
        return send(json_error(431, "request headers too large"));
      }
      if (ec.category() == beast::error_code(http::error::end_of_stream).category()) {
        keep_alive_ = false;
        if (options_.on_refused) options_.on_refused(400);
        return send(json_error(400, "malformed HTTP request: " + ec.message()));
      }
      return close();
    }
    busy_ = true;
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive() && !registry_->draining;
    version_ = request_.version();
    stream_.expires_never();
    auto self = shared_from_this();
    handler_(request_, [self](HttpResponse response) {
      asio::dispatch(self->stream_.get_executor(),
                     [self, r = std::move(response)]() mutable { self->send(std::move(r)); });
    });
  }

  void send(HttpResponse r) {
    if (options_.decorate) options_.decorate(request_, r);
    body_ = r.body ? r.body : std::make_shared<const std::string>();
    response_ = {};
    response_.result(r.status);
    response_.version(version_);
    response_.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) response_.set(name, value);
    response_.body() = http::span_body<const char>::value_type(body_->data(), body_->size());
    if (registry_->draining) keep_alive_ = false;
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    stream_.expires_after(std::chrono::seconds(options_.read_timeout_seconds));
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return close();
    if (!keep_alive_) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  const HttpServerOptions& options_;
  const HttpHandler& handler_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  http::response<http::span_body<const char>> response_;
  std::shared_ptr<const std::string> body_;
  bool keep_alive_ = true;
  bool busy_ = false;  // between a request's arrival and its answer's write
  unsigned version_ = 11;
  std::shared_ptr<SessionRegistry> registry_;
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& ioc, HttpServerOptions o, HttpHandler h)
      : ioc(ioc), acceptor(asio::make_strand(ioc)), options(std::move(o)), handler(std::move(h)) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                            if (ec == asio::error::operation_aborted || !self->acceptor.is_open())
                              return;
                            if (!ec) {
                              socket.set_option(tcp::no_delay(true), ec);
                              auto session = std::make_shared<Session>(
                                  std::move(socket), self->options, self->handler, self->registry);
                              {
                                std::lock_guard lock(self->registry->mutex);
                                self->registry->sessions.push_back(session);
                              }
                              session->run();
                            } else {
                              log::warn("http", "accept failed: " + ec.message());
                            }
                            self->accept();
                          });
  }

  asio::io_context& ioc;
  tcp::acceptor acceptor;
  HttpServerOptions options;
  HttpHandler handler;
  std::uint16_t bound_port = 0;
  std::shared_ptr<SessionRegistry> registry = std::make_shared<SessionRegistry>();
};

HttpServer::HttpServer(asio::io_context& ioc, HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) throw std::system_error(ec, "invalid HOST '" + impl_->options.host + "'");
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::system_error(ec, "cannot listen on " + impl_->options.host + ":" +
                                    std::to_string(impl_->options.port));
  impl_->bound_port = a.local_endpoint().port();
  impl_->accept();
}

void HttpServer::stop() {
  if (!impl_) return;
  asio::dispatch(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

std::size_t HttpServer::open_connections() const { return impl_->registry->count(); }

void HttpServer::drain(std::chrono::milliseconds deadline, std::function<void(std::size_t)> done) {
  auto impl = impl_;
  impl->registry->draining = true;
  stop();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(impl->registry->mutex);
    for (auto& w : impl->registry->sessions)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close_if_idle();
  live.clear();
  struct Drainer : std::enable_shared_from_this<Drainer> {
    std::shared_ptr<Impl> impl;
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point until;
    std::function<void(std::size_t)> done;
    Drainer(std::shared_ptr<Impl> i, std::chrono::steady_clock::time_point u,
            std::function<void(std::size_t)> d)
        : impl(std::move(i)), timer(impl->ioc), until(u), done(std::move(d)) {}
    void step() {
      std::size_t left = impl->registry->count();
      if (left == 0 || std::chrono::steady_clock::now() >= until) return done(left);
      timer.expires_after(std::chrono::milliseconds(20));
      timer.async_wait([self = shared_from_this()](beast::error_code) { self->step(); });
    }
  };
  auto drainer = std::make_shared<Drainer>(impl, std::chrono::steady_clock::now() + deadline,
                                           std::move(done));
  asio::post(impl->ioc, [drainer] { drainer->step(); });
}

}  // namespace qc
