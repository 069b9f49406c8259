#include "market/polygon/rest_client.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>

#include "log/redact.h"
#include "market/polygon/endpoint.h"

namespace qc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct RestClient::Impl {
  asio::ssl::context ssl{asio::ssl::context::tls_client};
  std::mutex mutex;
  std::condition_variable cv;
  bool stopped = false;
  std::set<asio::io_context*> active;  // requests in flight, stopped by stop()
  std::mt19937_64 rng{std::random_device{}()};
  Impl() {
    ssl.set_default_verify_paths();
    ssl.set_verify_mode(asio::ssl::verify_peer);
  }
};

RestClient::RestClient(std::string base_url, std::string api_key, RetryPolicy policy)
    : base_url_(std::move(base_url)), api_key_(std::move(api_key)), policy_(policy),
      impl_(std::make_unique<Impl>()) {}

RestClient::~RestClient() = default;

void RestClient::stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stopped = true;
  for (auto* ioc : impl_->active) ioc->stop();
  impl_->cv.notify_all();
}

namespace {

struct Exchange {
  http::request<http::empty_body> request;
  http::response<http::string_body> response;
  std::string retry_after;
};

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, Exchange& x, std::chrono::seconds timeout) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await http::async_write(stream, x.request, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  x.response = parser.release();
  x.retry_after = std::string(x.response[http::field::retry_after]);
}

}  // namespace

RestResult RestClient::get_once(const std::string& url) {
  RestResult result;
  auto ep = parse_endpoint(url);
  if (!ep) {
    result.error = "invalid URL " + redact_secret(url, api_key_);
    return result;
  }
  Exchange x;
  x.request = {http::verb::get, ep->target, 11};
  const bool default_port = (ep->tls && ep->port == "443") || (!ep->tls && ep->port == "80");
  x.request.set(http::field::host, default_port ? ep->host : ep->host + ":" + ep->port);
  x.request.set(http::field::user_agent, "quantcrunch/0.1");
  x.request.set(http::field::accept, "application/json");
  x.request.set(http::field::authorization, "Bearer " + api_key_);
  x.request.keep_alive(false);

  asio::io_context ioc;
  std::string error;
  bool finished = false;
  auto timeout = policy_.timeout;
  auto run = [&]() -> asio::awaitable<void> {
    try {
      tcp::resolver resolver(ioc);
      auto endpoints = co_await resolver.async_resolve(ep->host, ep->port, asio::use_awaitable);
      if (ep->tls) {
        beast::ssl_stream<beast::tcp_stream> stream(ioc, impl_->ssl);
        if (!SSL_set_tlsext_host_name(stream.native_handle(), ep->host.c_str()))
          throw std::runtime_error("cannot set TLS SNI host name");
        stream.set_verify_callback(asio::ssl::host_name_verification(ep->host));
        beast::get_lowest_layer(stream).expires_after(timeout);
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
        beast::get_lowest_layer(stream).expires_after(timeout);
        co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        co_await exchange(stream, x, timeout);
        beast::error_code ignored;
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
      } else {
        beast::tcp_stream stream(ioc);
        stream.expires_after(timeout);
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await exchange(stream, x, timeout);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
    } catch (const boost::system::system_error& e) {
      error = e.code().message();  // what() would carry Boost's source location
    } catch (const std::exception& e) {
      error = e.what();
    }
    finished = true;
  };
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) {
      result.error = ep->origin() + ": stopped";
      return result;
    }
    impl_->active.insert(&ioc);
  }
  asio::co_spawn(ioc, run(), asio::detached);
  ioc.run();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->active.erase(&ioc);
  }
  // Stopped mid-request: the coroutine is destroyed with `ioc`, its socket closed.
  if (!finished) error = "stopped";
  if (!error.empty()) {
    result.error = ep->origin() + ": " + redact_secret(error, api_key_);
    return result;
  }
  result.status = static_cast<int>(x.response.result_int());
  result.body = std::move(x.response.body());
  if (!result.ok()) {
    // Polygon error bodies: {"status","request_id","error"|"message"}.
    std::string snippet = result.body.substr(0, 300);
    result.error = "HTTP " + std::to_string(result.status) + ": " + redact_secret(snippet, api_key_);
  }
  if (!x.retry_after.empty()) result.error += " (Retry-After: " + x.retry_after + ")";
  return result;
}

RestResult RestClient::get(const std::string& path_or_url) {
  RestResult r;
  std::string url;
  if (path_or_url.find("://") == std::string::npos) {
    url = join_url(base_url_, path_or_url);
  } else {
    // An absolute URL (a next_url) carries the key only to the configured origin.
    auto ep = parse_endpoint(path_or_url);
    auto base = parse_endpoint(base_url_);
    if (!ep) {
      r.error =
          "invalid URL " + redact_secret(redact_uri(path_or_url), api_key_) + "; not followed";
      r.refused = true;
      return r;
    }
    if (!base || !same_origin(*ep, *base)) {
      r.error = redact_secret("link to " + ep->origin() +
                                  " not followed: it is not the configured provider origin " +
                                  (base ? base->origin() : redact_uri(base_url_)) +
                                  "; nothing, and no API key, was sent there",
                              api_key_);
      r.refused = true;
      return r;
    }
    url = path_or_url;
  }
  auto delay = policy_.first_delay;
  for (int attempt = 1;; ++attempt) {
    r = get_once(url);
    r.attempts = attempt;
    bool retryable = r.status == 0 || r.status == 429 || r.status >= 500;
    bool will_retry = !r.ok() && retryable && attempt < policy_.max_attempts;
    if (!r.ok() && on_failure) on_failure(r.status, will_retry);
    if (r.ok() || !will_retry) return r;
    // Capped exponential backoff with jitter; Retry-After (seconds) wins when longer.
    auto wait = delay;
    if (auto pos = r.error.find("Retry-After: "); pos != std::string::npos) {
      int seconds = 0;
      const char* p = r.error.data() + pos + 13;
      std::from_chars(p, r.error.data() + r.error.size(), seconds);
      if (seconds > 0) wait = std::max(wait, std::chrono::milliseconds(std::min(seconds, 60) * 1000));
    }
    std::unique_lock lock(impl_->mutex);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    auto jittered = std::chrono::milliseconds(
        static_cast<long long>(static_cast<double>(wait.count()) * jitter(impl_->rng)));
    if (impl_->cv.wait_for(lock, jittered, [&] { return impl_->stopped; })) return r;
    delay = std::min(policy_.max_delay, delay * 2);
  }
}

}  // namespace qc
