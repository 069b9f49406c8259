// HttpServer: listener + per-connection sessions (after Beast's
// advanced_server example). A session reads one request, hands it to the
// handler, writes the answer, and loops while the client keeps it alive.
#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "app/log.h"
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

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpServerOptions& options, const HttpHandler& handler)
      : stream_(std::move(socket)), options_(options), handler_(handler) {}

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
  void read() {
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
      return send(std::move(r));
    }
    if (ec) {
      if (ec == http::error::header_limit) {
        keep_alive_ = false;
        return send(json_error(431, "request headers too large"));
      }
      if (ec.category() == beast::error_code(http::error::end_of_stream).category()) {
        keep_alive_ = false;
        return send(json_error(400, "malformed HTTP request: " + ec.message()));
      }
      return close();
    }
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
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
  unsigned version_ = 11;
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
                              std::make_shared<Session>(std::move(socket), self->options,
                                                        self->handler)
                                  ->run();
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

}  // namespace qc
