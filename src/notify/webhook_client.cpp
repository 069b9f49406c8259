#include "notify/webhook_client.h"

#include "net/host_lookup.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

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
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <variant>

namespace qc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBodySnippet = 4096;

// What went wrong, and where.
struct Failure {
  std::string reason;
  std::string detail;
};

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

// A status text or body snippet on one printable line.
std::string one_line(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (text.size() > max) out += "...";
  return out;
}

// Retry-After in delta-seconds (an HTTP date is not honoured).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  long long seconds = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec != std::errc() || end == v.data() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(std::min<long long>(seconds, 24 * 3600));
}

}  // namespace

struct WebhookClient::Impl {
  asio::ssl::context ssl{asio::ssl::context::tls_client};
  std::mutex mutex;
  std::condition_variable aborted_cv;
  bool aborted = false;
  asio::io_context* active = nullptr;  // the POST in flight
  std::shared_ptr<HostLookup> lookup;      // the name lookup waited for

  Impl() {
    ssl.set_default_verify_paths();
    ssl.set_verify_mode(asio::ssl::verify_peer);
    ssl.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                    asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  }

  // The endpoints of host:port, or a Failure.
  std::variant<std::vector<tcp::endpoint>, Failure> resolve(const WebhookEndpoint& e, Clock::time_point deadline,
                                                           std::chrono::milliseconds timeout) {
    std::uint16_t port = static_cast<std::uint16_t>(std::stoi(e.port));
    auto l = HostLookup::start(e.host, port);
    {
      std::lock_guard lock(mutex);
      if (aborted) return Failure{"stopped", "stopped"};
      lookup = l;  // abort() abandons it
    }
    auto waited = l->wait_until(deadline);
    {
      std::lock_guard lock(mutex);
      lookup.reset();
    }
    if (waited == HostLookup::Wait::Abandoned) return Failure{"stopped", "stopped"};
    if (waited == HostLookup::Wait::TimedOut)
      return Failure{"timeout", "no answer within " + seconds_text(timeout) + " (resolving the host name)"};
    if (!l->error().empty()) return Failure{"dns", l->error()};
    return l->endpoints();
  }
};

WebhookClient::WebhookClient(std::chrono::milliseconds timeout)
    : timeout_(timeout), impl_(std::make_unique<Impl>()) {}

WebhookClient::~WebhookClient() = default;

void WebhookClient::abort() {
  std::lock_guard lock(impl_->mutex);
  impl_->aborted = true;
  if (impl_->active) impl_->active->stop();
  if (auto l = impl_->lookup) l->abandon();
}

WebhookResponse WebhookClient::post(const WebhookEndpoint& e, const HttpHeaders& headers,
                                    const std::string& body) {
  WebhookResponse result;
  const auto deadline = Clock::now() + timeout_;
  auto fail = [&](Failure f) {
    result.status = 0;
    result.reason = std::move(f.reason);
    result.detail = std::move(f.detail);
    return result;
  };
  auto resolved = impl_->resolve(e, deadline, timeout_);
  if (auto* f = std::get_if<Failure>(&resolved)) return fail(std::move(*f));
  auto endpoints = std::move(std::get<std::vector<tcp::endpoint>>(resolved));

  http::request<http::string_body> request{http::verb::post, e.target, 11};
  request.set(http::field::host, e.host_header);
  request.set(http::field::user_agent, "quantcrunch/0.1 (webhooks)");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.keep_alive(false);
  request.prepare_payload();

  // Destroyed explicitly below, while everything its pending coroutines
  // refer to is still alive (an aborted POST leaves them suspended).
  std::optional<asio::io_context> ioc_storage(std::in_place);
  asio::io_context& ioc = *ioc_storage;
  const char* phase = "connecting";
  std::optional<Failure> failure;
  bool finished = false;
  std::string body_snippet;
  std::string status_text;

  auto exchange = [&](auto& stream) -> asio::awaitable<void> {
    phase = "sending the request";
    co_await http::async_write(stream, request, asio::use_awaitable);
    phase = "waiting for the answer";
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);  // read below, at most kBodySnippet
    co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
    const auto& response = parser.get();
    result.status = static_cast<int>(response.result_int());
    status_text = std::string(response.reason());
    if (auto it = response.find(http::field::retry_after); it != response.end())
      result.retry_after = parse_retry_after(it->value());
    if (result.delivered()) co_return;
    // The start of the body, for the log line; a failure here changes nothing.
    try {
      while (!parser.is_done() && parser.get().body().size() < kBodySnippet)
        co_await http::async_read_some(stream, buffer, parser, asio::use_awaitable);
    } catch (const boost::system::system_error&) {
    }
    body_snippet = parser.get().body().substr(0, kBodySnippet);
  };

  auto run = [&]() -> asio::awaitable<void> {
    try {
      if (e.tls) {
        beast::ssl_stream<beast::tcp_stream> stream(ioc, impl_->ssl);
        boost::system::error_code ip_ec;
        asio::ip::make_address(e.host, ip_ec);
        // SNI for names only (RFC 6066: not for IP addresses).
        if (ip_ec && !SSL_set_tlsext_host_name(stream.native_handle(), e.host.c_str()))
          throw std::runtime_error("cannot set the TLS SNI host name");
        stream.set_verify_callback(asio::ssl::host_name_verification(e.host));
        beast::get_lowest_layer(stream).expires_at(deadline);
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
        phase = "TLS handshake";
        try {
          co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        } catch (const boost::system::system_error& ex) {
          if (ex.code() == beast::error::timeout) throw;
          long verify = SSL_get_verify_result(stream.native_handle());
          std::string why = ex.code().message();
          if (verify != X509_V_OK) why += ": " + std::string(X509_verify_cert_error_string(verify));
          failure = Failure{"tls", "TLS handshake failed: " + why};
          finished = true;
          co_return;
        }
        co_await exchange(stream);
        beast::error_code ignored;
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
      } else {
        beast::tcp_stream stream(ioc);
        stream.expires_at(deadline);
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await exchange(stream);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
    } catch (const boost::system::system_error& ex) {
      if (ex.code() == beast::error::timeout)
        failure = Failure{"timeout", "no answer within " + seconds_text(timeout_) + " (" + phase + ")"};
      else
        failure = Failure{std::string_view(phase) == "connecting" ? "connect" : "network",
                          ex.code().message() + " (" + phase + ")"};
    } catch (const std::exception& ex) {
      failure = Failure{"network", ex.what()};
    }
    finished = true;
  };

  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->aborted) return fail({"stopped", "stopped"});
    impl_->active = &ioc;
  }
  asio::co_spawn(ioc, run(), asio::detached);
  ioc.run();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->active = nullptr;
  }
  // Stopped mid-request: the coroutine is destroyed with `ioc`, its socket closed.
  ioc_storage.reset();
  if (!finished) return fail({"stopped", "stopped"});
  if (failure) return fail(std::move(*failure));
  if (!result.delivered()) {
    result.reason = "http_" + std::to_string(result.status);
    result.detail = "HTTP " + std::to_string(result.status);
    if (!status_text.empty()) result.detail += " " + one_line(status_text, 80);
    if (result.status >= 300 && result.status < 400) result.detail += " (redirects are not followed)";
    result.body = one_line(body_snippet, 200);
  }
  return result;
}

}  // namespace qc
