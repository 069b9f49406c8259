// Configuration (SPEC §3, docs/decisions.md "Command line"): defaults,
// environment and .env variables, flags, and the errors that name the
// setting at fault.
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "app/config.h"

namespace {

using qc::ConfigError;
using qc::FeedKind;
using qc::ServeConfig;
using qc::Variables;

class TempDir : public qc::testing::TempDir {
 public:
  TempDir() : qc::testing::TempDir("qc-config") {}
};

// The ConfigError message, or "" when parsing succeeded.
std::string serve_error(const Variables& vars, const std::vector<std::string>& args) {
  try {
    qc::parse_serve_config(vars, args);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

std::string backtest_error(const std::vector<std::string>& args) {
  try {
    qc::parse_backtest_config(args);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---- parse_serve_config -----------------------------------------------------

TEST(ServeConfig, Defaults) {
  auto c = qc::parse_serve_config({}, {});
  EXPECT_EQ(c.port, 5050);
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.data_dir.string(), "data");
  EXPECT_EQ(c.feed, FeedKind::Sim);
  EXPECT_FALSE(c.feed_chosen);
  EXPECT_EQ(c.cors_origins, std::vector<std::string>{"*"});
  EXPECT_EQ(c.polygon_api_url, "https://api.massive.com");
  EXPECT_EQ(c.polygon_ws_url, "wss://socket.massive.com/stocks");
  EXPECT_TRUE(c.mongo_uri.empty());
  EXPECT_TRUE(c.redis_url.empty());
  EXPECT_TRUE(c.redis_host.empty());
  EXPECT_TRUE(c.api_token.empty());
  EXPECT_TRUE(c.polygon_api_key.empty());
  EXPECT_EQ(c.replay_rate, 0);
  EXPECT_EQ(c.sim_step_ms, 5);
  EXPECT_EQ(c.sim_replay_days, 21);
}

TEST(ServeConfig, PolygonKeyMakesThePolygonFeedTheDefault) {
  auto c = qc::parse_serve_config({{"POLYGON_API_KEY", "k3y"}}, {});
  EXPECT_EQ(c.feed, FeedKind::Polygon);
  EXPECT_EQ(c.polygon_api_key, "k3y");
  // ...unless a feed is chosen explicitly.
  EXPECT_EQ(qc::parse_serve_config({{"POLYGON_API_KEY", "k3y"}}, {"--feed", "sim"}).feed,
            FeedKind::Sim);
  EXPECT_EQ(qc::parse_serve_config({{"POLYGON_API_KEY", "k3y"}, {"QC_FEED", "none"}}, {}).feed,
            FeedKind::None);
}

TEST(ServeConfig, PolygonFeedNeedsAKey) {
  auto e = serve_error({}, {"--feed", "polygon"});
  EXPECT_TRUE(contains(e, "POLYGON_API_KEY")) << e;
}

TEST(ServeConfig, EmptyVariableCountsAsUnset) {
  auto c = qc::parse_serve_config({{"PORT", ""}, {"HOST", ""}}, {});
  EXPECT_EQ(c.port, 5050);
  EXPECT_EQ(c.host, "0.0.0.0");
}

TEST(ServeConfig, VariablesAreRead) {
  auto c = qc::parse_serve_config({{"PORT", "8080"},
                                   {"HOST", "127.0.0.1"},
                                   {"QC_DATA_DIR", "/var/lib/qc"},
                                   {"MONGO_ATLAS_URI", "mongodb://u:p@h/db"},
                                   {"REDIS_URL", "redis://:pw@r:6380/1"},
                                   {"REDIS_HOST", "redis.local"},
                                   {"POLYGON_API_URL", "http://127.0.0.1:9000"},
                                   {"POLYGON_WS_URL", "ws://127.0.0.1:9001/stocks"},
                                   {"QC_API_TOKEN", "t0k"},
                                   {"QC_REPLAY_RATE", "2.5"},
                                   {"QC_SIM_STEP_MS", "0"},
                                   {"QC_SIM_REPLAY_DAYS", "3"},
                                   {"QC_HTTP_THREADS", "4"},
                                   {"QC_FEED", "none"}},
                                  {});
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.data_dir.string(), "/var/lib/qc");
  EXPECT_EQ(c.mongo_uri, "mongodb://u:p@h/db");
  EXPECT_EQ(c.redis_url, "redis://:pw@r:6380/1");
  EXPECT_EQ(c.redis_host, "redis.local");
  EXPECT_EQ(c.polygon_api_url, "http://127.0.0.1:9000");
  EXPECT_EQ(c.polygon_ws_url, "ws://127.0.0.1:9001/stocks");
  EXPECT_EQ(c.api_token, "t0k");
  EXPECT_EQ(c.replay_rate, 2.5);
  EXPECT_EQ(c.sim_step_ms, 0);
  EXPECT_EQ(c.sim_replay_days, 3);
  EXPECT_EQ(c.http_threads, 4);
  EXPECT_EQ(c.feed, FeedKind::None);
  EXPECT_TRUE(c.feed_chosen);
}

TEST(ServeConfig, FlagsWinOverVariables) {
  TempDir dir;
  auto bars = dir.write("bars.jsonl", "");
  auto c = qc::parse_serve_config(
      {{"PORT", "8080"}, {"HOST", "127.0.0.1"}, {"QC_DATA_DIR", "/env"}, {"QC_FEED", "sim"},
       {"QC_HTTP_THREADS", "4"}, {"QC_SIM_STEP_MS", "10"}, {"QC_REPLAY_RATE", "5"}},
      {"--port", "9090", "--host", "::1", "--data-dir", "/flag", "--feed",
       "replay:" + bars.string(), "--threads", "8", "--sim-step-ms", "20", "--replay-rate", "7"});
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.data_dir.string(), "/flag");
  EXPECT_EQ(c.feed, FeedKind::Replay);
  EXPECT_EQ(c.replay_path.string(), bars.string());
  EXPECT_EQ(c.http_threads, 8);
  EXPECT_EQ(c.sim_step_ms, 20);
  EXPECT_EQ(c.replay_rate, 7);
}

TEST(ServeConfig, FlagWinsOverABadVariableItReplaces) {
  // The variable names a missing replay file, but the flag picks another feed.
  auto c = qc::parse_serve_config({{"QC_FEED", "replay:/no/such/file.jsonl"}}, {"--feed", "none"});
  EXPECT_EQ(c.feed, FeedKind::None);
}

TEST(ServeConfig, EqualsAndSeparateValueForms) {
  auto a = qc::parse_serve_config({}, {"--port=6000", "--host=::1", "--data-dir=/d"});
  auto b = qc::parse_serve_config({}, {"--port", "6000", "--host", "::1", "--data-dir", "/d"});
  EXPECT_EQ(a.port, 6000);
  EXPECT_EQ(b.port, 6000);
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(a.data_dir.string(), b.data_dir.string());
  // A value may itself contain '='.
  EXPECT_EQ(qc::parse_serve_config({}, {"--data-dir=/a=b"}).data_dir.string(), "/a=b");
}

TEST(ServeConfig, LastFlagWins) {
  EXPECT_EQ(qc::parse_serve_config({}, {"--port", "6000", "--port=6001"}).port, 6001);
}

TEST(ServeConfig, BadPortIsAnErrorNamingTheSetting) {
  for (std::string bad : {"abc", "0", "70000", "65536", "-1", "80x", " 80", "8080.0"}) {
    auto from_flag = serve_error({}, {"--port", bad});
    EXPECT_TRUE(contains(from_flag, "--port")) << "'" << bad << "': " << from_flag;
    auto from_equals = serve_error({}, {"--port=" + bad});
    EXPECT_TRUE(contains(from_equals, "--port")) << "'" << bad << "': " << from_equals;
    auto from_var = serve_error({{"PORT", bad}}, {});
    EXPECT_TRUE(contains(from_var, "PORT")) << "'" << bad << "': " << from_var;
    EXPECT_FALSE(contains(from_var, "--port")) << from_var;
  }
  EXPECT_TRUE(contains(serve_error({}, {"--port="}), "--port"));
  // Bounds are inclusive.
  EXPECT_EQ(qc::parse_serve_config({}, {"--port", "1"}).port, 1);
  EXPECT_EQ(qc::parse_serve_config({}, {"--port", "65535"}).port, 65535);
}

TEST(ServeConfig, OtherBadNumbersNameTheirSetting) {
  EXPECT_TRUE(contains(serve_error({}, {"--threads", "0"}), "--threads"));
  EXPECT_TRUE(contains(serve_error({}, {"--threads", "65"}), "--threads"));
  EXPECT_TRUE(contains(serve_error({{"QC_HTTP_THREADS", "x"}}, {}), "QC_HTTP_THREADS"));
  EXPECT_TRUE(contains(serve_error({}, {"--replay-rate", "-1"}), "--replay-rate"));
  EXPECT_TRUE(contains(serve_error({}, {"--replay-rate", "nan"}), "--replay-rate"));
  EXPECT_TRUE(contains(serve_error({{"QC_REPLAY_RATE", "fast"}}, {}), "QC_REPLAY_RATE"));
  EXPECT_TRUE(contains(serve_error({}, {"--sim-step-ms", "-5"}), "--sim-step-ms"));
  EXPECT_TRUE(contains(serve_error({{"QC_SIM_STEP_MS", "1e3"}}, {}), "QC_SIM_STEP_MS"));
  EXPECT_TRUE(contains(serve_error({{"QC_SIM_REPLAY_DAYS", "366"}}, {}), "QC_SIM_REPLAY_DAYS"));
  EXPECT_TRUE(contains(serve_error({}, {"--sim-replay-days", "-1"}), "--sim-replay-days"));
  EXPECT_TRUE(contains(serve_error({{"QC_LOG_LEVEL", "loud"}}, {}), "QC_LOG_LEVEL"));
}

TEST(ServeConfig, UnknownFlagIsAnError) {
  auto e = serve_error({}, {"--prot", "5050"});
  EXPECT_TRUE(contains(e, "--prot")) << e;
  e = serve_error({}, {"--port=5050", "--verbose"});
  EXPECT_TRUE(contains(e, "--verbose")) << e;
}

TEST(ServeConfig, PositionalArgumentIsAnError) {
  auto e = serve_error({}, {"5050"});
  EXPECT_TRUE(contains(e, "5050")) << e;
  e = serve_error({}, {"-p", "5050"});
  EXPECT_FALSE(e.empty());
}

TEST(ServeConfig, FlagWithoutValueIsAnError) {
  auto e = serve_error({}, {"--port"});
  EXPECT_TRUE(contains(e, "--port")) << e;
  e = serve_error({}, {"--host"});
  EXPECT_TRUE(contains(e, "--host")) << e;
}

TEST(ServeConfig, FeedKinds) {
  EXPECT_EQ(qc::parse_serve_config({}, {"--feed", "sim"}).feed, FeedKind::Sim);
  EXPECT_EQ(qc::parse_serve_config({}, {"--feed=none"}).feed, FeedKind::None);
  EXPECT_EQ(qc::parse_serve_config({{"QC_FEED", "none"}}, {}).feed, FeedKind::None);
  for (std::string bad : {"bogus", "replay:", "replay", "SIM", ""}) {
    auto e = serve_error({}, {"--feed=" + bad});
    EXPECT_TRUE(contains(e, "--feed")) << "'" << bad << "': " << e;
  }
  auto e = serve_error({{"QC_FEED", "bogus"}}, {});
  EXPECT_TRUE(contains(e, "QC_FEED")) << e;
}

TEST(ServeConfig, ReplayFeedNeedsAnExistingFile) {
  TempDir dir;
  auto bars = dir.write("bars.jsonl", "{}\n");
  auto c = qc::parse_serve_config({}, {"--feed", "replay:" + bars.string()});
  EXPECT_EQ(c.feed, FeedKind::Replay);
  EXPECT_EQ(c.replay_path.string(), bars.string());
  EXPECT_TRUE(c.feed_chosen);

  auto missing = (dir.path() / "missing.jsonl").string();
  auto e = serve_error({}, {"--feed", "replay:" + missing});
  EXPECT_TRUE(contains(e, missing)) << e;
  e = serve_error({{"QC_FEED", "replay:" + missing}}, {});
  EXPECT_TRUE(contains(e, missing)) << e;
  // A directory is not a bar file.
  e = serve_error({}, {"--feed", "replay:" + dir.path().string()});
  EXPECT_FALSE(e.empty());
}

TEST(ServeConfig, CorsOriginsAreSplitAndTrimmed) {
  auto c = qc::parse_serve_config(
      {{"QC_CORS_ORIGINS", " https://a.example ,https://b.example:8443,, \thttp://c.example\t"}},
      {});
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"https://a.example",
                                                      "https://b.example:8443",
                                                      "http://c.example"}));
  EXPECT_EQ(qc::parse_serve_config({{"QC_CORS_ORIGINS", "*"}}, {}).cors_origins,
            std::vector<std::string>{"*"});
  // Nothing but separators: the default.
  EXPECT_EQ(qc::parse_serve_config({{"QC_CORS_ORIGINS", " , ,"}}, {}).cors_origins,
            std::vector<std::string>{"*"});
}

TEST(ServeConfig, EmptyDataDirIsAnError) {
  auto e = serve_error({}, {"--data-dir="});
  EXPECT_FALSE(e.empty());
}

TEST(ServeConfig, UsageMentionsEveryFlagVariableAndDefault) {
  auto u = qc::serve_usage();
  EXPECT_EQ(u.rfind("usage: quantcrunch serve [options]\n", 0), 0u) << u;
  for (const char* flag :
       {"--host", "--port", "--data-dir", "--feed", "--replay-rate", "--sim-step-ms",
        "--sim-replay-days", "--sim-seed", "--docs-dir", "--threads", "--max-connections",
        "--log-level", "--log-format", "--help"})
    EXPECT_TRUE(contains(u, flag)) << flag;
  std::istringstream variables(
      "[HOST] [PORT] [QC_DATA_DIR] [QC_FEED] [QC_REPLAY_RATE] [QC_SIM_STEP_MS] "
      "[QC_SIM_REPLAY_DAYS] [QC_DOCS_DIR] [QC_HTTP_THREADS] [QC_MAX_CONNECTIONS] [QC_LOG_LEVEL] "
      "[QC_LOG_FORMAT] QC_SNAPSHOT_SECONDS "
      "QC_POLYGON_STALE_SECONDS QC_POLYGON_BACKOFF_MS QC_POLYGON_MAX_BACKOFF_MS MONGO_ATLAS_URI "
      "REDIS_URL REDIS_HOST POLYGON_API_KEY POLYGON_API_URL POLYGON_WS_URL QC_API_TOKEN "
      "QC_CORS_ORIGINS ./.env");
  for (std::string variable; variables >> variable;) EXPECT_TRUE(contains(u, variable)) << variable;
  for (const char* default_value :
       {"(default 0.0.0.0", "(default 5050)", "(default ./data)", "(default 5)", "(default 21)",
        "(default 20210712)", "(default 2)", "(default 0: derived from the open-file limit)"})
    EXPECT_TRUE(contains(u, default_value)) << default_value;
}

TEST(BacktestConfig, UsageMentionsEveryFlag) {
  auto u = qc::backtest_usage();
  EXPECT_EQ(u.rfind("usage: quantcrunch backtest --recommendations PATH --bars PATH", 0), 0u) << u;
  for (const char* flag : {"--recommendations", "--bars", "--out", "--quiet", "--help"})
    EXPECT_TRUE(contains(u, flag)) << flag;
}

// ---- flags through CLI11: every parse error is a one-line ConfigError -------

TEST(ServeConfig, Cli11ErrorsAreConfigErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;  // part of the message
  };
  for (const auto& [args, expected] : std::vector<Case>{
           {{"--bogus-flag", "1"}, "unknown option --bogus-flag"},
           {{"--bogus-flag=1"}, "unknown option --bogus-flag"},
           {{"-x"}, "unknown option -x"},
           {{"--port"}, "option --port needs a value"},
           {{"--port="}, "option --port needs a value"},
           {{"--threads", "4", "--max-connections"}, "option --max-connections needs a value"},
           // CLI11 would take the next option as the value; reported as missing.
           {{"--port", "--threads", "4"}, "option --port needs a value"},
           {{"--data-dir", "--port", "6000"}, "option --data-dir needs a value"},
           {{"--port", "abc"}, "--port must be an integer from 1 to 65535, got 'abc'"},
           {{"--threads", "two"}, "--threads must be an integer from 1 to 64, got 'two'"},
           {{"--max-connections", "1.5"}, "--max-connections must be an integer"},
           {{"--sim-seed", "-1"}, "--sim-seed must be an integer"},
           {{"--port", "6000", "6001"}, "unexpected argument '6001'"},
           {{"--help"}, "--help"},
       }) {
    auto e = serve_error({}, args);
    EXPECT_TRUE(contains(e, expected)) << "'" << e << "' lacks '" << expected << "'";
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(ServeConfig, FlagReplacesTheVariableUnchecked) {
  // Only the value in effect is parsed: a flag makes its variable irrelevant.
  auto c = qc::parse_serve_config(
      {{"PORT", "abc"}, {"HOST", "example.com"}, {"QC_MAX_CONNECTIONS", "-3"}},
      {"--port", "6000", "--host", "127.0.0.1", "--max-connections", "10"});
  EXPECT_EQ(c.port, 6000);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.max_connections, 10);
}

// ---- HOST ---------------------------------------------------------------------

TEST(ServeConfig, HostAcceptsIpv4AndIpv6Addresses) {
  for (std::string host : {"0.0.0.0", "127.0.0.1", "10.1.2.3", "::", "::1", "2001:db8::1",
                           "0:0:0:0:0:0:0:0", "::ffff:127.0.0.1"}) {
    EXPECT_EQ(qc::parse_serve_config({{"HOST", host}}, {}).host, host);
    EXPECT_EQ(qc::parse_serve_config({}, {"--host", host}).host, host);
    EXPECT_EQ(qc::parse_serve_config({}, {"--host=" + host}).host, host);
  }
}

TEST(ServeConfig, LocalhostIsTheIpv4Loopback) {
  EXPECT_EQ(qc::parse_serve_config({{"HOST", "localhost"}}, {}).host, "127.0.0.1");
  EXPECT_EQ(qc::parse_serve_config({}, {"--host", "localhost"}).host, "127.0.0.1");
}

TEST(ServeConfig, HostThatIsNotAnAddressIsRefused) {
  for (std::string bad :
       {"example.com", "localhost6", "LOCALHOST", "[::1]", "127.0.0.1:5050", "http://0.0.0.0",
        "256.0.0.1", "1.2.3", "::1::", " 127.0.0.1", "0.0.0.0 ", "*", "user:pw@10.0.0.1"}) {
    auto from_var = serve_error({{"HOST", bad}}, {});
    EXPECT_EQ(from_var.rfind("HOST must be an IPv4 or IPv6 address", 0), 0u)
        << "'" << bad << "': " << from_var;
    // It says what is accepted.
    for (const char* example : {"0.0.0.0", "127.0.0.1", "::", "localhost"})
      EXPECT_TRUE(contains(from_var, example)) << from_var;
    auto from_flag = serve_error({}, {"--host", bad});
    EXPECT_EQ(from_flag.rfind("--host must be", 0), 0u) << "'" << bad << "': " << from_flag;
  }
  EXPECT_TRUE(contains(serve_error({{"HOST", "[::1]"}}, {}), "without brackets"));
  EXPECT_TRUE(contains(serve_error({{"HOST", "127.0.0.1:5050"}}, {}), "PORT"));
  EXPECT_FALSE(contains(serve_error({{"HOST", "user:pw@10.0.0.1"}}, {}), "pw"));
}

// ---- REDIS_URL / REDIS_HOST ---------------------------------------------------

TEST(ServeConfig, RedisUrlAndHostAreParsedUpFront) {
  for (std::string good : {"redis://localhost", "redis://:pw@r:6380/1", "redis://u:pw@r",
                           "redis://[::1]:6379", "redis://10.0.0.5:6379/15"})
    EXPECT_EQ(qc::parse_serve_config({{"REDIS_URL", good}}, {}).redis_url, good);
  EXPECT_EQ(qc::parse_serve_config({{"REDIS_HOST", "redis.internal"}}, {}).redis_host,
            "redis.internal");
  EXPECT_EQ(qc::parse_serve_config({{"REDIS_HOST", "::1"}}, {}).redis_host, "::1");
}

TEST(ServeConfig, MalformedRedisUrlIsRefusedWithoutThePassword) {
  const std::string password = "Sup3rS3cret";
  for (std::string bad :
       {"redis://:" + password + "@host:99999", "redis://:" + password + "@host:abc/0",
        "redis://:" + password + "@host:6379/db", "redis://:" + password + "@",
        "redis://:" + password + "@ho st", "redis://:" + password + "@host:6379?db=1",
        "http://:" + password + "@host:6379", "redis://user" + password + "@host",
        ":" + password + "@host:6379", "redis://:" + password + "@h@st:1:2"}) {
    auto e = serve_error({{"REDIS_URL", bad}}, {});
    EXPECT_EQ(e.rfind("REDIS_URL", 0), 0u) << e;
    EXPECT_FALSE(contains(e, password)) << e;
    EXPECT_FALSE(contains(e, "Sup3r")) << e;
  }
  auto e = serve_error({{"REDIS_URL", "redis://:" + password + "@host:99999"}}, {});
  EXPECT_TRUE(contains(e, "port")) << e;
  EXPECT_TRUE(contains(e, "99999")) << e;
  EXPECT_TRUE(contains(e, "***")) << e;
}

TEST(ServeConfig, MalformedRedisHostIsRefused) {
  for (std::string bad : {"redis://host", "host:6380", "pw@host", "ho st"}) {
    auto e = serve_error({{"REDIS_HOST", bad}}, {});
    EXPECT_EQ(e.rfind("REDIS_HOST", 0), 0u) << "'" << bad << "': " << e;
  }
  // REDIS_URL wins; REDIS_HOST is then not used, nor checked.
  auto c = qc::parse_serve_config({{"REDIS_URL", "redis://r:6379"}, {"REDIS_HOST", "ho st"}}, {});
  EXPECT_EQ(c.redis_url, "redis://r:6379");
}

TEST(ServeConfig, RedissUrlIsParsedLikeRedis) {
  for (std::string url :
       {"rediss://:pw@host:6380", "rediss://host", "rediss://h:1/2?ssl_cert_reqs=none",
        "rediss://:pw@h:6380?ssl_cert_reqs=CERT_NONE"})
    EXPECT_EQ(qc::parse_serve_config({{"REDIS_URL", url}, {"REDIS_HOST", "ho st"}}, {}).redis_url,
              url);
  // Written in the form the server recognizes: trimmed, scheme in lowercase.
  EXPECT_EQ(qc::parse_serve_config({{"REDIS_URL", " REDISS://:pw@host:6380 "}}, {}).redis_url,
            "rediss://:pw@host:6380");
  EXPECT_EQ(qc::parse_serve_config({{"REDIS_URL", "Redis://h:1"}}, {}).redis_url, "redis://h:1");
}

TEST(ServeConfig, MalformedRedissUrlIsRefusedWithoutThePassword) {
  const std::string password = "Sup3rS3cret";
  for (std::string bad : {"rediss://:" + password + "@host:bad-port",
                          "rediss://:" + password + "@host?ssl_cert_reqs=maybe",
                          "rediss://:" + password + "@host?verify=0"}) {
    auto e = serve_error({{"REDIS_URL", bad}}, {});
    EXPECT_EQ(e.rfind("REDIS_URL", 0), 0u) << e;
    EXPECT_FALSE(contains(e, "Sup3r")) << e;
  }
}

TEST(ServeConfig, RedisTlsVerifyTakesZeroOneTrueOrFalse) {
  EXPECT_FALSE(qc::parse_serve_config({}, {}).redis_tls_verify.has_value());
  for (std::string off : {"0", "false", "FALSE", " False "})
    EXPECT_EQ(qc::parse_serve_config({{"QC_REDIS_TLS_VERIFY", off}}, {}).redis_tls_verify, false)
        << off;
  for (std::string on : {"1", "true", "True"})
    EXPECT_EQ(qc::parse_serve_config({{"QC_REDIS_TLS_VERIFY", on}}, {}).redis_tls_verify, true)
        << on;
  for (std::string bad : {"no", "yes", "2", "off", "none"}) {
    auto e = serve_error({{"QC_REDIS_TLS_VERIFY", bad}}, {});
    EXPECT_EQ(e.rfind("QC_REDIS_TLS_VERIFY must be 0", 0), 0u) << e;
    EXPECT_TRUE(contains(e, "'" + bad + "'")) << e;
  }
}

TEST(ServeConfig, RedisTlsCaFileMustBeAReadableFile) {
  TempDir dir;
  auto ca = dir.write("ca.pem", "not checked: REDIS_URL is not a rediss:// URL\n");
  EXPECT_EQ(qc::parse_serve_config({{"QC_REDIS_TLS_CA_FILE", ca.string()}}, {}).redis_tls_ca_file,
            ca.string());
  auto missing = (dir.path() / "missing.pem").string();
  auto e = serve_error({{"QC_REDIS_TLS_CA_FILE", missing}}, {});
  EXPECT_EQ(e, "QC_REDIS_TLS_CA_FILE '" + missing + "' does not exist");
  e = serve_error({{"QC_REDIS_TLS_CA_FILE", dir.path().string()}}, {});
  EXPECT_TRUE(contains(e, "is not a file")) << e;
  if (::geteuid() != 0) {  // root reads anything
    auto locked = dir.write("locked.pem", "x");
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    e = serve_error({{"QC_REDIS_TLS_CA_FILE", locked.string()}}, {});
    EXPECT_TRUE(contains(e, "cannot be read")) << e;
  }
  // The URL's ssl_ca_certs is checked the same way.
  e = serve_error({{"REDIS_URL", "rediss://:pw@h:6380?ssl_ca_certs=" + missing}}, {});
  EXPECT_EQ(e, "REDIS_URL ssl_ca_certs '" + missing + "' does not exist");
  // For a rediss:// URL the file must hold a certificate.
  e = serve_error({{"REDIS_URL", "rediss://:pw@h:6380"}, {"QC_REDIS_TLS_CA_FILE", ca.string()}},
                  {});
  EXPECT_TRUE(contains(e, ca.string())) << e;
  EXPECT_TRUE(contains(e, "cannot be loaded")) << e;
  EXPECT_FALSE(contains(e, ":pw@")) << e;
}

TEST(ServeConfig, RedisTlsSettingsThatContradictTheUrlAreRefused) {
  auto e = serve_error(
      {{"REDIS_URL", "rediss://:pw@h:6380?ssl_cert_reqs=none"}, {"QC_REDIS_TLS_VERIFY", "1"}}, {});
  EXPECT_TRUE(contains(e, "ssl_cert_reqs=none")) << e;
  EXPECT_TRUE(contains(e, "QC_REDIS_TLS_VERIFY=1")) << e;
  // The same word twice is fine.
  EXPECT_EQ(serve_error(
                {{"REDIS_URL", "rediss://h?ssl_cert_reqs=none"}, {"QC_REDIS_TLS_VERIFY", "0"}}, {}),
            "");
}

// ---- QC_CORS_ORIGINS ------------------------------------------------------------

std::string cors_error(const std::string& value) {
  return serve_error({{"QC_CORS_ORIGINS", value}}, {});
}

TEST(ServeConfig, CorsOriginsAcceptsOriginsAsBrowsersSendThem) {
  auto c = qc::parse_serve_config(
      {{"QC_CORS_ORIGINS",
        "https://app.example,http://localhost:3000,http://127.0.0.1:8080,http://[::1]:3000,"
        "https://xn--bcher-kva.example,http://a-b.c-d.example:65535,https://[2001:db8::1]"}},
      {});
  EXPECT_EQ(c.cors_origins,
            (std::vector<std::string>{"https://app.example", "http://localhost:3000",
                                      "http://127.0.0.1:8080", "http://[::1]:3000",
                                      "https://xn--bcher-kva.example",
                                      "http://a-b.c-d.example:65535", "https://[2001:db8::1]"}));
  EXPECT_EQ(qc::parse_serve_config({{"QC_CORS_ORIGINS", " * "}}, {}).cors_origins,
            std::vector<std::string>{"*"});
}

TEST(ServeConfig, CorsOriginWithTrailingSlashIsRefusedSayingWhy) {
  auto e = cors_error("https://good.example,https://app.example/");
  EXPECT_EQ(e.rfind("QC_CORS_ORIGINS", 0), 0u) << e;
  EXPECT_TRUE(contains(e, "'https://app.example/'")) << e;
  EXPECT_TRUE(contains(e, "trailing slash")) << e;
  EXPECT_TRUE(contains(e, "never match")) << e;
  EXPECT_TRUE(contains(e, "write 'https://app.example'")) << e;
}

TEST(ServeConfig, CorsOriginWithPathQueryOrFragmentIsRefused) {
  for (std::string bad :
       {"https://app.example/app", "https://app.example/app/", "https://app.example?x=1",
        "https://app.example#top", "http://localhost:3000/index.html"}) {
    auto e = cors_error(bad);
    EXPECT_TRUE(contains(e, "'" + bad + "'")) << e;
    EXPECT_TRUE(contains(e, "never part of an origin")) << e;
  }
}

TEST(ServeConfig, CorsOriginsRefuseOtherMalformedEntries) {
  struct Case {
    std::string entry, expected;
  };
  for (const auto& [entry, expected] : std::vector<Case>{
           {"app.example", "is not an origin"},
           {"//app.example", "is not an origin"},
           {"ftp://app.example", "scheme 'ftp'"},
           {"chrome-extension://abcdef", "scheme"},
           {"null", "'null' is not allowed"},
           {"https://", "has no host"},
           {"https://:443", "has no host"},
           {"https://app.example:", "empty port"},
           {"https://app.example:0", "port must be a number from 1 to 65535"},
           {"https://app.example:65536", "port must be a number from 1 to 65535"},
           {"https://app.example:http", "port must be a number"},
           {"http://::1:3000", "must be in brackets"},
           {"http://[::1", "unterminated"},
           {"http://[::1]x", "after ']'"},
           {"http://[nope]:3000", "is not an IPv6 address"},
           {"http://999.0.0.1", "is not an IPv4 address"},
           {"http://127.1", "is not an IPv4 address"},
           {"https://*.app.example", "wildcards are not supported"},
           {"https://app_example.com", "is not a host name"},
           {"https://app..example", "empty label"},
           {"https://b\xc3\xbc"
            "cher.example",
            "xn--"},  // bücher
           // Never equal to what a browser sends: the right form is suggested.
           {"HTTPS://app.example", "write 'https://app.example'"},
           {"https://App.Example", "write 'https://app.example'"},
           {"https://app.example:443", "write 'https://app.example'"},
           {"http://app.example:80", "write 'http://app.example'"},
           {"http://app.example:03000", "write 'http://app.example:3000'"},
           {"http://[0:0:0:0:0:0:0:1]:3000", "write 'http://[::1]:3000'"},
       }) {
    auto e = cors_error("https://ok.example," + entry);
    EXPECT_EQ(e.rfind("QC_CORS_ORIGINS: entry '", 0), 0u) << entry << ": " << e;
    EXPECT_TRUE(contains(e, expected)) << entry << ": " << e;
  }
}

TEST(ServeConfig, CorsOriginWithUserInfoIsRefusedWithoutThePassword) {
  auto e = cors_error("https://admin:Hunter2pw@app.example");
  EXPECT_TRUE(contains(e, "user info")) << e;
  EXPECT_FALSE(contains(e, "Hunter2pw")) << e;
}

TEST(ServeConfig, CorsStarMixedWithOriginsIsRefused) {
  for (std::string mixed : {"*,https://app.example", "https://app.example, *"}) {
    auto e = cors_error(mixed);
    EXPECT_TRUE(contains(e, "'*'")) << e;
    EXPECT_TRUE(contains(e, "https://app.example")) << e;
  }
  EXPECT_EQ(qc::parse_serve_config({{"QC_CORS_ORIGINS", "*,*"}}, {}).cors_origins,
            (std::vector<std::string>{"*", "*"}));
}

// ---- QC_MAX_CONNECTIONS -------------------------------------------------------

TEST(ServeConfig, MaxConnections) {
  EXPECT_EQ(qc::parse_serve_config({}, {}).max_connections, 0);  // derived by the server
  EXPECT_EQ(qc::parse_serve_config({{"QC_MAX_CONNECTIONS", "0"}}, {}).max_connections, 0);
  EXPECT_EQ(qc::parse_serve_config({{"QC_MAX_CONNECTIONS", "1"}}, {}).max_connections, 1);
  EXPECT_EQ(qc::parse_serve_config({{"QC_MAX_CONNECTIONS", "5000"}}, {}).max_connections, 5000);
  EXPECT_EQ(qc::parse_serve_config({{"QC_MAX_CONNECTIONS", "5000"}}, {"--max-connections", "64"})
                .max_connections,
            64);
  EXPECT_EQ(qc::parse_serve_config({}, {"--max-connections=1048576"}).max_connections, 1048576);
  for (std::string bad : {"-1", "x", "1.5", "1e3", "1048577", "99999999999", " 5"}) {
    auto e = serve_error({{"QC_MAX_CONNECTIONS", bad}}, {});
    EXPECT_EQ(e.rfind("QC_MAX_CONNECTIONS must be an integer from 0 to 1048576, got '" + bad, 0),
              0u)
        << e;
    e = serve_error({}, {"--max-connections", bad});
    EXPECT_EQ(e.rfind("--max-connections must be an integer", 0), 0u) << e;
  }
}

// ---- read_dotenv / collect_variables ----------------------------------------

TEST(DotEnv, ParsesCommentsExportQuotesAndBlankLines) {
  TempDir dir;
  auto path = dir.write(".env",
                        "# a comment\n"
                        "\n"
                        "PORT=6000\n"
                        "   \n"
                        "export HOST=127.0.0.1\n"
                        "  # indented comment\n"
                        "QC_API_TOKEN=\"s3cret with spaces\"\n"
                        "SINGLE='single # not a comment'\n"
                        "  SPACED  =  value with spaces  \n"
                        "INLINE=value # trailing comment\n"
                        "EMPTY=\n"
                        "URL=mongodb://u:p@h/db?a=b&c=d\n"
                        "CRLF=yes\r\n"
                        "NOT A PAIR\n"
                        "LAST=no-newline");
  auto v = qc::read_dotenv(path);
  EXPECT_EQ(v["PORT"], "6000");
  EXPECT_EQ(v["HOST"], "127.0.0.1");
  EXPECT_EQ(v["QC_API_TOKEN"], "s3cret with spaces");
  EXPECT_EQ(v["SINGLE"], "single # not a comment");
  EXPECT_EQ(v["SPACED"], "value with spaces");
  EXPECT_EQ(v["INLINE"], "value");
  EXPECT_EQ(v.count("EMPTY"), 1u);
  EXPECT_EQ(v["EMPTY"], "");
  EXPECT_EQ(v["URL"], "mongodb://u:p@h/db?a=b&c=d");
  EXPECT_EQ(v["CRLF"], "yes");
  EXPECT_EQ(v["LAST"], "no-newline");
  EXPECT_EQ(v.count("export HOST"), 0u);
  EXPECT_EQ(v.count("# a comment"), 0u);
  EXPECT_EQ(v.count("NOT A PAIR"), 0u);
}

TEST(DotEnv, QuotedValueFollowedByAComment) {
  // Common .env style (python-dotenv, docker compose): the quotes delimit the
  // value, the comment after them is not part of it.
  TempDir dir;
  auto path = dir.write(".env",
                        "QC_API_TOKEN=\"s3cret\" # production token\n"
                        "HOST='127.0.0.1'  # loopback only\n");
  auto v = qc::read_dotenv(path);
  EXPECT_EQ(v["QC_API_TOKEN"], "s3cret");
  EXPECT_EQ(v["HOST"], "127.0.0.1");
}

TEST(DotEnv, MissingFileIsEmpty) {
  TempDir dir;
  EXPECT_TRUE(qc::read_dotenv(dir.path() / "no-such.env").empty());
}

TEST(DotEnv, DotEnvFeedsParseServeConfig) {
  TempDir dir;
  auto path =
      dir.write(".env", "PORT=7070\nQC_CORS_ORIGINS=https://x.example, https://y.example\n");
  auto c = qc::parse_serve_config(qc::read_dotenv(path), {});
  EXPECT_EQ(c.port, 7070);
  EXPECT_EQ(c.cors_origins,
            (std::vector<std::string>{"https://x.example", "https://y.example"}));
}

// ---- webhooks (SPEC §4.9) -----------------------------------------------------

TEST(ServeConfig, WebhooksAreOffByDefault) {
  auto c = qc::parse_serve_config({}, {});
  EXPECT_TRUE(c.webhook_urls.empty());
  EXPECT_EQ(c.webhook_format, "json");
  EXPECT_EQ(c.webhook_timeout_ms, 10'000);
  EXPECT_EQ(c.webhook_backoff_ms, 1'000);
  EXPECT_EQ(c.webhook_max_backoff_ms, 300'000);
  // A secret alone turns nothing on.
  EXPECT_EQ(serve_error({{"QC_WEBHOOK_SECRET", "s3cret"}}, {}), "");
}

TEST(ServeConfig, WebhookUrlsFormatAndTuning) {
  auto c = qc::parse_serve_config({{"QC_WEBHOOK_URLS", " https://a.example/x , ,http://127.0.0.1:9/y?t=1 "},
                                   {"QC_WEBHOOK_SECRET", "s3cret"},
                                   {"QC_WEBHOOK_FORMAT", "Discord"},
                                   {"QC_WEBHOOK_TIMEOUT_MS", "2500"},
                                   {"QC_WEBHOOK_BACKOFF_MS", "10"},
                                   {"QC_WEBHOOK_MAX_BACKOFF_MS", "60000"}},
                                  {});
  EXPECT_EQ(c.webhook_urls, (std::vector<std::string>{"https://a.example/x", "http://127.0.0.1:9/y?t=1"}));
  EXPECT_EQ(c.webhook_secret, "s3cret");
  EXPECT_EQ(c.webhook_format, "discord");
  EXPECT_EQ(c.webhook_timeout_ms, 2500);
  EXPECT_EQ(c.webhook_backoff_ms, 10);
  EXPECT_EQ(c.webhook_max_backoff_ms, 60000);
  // Slack and Discord authenticate by the URL: no secret needed.
  EXPECT_EQ(serve_error({{"QC_WEBHOOK_URLS", "https://hooks.slack.com/services/T/B/X"},
                         {"QC_WEBHOOK_FORMAT", "slack"}},
                        {}),
            "");
}

TEST(ServeConfig, BadWebhookSettingsAreErrorsThatQuoteNoSecret) {
  const std::string secret_path = "/services/T0/B0/XyZsecret";
  struct Case {
    Variables vars;
    std::vector<std::string> says;
  };
  const Case cases[] = {
      {{{"QC_WEBHOOK_URLS", "ftp://h.example" + secret_path}, {"QC_WEBHOOK_SECRET", "k"}},
       {"QC_WEBHOOK_URLS", "entry 1", "scheme 'ftp'"}},
      {{{"QC_WEBHOOK_URLS", "https://ok.example,h.example" + secret_path}, {"QC_WEBHOOK_SECRET", "k"}},
       {"entry 2", "not a URL"}},
      {{{"QC_WEBHOOK_URLS", "https://u:XyZsecret@h.example/"}, {"QC_WEBHOOK_SECRET", "k"}}, {"user info"}},
      {{{"QC_WEBHOOK_URLS", "https://h.example" + secret_path + ",https://h.example" + secret_path},
        {"QC_WEBHOOK_SECRET", "k"}},
       {"entries 1 and 2", "https://h.example/...", "same URL"}},
      {{{"QC_WEBHOOK_URLS", "https://h.example" + secret_path}}, {"QC_WEBHOOK_SECRET must be set"}},
      {{{"QC_WEBHOOK_FORMAT", "teams"}}, {"QC_WEBHOOK_FORMAT must be json, slack or discord", "'teams'"}},
      {{{"QC_WEBHOOK_TIMEOUT_MS", "99"}}, {"QC_WEBHOOK_TIMEOUT_MS", "100 to 120000"}},
      {{{"QC_WEBHOOK_BACKOFF_MS", "0"}}, {"QC_WEBHOOK_BACKOFF_MS"}},
      {{{"QC_WEBHOOK_MAX_BACKOFF_MS", "x"}}, {"QC_WEBHOOK_MAX_BACKOFF_MS"}},
  };
  for (const auto& c : cases) {
    auto error = serve_error(c.vars, {});
    SCOPED_TRACE(error);
    EXPECT_FALSE(error.empty());
    for (const auto& w : c.says) EXPECT_TRUE(contains(error, w)) << w;
    EXPECT_FALSE(contains(error, "XyZsecret"));
  }
}

TEST(CollectVariables, EnvironmentWinsOverDotEnv) {
  TempDir dir;
  auto path = dir.write(".env", "PORT=7000\nQC_DATA_DIR=/from-dotenv\nHOST=10.0.0.1\n");
  std::string e1 = "PORT=6000", e2 = "HOST=127.0.0.1", e3 = "QC_API_TOKEN=a=b=c", e4 = "NOEQUALS";
  char* env[] = {e1.data(), e2.data(), e3.data(), e4.data(), nullptr};
  auto v = qc::collect_variables(env, path);
  EXPECT_EQ(v["PORT"], "6000");
  EXPECT_EQ(v["HOST"], "127.0.0.1");
  EXPECT_EQ(v["QC_DATA_DIR"], "/from-dotenv");
  EXPECT_EQ(v["QC_API_TOKEN"], "a=b=c");
  EXPECT_EQ(v.count("NOEQUALS"), 0u);

  auto c = qc::parse_serve_config(v, {"--host", "0.0.0.0"});
  EXPECT_EQ(c.port, 6000);             // environment > .env
  EXPECT_EQ(c.host, "0.0.0.0");        // flag > environment
  EXPECT_EQ(c.data_dir.string(), "/from-dotenv");  // .env when nothing else
}

TEST(CollectVariables, NoEnvironmentOrNoDotEnv) {
  TempDir dir;
  auto path = dir.write(".env", "PORT=7000\n");
  EXPECT_EQ(qc::collect_variables(nullptr, path)["PORT"], "7000");
  std::string e1 = "PORT=6000";
  char* env[] = {e1.data(), nullptr};
  auto v = qc::collect_variables(env, dir.path() / "missing.env");
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(v["PORT"], "6000");
}

// ---- parse_backtest_config --------------------------------------------------

TEST(BacktestConfig, RequiredFlags) {
  auto c = qc::parse_backtest_config({"--recommendations", "recs.jsonl", "--bars=bars.csv"});
  EXPECT_EQ(c.recommendations.string(), "recs.jsonl");
  EXPECT_EQ(c.bars.string(), "bars.csv");
  EXPECT_TRUE(c.out.empty());
  EXPECT_TRUE(c.progress);

  auto e = backtest_error({"--bars", "bars.csv"});
  EXPECT_TRUE(contains(e, "--recommendations")) << e;
  e = backtest_error({"--recommendations", "recs.jsonl"});
  EXPECT_TRUE(contains(e, "--bars")) << e;
  e = backtest_error({});
  EXPECT_FALSE(e.empty());
}

TEST(BacktestConfig, OptionalFlags) {
  auto c = qc::parse_backtest_config(
      {"--quiet", "--recommendations=r.jsonl", "--bars", "b.jsonl", "--out", "perf.json"});
  EXPECT_EQ(c.out.string(), "perf.json");
  EXPECT_FALSE(c.progress);
}

TEST(BacktestConfig, UnknownFlagAndMissingValue) {
  auto e = backtest_error({"--recommendations", "r", "--bars", "b", "--port", "1"});
  EXPECT_TRUE(contains(e, "--port")) << e;
  e = backtest_error({"--recommendations", "r", "--bars"});
  EXPECT_TRUE(contains(e, "--bars")) << e;
  e = backtest_error({"r.jsonl", "b.jsonl"});
  EXPECT_FALSE(e.empty());
}

}  // namespace
