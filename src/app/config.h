// Configuration (SPEC §3): process environment, then a `.env` file in the
// working directory (the environment wins), then command-line flags (flags
// win). Bad values are ConfigErrors with a message naming the setting (the
// flag or the variable the value came from); everything the server would
// otherwise fail on later (bind address, Redis URL and TLS files, CORS origins,
// webhook URLs) is checked here, so a bad value stops `quantcrunch` before
// anything starts.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace qc {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class FeedKind { Sim, Replay, None, Polygon };

struct ServeConfig {
  std::string host = "0.0.0.0";  // an IPv4 or IPv6 address; "localhost" becomes 127.0.0.1
  std::uint16_t port = 5050;
  std::filesystem::path data_dir = "data";
  std::string mongo_uri;
  std::string redis_url;  // trimmed, scheme in lowercase (redis:// or rediss://)
  std::string redis_host;
  // QC_REDIS_TLS_VERIFY (0, 1, true, false): whether a rediss:// server's
  // certificate is verified; unset: as REDIS_URL says (ssl_cert_reqs), by
  // default verified.
  std::optional<bool> redis_tls_verify;
  // QC_REDIS_TLS_CA_FILE: PEM file of the CAs a rediss:// server's
  // certificate must chain to (instead of the system store); checked readable.
  std::string redis_tls_ca_file;
  std::string polygon_api_key;
  std::string polygon_api_url = "https://api.massive.com";
  std::string polygon_ws_url = "wss://socket.massive.com/stocks";
  std::string api_token;
  std::vector<std::string> cors_origins = {"*"};  // "*" alone, or origins as browsers send them
  FeedKind feed = FeedKind::Sim;
  bool feed_chosen = false;  // set explicitly (flag or QC_FEED)
  std::filesystem::path replay_path;
  double replay_rate = 0;  // bars per second, 0 = as fast as possible
  int sim_step_ms = 5;     // wall-clock ms per simulated minute while the sim replays the past
  int sim_replay_days = 21;  // how far back the sim's replay starts
  std::uint64_t sim_seed = 20210712;
  std::filesystem::path docs_dir;  // empty: next to the executable, then the build tree
  int http_threads = 2;
  // Most HTTP connections open at once; 0: derived from the open-file limit
  // by the server (QC_MAX_CONNECTIONS, --max-connections).
  int max_connections = 0;
  // Live events, GET /api/events (QC_EVENTS_*; docs/decisions.md "Live events").
  int events_max_subscribers = 10'000;
  int events_history = 10'000;                  // opened/closed events kept for Last-Event-ID
  std::uint64_t events_history_bytes = 16 << 20;
  std::uint64_t events_queue_bytes = 4 << 20;   // how far a subscriber may fall behind
  int events_heartbeat_ms = 15'000;
  int snapshot_seconds = 15;         // ticker snapshot refresh (Polygon)
  int stale_seconds = 180;           // replace a silent websocket during market hours
  int backoff_ms = 500;              // first reconnect delay, doubles up to max
  int max_backoff_ms = 60'000;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json
  // Webhooks (SPEC §4.9). QC_WEBHOOK_URLS: each entry an http:// or https://
  // URL checked by parse_webhook_url (a secret: never logged); empty: off.
  std::vector<std::string> webhook_urls;
  std::string webhook_secret;           // QC_WEBHOOK_SECRET; required for format json
  std::string webhook_format = "json";  // QC_WEBHOOK_FORMAT: json | slack | discord
  int webhook_timeout_ms = 10'000;      // QC_WEBHOOK_TIMEOUT_MS: one POST, connect to answer
  int webhook_backoff_ms = 1'000;       // QC_WEBHOOK_BACKOFF_MS: first retry ceiling
  int webhook_max_backoff_ms = 300'000; // QC_WEBHOOK_MAX_BACKOFF_MS: retry cap
};

// Upper bound accepted for QC_MAX_CONNECTIONS (Linux's default nr_open, the
// highest open-file limit a process gets without tuning the kernel).
inline constexpr int kMaxConnectionsLimit = 1'048'576;

struct BacktestConfig {
  std::filesystem::path recommendations;
  std::filesystem::path bars;
  std::filesystem::path out;  // empty: stdout
  bool progress = true;
  bool stats = false;  // print the /api/stats document (SPEC §4.8) instead
  std::filesystem::path report;  // non-empty: also write the HTML report (SPEC §4.10) here
};

// Variables from the environment and `.env`; the environment wins.
using Variables = std::map<std::string, std::string>;
Variables read_dotenv(const std::filesystem::path& path);  // missing file: empty
Variables collect_variables(char** environ_ptr, const std::filesystem::path& dotenv);

// `args` excludes the program name and subcommand.
ServeConfig parse_serve_config(const Variables& vars, const std::vector<std::string>& args);
BacktestConfig parse_backtest_config(const std::vector<std::string>& args);

std::string serve_usage();
std::string backtest_usage();

}  // namespace qc
