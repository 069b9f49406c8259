// RedisCache over TLS (rediss://) against a real redis-server with a TLS
// port (Debian's redis-server is built with TLS), using throwaway
// certificates from tests/support/tls_certs.py: a test CA, a server
// certificate for localhost / 127.0.0.1 / ::1, another CA, a certificate for
// another host name, and a self-signed certificate like Heroku's.
//
// Each server also listens on a plain loopback port: the tests look at what
// the cache wrote through that port with a raw hiredis connection, and use
// it to point rediss:// at a port that does not speak TLS.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis/redis_cache.h"
#include "cache/redis/redis_url.h"
#include "log/log.h"
#include "redis_test_server.h"

namespace {

using namespace std::chrono_literals;
using namespace redis_test;
using qc::RedisCache;
using qc::RedisEndpoint;
using qc::RedisTlsSettings;

// The certificates of tests/support/tls_certs.py, made once per test run in
// a temporary directory that is removed at exit.
class Certificates {
 public:
  static const Certificates& get() {
    static Certificates certs;
    return certs;
  }
  bool ok() const { return !paths_.empty(); }
  const std::string& error() const { return error_; }
  std::string operator[](const std::string& name) const {
    auto it = paths_.find(name);
    return it == paths_.end() ? std::string() : it->second;
  }
  const std::string& dir() const { return dir_; }

 private:
  Certificates() {
    std::string templ = (std::filesystem::temp_directory_path() / "qc-redis-tls-XXXXXX").string();
    if (!::mkdtemp(templ.data())) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = templ;
    const std::string command = std::string("/usr/bin/python3 '") + QC_TEST_SUPPORT_DIR +
                                "/tls_certs.py' '" + dir_ + "' 2>&1";
    std::string out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
      char buffer[4096];
      for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
        out.append(buffer, n);
      if (::pclose(pipe) != 0) {
        error_ = "tls_certs.py failed: " + out;
        return;
      }
    }
    boost::system::error_code ec;
    auto json = boost::json::parse(out, ec);
    if (ec || !json.is_object()) {
      error_ = "tls_certs.py printed no JSON object: " + out;
      return;
    }
    for (const auto& [name, path] : json.as_object())
      paths_[std::string(name)] = std::string(path.as_string());
  }
  ~Certificates() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_;
  std::string error_;
  std::map<std::string, std::string> paths_;
};

// A redis-server with a plain port (port()) and a TLS port (tls_port())
// presenting `cert`/`key`. OpenSSL sends the certificate's chain as far as
// `ca` (redis-server's --tls-ca-cert-file) holds it: with the test CA, the
// leaf and the CA; with a CA that did not sign it, the leaf alone.
class TlsRedisServer : public RedisServer {
 public:
  TlsRedisServer(const std::string& cert, const std::string& key, const std::string& ca,
                 std::vector<std::string> extra = {}, std::uint16_t tls_port = free_port())
      : RedisServer(args(cert, key, ca, tls_port, std::move(extra))), tls_port_(tls_port) {}
  std::uint16_t tls_port() const { return tls_port_; }

 private:
  static std::vector<std::string> args(const std::string& cert, const std::string& key,
                                       const std::string& ca, std::uint16_t tls_port,
                                       std::vector<std::string> extra) {
    std::vector<std::string> a = {"--tls-port",         std::to_string(tls_port),
                                  "--tls-cert-file",    cert,
                                  "--tls-key-file",     key,
                                  "--tls-ca-cert-file", ca,
                                  "--tls-auth-clients", "no"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::uint16_t tls_port_;
};

std::unique_ptr<TlsRedisServer> server_with(const std::string& stem,
                                            std::vector<std::string> extra = {},
                                            const std::string& ca = "ca.pem") {
  const auto& c = Certificates::get();
  return std::make_unique<TlsRedisServer>(c[stem + ".pem"], c[stem + ".key"], c[ca],
                                          std::move(extra));
}

// The endpoint the app would build from REDIS_URL and QC_REDIS_TLS_*.
RedisEndpoint endpoint(const std::string& url, RedisTlsSettings settings = {}) {
  return *qc::redis_endpoint_from(url, "", settings);
}
RedisTlsSettings trusting(const std::string& ca_file) {
  RedisTlsSettings s;
  s.ca_file = ca_file;
  return s;
}
RedisTlsSettings test_ca() {
  return trusting(Certificates::get()["ca.pem"]);
}

std::string rediss(const std::string& host, std::uint16_t port, const std::string& query = "") {
  return "rediss://" + host + ":" + std::to_string(port) + query;
}

// The text between "unavailable (" and "); serving from memory" of the one
// outage warning in `err`.
std::string warning_reason(const std::string& err) {
  auto start = err.find(" unavailable (");
  auto end = err.find("); serving from memory");
  if (start == std::string::npos || end == std::string::npos || end < start) return "";
  start += std::string(" unavailable (").size();
  return err.substr(start, end - start);
}

class RedisTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0)
      GTEST_SKIP() << kRedisServer << " is missing: install the Debian package redis-server";
    if (::access("/usr/bin/openssl", X_OK) != 0)
      GTEST_SKIP() << "/usr/bin/openssl is missing (tls_certs.py makes the test certificates "
                   << "with it): install the Debian package openssl";
    ASSERT_TRUE(Certificates::get().ok()) << Certificates::get().error();
    qc::log::Options o;
    o.repeat_window = std::chrono::milliseconds(0);
    qc::log::configure(o);
  }
  void TearDown() override { qc::log::configure({}); }

  // Builds a cache that cannot connect, keeps using it through a few
  // reconnection attempts, and returns what it logged and its detail().
  struct Refusal {
    std::string err, detail;
    bool healthy = true;
  };
  static Refusal refused(const RedisEndpoint& ep) {
    Refusal r;
    testing::internal::CaptureStderr();
    {
      RedisCache cache(ep, fast());
      for (int i = 0; i < 10; ++i) {
        cache.put("tickers_metadata", kTickers);
        std::this_thread::sleep_for(30ms);
      }
      r.healthy = cache.healthy();
      r.detail = cache.detail();
      EXPECT_EQ(cache.get("tickers_metadata"), kTickers);  // from memory
    }
    r.err = testing::internal::GetCapturedStderr();
    return r;
  }
};

TEST_F(RedisTlsTest, VerifiedWithTheTestCaWritesTheEarlierServiceKeys) {
  auto server = server_with("server");
  ASSERT_TRUE(server->start());
  const std::string port = std::to_string(server->tls_port());
  RedisCache cache(endpoint(rediss("localhost", server->tls_port()), test_ca()), fast());
  ASSERT_TRUE(cache.healthy()) << cache.detail();
  EXPECT_EQ(cache.location(), "rediss://localhost:" + port);
  EXPECT_EQ(cache.transport(), "tls");
  EXPECT_EQ(cache.detail(), "");

  cache.put("tickers_metadata", kTickers);
  cache.put_list("open_positions", {kPositionA, kPositionB});
  RawRedis raw(server->port());
  EXPECT_EQ(raw.text({"GET", "tickers_metadata"}), kTickers);
  EXPECT_EQ(raw.list("open_positions"), (std::vector<std::string>{kPositionA, kPositionB}));
  EXPECT_EQ(raw.text({"TYPE", "open_positions"}), "list");
  EXPECT_EQ(cache.get("tickers_metadata"), kTickers);
  EXPECT_EQ(cache.get_list("open_positions"), (std::vector<std::string>{kPositionA, kPositionB}));
  // The cache's connection is the one on the TLS port.
  EXPECT_NE(raw.text({"CLIENT", "LIST"}).find("laddr=127.0.0.1:" + port), std::string::npos)
      << raw.text({"CLIENT", "LIST"});

  RedisCache second(endpoint(rediss("localhost", server->tls_port()), test_ca()), fast());
  auto warm = second.warm_start();
  EXPECT_EQ(warm.summary(), "2 tickers, 2 open positions");
}

TEST_F(RedisTlsTest, LargeValuesCrossTlsIntact) {
  auto server = server_with("server");
  ASSERT_TRUE(server->start());
  RedisCache cache(endpoint(rediss("localhost", server->tls_port()), test_ca()), fast());
  ASSERT_TRUE(cache.healthy()) << cache.detail();
  std::string big(4 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  cache.put("big", big);
  cache.put_list("big_list", {big, "", big});
  EXPECT_TRUE(cache.healthy()) << cache.detail();
  EXPECT_EQ(cache.get("big"), big);
  EXPECT_EQ(cache.get_list("big_list"), (std::vector<std::string>{big, "", big}));
  EXPECT_EQ(RawRedis(server->port()).text({"STRLEN", "big"}), std::to_string(big.size()));
}

TEST_F(RedisTlsTest, AnIpLiteralIsVerifiedAgainstTheCertificatesIpAddresses) {
  auto server = server_with("server", {"--bind", "127.0.0.1", "::1"});
  ASSERT_TRUE(server->start());
  RedisCache v4(endpoint(rediss("127.0.0.1", server->tls_port()), test_ca()), fast());
  EXPECT_TRUE(v4.healthy()) << v4.detail();
  RedisCache v6(endpoint(rediss("[::1]", server->tls_port()), test_ca()), fast());
  EXPECT_TRUE(v6.healthy()) << v6.detail();
  EXPECT_EQ(v6.location(), "rediss://[::1]:" + std::to_string(server->tls_port()));

  // A certificate without that address: refused, with OpenSSL's reason.
  auto other = server_with("wrong_host");
  ASSERT_TRUE(other->start());
  auto r = refused(endpoint(rediss("127.0.0.1", other->tls_port()), test_ca()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  EXPECT_EQ(warning_reason(r.err),
            "TLS handshake failed: certificate verify failed: IP address mismatch")
      << r.err;
}

TEST_F(RedisTlsTest, ACertificateFromAnotherCaIsRefusedWithOneWarningNamingHostAndReason) {
  const auto other_ca = trusting(Certificates::get()["other_ca.pem"]);
  // The server sends its certificate alone: its issuer is unknown here.
  auto leaf_only = server_with("server", {}, "other_ca.pem");
  ASSERT_TRUE(leaf_only->start());
  auto r = refused(endpoint(rediss("localhost", leaf_only->tls_port()), other_ca));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  EXPECT_NE(r.err.find("Redis at localhost:" + std::to_string(leaf_only->tls_port()) +
                       " unavailable (TLS handshake failed: certificate verify failed: unable to "
                       "get local issuer certificate (its CA is not trusted here"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.detail, warning_reason(r.err));

  // The server sends its chain up to its own root: a root not trusted here.
  auto chain = server_with("server");
  ASSERT_TRUE(chain->start());
  r = refused(endpoint(rediss("localhost", chain->tls_port()), other_ca));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  EXPECT_EQ(warning_reason(r.err).rfind(
                "TLS handshake failed: certificate verify failed: self-signed certificate in "
                "certificate chain",
                0),
            0u)
      << r.err;
}

TEST_F(RedisTlsTest, ACertificateForAnotherHostNameIsRefused) {
  auto server = server_with("wrong_host");  // signed by the test CA, for not-this-host.invalid
  ASSERT_TRUE(server->start());
  auto r = refused(endpoint(rediss("localhost", server->tls_port()), test_ca()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  EXPECT_EQ(warning_reason(r.err),
            "TLS handshake failed: certificate verify failed: hostname mismatch")
      << r.err;
}

TEST_F(RedisTlsTest, ASelfSignedCertificateIsRefusedByDefault) {
  auto server = server_with("self_signed");
  ASSERT_TRUE(server->start());
  auto r = refused(endpoint(rediss("localhost", server->tls_port())));  // the system CA store
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  auto reason = warning_reason(r.err);
  EXPECT_EQ(
      reason.rfind("TLS handshake failed: certificate verify failed: self-signed certificate", 0),
      0u)
      << r.err;
  // ... and says how to accept it.
  EXPECT_NE(reason.find("ssl_cert_reqs=none"), std::string::npos) << reason;
  EXPECT_NE(reason.find("QC_REDIS_TLS_VERIFY=0"), std::string::npos) << reason;
}

TEST_F(RedisTlsTest, ASelfSignedCertificateIsAcceptedWithSslCertReqsNone) {
  auto server = server_with("self_signed");
  ASSERT_TRUE(server->start());
  for (const char* query : {"?ssl_cert_reqs=none", "?ssl_cert_reqs=CERT_NONE"}) {
    RedisCache cache(endpoint(rediss("localhost", server->tls_port(), query)), fast());
    ASSERT_TRUE(cache.healthy()) << query << ": " << cache.detail();
    EXPECT_EQ(cache.transport(), "tls-unverified");
    cache.put("tickers_metadata", kTickers);
    EXPECT_EQ(RawRedis(server->port()).text({"GET", "tickers_metadata"}), kTickers);
    RawRedis(server->port()).run({"DEL", "tickers_metadata"});
  }
}

TEST_F(RedisTlsTest, ASelfSignedCertificateIsAcceptedWithVerificationOff) {
  auto server = server_with("self_signed");
  ASSERT_TRUE(server->start());
  RedisTlsSettings off;
  off.verify = false;  // QC_REDIS_TLS_VERIFY=0
  RedisCache cache(endpoint(rediss("localhost", server->tls_port()), off), fast());
  ASSERT_TRUE(cache.healthy()) << cache.detail();
  EXPECT_EQ(cache.transport(), "tls-unverified");
  cache.put_list("open_positions", {kPositionA});
  EXPECT_EQ(RawRedis(server->port()).list("open_positions"), std::vector<std::string>{kPositionA});
}

TEST_F(RedisTlsTest, RedissToAPlainPortFailsWithAClearReason) {
  auto server = server_with("server");
  ASSERT_TRUE(server->start());
  auto started = std::chrono::steady_clock::now();
  auto r = refused(endpoint(rediss("localhost", server->port()), test_ca()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  // Redis either answers the ClientHello as a (bad) inline command, or waits
  // for the rest of it, depending on whether its random bytes hold a '\n':
  // "wrong version number", or the handshake's timeout. Both say why.
  auto reason = warning_reason(r.err);
  EXPECT_EQ(reason.rfind("TLS handshake ", 0), 0u) << r.err;
  EXPECT_NE(reason.find("not a TLS server"), std::string::npos) << r.err;
  EXPECT_NE(reason.find("redis://"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

// A plain-text server that answers whatever it is sent with a RESP error, as
// Redis does once a ClientHello happens to hold a '\n'.
class PlainTextAnswerer {
 public:
  PlainTextAnswerer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) continue;
        char buffer[4096];
        if (::recv(client, buffer, sizeof buffer, 0) > 0) {
          const char answer[] = "-ERR unknown command\r\n";
          (void)!::send(client, answer, sizeof answer - 1, MSG_NOSIGNAL);
        }
        ::close(client);
      }
    });
  }
  ~PlainTextAnswerer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(RedisTlsTest, RedissToAServerAnsweringInPlainTextSaysWrongVersionNumber) {
  PlainTextAnswerer plain;
  ASSERT_NE(plain.port(), 0);
  auto r = refused(endpoint(rediss("localhost", plain.port()), test_ca()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  EXPECT_EQ(warning_reason(r.err),
            "TLS handshake failed: wrong version number (not a TLS server: for a plain Redis port "
            "use a redis:// URL)")
      << r.err;
}

TEST_F(RedisTlsTest, RedisToATlsPortFailsWithAClearReason) {
  auto server = server_with("server");
  ASSERT_TRUE(server->start());
  auto r = refused(local(server->tls_port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(count(r.err, kWarning), 1u) << r.err;
  auto reason = warning_reason(r.err);
  EXPECT_NE(reason.find("closed the connection before answering"), std::string::npos) << r.err;
  EXPECT_NE(reason.find("rediss://"), std::string::npos) << r.err;
}

TEST_F(RedisTlsTest, AuthenticatesOverTlsAndNeverShowsThePassword) {
  const std::string password = "tls-s3cr3t-pw";
  auto server = server_with("server", {"--requirepass", password});
  ASSERT_TRUE(server->start());
  const std::string port = std::to_string(server->tls_port());
  RedisCache cache(endpoint("rediss://:" + password + "@localhost:" + port, test_ca()), fast());
  ASSERT_TRUE(cache.healthy()) << cache.detail();
  EXPECT_EQ(cache.location(), "rediss://:***@localhost:" + port);
  cache.put("tickers_metadata", kTickers);
  EXPECT_EQ(RawRedis(server->port(), password).text({"GET", "tickers_metadata"}), kTickers);

  auto r = refused(endpoint("rediss://:wrong-" + password + "@localhost:" + port, test_ca()));
  EXPECT_NE(r.err.find("AUTH refused"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(password), std::string::npos) << r.err;
  EXPECT_EQ(r.detail.find(password), std::string::npos) << r.detail;
}

TEST_F(RedisTlsTest, ResyncsWhenATlsRedisComesBackOnTheSamePort) {
  auto server = server_with("server");
  ASSERT_TRUE(server->start());
  RedisCache cache(endpoint(rediss("localhost", server->tls_port()), test_ca()), fast());
  ASSERT_TRUE(cache.healthy()) << cache.detail();
  cache.put("tickers_metadata", kTickers);
  cache.put_list("open_positions", {kPositionA});

  testing::internal::CaptureStderr();
  server->kill();
  cache.put_list("open_positions", {kPositionA, kPositionB});  // only in memory
  EXPECT_FALSE(cache.healthy());
  EXPECT_NE(cache.detail(), "");
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(server->start());  // empty: no persistence
  EXPECT_TRUE(wait_until([&] { return cache.healthy(); }, 5s));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_EQ(count(err, kBack), 1u) << err;
  EXPECT_EQ(cache.detail(), "");
  RawRedis raw(server->port());
  EXPECT_EQ(raw.text({"GET", "tickers_metadata"}), kTickers);
  EXPECT_EQ(raw.list("open_positions"), (std::vector<std::string>{kPositionA, kPositionB}));

  // Restarted while idle: the health PING notices, one more warning.
  testing::internal::CaptureStderr();
  server->kill();
  ASSERT_TRUE(server->start());
  RawRedis again(server->port());
  EXPECT_TRUE(wait_until([&] { return again.text({"GET", "tickers_metadata"}) == kTickers; }, 5s));
  EXPECT_TRUE(wait_until([&] { return cache.healthy(); }, 5s));
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_EQ(count(err, kBack), 1u) << err;
}

TEST_F(RedisTlsTest, AStalledTlsRedisBoundsTheHandshakeAndEveryCommand) {
  auto server = server_with("server");
  ASSERT_TRUE(server->start());
  RedisCache cache(endpoint(rediss("localhost", server->tls_port()), test_ca()), fast());
  ASSERT_TRUE(cache.healthy()) << cache.detail();

  testing::internal::CaptureStderr();
  server->pause();  // the kernel accepts TCP connections; nothing answers
  auto started = std::chrono::steady_clock::now();
  cache.put("tickers_metadata", kTickers);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);  // one 500 ms command timeout
  EXPECT_FALSE(cache.healthy());

  started = std::chrono::steady_clock::now();
  RedisCache fresh(endpoint(rediss("localhost", server->tls_port()), test_ca()), fast());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);  // one 500 ms connect timeout
  EXPECT_FALSE(fresh.healthy());
  EXPECT_NE(fresh.detail().find("TLS handshake timed out"), std::string::npos) << fresh.detail();

  server->resume();
  EXPECT_TRUE(wait_until([&] { return cache.healthy() && fresh.healthy(); }, 5s));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 2u) << err;  // one per cache
  EXPECT_NE(err.find("timed out"), std::string::npos) << err;
  EXPECT_EQ(RawRedis(server->port()).text({"GET", "tickers_metadata"}), kTickers);
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

TEST_F(RedisTlsTest, FailedTlsConnectionAttemptsLeaveNoDescriptorsOpen) {
  auto server = server_with("self_signed");
  ASSERT_TRUE(server->start());
  const std::size_t before = open_descriptors();
  testing::internal::CaptureStderr();
  {
    RedisCache cache(endpoint(rediss("localhost", server->tls_port())), fast());
    std::this_thread::sleep_for(1500ms);  // a reconnection attempt every 200 ms at most
    EXPECT_FALSE(cache.healthy());
    EXPECT_LT(open_descriptors(), before + 8);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_EQ(open_descriptors(), before);
}

TEST_F(RedisTlsTest, ACaFileWithoutCertificatesIsRefusedAtConstruction) {
  const std::string junk = Certificates::get().dir() + "/not_a_ca.pem";
  std::ofstream(junk) << "this is not a certificate\n";
  try {
    RedisCache cache(endpoint("rediss://:pw-never-shown@localhost:6380", trusting(junk)), fast());
    ADD_FAILURE() << "a CA file without certificates was accepted";
  } catch (const qc::RedisUrlError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(junk), std::string::npos) << message;
    EXPECT_EQ(message.find("pw-never-shown"), std::string::npos) << message;
  }
}

}  // namespace
