// HttpServer: listener + per-connection sessions (after Beast's
// advanced_server example). A session reads one request header, asks
// `admit`, reads the body within the budgets, hands the request to the
// handler, writes the answer, and loops while the client keeps it alive.
// A streamed answer (ResponseStream) is written chunk by chunk as the stream
// wakes the session, with a read of the socket pending meanwhile so that a
// client that leaves is noticed at once; it ends the connection.
// Every error of a session ends in one place: fail().
#include "http/server.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>

#include "core/json_writer.h"
#include "http/content_coding.h"
#include "log/log.h"

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

std::size_t default_max_connections(std::uint64_t fd_limit) {
  constexpr std::uint64_t reserve = 128;  // database, cache, feed, proxy, logs
  if (fd_limit > 2 * reserve) return static_cast<std::size_t>(std::min<std::uint64_t>(fd_limit - reserve, 100'000));
  return static_cast<std::size_t>(std::max<std::uint64_t>(fd_limit / 2, 8));
}

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;

class Session;

// What the sessions share with the listener.
struct Shared {
  const HttpServerOptions options;
  const HttpHandler handler;
  std::size_t max_connections = 0;
  std::mutex mutex;
  std::vector<std::weak_ptr<Session>> sessions;  // for a graceful stop
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> live{0};
  std::atomic<std::size_t> body_bytes{0};
  std::atomic<std::uint64_t> refused_connections{0}, accept_failures{0}, bodies_refused{0},
      handler_timeouts{0};

  Shared(HttpServerOptions o, HttpHandler h) : options(std::move(o)), handler(std::move(h)) {}
  std::size_t count() {
    std::lock_guard lock(mutex);
    std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    return sessions.size();
  }
  void refused(unsigned status) {
    if (options.on_refused) options.on_refused(status);
  }
  bool reserve_body(std::size_t n) {
    auto current = body_bytes.load();
    do {
      if (current + n > options.max_body_bytes_in_flight) return false;
    } while (!body_bytes.compare_exchange_weak(current, current + n));
    return true;
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), shared_(std::move(shared)) {
    ++shared_->live;
  }
  ~Session() {
    if (body_stream_) body_stream_->close();
    release_body();
    --shared_->live;
  }

  // Closes the connection if it is waiting for a request (not mid-request);
  // ends a streamed answer.
  void close_if_idle() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->streaming_) self->end_stream();
      else if (!self->busy_) self->close();
    });
  }

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
  const HttpServerOptions& options() const { return shared_->options; }

  void read() {
    if (shared_->draining) return close();
    busy_ = false;
    release_body();
    request_ = {};
    header_.emplace();
    header_->header_limit(kHeaderLimit);
    header_->body_limit(options().body_limit);
    stream_.expires_after(options().read_timeout);
    http::async_read_header(stream_, buffer_, *header_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  // The request line in the buffer is longer than a target may be.
  bool request_line_too_long() const {
    auto data = buffer_.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    auto eol = text.find("\r\n");
    return (eol == std::string_view::npos ? text.size() : eol) > options().max_target;
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    busy_ = true;
    auto& h = header_->get();
    keep_alive_ = h.keep_alive() && !shared_->draining;
    version_ = h.version();
    const bool has_body = h.has_content_length() ? header_->content_length().value_or(0) > 0 : h.chunked();
    // The request as far as it is known, for answers that end here (CORS
    // headers depend on its Origin; HEAD on its method).
    auto known_so_far = [&] { request_ = HttpRequest(HttpRequestHeader(h)); };
    auto refuse = [&](unsigned status, std::string_view why) {
      known_so_far();
      shared_->refused(status);
      keep_alive_ = false;  // the server's own refusals end the connection
      send(json_error(status, why));
    };
    if (h.target().size() > options().max_target)
      return refuse(414, "request target longer than " + std::to_string(options().max_target) + " bytes");
    if (h.version() >= 11 && h.find(http::field::host) == h.end())
      return refuse(400, "an HTTP/1.1 request must carry a Host header");
    if (options().admit) {
      if (auto answer = options().admit(h)) {
        known_so_far();
        if (has_body) keep_alive_ = false;  // its body is never read
        return send(std::move(*answer));
      }
    }
    if (!has_body) {
      request_ = HttpRequest(std::move(h.base()));
      stream_.expires_never();
      return dispatch();
    }
    std::size_t announced = h.has_content_length() ? static_cast<std::size_t>(*header_->content_length())
                                                   : options().body_limit;
    if (announced > options().body_limit)
      return refuse(413, "request body larger than " + std::to_string(options().body_limit) + " bytes");
    if (!shared_->reserve_body(announced)) {
      ++shared_->bodies_refused;
      log::warn("http", "request bodies in flight reached the limit of " +
                            std::to_string(options().max_body_bytes_in_flight) + " bytes; refusing with 503");
      return refuse(503, "the server is busy receiving other requests; nothing was stored, try again shortly");
    }
    reserved_ = announced;
    known_so_far();  // for an answer to a body that fails to arrive
    body_.emplace(std::move(*header_));
    header_.reset();
    body_->body_limit(options().body_limit);
    http::async_read(stream_, buffer_, *body_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    request_ = body_->release();
    body_.reset();
    stream_.expires_never();
    dispatch();
  }

  // Hands the request to the handler; answers 503 itself if the handler
  // has not answered within handler_timeout (a late answer is dropped).
  // Handlers that answer at once (every GET) cost no timer.
  void dispatch() {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto self = shared_from_this();
    shared_->handler(request_, [self, answered](HttpResponse response) {
      if (answered->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(), [self, r = std::move(response)]() mutable {
        self->timer_.cancel();
        self->send(std::move(r));
      });
    });
    if (answered->load()) return;
    // Still on the session's strand: an answer arriving from now on is
    // dispatched here after this function returns, so it sees the timer.
    timer_.expires_after(options().handler_timeout);
    timer_.async_wait([self, answered](beast::error_code ec) {
      if (ec || answered->exchange(true)) return;
      ++self->shared_->handler_timeouts;
      log::error("http", "a request was not answered within " +
                             std::to_string(self->options().handler_timeout.count()) + " s; answering 503");
      self->keep_alive_ = false;
      self->send(json_error(503, "the server could not finish this request in time. For a write: it "
                                 "may or may not have been stored; sending the same document again "
                                 "is safe (a position is never opened twice)"));
    });
  }

  // Status, version, content type and the handler's headers: what every
  // answer's header starts with, whichever way its body is sent.
  template <class Message>
  void fill_header(Message& m, const HttpResponse& r) const {
    m.result(r.status);
    m.version(version_);
    m.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) m.set(name, value);
  }

  void send(HttpResponse r) {
    if (options().decorate) options().decorate(request_, r);
    if (r.stream) return start_stream(std::move(r));
    body_text_.reset();
    view_.reset();
    gzip_frame_.reset();
    body_buffers_.clear();
    held_texts_.clear();
    reader_.reset();
    if (r.view) {
      view_ = std::move(r.view);
      auto vary = std::find_if(r.headers.begin(), r.headers.end(),
                               [](const auto& h) { return beast::iequals(h.first, "Vary"); });
      if (vary == r.headers.end()) r.headers.emplace_back("Vary", "Accept-Encoding");
      else vary->second += ", Accept-Encoding";
      auto accept = request_.find(http::field::accept_encoding);
      if (accept != request_.end() && accepts_gzip(accept->value())) gzip_frame_ = view_->gzip();
      if (gzip_frame_) {
        r.headers.emplace_back("Content-Encoding", "gzip");
        body_buffers_.push_back(asio::buffer(GzipFrame::kHeader.data(), GzipFrame::kHeader.size()));
        // A part's deflated form, once set, lives as long as the part.
        for (const auto& p : view_->parts()) body_buffers_.push_back(asio::buffer(p->deflated()->bytes));
        body_buffers_.push_back(asio::buffer(gzip_frame_->trailer));
      } else {
        for (const auto& p : view_->parts()) {
          auto text = p->plain();
          if (!text) {  // a GzipOnly part: inflated as it is sent
            body_buffers_.clear();
            held_texts_.clear();
            reader_.emplace(view_);
            break;
          }
          if (!text->empty()) body_buffers_.push_back(asio::buffer(*text));
          held_texts_.push_back(std::move(text));
        }
      }
    } else {
      body_text_ = r.body ? r.body : std::make_shared<const std::string>();
      body_buffers_.push_back(asio::buffer(*body_text_));
    }
    const std::size_t length = reader_ ? view_->size() : asio::buffer_size(body_buffers_);
    const bool head = request_.method() == http::verb::head;
    if (shared_->draining) keep_alive_ = false;
    stream_.expires_after(options().read_timeout);
    if (reader_ && !head) {
      // The header, then the body a piece at a time as the reader inflates it.
      auto& h = parts_header_.emplace();
      fill_header(h, r);
      h.keep_alive(keep_alive_);
      h.content_length(length);
      parts_serializer_.emplace(h);
      http::async_write_header(stream_, *parts_serializer_,
                               [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                 if (ec) return self->fail(ec);
                                 self->write_read_piece();
                               });
      return;
    }
    if (body_buffers_.size() > 1 && !head) {
      // The header, then every part as it is (one gathered write).
      auto& h = parts_header_.emplace();
      fill_header(h, r);
      h.keep_alive(keep_alive_);
      h.content_length(length);
      parts_serializer_.emplace(h);
      http::async_write_header(stream_, *parts_serializer_, [self = shared_from_this()](beast::error_code ec,
                                                                                          std::size_t) {
        if (ec) return self->fail(ec);
        asio::async_write(self->stream_, self->body_buffers_,
                          beast::bind_front_handler(&Session::on_write, self));
      });
      return;
    }
    response_ = {};
    fill_header(response_, r);
    response_.keep_alive(keep_alive_);
    if (head) {
      response_.content_length(length);  // what a GET would send
    } else {
      auto one = body_buffers_.empty() ? asio::const_buffer() : body_buffers_.front();
      response_.body() = http::span_body<const char>::value_type(static_cast<const char*>(one.data()), one.size());
      response_.prepare_payload();
    }
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  // One piece of a plain answer whose view has GzipOnly parts (at most
  // ViewBodyReader::kChunk inflated per turn, so other connections on this
  // thread wait at most that long).
  void write_read_piece() {
    std::string_view piece;
    try {
      piece = reader_->next();
    } catch (const std::exception& e) {
      // The header promised a length: the connection is cut, the client sees
      // a short body, never a wrong one.
      log::error("http", std::string("cannot send a view uncompressed: ") + e.what());
      return close();
    }
    if (piece.empty()) {
      reader_.reset();
      return on_write({}, 0);
    }
    stream_.expires_after(options().read_timeout);
    asio::async_write(stream_, asio::buffer(piece.data(), piece.size()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->fail(ec);
                        self->write_read_piece();
                      });
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    if (!keep_alive_) return close();
    read();
  }

  // ---- streamed answers ------------------------------------------------------

  // The header now; the body as the stream produces it. The connection
  // closes after the stream (Connection: close), chunked for HTTP/1.1 (a
  // client can tell a finished stream from a cut one), delimited by the
  // close for HTTP/1.0, which has no chunks.
  void start_stream(HttpResponse r) {
    streaming_ = true;
    body_stream_ = std::move(r.stream);
    beast::error_code ec;
    stream_.socket().non_blocking(true, ec);  // pump() writes without waiting
    if (options().stream_send_buffer)  // best effort: without it the kernel autotunes
      stream_.socket().set_option(
          asio::socket_base::send_buffer_size(static_cast<int>(options().stream_send_buffer)), ec);
    auto& h = stream_header_.emplace();
    fill_header(h, r);
    h.keep_alive(false);
    chunked_ = version_ >= 11;
    if (chunked_) h.chunked(true);
    stream_serializer_.emplace(h);
    writing_ = true;
    stream_.expires_after(options().read_timeout);
    http::async_write_header(stream_, *stream_serializer_,
                             beast::bind_front_handler(&Session::on_stream_header, shared_from_this()));
  }

  void on_stream_header(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (stream_ending_) timer_.cancel();
    if (ec) return fail(ec);
    stream_.expires_never();
    if (request_.method() == http::verb::head || !body_stream_) return close();
    std::weak_ptr<Session> weak = shared_from_this();
    body_stream_->start([weak](bool abort) {
      if (auto self = weak.lock())
        asio::post(self->stream_.get_executor(), [self, abort] { self->on_stream_wake(abort); });
    });
    watch_client();
    if (shared_->draining) stream_ending_ = true;
    pump();
  }

  // A client sends nothing after its request; a read stays pending so that
  // its leaving (EOF, reset) ends the stream at once. Bytes sent are dropped.
  void watch_client() {
    stream_.socket().async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec,
                                                                                        std::size_t) {
      if (ec) return self->fail(ec);
      self->watch_client();
    });
  }

  void on_stream_wake(bool abort) {
    if (!body_stream_) return;
    if (abort) return close();
    pump();
  }

  // Writes what the stream has ready, one chunk per batch. A healthy
  // client's socket takes a batch at once: it is written right here
  // (non-blocking), which saves a completion handler and the write timer
  // per subscriber and event. What the socket does not take is written
  // asynchronously, within read_timeout (a client that stops reading is
  // dropped).
  void pump() {
    while (!writing_ && body_stream_) {
      if (stream_ending_) return finish_stream();
      chunks_.clear();
      switch (body_stream_->pull(chunks_)) {
        case ResponseStream::Pull::Abort: return close();
        case ResponseStream::Pull::End: stream_ending_ = true; break;
        case ResponseStream::Pull::Idle:
        case ResponseStream::Pull::More: break;
      }
      std::size_t bytes = 0;
      chunk_buffers_.clear();
      if (chunked_) chunk_buffers_.emplace_back();  // the chunk size line, below
      for (const auto& c : chunks_)
        if (c && !c->empty()) {
          chunk_buffers_.emplace_back(c->data(), c->size());
          bytes += c->size();
        }
      if (!bytes) {
        if (stream_ending_) continue;  // finish
        return;                        // Idle: woken when there is more
      }
      if (chunked_) {
        char hex[24];
        auto r = std::to_chars(hex, hex + sizeof hex, bytes, 16);
        chunk_size_.assign(hex, r.ptr).append("\r\n");
        chunk_buffers_.front() = asio::buffer(chunk_size_);
        chunk_buffers_.emplace_back(asio::buffer("\r\n", 2));
      }
      beast::error_code ec;
      std::size_t total = asio::buffer_size(chunk_buffers_);
      std::size_t written = stream_.socket().write_some(chunk_buffers_, ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return fail(ec);
      if (!ec && written == total) continue;
      // The rest when the client takes it.
      consume(chunk_buffers_, ec ? 0 : written);
      writing_ = true;
      stream_.expires_after(options().read_timeout);
      asio::async_write(stream_, chunk_buffers_,
                        beast::bind_front_handler(&Session::on_stream_write, shared_from_this()));
      return;
    }
  }

  // Drops the first `n` bytes of `buffers`.
  static void consume(std::vector<asio::const_buffer>& buffers, std::size_t n) {
    std::size_t whole = 0;
    while (whole < buffers.size() && n >= buffers[whole].size()) n -= buffers[whole++].size();
    buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(whole));
    if (!buffers.empty()) buffers.front() += n;
  }

  void on_stream_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (stream_ending_) timer_.cancel();
    chunks_.clear();
    if (ec) return fail(ec);
    stream_.expires_never();
    pump();
  }

  // Draining: the stream ends after the write in flight (the header, a
  // chunk), which is given a second; then the last chunk.
  void end_stream() {
    stream_ending_ = true;
    if (!writing_) return pump();
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->close();  // the client does not take it: just close
    });
  }

  // The last chunk, then close.
  void finish_stream() {
    if (body_stream_) {
      body_stream_->close();
      body_stream_.reset();
    }
    if (!chunked_) return close();
    writing_ = true;
    stream_.expires_after(std::chrono::seconds(1));
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  // Every error of the session arrives here: a refusal the client should
  // read, or a closed connection.
  void fail(beast::error_code ec) {
    if (streaming_) {  // the header is out: nothing more to say to the client
      if (ec != beast::error::timeout && ec != asio::error::operation_aborted && ec != asio::error::eof &&
          ec != asio::error::connection_reset && ec != asio::error::broken_pipe)
        log::debug("http", "event stream connection error: " + ec.message());
      return close();
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::error::broken_pipe || ec == asio::error::eof)
      return close();
    keep_alive_ = false;
    if (ec == http::error::body_limit) {
      shared_->refused(413);
      return send(json_error(413, "request body larger than " + std::to_string(options().body_limit) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      if (request_line_too_long()) {
        shared_->refused(414);
        return send(json_error(414, "request target longer than " + std::to_string(options().max_target) + " bytes"));
      }
      shared_->refused(431);
      return send(json_error(431, "request headers too large"));
    }
    if (ec.category() == beast::error_code(http::error::end_of_stream).category()) {
      shared_->refused(400);
      return send(json_error(400, "malformed HTTP request: " + ec.message()));
    }
    log::debug("http", "connection error: " + ec.message());
    close();
  }

  void release_body() {
    if (reserved_) shared_->body_bytes -= reserved_;
    reserved_ = 0;
  }

  void close() {
    if (body_stream_) {
      body_stream_->close();
      body_stream_.reset();
    }
    beast::error_code ec;
    timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::shared_ptr<Shared> shared_;
  std::optional<http::request_parser<http::empty_body>> header_;
  std::optional<http::request_parser<http::string_body>> body_;
  HttpRequest request_;
  http::response<http::span_body<const char>> response_;
  std::shared_ptr<const std::string> body_text_;
  ViewBodyPtr view_;
  std::shared_ptr<const GzipFrame> gzip_frame_;
  std::vector<asio::const_buffer> body_buffers_;  // what body_text_ or held_texts_ hold
  std::vector<std::shared_ptr<const std::string>> held_texts_;  // view_'s parts' texts
  std::optional<ViewBodyReader> reader_;  // a plain view_ with GzipOnly parts
  std::optional<http::response<http::empty_body>> parts_header_;
  std::optional<http::response_serializer<http::empty_body>> parts_serializer_;
  std::size_t reserved_ = 0;  // bytes of the body budget held by this request
  bool keep_alive_ = true;
  bool busy_ = false;  // between a request's arrival and its answer's write
  unsigned version_ = 11;

  // A streamed answer (from its header on, until the connection closes).
  bool streaming_ = false;
  std::shared_ptr<ResponseStream> body_stream_;  // null once closed
  std::optional<http::response<http::empty_body>> stream_header_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  ResponseStream::Chunks chunks_;  // being written
  std::vector<asio::const_buffer> chunk_buffers_;
  std::string chunk_size_;  // "<hex>\r\n" of the chunk being written
  std::array<char, 512> discard_{};
  bool chunked_ = true;
  bool writing_ = false;  // the header, a chunk or the last chunk
  bool stream_ending_ = false;  // write the last chunk, then close
};

// Over the connection limit: one fixed 503, then close.
void turn_away(tcp::socket socket) {
  static const std::string response = [] {
    std::string body = R"({"detail":"too many connections; try again in a moment"})";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Retry-After: 1\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  asio::async_write(*s, asio::buffer(response), [s](beast::error_code, std::size_t) {
    beast::error_code ec;
    s->shutdown(tcp::socket::shutdown_both, ec);
    s->close(ec);
  });
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& ioc, HttpServerOptions o, HttpHandler h)
      : ioc(ioc), acceptor(asio::make_strand(ioc)), retry(acceptor.get_executor()),
        shared(std::make_shared<Shared>(std::move(o), std::move(h))) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [self = shared_from_this()](beast::error_code ec,
                                                                              tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (ec) return self->accept_failed(ec);
      self->backoff = std::chrono::milliseconds(0);
      if (self->shared->live.load() >= self->shared->max_connections) {
        ++self->shared->refused_connections;
        log::warn("http", "connection limit of " + std::to_string(self->shared->max_connections) +
                              " reached; new connections are answered 503 and closed");
        turn_away(std::move(socket));
        return self->accept();
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto session = std::make_shared<Session>(std::move(socket), self->shared);
      {
        std::lock_guard lock(self->shared->mutex);
        std::erase_if(self->shared->sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
        self->shared->sessions.push_back(session);
      }
      session->run();
      self->accept();
    });
  }

  // No file descriptor, no memory...: wait before the next accept instead of
  // spinning (10 ms, doubling to 1 s).
  void accept_failed(beast::error_code ec) {
    ++shared->accept_failures;
    backoff = std::min(std::chrono::milliseconds(1000), std::max(std::chrono::milliseconds(10), backoff * 2));
    log::warn("http", "accept failed: " + ec.message() + "; pausing new connections briefly");
    retry.expires_after(backoff);
    retry.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && self->acceptor.is_open()) self->accept();
    });
  }

  asio::io_context& ioc;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::chrono::milliseconds backoff{0};
  std::uint16_t bound_port = 0;
  std::shared_ptr<Shared> shared;
};

HttpServer::HttpServer(asio::io_context& ioc, HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->shared->options.host, ec);
  if (ec) throw std::system_error(ec, "invalid HOST '" + impl_->shared->options.host + "'");
  impl_->shared->max_connections = impl_->shared->options.max_connections;
  if (!impl_->shared->max_connections) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    impl_->shared->max_connections = default_max_connections(limit.rlim_cur);
  }
  tcp::endpoint endpoint(address, impl_->shared->options.port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::system_error(ec, "cannot listen on " + impl_->shared->options.host + ":" + std::to_string(impl_->shared->options.port));
  impl_->bound_port = a.local_endpoint().port();
  impl_->accept();
}

void HttpServer::stop() {
  if (!impl_) return;
  asio::dispatch(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->retry.cancel();
  });
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

std::size_t HttpServer::open_connections() const { return impl_->shared->count(); }

std::size_t HttpServer::max_connections() const { return impl_->shared->max_connections; }

HttpServer::Counters HttpServer::counters() const {
  const auto& s = *impl_->shared;
  return {s.refused_connections.load(), s.accept_failures.load(), s.bodies_refused.load(), s.handler_timeouts.load()};
}

void HttpServer::drain(std::chrono::milliseconds deadline, std::function<void(std::size_t)> done) {
  struct Drainer : std::enable_shared_from_this<Drainer> {
    std::shared_ptr<Impl> impl;
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point until;
    std::function<void(std::size_t)> done;
    Drainer(std::shared_ptr<Impl> i, std::chrono::steady_clock::time_point u, std::function<void(std::size_t)> d)
        : impl(std::move(i)), timer(impl->ioc), until(u), done(std::move(d)) {}
    void step() {
      std::size_t left = impl->shared->count();
      if (left == 0 || std::chrono::steady_clock::now() >= until) return done(left);
      timer.expires_after(std::chrono::milliseconds(20));
      timer.async_wait([self = shared_from_this()](beast::error_code) { self->step(); });
    }
  };
  auto impl = impl_;
  // Posted first: it is work for the io_context, which could otherwise run
  // out of work (and return from run()) once the connections closed below
  // are gone, before `done` is called.
  auto drainer = std::make_shared<Drainer>(impl, std::chrono::steady_clock::now() + deadline, std::move(done));
  asio::post(impl->ioc, [drainer] { drainer->step(); });
  impl->shared->draining = true;
  stop();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(impl->shared->mutex);
    for (auto& w : impl->shared->sessions)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close_if_idle();
}

}  // namespace qc
