// RedisCache and REDIS_URL parsing. The cache tests run against a real
// redis-server (/usr/bin/redis-server, Debian package redis-server) that each
// test starts on a free loopback port, kills, stalls and restarts; what the
// cache wrote is checked with a raw hiredis connection, in the layout the
// earlier service's tools read.
#include "cache/redis/redis_cache.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis/redis_url.h"
#include "log/log.h"
#include "redis_test_server.h"

namespace {

using namespace std::chrono_literals;
using namespace redis_test;
using qc::RedisCache;
using qc::RedisCacheOptions;
using qc::RedisEndpoint;
using qc::RedisUrlError;

// ---------------------------------------------------------------------------
// REDIS_URL / REDIS_HOST

// The message of the RedisUrlError `f` throws ("" when it does not throw).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RedisUrlError& e) {
    return e.what();
  }
  return "";
}

TEST(RedisUrl, ParsesPasswordHostPortAndDb) {
  auto ep = qc::parse_redis_url("redis://:s3cret@cache.example.com:6380/2");
  EXPECT_EQ(ep.host, "cache.example.com");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.username, "");
  EXPECT_EQ(ep.password, "s3cret");
  EXPECT_EQ(ep.db, 2);
}

TEST(RedisUrl, DefaultsPortAndDb) {
  auto ep = qc::parse_redis_url("redis://cachehost");
  EXPECT_EQ(ep.host, "cachehost");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.password, "");
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(qc::parse_redis_url("redis://cachehost:6379/").db, 0);
  EXPECT_EQ(qc::parse_redis_url("  redis://10.0.0.7:7000\n").host, "10.0.0.7");
  EXPECT_EQ(qc::parse_redis_url("REDIS://cachehost").host, "cachehost");
}

TEST(RedisUrl, HerokuStyleUserAndEncodedPassword) {
  // Older Heroku URLs carry a user ("h"); Redis 6 ACL URLs a real one.
  auto ep = qc::parse_redis_url("redis://h:p4ss@ec2-1-2-3-4.compute-1.amazonaws.com:25159");
  EXPECT_EQ(ep.username, "h");
  EXPECT_EQ(ep.password, "p4ss");
  EXPECT_EQ(ep.port, 25159);
  // Percent-escapes are decoded; an unencoded '@' or '/' in the password is
  // tolerated (the host starts after the last '@').
  EXPECT_EQ(qc::parse_redis_url("redis://:a%40b%2Fc@host:1").password, "a@b/c");
  auto raw = qc::parse_redis_url("redis://:a@b/c@host:1/4");
  EXPECT_EQ(raw.password, "a@b/c");
  EXPECT_EQ(raw.host, "host");
  EXPECT_EQ(raw.db, 4);
}

TEST(RedisUrl, Ipv6InBrackets) {
  auto ep = qc::parse_redis_url("redis://[::1]:6390/1");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 6390);
  EXPECT_EQ(ep.host_port(), "[::1]:6390");
  EXPECT_EQ(ep.redacted(), "redis://[::1]:6390/1");
}

TEST(RedisUrl, RedisHostForm) {
  auto ep = qc::parse_redis_host("redis.internal");
  EXPECT_EQ(ep.host, "redis.internal");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.password, "");
  EXPECT_EQ(ep.db, 0);
  EXPECT_EQ(qc::parse_redis_host("::1").host, "::1");
  EXPECT_NE(error_of([] { qc::parse_redis_host(""); }), "");
  EXPECT_NE(error_of([] { qc::parse_redis_host("redis://x"); }).find("REDIS_URL"),
            std::string::npos);
  EXPECT_NE(error_of([] { qc::parse_redis_host("redis.internal:6380"); }).find("REDIS_URL"),
            std::string::npos);
  EXPECT_NE(error_of([] { qc::parse_redis_host("bad host"); }), "");
}

TEST(RedisUrl, UrlWinsOverHost) {
  EXPECT_FALSE(qc::redis_endpoint_from("", "").has_value());
  EXPECT_EQ(qc::redis_endpoint_from("", "h1")->host, "h1");
  EXPECT_EQ(qc::redis_endpoint_from("redis://h2:1234", "h1")->host, "h2");
  EXPECT_EQ(qc::redis_endpoint_from("redis://h2:1234", "h1")->port, 1234);
  EXPECT_THROW(qc::redis_endpoint_from("nonsense", "h1"), RedisUrlError);
}

TEST(RedisUrl, RejectsInvalidUrlsClearly) {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"", "empty"},
      {"cachehost:6379", "not a URL"},
      {"http://cachehost:6379", "unsupported scheme 'http'"},
      {"unix:///run/redis.sock", "Unix-socket"},
      {"redis://", "no host"},
      {"redis://:pw@", "no host"},
      {"redis://:pw@:6379", "no host"},
      {"redis://host:", "empty port"},
      {"redis://host:abc", "port must be a number from 1 to 65535, got 'abc'"},
      {"redis://host:0", "port must be"},
      {"redis://host:65536", "port must be"},
      {"redis://host:-1", "port must be"},
      {"redis://host/abc", "database number"},
      {"redis://host/-1", "database number"},
      {"redis://host/1/2", "database number"},
      {"redis://host/99999999999", "database number"},
      {"redis://host?db=2", "query parameters"},
      {"redis://::1:6379", "brackets"},
      {"redis://[::1", "unterminated"},
      {"redis://ho st", "invalid host"},
      {"redis://user@host", "without a ':'"},
      {"redis://:%zz@host", "%-escape"},
  };
  for (const auto& c : cases) {
    std::string message = error_of([&] { qc::parse_redis_url(c.url); });
    EXPECT_NE(message, "") << c.url << " was accepted";
    EXPECT_NE(message.find(c.says), std::string::npos) << c.url << " -> " << message;
  }
}

TEST(RedisUrl, RedissIsTlsWithVerificationByDefault) {
  auto ep = qc::parse_redis_url("rediss://:tls-secret@ec2-9-9-9-9.compute-1.amazonaws.com:6380");
  EXPECT_TRUE(ep.tls);
  EXPECT_TRUE(ep.tls_verify);
  EXPECT_EQ(ep.tls_ca_file, "");
  EXPECT_EQ(ep.host, "ec2-9-9-9-9.compute-1.amazonaws.com");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.password, "tls-secret");
  EXPECT_EQ(ep.redacted(), "rediss://:***@ec2-9-9-9-9.compute-1.amazonaws.com:6380");
  EXPECT_EQ(ep.transport(), "tls");
  EXPECT_EQ(ep.transport_description(true), "TLS (certificate verified against the system CAs)");
  EXPECT_EQ(ep.transport_description(false),
            "TLS (certificate must verify against the system CAs)");
  EXPECT_EQ(qc::parse_redis_url("REDISS://h:1/3").redacted(), "rediss://h:1/3");

  auto plain = qc::parse_redis_url("redis://h:1");
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.transport(), "tcp");
  EXPECT_EQ(plain.transport_description(true), "plain TCP");
}

TEST(RedisUrl, SslCertReqsNoneTurnsVerificationOffInAnyCase) {
  for (const char* value : {"none", "NONE", "CERT_NONE", "cert_none", "Cert_None"}) {
    auto ep = qc::parse_redis_url(std::string("rediss://:pw@h:6380?ssl_cert_reqs=") + value);
    EXPECT_FALSE(ep.tls_verify) << value;
    EXPECT_EQ(ep.transport(), "tls-unverified") << value;
    EXPECT_EQ(
        ep.transport_description(true).rfind("TLS (certificate NOT verified: ssl_cert_reqs=", 0),
        0u)
        << value;
  }
  EXPECT_EQ(qc::parse_redis_url("rediss://h?ssl_cert_reqs=CERT_NONE").transport_description(true),
            "TLS (certificate NOT verified: ssl_cert_reqs=cert_none)");
  for (const char* value : {"required", "CERT_REQUIRED"})
    EXPECT_TRUE(qc::parse_redis_url(std::string("rediss://h?ssl_cert_reqs=") + value).tls_verify);
}

TEST(RedisUrl, SslCaCertsNamesTheCaFile) {
  auto ep = qc::parse_redis_url("rediss://h:6380/2?ssl_ca_certs=%2Fetc%2Fmy%20ca.pem");
  EXPECT_EQ(ep.tls_ca_file, "/etc/my ca.pem");
  EXPECT_EQ(ep.db, 2);
  EXPECT_TRUE(ep.tls_verify);
  EXPECT_EQ(ep.transport_description(true), "TLS (certificate verified against /etc/my ca.pem)");
  auto both = qc::parse_redis_url("rediss://h?ssl_ca_certs=/ca.pem&ssl_cert_reqs=required");
  EXPECT_EQ(both.tls_ca_file, "/ca.pem");
  EXPECT_TRUE(both.tls_verify);
  EXPECT_EQ(qc::parse_redis_url("rediss://h:1?").port, 1);  // an empty query is no query
}

TEST(RedisUrl, RefusesOtherQueryParametersClearly) {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"rediss://h?ssl_cert_reqs=optional", "ssl_cert_reqs must be none"},
      {"rediss://h?ssl_cert_reqs=", "ssl_cert_reqs must be none"},
      {"rediss://h?ssl_cert_reqs=none&ssl_cert_reqs=none", "given twice"},
      {"rediss://h?ssl_ca_certs=", "ssl_ca_certs needs the path"},
      {"rediss://h?ssl_ca_certs=%zz", "%-escape"},
      {"rediss://h?db=2", "unsupported query parameter 'db'"},
      {"rediss://h?ssl_check_hostname=false", "unsupported query parameter 'ssl_check_hostname'"},
      {"rediss://h?ssl_cert_reqs=none#x", "fragments"},
      {"redis://h?ssl_cert_reqs=none", "rediss:// only"},
  };
  for (const auto& c : cases) {
    std::string message = error_of([&] { qc::parse_redis_url(c.url); });
    EXPECT_NE(message, "") << c.url << " was accepted";
    EXPECT_NE(message.find(c.says), std::string::npos) << c.url << " -> " << message;
  }
}

TEST(RedisUrl, TlsSettingsApplyToRedissUrlsOnly) {
  qc::RedisTlsSettings off;
  off.verify = false;
  off.ca_file = "/ca.pem";
  auto ep = *qc::redis_endpoint_from("rediss://h:6380", "", off);
  EXPECT_FALSE(ep.tls_verify);
  EXPECT_EQ(ep.tls_ca_file, "/ca.pem");
  EXPECT_EQ(ep.transport_description(true),
            "TLS (certificate NOT verified: QC_REDIS_TLS_VERIFY=0)");

  auto plain = *qc::redis_endpoint_from("redis://h:6379", "", off);
  EXPECT_FALSE(plain.tls);
  EXPECT_TRUE(plain.tls_verify);
  EXPECT_EQ(plain.tls_ca_file, "");
  EXPECT_FALSE(qc::redis_endpoint_from("", "h", off)->tls);

  // Agreeing settings are fine.
  qc::RedisTlsSettings on;
  on.verify = true;
  on.ca_file = "/ca.pem";
  auto same =
      *qc::redis_endpoint_from("rediss://h?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem", "", on);
  EXPECT_TRUE(same.tls_verify);
  EXPECT_EQ(same.tls_ca_file, "/ca.pem");
}

TEST(RedisUrl, TlsSettingsThatContradictTheUrlAreRefused) {
  qc::RedisTlsSettings on;
  on.verify = true;
  std::string message =
      error_of([&] { qc::redis_endpoint_from("rediss://:pw@h?ssl_cert_reqs=none", "", on); });
  EXPECT_NE(message.find("ssl_cert_reqs=none"), std::string::npos) << message;
  EXPECT_NE(message.find("QC_REDIS_TLS_VERIFY=1"), std::string::npos) << message;

  qc::RedisTlsSettings other_ca;
  other_ca.ca_file = "/b.pem";
  message =
      error_of([&] { qc::redis_endpoint_from("rediss://h?ssl_ca_certs=/a.pem", "", other_ca); });
  EXPECT_NE(message.find("/a.pem"), std::string::npos) << message;
  EXPECT_NE(message.find("QC_REDIS_TLS_CA_FILE=/b.pem"), std::string::npos) << message;
}

TEST(RedisUrl, PasswordNeverInRedactedFormOrErrors) {
  auto ep = qc::parse_redis_url("redis://:hunter2@db.example.com:6380/3");
  EXPECT_EQ(ep.redacted(), "redis://:***@db.example.com:6380/3");
  EXPECT_EQ(qc::parse_redis_url("redis://h:hunter2@db.example.com").redacted(),
            "redis://h:***@db.example.com:6379");
  EXPECT_EQ(qc::parse_redis_url("redis://db.example.com").redacted(),
            "redis://db.example.com:6379");
  EXPECT_EQ(
      qc::parse_redis_url("rediss://:hunter2@db.example.com:6380?ssl_cert_reqs=none").redacted(),
      "rediss://:***@db.example.com:6380");
  for (const char* bad :
       {"redis://:hunter2@db.example.com:port", "redis://:hunter2@", "redis://:hunter2@h/x",
        "redis://:hunt@er2@h:0", "hunter2@host", "redis://:hunter2%@h", "redis://hunter2@h",
        "ftp://:hunter2@h", "rediss://:hunter2@h?ssl_cert_reqs=maybe", "rediss://:hunter2@h?x=1",
        "redis://:hunter2@h?ssl_cert_reqs=none"}) {
    std::string message = error_of([&] { qc::parse_redis_url(bad); });
    EXPECT_NE(message, "") << bad;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    EXPECT_EQ(message.find("er2"), std::string::npos) << message;
  }
}

class RedisCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0)
      GTEST_SKIP() << kRedisServer << " is missing: install the Debian package redis-server "
                   << "to run the Redis cache tests";
    // These tests count warnings per outage; outages follow each other
    // faster than the rate limiter's window for identical lines.
    qc::log::Options o;
    o.repeat_window = std::chrono::milliseconds(0);
    qc::log::configure(o);
  }
  void TearDown() override { qc::log::configure({}); }
};

TEST_F(RedisCacheTest, WritesTheEarlierServiceKeyLayout) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  ASSERT_TRUE(cache.healthy());
  EXPECT_EQ(cache.kind(), "redis");
  EXPECT_EQ(cache.location(), "redis://127.0.0.1:" + std::to_string(server.port()));

  cache.put("tickers_metadata", kTickers);
  cache.put_list("open_positions", {kPositionA, kPositionB});

  RawRedis raw(server.port());
  EXPECT_EQ(raw.text({"TYPE", "tickers_metadata"}), "string");
  EXPECT_EQ(raw.text({"TYPE", "open_positions"}), "list");
  auto tickers = boost::json::parse(raw.text({"GET", "tickers_metadata"}));
  ASSERT_TRUE(tickers.is_object());
  EXPECT_EQ(tickers.as_object().size(), 2u);
  const auto& aapl = tickers.at("AAPL").as_object();
  EXPECT_EQ(aapl.at("symbol").as_string(), "AAPL");
  EXPECT_EQ(aapl.at("exchange").as_string(), "NASDAQ");
  EXPECT_EQ(aapl.at("name").as_string(), "Apple Inc.");

  auto items = raw.list("open_positions");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], kPositionA);
  EXPECT_EQ(items[1], kPositionB);
  for (const auto& item : items) {
    auto p = boost::json::parse(item);
    ASSERT_TRUE(p.is_object()) << item;
    for (const char* field : {"symbol", "target_price", "entry_price", "open_timestamp",
                              "stop_loss", "expected_profit"})
      EXPECT_TRUE(p.as_object().contains(field)) << field << " missing in " << item;
  }

  EXPECT_EQ(cache.get("tickers_metadata"), kTickers);
  EXPECT_EQ(cache.get_list("open_positions"), (std::vector<std::string>{kPositionA, kPositionB}));
  EXPECT_EQ(cache.get("never_written"), std::nullopt);
  EXPECT_EQ(cache.get_list("never_written"), std::nullopt);
}

TEST_F(RedisCacheTest, PutListReplacesTheList) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  RawRedis raw(server.port());

  cache.put_list("open_positions", {"1", "2", "3"});
  cache.put_list("open_positions", {kPositionB});
  EXPECT_EQ(raw.list("open_positions"), std::vector<std::string>{kPositionB});
  EXPECT_EQ(raw.text({"LLEN", "open_positions"}), "1");

  // A list someone else left under the key, even of another type, is replaced.
  raw.run({"SET", "open_positions", "not a list"});
  cache.put_list("open_positions", {kPositionA});
  EXPECT_EQ(raw.list("open_positions"), std::vector<std::string>{kPositionA});

  // Redis has no empty lists: the key goes away; the cache still knows it is empty.
  cache.put_list("open_positions", {});
  EXPECT_EQ(raw.text({"EXISTS", "open_positions"}), "0");
  EXPECT_EQ(cache.get_list("open_positions"), std::vector<std::string>{});
  EXPECT_TRUE(cache.healthy());
}

TEST_F(RedisCacheTest, ReadsFromRedisWhenHealthyAndIsBinarySafe) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  RawRedis raw(server.port());

  cache.put("k", "from the cache");
  raw.run({"SET", "k", "changed in Redis"});
  EXPECT_EQ(cache.get("k"), "changed in Redis");

  const std::string odd("nul\0byte \xC3\xA9 \r\n*3\r\n", 16);
  cache.put("odd", odd);
  EXPECT_EQ(raw.text({"GET", "odd"}), odd);
  EXPECT_EQ(cache.get("odd"), odd);
  cache.put_list("odd_list", {odd, ""});
  EXPECT_EQ(cache.get_list("odd_list"), (std::vector<std::string>{odd, ""}));

  // A key of the wrong type answers from memory and does not end the connection.
  raw.run({"RPUSH", "a_list", "x"});
  EXPECT_EQ(cache.get("a_list"), std::nullopt);
  EXPECT_TRUE(cache.healthy());
}

TEST_F(RedisCacheTest, AuthenticatesWithPassword) {
  const std::string password = "s3cr3t-pw";
  RedisServer server({"--requirepass", password});
  ASSERT_TRUE(server.start());
  const std::string port = std::to_string(server.port());

  RedisCache cache(qc::parse_redis_url("redis://:" + password + "@127.0.0.1:" + port), fast());
  ASSERT_TRUE(cache.healthy());
  EXPECT_EQ(cache.location(), "redis://:***@127.0.0.1:" + port);
  cache.put("tickers_metadata", kTickers);
  RawRedis raw(server.port(), password);
  EXPECT_EQ(raw.text({"GET", "tickers_metadata"}), kTickers);

  // Redis 6 ACL form: user "default" is the requirepass user.
  RedisCache with_user(qc::parse_redis_url("redis://default:" + password + "@127.0.0.1:" + port),
                       fast());
  EXPECT_TRUE(with_user.healthy());
  EXPECT_EQ(with_user.get("tickers_metadata"), kTickers);
}

TEST_F(RedisCacheTest, WrongOrMissingPasswordIsAnOutageWithoutLeakingIt) {
  RedisServer server({"--requirepass", "right-pw"});
  ASSERT_TRUE(server.start());
  const std::string port = std::to_string(server.port());

  testing::internal::CaptureStderr();
  {
    RedisCache wrong(qc::parse_redis_url("redis://:wrong-pw@127.0.0.1:" + port), fast());
    EXPECT_FALSE(wrong.healthy());
    wrong.put("k", "v");
    EXPECT_EQ(wrong.get("k"), "v");
    RedisCache none(local(server.port()), fast());  // NOAUTH: no PING answer
    EXPECT_FALSE(none.healthy());
    std::this_thread::sleep_for(300ms);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 2u) << err;
  EXPECT_NE(err.find("AUTH refused"), std::string::npos) << err;
  EXPECT_EQ(err.find("wrong-pw"), std::string::npos) << err;
  EXPECT_EQ(err.find("right-pw"), std::string::npos) << err;
}

TEST_F(RedisCacheTest, SelectsTheDatabase) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(qc::parse_redis_url("redis://127.0.0.1:" + std::to_string(server.port()) + "/3"),
                   fast());
  ASSERT_TRUE(cache.healthy());
  EXPECT_EQ(cache.location(), "redis://127.0.0.1:" + std::to_string(server.port()) + "/3");
  cache.put("tickers_metadata", kTickers);
  cache.put_list("open_positions", {kPositionA});
  EXPECT_EQ(RawRedis(server.port(), "", 3).text({"GET", "tickers_metadata"}), kTickers);
  EXPECT_EQ(RawRedis(server.port(), "", 3).list("open_positions").size(), 1u);
  EXPECT_EQ(RawRedis(server.port()).text({"GET", "tickers_metadata"}), "(nil)");

  // A database the server does not have is an outage, not a crash.
  testing::internal::CaptureStderr();
  {
    RedisCache beyond(local(server.port(), 999), fast());
    EXPECT_FALSE(beyond.healthy());
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("SELECT 999 refused"), std::string::npos) << err;
}

TEST_F(RedisCacheTest, KeepsServingFromMemoryWhenRedisDiesAndWarnsOnce) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  ASSERT_TRUE(cache.healthy());
  cache.put("tickers_metadata", kTickers);
  cache.put_list("open_positions", {kPositionA});

  testing::internal::CaptureStderr();
  server.kill();
  auto started = std::chrono::steady_clock::now();
  cache.put("tickers_metadata", "{}");
  cache.put_list("open_positions", {kPositionA, kPositionB});
  EXPECT_FALSE(cache.healthy());
  EXPECT_EQ(cache.get("tickers_metadata"), "{}");
  EXPECT_EQ(cache.get_list("open_positions"), (std::vector<std::string>{kPositionA, kPositionB}));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);

  // Keep using it through several failed reconnection attempts.
  for (int i = 0; i < 20; ++i) {
    cache.put("counter", std::to_string(i));
    EXPECT_EQ(cache.get("counter"), std::to_string(i));
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_FALSE(cache.healthy());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_NE(err.find("Redis at 127.0.0.1:" + std::to_string(server.port()) + " unavailable ("),
            std::string::npos)
      << err;
}

TEST_F(RedisCacheTest, ALargeWriteToADeadRedisDoesNotRaiseSigpipe) {
  // The server does not ignore SIGPIPE; hiredis writes with write(2). A
  // multi-megabyte write into a connection the peer reset would kill the
  // process if the cache did not block the signal around its I/O.
  ASSERT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL);
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  ASSERT_TRUE(cache.healthy());
  testing::internal::CaptureStderr();
  server.kill();
  const std::string big(16 << 20, 'x');
  cache.put("big", big);
  cache.put_list("big_list", {big, big});
  EXPECT_FALSE(cache.healthy());
  EXPECT_EQ(cache.get("big")->size(), big.size());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

TEST_F(RedisCacheTest, ResyncsWhenRedisComesBackOnTheSamePort) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  cache.put("tickers_metadata", kTickers);
  cache.put_list("open_positions", {kPositionA});

  testing::internal::CaptureStderr();
  server.kill();
  cache.put_list("open_positions", {kPositionA, kPositionB});  // only in memory
  cache.put_list("emptied", {});
  EXPECT_FALSE(cache.healthy());
  std::this_thread::sleep_for(300ms);

  ASSERT_TRUE(server.start());  // empty: no persistence
  EXPECT_TRUE(wait_until([&] { return cache.healthy(); }, 5s));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_EQ(count(err, kBack), 1u) << err;

  RawRedis raw(server.port());
  EXPECT_EQ(raw.text({"GET", "tickers_metadata"}), kTickers);
  EXPECT_EQ(raw.list("open_positions"), (std::vector<std::string>{kPositionA, kPositionB}));
  EXPECT_EQ(raw.text({"EXISTS", "emptied"}), "0");

  // Restarted while idle (no write to notice it): the health check does, and
  // this second outage has its own single warning.
  testing::internal::CaptureStderr();
  server.kill();
  ASSERT_TRUE(server.start());
  RawRedis again(server.port());
  EXPECT_TRUE(wait_until([&] { return again.text({"GET", "tickers_metadata"}) == kTickers; }, 5s));
  EXPECT_EQ(again.list("open_positions").size(), 2u);
  EXPECT_TRUE(wait_until([&] { return cache.healthy(); }, 5s));
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_EQ(count(err, kBack), 1u) << err;
}

TEST_F(RedisCacheTest, AStalledRedisDoesNotBlockCallersForLong) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisCache cache(local(server.port()), fast());
  cache.put("tickers_metadata", kTickers);

  testing::internal::CaptureStderr();
  server.pause();  // accepts TCP, answers nothing
  auto started = std::chrono::steady_clock::now();
  cache.put("tickers_metadata", "{\"stalled\":1}");
  // one command timeout (500 ms), plus at most one health PING in flight
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  EXPECT_FALSE(cache.healthy());
  started = std::chrono::steady_clock::now();
  EXPECT_EQ(cache.get("tickers_metadata"), "{\"stalled\":1}");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 400ms);  // no Redis wait (< 500 ms)
  cache.put("tickers_metadata", kTickers);

  server.resume();
  EXPECT_TRUE(wait_until([&] { return cache.healthy(); }, 5s));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_NE(err.find("timed out"), std::string::npos) << err;
  EXPECT_EQ(RawRedis(server.port()).text({"GET", "tickers_metadata"}), kTickers);
}

TEST_F(RedisCacheTest, StartsWhileRedisIsDownAndConnectsLater) {
  const std::uint16_t port = free_port();
  testing::internal::CaptureStderr();
  std::unique_ptr<RedisCache> cache;
  ASSERT_NO_THROW(cache = std::make_unique<RedisCache>(local(port), fast()));
  EXPECT_FALSE(cache->healthy());
  EXPECT_EQ(cache->warm_start().summary(), "Redis unreachable");
  cache->put("tickers_metadata", kTickers);
  cache->put_list("open_positions", {kPositionA});
  EXPECT_EQ(cache->get("tickers_metadata"), kTickers);

  RedisServer server({}, port);
  ASSERT_TRUE(server.start());
  EXPECT_TRUE(wait_until([&] { return cache->healthy(); }, 5s));
  RawRedis raw(port);
  EXPECT_EQ(raw.text({"GET", "tickers_metadata"}), kTickers);
  EXPECT_EQ(raw.list("open_positions"), std::vector<std::string>{kPositionA});
  cache.reset();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, kWarning), 1u) << err;
  EXPECT_EQ(count(err, kBack), 1u) << err;
}

TEST_F(RedisCacheTest, InvalidEndpointThrowsAtConstruction) {
  EXPECT_THROW(RedisCache(RedisEndpoint{}, fast()), RedisUrlError);
  RedisEndpoint no_port = local(0);
  EXPECT_THROW(RedisCache(no_port, fast()), RedisUrlError);
}

TEST_F(RedisCacheTest, WarmStartReadsTheEarlierServiceKeys) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  {
    RawRedis raw(server.port());
    raw.run({"SET", "tickers_metadata", kTickers});
    raw.run({"RPUSH", "open_positions", kPositionA, kPositionB, kPositionA});
  }
  RedisCache cache(local(server.port()), fast());
  auto found = cache.warm_start();
  EXPECT_TRUE(found.reached);
  EXPECT_EQ(found.tickers_metadata, kTickers);
  EXPECT_EQ(found.ticker_count, 2u);
  ASSERT_TRUE(found.open_positions.has_value());
  EXPECT_EQ(found.open_positions->size(), 3u);
  EXPECT_EQ(found.summary(), "2 tickers, 3 open positions");

  // Kept in memory: answered even after Redis is gone.
  testing::internal::CaptureStderr();
  server.kill();
  EXPECT_EQ(cache.get("tickers_metadata"), kTickers);
  EXPECT_EQ(cache.get_list("open_positions")->size(), 3u);
  testing::internal::GetCapturedStderr();

  RedisServer empty;
  ASSERT_TRUE(empty.start());
  RedisCache fresh(local(empty.port()), fast());
  auto nothing = fresh.warm_start();
  EXPECT_TRUE(nothing.reached);
  EXPECT_EQ(nothing.summary(), "no earlier keys");
}

TEST_F(RedisCacheTest, ConcurrentCallersThroughAnOutage) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  testing::internal::CaptureStderr();
  {
    RedisCache cache(local(server.port()), fast());
    std::atomic<bool> stop{false};
    std::atomic<int> mismatches{0};
    std::vector<std::string> last(4);
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
      workers.emplace_back([&, t] {
        const std::string key = "worker" + std::to_string(t);
        for (int i = 0; !stop; ++i) {
          const std::string value = std::to_string(i);
          cache.put(key, value);
          last[t] = value;
          cache.put_list(key + "_list", {value, value});
          // Another worker never writes this key, so the answer is ours.
          if (cache.get(key) != value) ++mismatches;
          auto list = cache.get_list(key + "_list");
          if (!list || list->size() != 2) ++mismatches;
          (void)cache.healthy();
        }
      });
    }
    std::this_thread::sleep_for(150ms);
    server.kill();
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(server.start());
    EXPECT_TRUE(wait_until([&] { return cache.healthy(); }, 5s));
    std::this_thread::sleep_for(150ms);
    stop = true;
    for (auto& w : workers) w.join();
    EXPECT_EQ(mismatches.load(), 0);
    RawRedis raw(server.port());
    for (int t = 0; t < 4; ++t) {
      const std::string key = "worker" + std::to_string(t);
      EXPECT_EQ(raw.text({"GET", key}), last[t]);
      EXPECT_EQ(raw.list(key + "_list"), (std::vector<std::string>{last[t], last[t]}));
    }
  }
  testing::internal::GetCapturedStderr();
}

}  // namespace
