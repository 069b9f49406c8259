// Redis connection: hiredis for the protocol, Boost.Asio (+ OpenSSL) for the
// bytes. See redis_connection.h for the bounds every call keeps.
//
// Failure reasons are phrased for the one warning of an outage and for
// /readyz: they name what failed and why, never the host (the warning adds
// it) nor the password.
#include "cache/redis/redis_connection.h"

#include "net/host_lookup.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <mutex>
#include <optional>

namespace qc {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

bool closed_by_peer(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

// An Asio or OpenSSL error in words: OpenSSL's reason string ("wrong version
// number", "certificate verify failed") rather than Asio's
// "... (SSL routines)" form.
std::string describe(const error_code& ec) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
    return "the server closed the connection";
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
      return reason;
  }
  return ec.message();
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// The name is looked up on a thread of its own (net/host_lookup.h) that the
// caller stops waiting for at the deadline.
std::vector<tcp::endpoint> resolve(const std::string& host, std::uint16_t port,
                                   Clock::time_point deadline, std::chrono::milliseconds limit) {
  auto lookup = HostLookup::start(host, port);
  if (lookup->wait_until(deadline) != HostLookup::Wait::Done)
    throw RedisFailure("timed out after " + ms(limit) + " resolving the host name");
  if (!lookup->error().empty()) throw RedisFailure(lookup->error());
  return lookup->endpoints();
}

struct FreeCommand {
  void operator()(char* command) const { redisFreeCommand(command); }
};
struct FreeReader {
  void operator()(redisReader* reader) const { redisReaderFree(reader); }
};

// What one asynchronous operation came back with.
struct Outcome {
  bool done = false;
  error_code ec;
  std::size_t bytes = 0;
};

}  // namespace

class RedisTlsContext {
 public:
  explicit RedisTlsContext(const RedisEndpoint& ep)
      : context(asio::ssl::context::tls_client), verify(ep.tls_verify) {
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    if (!verify) {
      context.set_verify_mode(asio::ssl::verify_none);
      return;
    }
    context.set_verify_mode(asio::ssl::verify_peer);
    error_code ec;
    if (!ep.tls_ca_file.empty()) {
      // Those CAs only (as curl --cacert): a private CA is trusted alone.
      context.load_verify_file(ep.tls_ca_file, ec);
      if (ec)
        throw RedisUrlError("Redis TLS CA file '" + ep.tls_ca_file +
                            "' (QC_REDIS_TLS_CA_FILE or ssl_ca_certs) cannot be loaded: " +
                            describe(ec) + " (it must hold PEM certificates)");
    } else {
      context.set_default_verify_paths(ec);
      if (ec) throw RedisUrlError("cannot load the system CA store: " + describe(ec));
    }
  }

  asio::ssl::context context;
  const bool verify;
};

std::shared_ptr<RedisTlsContext> make_redis_tls_context(const RedisEndpoint& endpoint) {
  if (!endpoint.tls) return nullptr;
  return std::make_shared<RedisTlsContext>(endpoint);
}

struct RedisConnection::Impl {
  Impl(std::shared_ptr<RedisTlsContext> context, RedisTimeouts t)
      : timeouts(t), tls_context(std::move(context)), reader(redisReaderCreate()) {
    if (!reader) throw RedisFailure("cannot allocate a reply reader");
  }

  // Runs the io_context until `o` is done or the deadline passes; then closes
  // the socket (the operation completes as aborted) and throws.
  void await(Outcome& o, Clock::time_point deadline, const std::string& on_timeout) {
    io.restart();
    while (!o.done && Clock::now() < deadline) {
      if (io.run_one_until(deadline) == 0 && io.stopped()) break;
    }
    if (o.done) return;
    broken = true;
    error_code ignored;
    socket.close(ignored);
    io.restart();
    io.run();  // lets the aborted operation complete: nothing refers to `o` after this
    throw RedisFailure(on_timeout);
  }

  void connect(const std::vector<tcp::endpoint>& endpoints, Clock::time_point deadline) {
    Outcome o;
    asio::async_connect(socket, endpoints, [&o](const error_code& ec, const tcp::endpoint&) {
      o.done = true;
      o.ec = ec;
    });
    await(o, deadline, "timed out after " + ms(timeouts.connect) + " connecting");
    if (o.ec) throw RedisFailure("cannot connect: " + describe(o.ec));
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // Notices a peer that vanished without a word (as hiredis'
    // redisEnableKeepAlive: first probe after 15 s idle).
    socket.set_option(asio::socket_base::keep_alive(true), ignored);
    int idle = 15, interval = 5, count = 3;
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  void handshake(const RedisEndpoint& ep, Clock::time_point deadline) {
    tls.emplace(socket, tls_context->context);
    SSL* ssl = tls->native_handle();
    const bool ip = is_ip_literal(ep.host);
    // SNI carries host names only (RFC 6066: never an IP literal).
    if (!ip && SSL_set_tlsext_host_name(ssl, ep.host.c_str()) != 1)
      throw RedisFailure("cannot set the TLS server name");
    if (tls_context->verify) {
      // OpenSSL checks the name during verification, so a mismatch is a
      // verification error with its own reason ("hostname mismatch", "IP
      // address mismatch").
      if (ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep.host.c_str()) != 1)
          throw RedisFailure(
              "cannot verify a certificate for this IP address (zone ids are not supported)");
      } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, ep.host.c_str()) != 1)
          throw RedisFailure("cannot set the host name to verify");
      }
    }
    Outcome o;
    tls->async_handshake(asio::ssl::stream_base::client, [&o](const error_code& ec) {
      o.done = true;
      o.ec = ec;
    });
    await(o, deadline,
          "TLS handshake timed out after " + ms(timeouts.connect) +
              ": the server sent nothing back (not a TLS server? for a plain Redis port use a "
              "redis:// URL)");
    if (!o.ec) return;
    broken = true;
    const long verified = SSL_get_verify_result(ssl);
    std::string reason;
    if (tls_context->verify && verified != X509_V_OK) {
      reason = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verified);
      if (verified == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
        reason +=
            " (Heroku's Redis certificates are self-signed: add ?ssl_cert_reqs=none to REDIS_URL "
            "or set QC_REDIS_TLS_VERIFY=0 to accept one without verifying it)";
      else if (verified == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
               verified == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               verified == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
        reason += " (its CA is not trusted here: QC_REDIS_TLS_CA_FILE names the CA to trust)";
    } else if (closed_by_peer(o.ec)) {
      reason = "the server closed the connection during the handshake";
    } else {
      reason = describe(o.ec);
      if (o.ec.category() == asio::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(o.ec.value())) == SSL_R_WRONG_VERSION_NUMBER)
        reason += " (not a TLS server: for a plain Redis port use a redis:// URL)";
    }
    throw RedisFailure("TLS handshake failed: " + reason);
  }

  void write(const std::vector<asio::const_buffer>& buffers, Clock::time_point deadline) {
    Outcome o;
    auto done = [&o](const error_code& ec, std::size_t n) {
      o.done = true;
      o.ec = ec;
      o.bytes = n;
    };
    if (tls)
      asio::async_write(*tls, buffers, done);
    else
      asio::async_write(socket, buffers, done);
    await(o, deadline, "timed out after " + ms(timeouts.command) + " sending to Redis");
    if (o.ec) fail_io(o.ec, "cannot send");
  }

  std::size_t read_some(Clock::time_point deadline) {
    Outcome o;
    auto done = [&o](const error_code& ec, std::size_t n) {
      o.done = true;
      o.ec = ec;
      o.bytes = n;
    };
    if (tls)
      tls->async_read_some(asio::buffer(input), done);
    else
      socket.async_read_some(asio::buffer(input), done);
    await(o, deadline, "timed out after " + ms(timeouts.command) + " waiting for Redis to answer");
    if (o.ec) fail_io(o.ec, "cannot read");
    return o.bytes;
  }

  [[noreturn]] void fail_io(const error_code& ec, const char* doing) {
    broken = true;
    // A TLS port drops a client that does not speak TLS without a word.
    if (!tls && !answered && closed_by_peer(ec))
      throw RedisFailure(
          "the server closed the connection before answering (if its port expects TLS, use a "
          "rediss:// URL)");
    throw RedisFailure(closed_by_peer(ec) ? describe(ec)
                                          : std::string(doing) + ": " + describe(ec));
  }

  const RedisTimeouts timeouts;
  asio::io_context io{1};
  tcp::socket socket{io};
  std::shared_ptr<RedisTlsContext> tls_context;        // null: plain TCP
  std::optional<asio::ssl::stream<tcp::socket&>> tls;  // over `socket`
  std::unique_ptr<redisReader, FreeReader> reader;
  std::array<char, 64 * 1024> input{};
  bool broken = false;    // an operation failed or timed out: never used again
  bool answered = false;  // a reply was read on this connection
};

RedisConnection::RedisConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisConnection::~RedisConnection() = default;

std::unique_ptr<RedisConnection> RedisConnection::open(const RedisEndpoint& ep,
                                                       std::shared_ptr<RedisTlsContext> tls,
                                                       RedisTimeouts timeouts) {
  if (ep.tls && !tls) throw RedisFailure("a rediss:// endpoint needs a TLS context");
  auto impl = std::make_unique<Impl>(ep.tls ? std::move(tls) : nullptr, timeouts);
  const auto deadline = Clock::now() + timeouts.connect;
  impl->connect(resolve(ep.host, ep.port, deadline, timeouts.connect), deadline);
  if (ep.tls) impl->handshake(ep, deadline);
  std::unique_ptr<RedisConnection> c(new RedisConnection(std::move(impl)));

  if (!ep.password.empty()) {
    ReplyPtr r = ep.username.empty() ? c->run({"AUTH", ep.password})
                                     : c->run({"AUTH", ep.username, ep.password});
    // Redis < 6 knows AUTH <password> only (redis-py falls back the same way).
    if (is_error(*r) && !ep.username.empty() &&
        text(*r).find("wrong number of arguments") != std::string::npos)
      r = c->run({"AUTH", ep.password});
    if (is_error(*r)) throw RedisFailure("AUTH refused: " + text(*r));
  }
  if (ep.db != 0) {
    const std::string db = std::to_string(ep.db);
    ReplyPtr r = c->run({"SELECT", db});
    if (is_error(*r)) throw RedisFailure("SELECT " + db + " refused: " + text(*r));
  }
  ReplyPtr pong = c->run({"PING"});
  if (is_error(*pong)) throw RedisFailure(text(*pong));
  return c;
}

ReplyPtr RedisConnection::run(const Command& command) {
  return std::move(pipeline({command}).front());
}

std::vector<ReplyPtr> RedisConnection::pipeline(const std::vector<Command>& commands) {
  Impl& m = *impl_;
  if (m.broken) throw RedisFailure("the connection failed earlier");
  const auto deadline = Clock::now() + m.timeouts.command;

  std::vector<std::unique_ptr<char, FreeCommand>> encoded;
  std::vector<asio::const_buffer> buffers;
  encoded.reserve(commands.size());
  buffers.reserve(commands.size());
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& command : commands) {
    argv.clear();
    lengths.clear();
    for (auto arg : command) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    char* out = nullptr;
    int n =
        redisFormatCommandArgv(&out, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (n < 0 || out == nullptr) throw RedisFailure("cannot encode a command (out of memory)");
    encoded.emplace_back(out);
    buffers.emplace_back(out, static_cast<std::size_t>(n));
  }
  m.write(buffers, deadline);

  std::vector<ReplyPtr> replies;
  replies.reserve(commands.size());
  while (replies.size() < commands.size()) {
    void* raw = nullptr;
    if (redisReaderGetReply(m.reader.get(), &raw) != REDIS_OK) {
      m.broken = true;
      throw RedisFailure(std::string("protocol error: ") + m.reader->errstr);
    }
    if (raw) {
      replies.emplace_back(static_cast<redisReply*>(raw));
      m.answered = true;
      continue;
    }
    std::size_t n = m.read_some(deadline);
    if (redisReaderFeed(m.reader.get(), m.input.data(), n) != REDIS_OK) {
      m.broken = true;
      throw RedisFailure(std::string("protocol error: ") + m.reader->errstr);
    }
  }
  return replies;
}

void RedisConnection::transaction(const std::vector<Command>& commands) {
  std::vector<Command> all;
  all.reserve(commands.size() + 2);
  all.push_back({"MULTI"});
  all.insert(all.end(), commands.begin(), commands.end());
  all.push_back({"EXEC"});
  auto replies = pipeline(all);
  for (const auto& r : replies)
    if (is_error(*r)) throw RedisFailure(text(*r));
  const redisReply& exec = *replies.back();
  if (exec.type != REDIS_REPLY_ARRAY) throw RedisFailure("transaction aborted");
  for (std::size_t i = 0; i < exec.elements; ++i)
    if (is_error(*exec.element[i])) throw RedisFailure(text(*exec.element[i]));
}

}  // namespace qc
