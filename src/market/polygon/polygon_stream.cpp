#include "market/polygon/polygon_stream.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <future>
#include <random>
#include <utility>

#include <simdjson.h>

#include "log/log.h"
#include "log/redact.h"
#include "market/polygon/endpoint.h"
#include "market/polygon/rest_client.h"

namespace qc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using namespace std::chrono_literals;

namespace {
enum class StatusAction { None, Authenticated, Fatal, Reconnect };
}

struct PolygonStream::Impl : std::enable_shared_from_this<PolygonStream::Impl> {
  StreamOptions o;
  StreamCallbacks cb;
  Endpoint endpoint;
  asio::io_context ioc;
  asio::ssl::context ssl{asio::ssl::context::tls_client};
  asio::steady_timer backoff_timer{ioc};
  asio::steady_timer watchdog_timer{ioc};
  std::promise<void> finished;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::function<void()> close_current;  // io thread only
  std::chrono::steady_clock::time_point last_frame_at = std::chrono::steady_clock::now();
  bool evicted = false;
  std::string forced;  // why reconnect() closed the connection (io thread only)
  std::string fatal;
  std::mt19937_64 rng{std::random_device{}()};

  mutable std::mutex mutex;
  std::string state = "idle";
  std::string last_error;
  std::uint64_t connects = 0, reconnects = 0, frames = 0;
  std::int64_t last_frame_unix = 0;

  void set_state(std::string s) {
    std::lock_guard lock(mutex);
    state = std::move(s);
  }

  StatusAction handle_statuses(const std::string& frame) {
    simdjson::dom::parser parser;
    simdjson::dom::array events;
    if (parser.parse(frame).get_array().get(events)) return StatusAction::None;
    StatusAction action = StatusAction::None;
    for (auto e : events) {
      std::string_view ev, status, message;
      if (e["ev"].get_string().get(ev) || ev != "status") continue;
      if (e["status"].get_string().get(status)) continue;
      if (e["message"].get_string().get(message)) message = "";
      std::string msg = redact_secret(std::string(message), o.api_key);
      if (status == "connected" || status == "success") {
        log::debug("polygon", "status " + std::string(status) + ": " + msg);
      } else if (status == "auth_success") {
        action = StatusAction::Authenticated;
      } else if (status == "auth_failed") {
        fatal = msg.empty() ? "auth_failed" : msg;
        return StatusAction::Fatal;
      } else if (status == "max_connections") {
        evicted = true;
        log::error("polygon",
                   "max_connections: another websocket connection with this API key took our "
                   "place (" + msg + "). Run exactly one QuantCrunch server per Polygon key.");
        action = StatusAction::Reconnect;
      } else if (status == "auth_timeout" || status == "force_disconnect" ||
                 status == "slow_consumer") {
        log::warn("polygon", "status " + std::string(status) + ": " + msg);
        action = StatusAction::Reconnect;
      } else {
        log::warn("polygon", "status " + std::string(status) + ": " + msg);
      }
    }
    return action;
  }

  template <class Ws>
  asio::awaitable<void> talk(Ws& ws, bool& authenticated) {
    ws.set_option(websocket::stream_base::timeout{30s, o.idle_timeout, true});
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "quantcrunch/0.1");
    }));
    ws.read_message_max(16 << 20);
    // Named locals only in co_await arguments: GCC 12 mis-destroys some
    // temporaries in coroutine frames (seen as a double free here).
    const bool default_port =
        (endpoint.tls && endpoint.port == "443") || (!endpoint.tls && endpoint.port == "80");
    std::string host = endpoint.host;
    if (!default_port) host += ":" + endpoint.port;
    const std::string target = endpoint.target;
    co_await ws.async_handshake(host, target, use_awaitable);
    set_state("authenticating");
    // Auth goes out at once: the first status frame is not waited for.
    std::string auth = R"({"action":"auth","params":)";
    append_json_string(auth, o.api_key);
    auth += '}';
    ws.text(true);
    co_await ws.async_write(asio::buffer(auth), use_awaitable);
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      co_await ws.async_read(buffer, use_awaitable);
      std::string frame = beast::buffers_to_string(buffer.data());
      last_frame_at = std::chrono::steady_clock::now();
      {
        std::lock_guard lock(mutex);
        ++frames;
        last_frame_unix = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      }
      if (frame.find("\"status\"") != std::string::npos) {
        switch (handle_statuses(frame)) {
          case StatusAction::Fatal: co_return;
          case StatusAction::Reconnect: throw std::runtime_error("disconnected by the provider");
          case StatusAction::Authenticated: {
            authenticated = true;
            if (cb.on_authenticated) cb.on_authenticated();
            std::string topics;
            for (const auto& s : o.symbols) topics += (topics.empty() ? "AM." : ",AM.") + s;
            std::string sub = R"({"action":"subscribe","params":)";
            append_json_string(sub, topics);
            sub += '}';
            co_await ws.async_write(asio::buffer(sub), use_awaitable);
            set_state("live");
            log::info("polygon", "authenticated; subscribed to " + std::to_string(o.symbols.size()) +
                                     " symbols (AM)");
            continue;
          }
          case StatusAction::None: break;
        }
      }
      if (authenticated && cb.on_frame) cb.on_frame(std::move(frame));
    }
  }

  asio::awaitable<void> session(bool& authenticated) {
    tcp::resolver resolver(ioc);
    auto results = co_await resolver.async_resolve(endpoint.host, endpoint.port, use_awaitable);
    struct Reset {
      std::function<void()>& f;
      ~Reset() { f = nullptr; }
    } reset{close_current};
    if (endpoint.tls) {
      websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ssl);
      close_current = [&ws] { beast::get_lowest_layer(ws).close(); };
      beast::get_lowest_layer(ws).expires_after(30s);
      co_await beast::get_lowest_layer(ws).async_connect(results, use_awaitable);
      if (!SSL_set_tlsext_host_name(ws.next_layer().native_handle(), endpoint.host.c_str()))
        throw std::runtime_error("cannot set TLS SNI host name");
      ws.next_layer().set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
      co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, use_awaitable);
      beast::get_lowest_layer(ws).expires_never();
      close_current = [&ws] { beast::get_lowest_layer(ws).close(); };
      co_await talk(ws, authenticated);
    } else {
      websocket::stream<beast::tcp_stream> ws(ioc);
      close_current = [&ws] { beast::get_lowest_layer(ws).close(); };
      beast::get_lowest_layer(ws).expires_after(30s);
      co_await beast::get_lowest_layer(ws).async_connect(results, use_awaitable);
      beast::get_lowest_layer(ws).expires_never();
      close_current = [&ws] { beast::get_lowest_layer(ws).close(); };
      co_await talk(ws, authenticated);
    }
  }

  asio::awaitable<void> run_loop() {
    auto backoff = o.first_backoff;
    bool first = true;
    while (!stopping) {
      set_state("connecting");
      {
        std::lock_guard lock(mutex);
        ++connects;
        if (!first) ++reconnects;
      }
      first = false;
      bool authenticated = false;
      std::string error;
      try {
        co_await session(authenticated);
        if (fatal.empty()) error = "connection closed";
      } catch (const boost::system::system_error& e) {
        error = redact_secret(e.code().message(), o.api_key);
      } catch (const std::exception& e) {
        error = redact_secret(e.what(), o.api_key);
      }
      if (stopping) co_return;
      if (!fatal.empty()) {
        set_state("failed");
        {
          std::lock_guard lock(mutex);
          last_error = "auth_failed: " + fatal;
        }
        log::error("polygon", "the provider rejected the API key (auth_failed: " + fatal +
                                  "). Check POLYGON_API_KEY and that the plan includes websocket "
                                  "access. Not reconnecting.");
        if (cb.on_fatal) cb.on_fatal(fatal);
        co_return;
      }
      if (!forced.empty()) error = std::exchange(forced, {});
      if (authenticated) backoff = o.first_backoff;
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      auto wait = std::chrono::milliseconds(
          static_cast<long long>(static_cast<double>(backoff.count()) * jitter(rng)));
      if (evicted) {
        // Another process holds the key's one connection: back off long enough
        // not to evict it in turn (capped by the configured maximum).
        wait = std::max<std::chrono::milliseconds>(wait, std::min<std::chrono::milliseconds>(30s, o.max_backoff));
        evicted = false;
      }
      {
        std::lock_guard lock(mutex);
        last_error = error;
        state = "waiting";
      }
      log::warn("polygon", "websocket " + endpoint.origin() + ": " + error + "; reconnecting in " +
                               std::to_string(wait.count()) + " ms");
      backoff_timer.expires_after(wait);
      boost::system::error_code ec;
      co_await backoff_timer.async_wait(asio::redirect_error(use_awaitable, ec));
      backoff = std::min(o.max_backoff, backoff * 2);
    }
  }

  asio::awaitable<void> watchdog() {
    auto& timer = watchdog_timer;
    while (!stopping) {
      timer.expires_after(1s);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      bool live;
      {
        std::lock_guard lock(mutex);
        live = state == "live";
      }
      auto silent = std::chrono::steady_clock::now() - last_frame_at;
      if (live && close_current && silent > o.stale_after && (!o.market_active || o.market_active())) {
        log::warn("polygon", "no frame for " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silent).count()) +
                                 " s during market hours; replacing the connection");
        last_frame_at = std::chrono::steady_clock::now();
        close_current();
      }
    }
  }
};

PolygonStream::PolygonStream(StreamOptions options, StreamCallbacks callbacks)
    : impl_(std::make_shared<Impl>()) {
  impl_->o = std::move(options);
  impl_->cb = std::move(callbacks);
  auto ep = parse_endpoint(impl_->o.url);
  if (!ep || (ep->target.empty()))
    throw std::invalid_argument("POLYGON_WS_URL must be a ws:// or wss:// URL, got '" +
                                impl_->o.url + "'");
  impl_->endpoint = *ep;
  impl_->ssl.set_default_verify_paths();
  impl_->ssl.set_verify_mode(asio::ssl::verify_peer);
}

PolygonStream::~PolygonStream() { stop(); }

void PolygonStream::start() {
  auto impl = impl_;
  asio::co_spawn(impl->ioc, impl->run_loop(), asio::detached);
  asio::co_spawn(impl->ioc, impl->watchdog(), asio::detached);
  impl->thread = std::thread([impl] {
    impl->ioc.run();
    impl->finished.set_value();
  });
}

void PolygonStream::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  // Let every coroutine see `stopping` and end by itself, so the socket is
  // closed and no frame outlives the objects it uses; force it after 3 s.
  asio::post(impl_->ioc, [impl = impl_] {
    if (impl->close_current) impl->close_current();
    impl->backoff_timer.cancel();
    impl->watchdog_timer.cancel();
  });
  if (impl_->thread.joinable()) {
    if (impl_->finished.get_future().wait_for(3s) != std::future_status::ready) impl_->ioc.stop();
    impl_->thread.join();
  }
  impl_->set_state("stopped");
}

void PolygonStream::reconnect(std::string reason) {
  asio::post(impl_->ioc, [impl = impl_, reason = std::move(reason)]() mutable {
    if (impl->stopping || !impl->close_current) return;
    impl->forced = std::move(reason);
    impl->close_current();
  });
}

std::uint64_t PolygonStream::reconnects() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->reconnects;
}

std::string PolygonStream::state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->state;
}

void PolygonStream::write_status(JsonWriter& w) const {
  std::lock_guard lock(impl_->mutex);
  w.key("websocket").begin_object()
      .key("url").value(impl_->endpoint.origin() + impl_->endpoint.target)
      .key("state").value(impl_->state)
      .key("connects").value(static_cast<std::int64_t>(impl_->connects))
      .key("reconnects").value(static_cast<std::int64_t>(impl_->reconnects))
      .key("frames").value(static_cast<std::int64_t>(impl_->frames))
      .key("last_frame").value(impl_->last_frame_unix);
  if (!impl_->last_error.empty()) w.key("last_error").value(impl_->last_error);
  w.end_object();
}

}  // namespace qc
