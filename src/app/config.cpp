// Configuration (SPEC §3). Flags are parsed by CLI11 into their raw text; each
// setting then takes its value from the flag when given, else from the
// variable, and that one value is parsed and checked by the same code, so an
// error names the flag or the variable the value came from. Every value the
// server would fail on later (bind address, Redis URL, CORS origins) is
// checked here, before anything starts.
#include "app/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

#include "cache/redis/redis_connection.h"
#include "cache/redis/redis_url.h"
#include "log/redact.h"
#include "notify/webhook_body.h"
#include "notify/webhook_endpoint.h"
#include "text/ascii.h"

namespace qc {
namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

template <class T>
T parse_int(const std::string& name, const std::string& text, T lo, T hi) {
  T v{};
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size() || v < lo || v > hi)
    throw ConfigError(name + " must be an integer from " + std::to_string(lo) + " to " +
                      std::to_string(hi) + ", got '" + text + "'");
  return v;
}

double parse_nonnegative(const std::string& name, const std::string& text) {
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size() || !(v >= 0))
    throw ConfigError(name + " must be a number >= 0, got '" + text + "'");
  return v;
}

void set_feed(ServeConfig& c, const std::string& name, const std::string& value) {
  c.feed_chosen = true;
  if (value == "sim") {
    c.feed = FeedKind::Sim;
  } else if (value == "none") {
    c.feed = FeedKind::None;
  } else if (value == "polygon") {
    c.feed = FeedKind::Polygon;
  } else if (value.rfind("replay:", 0) == 0 && value.size() > 7) {
    c.feed = FeedKind::Replay;
    c.replay_path = value.substr(7);
  } else {
    throw ConfigError(name + " must be sim, none, polygon or replay:PATH, got '" + value + "'");
  }
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (auto t = trim(item); !t.empty()) out.push_back(t);
  return out;
}

// HOST / --host: what the HTTP server hands to asio::ip::make_address, so an
// address it would refuse is refused here. `localhost` is the one name
// accepted, as 127.0.0.1 (docs/decisions.md "Command line").
std::string parse_host(const std::string& name, const std::string& value) {
  if (value == "localhost") return "127.0.0.1";
  boost::system::error_code ec;
  boost::asio::ip::make_address(value, ec);
  if (!ec) return value;
  std::string hint;
  if (value.size() > 2 && value.front() == '[' && value.back() == ']')
    hint = "; write an IPv6 address without brackets, e.g. ::1";
  else if (value.find_first_of("/@") != std::string::npos)
    hint = "; it takes an address only, not a URL";
  else if (std::count(value.begin(), value.end(), ':') == 1)
    hint = "; the port goes in PORT / --port";
  else if (std::any_of(value.begin(), value.end(),
                       [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }) &&
           value.find(':') == std::string::npos)
    hint = "; host names other than localhost are not resolved";
  throw ConfigError(name +
                    " must be an IPv4 or IPv6 address such as 0.0.0.0 (every IPv4 "
                    "interface), :: (every interface), 127.0.0.1 or ::1 (loopback), or "
                    "localhost (= 127.0.0.1); got '" +
                    redact_uri(value) + "'" + hint);
}

// Why one QC_CORS_ORIGINS entry can never equal the Origin header a browser
// sends (RFC 6454 serialization: lowercase scheme and host, no default port,
// no path), or "" when it is `*` or such an origin. The entry is quoted with
// its user info redacted.
std::string origin_problem(const std::string& entry) {
  if (entry == "*") return {};
  const std::string quoted = "'" + redact_uri(entry) + "'";
  const std::string shape = "an origin is scheme://host[:port] with scheme http or https";
  if (entry == "null")
    return "'null' is not allowed: browsers send it for sandboxed frames and local files, so it "
           "would let any of them in";
  auto sep = entry.find("://");
  if (sep == std::string::npos)
    return quoted + " is not an origin: " + shape + ", e.g. https://app.example";
  std::string scheme = entry.substr(0, sep);
  const std::string lower_scheme = ascii_lower(scheme);
  if (lower_scheme != "http" && lower_scheme != "https")
    return quoted + " has scheme '" + scheme + "': " + shape;
  std::string rest = entry.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, end);
  if (authority.find('@') != std::string::npos)
    return quoted + " has user info ('...@'), which is never part of an origin: " + shape;
  if (end != std::string::npos) {
    std::string tail = rest.substr(end);
    std::string without = scheme + "://" + authority;
    if (tail == "/")
      return quoted +
             " ends with '/': browsers send the Origin header without a trailing slash, "
             "so it would never match; write '" +
             without + "'";
    const char* what = tail[0] == '/' ? "a path" : tail[0] == '?' ? "a query" : "a fragment";
    return quoted + " has " + what + " ('" + tail +
           "'), which is never part of an origin: " + shape + "; write '" + without + "'";
  }

  std::string host, port;
  bool ipv6 = false;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return quoted + ": unterminated '[' in the host";
    host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return quoted + ": unexpected text after ']'";
    if (!after.empty()) port = after.substr(1);
    if (port.empty() && !after.empty()) return quoted + ": empty port after ':'";
    ipv6 = true;
  } else {
    auto colon = authority.find(':');
    if (colon != std::string::npos && authority.find(':', colon + 1) != std::string::npos)
      return quoted + ": an IPv6 address must be in brackets, e.g. http://[::1]:3000";
    host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return quoted + ": empty port after ':'";
    }
  }
  if (host.empty()) return quoted + " has no host: " + shape;

  // The form browsers send, to suggest it when the entry differs only in form.
  std::string canonical_host;
  if (ipv6) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address_v6(host, ec);
    if (ec || a.scope_id() != 0) return quoted + ": '" + host + "' is not an IPv6 address";
    canonical_host = "[" + a.to_string() + "]";
  } else if (host.find_first_not_of("0123456789.") == std::string::npos) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address_v4(host, ec);
    if (ec) return quoted + ": '" + host + "' is not an IPv4 address";
    canonical_host = a.to_string();
  } else {
    if (host.find('*') != std::string::npos)
      return quoted + ": wildcards are not supported; list each origin, or use * alone";
    for (unsigned char c : host)
      if (c >= 0x80)
        return quoted +
               ": write an international host name in its ASCII (xn--) form, as "
               "browsers send it";
    for (unsigned char c : host)
      if (!std::isalnum(c) && c != '-' && c != '.')
        return quoted + ": '" + host + "' is not a host name";
    if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string::npos)
      return quoted + ": '" + host + "' has an empty label";
    canonical_host = ascii_lower(host);
  }

  std::string canonical_port;
  if (!port.empty()) {
    unsigned value = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (r.ec != std::errc{} || r.ptr != port.data() + port.size() || value < 1 || value > 65535)
      return quoted + ": the port must be a number from 1 to 65535, got '" + port + "'";
    bool is_default =
        (lower_scheme == "http" && value == 80) || (lower_scheme == "https" && value == 443);
    if (!is_default) canonical_port = ":" + std::to_string(value);
  }
  std::string canonical = lower_scheme + "://" + canonical_host + canonical_port;
  if (canonical != entry)
    return quoted +
           " is not in the form browsers send in the Origin header (lowercase, no "
           "default port, no leading zeros), so it would never match; write '" +
           canonical + "'";
  return {};
}

std::vector<std::string> parse_cors_origins(const std::string& value) {
  auto origins = split_list(value);
  for (const auto& o : origins)
    if (auto problem = origin_problem(o); !problem.empty())
      throw ConfigError("QC_CORS_ORIGINS: entry " + problem);
  bool any = std::find(origins.begin(), origins.end(), "*") != origins.end();
  for (const auto& o : origins)
    if (any && o != "*")
      throw ConfigError("QC_CORS_ORIGINS lists '*' together with '" + o +
                        "': '*' allows every origin, so the list would restrict nothing; set "
                        "either '*' alone or only the origins to allow");
  return origins;
}

// A file the server will read later: it must exist and be readable now.
void check_readable_file(const std::string& name, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw ConfigError(name + " '" + path + "' does not exist");
  if (!std::filesystem::is_regular_file(path, ec))
    throw ConfigError(name + " '" + path + "' is not a file");
  std::ifstream in(path);
  if (!in) throw ConfigError(name + " '" + path + "' cannot be read (permissions?)");
}

// QC_REDIS_TLS_VERIFY: 0, 1, true or false (any case).
bool parse_tls_verify(const std::string& value) {
  const std::string v = ascii_lower(trim(value));
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  throw ConfigError(
      "QC_REDIS_TLS_VERIFY must be 0 or false (accept a rediss:// server's certificate "
      "without verifying it, e.g. Heroku's self-signed ones), or 1 or true (verify, the "
      "default); got '" +
      value + "'");
}

// REDIS_URL / REDIS_HOST with QC_REDIS_TLS_*, parsed as the cache adapter
// will parse them (redis_endpoint_from), and the CA file it will load.
void check_redis(ServeConfig& c) {
  c.redis_url = trim(c.redis_url);
  if (auto sep = c.redis_url.find("://"); sep != std::string::npos)
    c.redis_url = ascii_lower(c.redis_url.substr(0, sep)) + c.redis_url.substr(sep);
  if (!c.redis_tls_ca_file.empty())
    check_readable_file("QC_REDIS_TLS_CA_FILE", c.redis_tls_ca_file);
  std::optional<RedisEndpoint> endpoint;
  try {
    endpoint =
        redis_endpoint_from(c.redis_url, c.redis_host, {c.redis_tls_verify, c.redis_tls_ca_file});
  } catch (const RedisUrlError& e) {
    throw ConfigError(e.what());
  }
  if (!endpoint || !endpoint->tls || endpoint->tls_ca_file.empty()) return;
  if (c.redis_tls_ca_file.empty())
    check_readable_file("REDIS_URL ssl_ca_certs", endpoint->tls_ca_file);
  // Loaded as the adapter will load it: a file without a PEM certificate is
  // refused now, not at the first connection.
  if (endpoint->tls_verify) {
    try {
      make_redis_tls_context(*endpoint);
    } catch (const RedisUrlError& e) {
      throw ConfigError(e.what());
    }
  }
}

// QC_WEBHOOK_URLS with QC_WEBHOOK_FORMAT and QC_WEBHOOK_SECRET: every URL as
// the notifier will parse it; messages never quote a URL's path or query.
void check_webhooks(const ServeConfig& c) {
  std::vector<WebhookEndpoint> endpoints;
  for (std::size_t i = 0; i < c.webhook_urls.size(); ++i) {
    try {
      endpoints.push_back(parse_webhook_url(c.webhook_urls[i], static_cast<int>(i + 1)));
    } catch (const WebhookUrlError& e) {
      throw ConfigError(std::string("QC_WEBHOOK_URLS: ") + e.what());
    }
    for (std::size_t j = 0; j < i; ++j)
      if (endpoints[j].key == endpoints[i].key)
        throw ConfigError("QC_WEBHOOK_URLS: entries " + std::to_string(j + 1) + " and " +
                          std::to_string(i + 1) + " (" + endpoints[i].origin +
                          "/...) are the same URL; list each endpoint once");
  }
  if (!endpoints.empty() && c.webhook_format == "json" && c.webhook_secret.empty())
    throw ConfigError(
        "QC_WEBHOOK_SECRET must be set when QC_WEBHOOK_URLS is (with QC_WEBHOOK_FORMAT json, "
        "the default): every POST is signed with it (X-QuantCrunch-Signature) so that receivers "
        "can reject forged ones; e.g. QC_WEBHOOK_SECRET=$(openssl rand -hex 32)");
}

// ---- flags (CLI11) -----------------------------------------------------------

// The raw text of one flag, parsed later by the code that parses its variable.
struct Flag {
  CLI::Option* option = nullptr;
  std::string value;
  bool given() const { return option && option->count() > 0; }
};

// Help text: the usage line first, then the description, the options and the
// footer (CLI11's default puts the description first and says "Usage:").
class UsageFirstFormatter : public CLI::Formatter {
 public:
  explicit UsageFirstFormatter(std::string usage) : usage_(std::move(usage)) {
    column_width(24);
    label("OPTIONS", "options");
  }
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    std::string out = usage_ + "\n";
    if (!app->get_description().empty()) out += "\n" + app->get_description() + "\n";
    out += make_groups(app, mode);
    if (!app->get_footer().empty()) out += "\n" + app->get_footer() + "\n";
    return out;
  }

 private:
  std::string usage_;
};

CLI::App& base_app(CLI::App& app, std::string usage, const std::string& group) {
  app.formatter(std::make_shared<UsageFirstFormatter>(std::move(usage)));
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group(group);
  app.set_help_flag("-h,--help", "print this help and exit")->group(group);
  return app;
}

struct ServeFlags {
  Flag host, port, data_dir, feed, replay_rate, sim_step_ms, sim_replay_days, sim_seed, docs_dir,
      threads, log_level, log_format, max_connections;
};

std::unique_ptr<CLI::App> make_serve_app(ServeFlags& f) {
  auto app =
      std::make_unique<CLI::App>("Runs the HTTP API and the position engine.", "quantcrunch serve");
  base_app(*app, "usage: quantcrunch serve [options]",
           "options (each also settable by the environment variable in brackets)");
  auto add = [&](Flag& flag, const char* name, const char* type, const char* help) {
    flag.option = app->add_option(name, flag.value, help)->type_name(type);
  };
  add(f.host, "--host", "H",
      "bind address [HOST] (default 0.0.0.0): an IPv4 or IPv6\n"
      "address such as 127.0.0.1, :: or ::1, or localhost (= 127.0.0.1)");
  add(f.port, "--port", "N", "HTTP port [PORT] (default 5050)");
  add(f.data_dir, "--data-dir", "DIR",
      "SQLite file and local state [QC_DATA_DIR] (default ./data)");
  add(f.feed, "--feed", "KIND",
      "sim | replay:PATH | none | polygon [QC_FEED]\n"
      "(default: polygon when POLYGON_API_KEY is set, else sim)");
  add(f.replay_rate, "--replay-rate", "N",
      "replay at N bars/s, 0 = unlimited [QC_REPLAY_RATE] (default 0)");
  add(f.sim_step_ms, "--sim-step-ms", "MS",
      "wall-clock ms per simulated minute while the sim replays\n"
      "the past, 0 = unpaced [QC_SIM_STEP_MS] (default 5)");
  add(f.sim_replay_days, "--sim-replay-days", "N",
      "the sim replays the last N days, 0 to 365, then runs in\n"
      "real time [QC_SIM_REPLAY_DAYS] (default 21)");
  add(f.sim_seed, "--sim-seed", "N", "seed of the simulated random walk (default 20210712)");
  add(f.docs_dir, "--docs-dir", "DIR",
      "where openapi.json and the Swagger UI files are [QC_DOCS_DIR]\n"
      "(default: next to the binary)");
  add(f.threads, "--threads", "N", "HTTP threads, 1 to 64 [QC_HTTP_THREADS] (default 2)");
  add(f.max_connections, "--max-connections", "N",
      "most HTTP connections open at once [QC_MAX_CONNECTIONS]\n"
      "(default 0: derived from the open-file limit)");
  add(f.log_level, "--log-level", "L",
      "debug | info | warn | error [QC_LOG_LEVEL]\n(default info)");
  add(f.log_format, "--log-format", "F",
      "text | json (one JSON object per line) [QC_LOG_FORMAT]\n"
      "(default text)");
  app->footer(
      "Polygon tuning: QC_SNAPSHOT_SECONDS (15), QC_POLYGON_STALE_SECONDS (180),\n"
      "QC_POLYGON_BACKOFF_MS (500), QC_POLYGON_MAX_BACKOFF_MS (60000).\n"
      "Live events (/api/events): QC_EVENTS_MAX_SUBSCRIBERS (10000),\n"
      "QC_EVENTS_HISTORY (10000), QC_EVENTS_HISTORY_BYTES (16777216),\n"
      "QC_EVENTS_QUEUE_BYTES (4194304), QC_EVENTS_HEARTBEAT_MS (15000).\n"
      "other variables: MONGO_ATLAS_URI, REDIS_URL, REDIS_HOST, QC_REDIS_TLS_VERIFY,\n"
      "QC_REDIS_TLS_CA_FILE, POLYGON_API_KEY, POLYGON_API_URL, POLYGON_WS_URL,\n"
      "QC_API_TOKEN, QC_CORS_ORIGINS (comma-separated origins such as\n"
      "https://app.example, or * for any; default *), QC_WEBHOOK_URLS\n"
      "(comma-separated http(s) URLs), QC_WEBHOOK_SECRET, QC_WEBHOOK_FORMAT (json,\n"
      "slack, discord), QC_WEBHOOK_TIMEOUT_MS (10000), QC_WEBHOOK_BACKOFF_MS (1000),\n"
      "QC_WEBHOOK_MAX_BACKOFF_MS (300000) (see README).\n"
      "Variables are read from the environment, then ./.env (environment wins);\n"
      "flags win over both.");
  return app;
}

struct BacktestFlags {
  Flag recommendations, bars, out, report;
  bool quiet = false;
  bool stats = false;
};

std::unique_ptr<CLI::App> make_backtest_app(BacktestFlags& f) {
  auto app = std::make_unique<CLI::App>(
      "Runs the position engine over recommendation documents (JSON Lines) and minute\n"
      "bars (JSON Lines of Polygon AM events, or CSV symbol,time,open,high,low,close,volume)\n"
      "and prints the /api/performance document (or, with --stats, the /api/stats\n"
      "document). Progress goes to stderr.",
      "quantcrunch backtest");
  base_app(*app,
           "usage: quantcrunch backtest --recommendations PATH --bars PATH [--stats] [--out PATH] [--report FILE.html] [--quiet]",
           "options");
  auto add = [&](Flag& flag, const char* name, const char* help) {
    flag.option = app->add_option(name, flag.value, help)->type_name("PATH");
  };
  add(f.recommendations, "--recommendations", "recommendation documents, JSON Lines (required)");
  add(f.bars, "--bars", "minute bars, JSON Lines or CSV (required)");
  add(f.out, "--out", "write the document here (default: stdout)");
  app->add_flag("--stats", f.stats,
                "print the statistics of the closed and open positions (the /api/stats document) "
                "instead of the performance document");
  add(f.report, "--report",
      "also write the statistics and their charts as one self-contained HTML file (opens from disk, "
      "no network)");
  f.report.option->type_name("FILE.html");
  app->add_flag("--quiet", f.quiet, "no progress lines on stderr");
  return app;
}

// CLI11 gives an option that needs a value the next argument even when that
// is another option ("--port --threads 4" sets the port to "--threads"):
// reported as the missing value it is.
void check_swallowed_options(const CLI::App& app, const std::string& see) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_type_size() == 0) continue;
    for (const auto& value : opt->results()) {
      std::string name = value.substr(0, value.find('='));
      if (name.rfind("--", 0) != 0) continue;
      for (const CLI::Option* other : app.get_options())
        if (other->check_lname(name.substr(2)))
          throw ConfigError("option " + opt->get_name() + " needs a value (it was followed by " +
                            name + ")" + see);
    }
  }
}

// Runs CLI11 over `args`; its errors become one-line ConfigErrors.
void parse_flags(CLI::App& app, const std::vector<std::string>& args, const std::string& command) {
  const std::string see = " (see quantcrunch " + command + " --help)";
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app.parse(reversed);
    check_swallowed_options(app, see);
  } catch (const CLI::CallForHelp&) {
    throw ConfigError("--help is answered before the configuration is read" + see);
  } catch (const CLI::ExtrasError&) {
    check_swallowed_options(app, see);
    auto extra = app.remaining();
    std::string first = extra.empty() ? std::string() : extra.front();
    if (first.rfind("-", 0) == 0 && first.size() > 1)
      throw ConfigError("unknown option " + first.substr(0, first.find('=')) + see);
    throw ConfigError("unexpected argument '" + first + "'" + see);
  } catch (const CLI::ArgumentMismatch& e) {
    // "--port: 1 required N missing": the option is named before the ':'.
    std::string what = e.what();
    throw ConfigError("option " + what.substr(0, what.find(':')) + " needs a value" + see);
  } catch (const CLI::ParseError& e) {
    throw ConfigError(std::string(e.what()) + see);
  }
}

}  // namespace

Variables read_dotenv(const std::filesystem::path& path) {
  Variables vars;
  std::ifstream in(path);
  if (!in) return vars;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      // Quoted: the value ends at the matching quote; a comment may follow.
      auto close = value.find(value.front(), 1);
      if (close != std::string::npos) value = value.substr(1, close - 1);
    } else if (auto hash = value.find(" #"); hash != std::string::npos) {
      value = trim(value.substr(0, hash));
    }
    vars[key] = value;
  }
  return vars;
}

Variables collect_variables(char** env, const std::filesystem::path& dotenv) {
  Variables vars = read_dotenv(dotenv);
  for (char** e = env; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return vars;
}

ServeConfig parse_serve_config(const Variables& vars, const std::vector<std::string>& args) {
  ServeFlags flags;
  auto app = make_serve_app(flags);
  parse_flags(*app, args, "serve");

  ServeConfig c;
  // The value of one setting and the name to report it under: the flag when
  // given (flags win), else the variable when set and not empty, else nothing.
  struct Setting {
    std::string name, value;
  };
  auto setting = [&](const char* variable, const Flag* flag = nullptr) -> std::optional<Setting> {
    if (flag && flag->given()) return Setting{flag->option->get_name(), flag->value};
    if (!variable) return std::nullopt;
    auto it = vars.find(variable);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return Setting{variable, it->second};
  };
  auto var = [&](const char* name) -> std::optional<std::string> {
    if (auto s = setting(name)) return s->value;
    return std::nullopt;
  };

  if (auto s = setting("PORT", &flags.port))
    c.port = parse_int<std::uint16_t>(s->name, s->value, 1, 65535);
  if (auto s = setting("HOST", &flags.host)) c.host = parse_host(s->name, s->value);
  if (auto s = setting("QC_DATA_DIR", &flags.data_dir)) {
    if (s->value.empty()) throw ConfigError(s->name + " must not be empty");
    c.data_dir = s->value;
  }
  if (auto v = var("MONGO_ATLAS_URI")) c.mongo_uri = *v;
  if (auto v = var("REDIS_URL")) c.redis_url = *v;
  if (auto v = var("REDIS_HOST")) c.redis_host = *v;
  if (auto v = var("QC_REDIS_TLS_VERIFY")) c.redis_tls_verify = parse_tls_verify(*v);
  if (auto v = var("QC_REDIS_TLS_CA_FILE")) c.redis_tls_ca_file = trim(*v);
  if (auto v = var("POLYGON_API_KEY")) c.polygon_api_key = *v;
  if (auto v = var("POLYGON_API_URL")) c.polygon_api_url = *v;
  if (auto v = var("POLYGON_WS_URL")) c.polygon_ws_url = *v;
  if (auto v = var("QC_API_TOKEN")) c.api_token = *v;
  if (auto v = var("QC_CORS_ORIGINS")) c.cors_origins = parse_cors_origins(*v);
  if (auto s = setting("QC_FEED", &flags.feed)) set_feed(c, s->name, s->value);
  if (auto s = setting("QC_REPLAY_RATE", &flags.replay_rate))
    c.replay_rate = parse_nonnegative(s->name, s->value);
  if (auto s = setting("QC_SIM_STEP_MS", &flags.sim_step_ms))
    c.sim_step_ms = parse_int<int>(s->name, s->value, 0, 60000);
  if (auto s = setting("QC_SIM_REPLAY_DAYS", &flags.sim_replay_days))
    c.sim_replay_days = parse_int<int>(s->name, s->value, 0, 365);
  if (auto s = setting(nullptr, &flags.sim_seed))
    c.sim_seed = parse_int<std::uint64_t>(s->name, s->value, 0, UINT64_MAX);
  if (auto s = setting("QC_DOCS_DIR", &flags.docs_dir)) c.docs_dir = s->value;
  if (auto s = setting("QC_HTTP_THREADS", &flags.threads))
    c.http_threads = parse_int<int>(s->name, s->value, 1, 64);
  if (auto s = setting("QC_MAX_CONNECTIONS", &flags.max_connections))
    c.max_connections = parse_int<int>(s->name, s->value, 0, kMaxConnectionsLimit);
  if (auto s = setting("QC_LOG_LEVEL", &flags.log_level)) {
    c.log_level = s->value;
    const char* levels[] = {"debug", "info", "warn", "warning", "error"};
    if (std::find(std::begin(levels), std::end(levels), c.log_level) == std::end(levels))
      throw ConfigError(s->name + " must be debug, info, warn or error, got '" + s->value + "'");
  }
  if (auto s = setting("QC_LOG_FORMAT", &flags.log_format)) {
    c.log_format = s->value;
    if (c.log_format != "text" && c.log_format != "json")
      throw ConfigError(s->name + " must be text or json, got '" + s->value + "'");
  }
  if (auto v = var("QC_EVENTS_MAX_SUBSCRIBERS"))
    c.events_max_subscribers = parse_int<int>("QC_EVENTS_MAX_SUBSCRIBERS", *v, 1, kMaxConnectionsLimit);
  if (auto v = var("QC_EVENTS_HISTORY")) c.events_history = parse_int<int>("QC_EVENTS_HISTORY", *v, 0, 1'000'000);
  if (auto v = var("QC_EVENTS_HISTORY_BYTES"))
    c.events_history_bytes = parse_int<std::uint64_t>("QC_EVENTS_HISTORY_BYTES", *v, 0, 1ULL << 30);
  if (auto v = var("QC_EVENTS_QUEUE_BYTES"))
    c.events_queue_bytes = parse_int<std::uint64_t>("QC_EVENTS_QUEUE_BYTES", *v, 1024, 1ULL << 30);
  if (auto v = var("QC_EVENTS_HEARTBEAT_MS"))
    c.events_heartbeat_ms = parse_int<int>("QC_EVENTS_HEARTBEAT_MS", *v, 10, 3'600'000);
  if (auto v = var("QC_SNAPSHOT_SECONDS"))
    c.snapshot_seconds = parse_int<int>("QC_SNAPSHOT_SECONDS", *v, 1, 3600);
  if (auto v = var("QC_POLYGON_STALE_SECONDS"))
    c.stale_seconds = parse_int<int>("QC_POLYGON_STALE_SECONDS", *v, 1, 86400);
  if (auto v = var("QC_POLYGON_BACKOFF_MS"))
    c.backoff_ms = parse_int<int>("QC_POLYGON_BACKOFF_MS", *v, 1, 600000);
  if (auto v = var("QC_POLYGON_MAX_BACKOFF_MS"))
    c.max_backoff_ms = parse_int<int>("QC_POLYGON_MAX_BACKOFF_MS", *v, 1, 3600000);

  if (auto v = var("QC_WEBHOOK_URLS")) c.webhook_urls = split_list(*v);
  if (auto v = var("QC_WEBHOOK_SECRET")) c.webhook_secret = *v;
  if (auto v = var("QC_WEBHOOK_FORMAT")) {
    auto format = parse_webhook_format(trim(*v));
    if (!format)
      throw ConfigError("QC_WEBHOOK_FORMAT must be json, slack or discord, got '" + *v + "'");
    c.webhook_format = webhook_format_name(*format);
  }
  if (auto v = var("QC_WEBHOOK_TIMEOUT_MS"))
    c.webhook_timeout_ms = parse_int<int>("QC_WEBHOOK_TIMEOUT_MS", *v, 100, 120'000);
  if (auto v = var("QC_WEBHOOK_BACKOFF_MS"))
    c.webhook_backoff_ms = parse_int<int>("QC_WEBHOOK_BACKOFF_MS", *v, 1, 600'000);
  if (auto v = var("QC_WEBHOOK_MAX_BACKOFF_MS"))
    c.webhook_max_backoff_ms = parse_int<int>("QC_WEBHOOK_MAX_BACKOFF_MS", *v, 1, 3'600'000);

  if (c.cors_origins.empty()) c.cors_origins = {"*"};
  check_redis(c);
  check_webhooks(c);
  if (!c.feed_chosen) c.feed = c.polygon_api_key.empty() ? FeedKind::Sim : FeedKind::Polygon;
  if (c.feed == FeedKind::Replay) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(c.replay_path, ec))
      throw ConfigError("replay file '" + c.replay_path.string() + "' does not exist");
  }
  if (c.feed == FeedKind::Polygon && c.polygon_api_key.empty())
    throw ConfigError("--feed polygon needs POLYGON_API_KEY");
  return c;
}

BacktestConfig parse_backtest_config(const std::vector<std::string>& args) {
  BacktestFlags flags;
  auto app = make_backtest_app(flags);
  parse_flags(*app, args, "backtest");
  BacktestConfig c;
  c.recommendations = flags.recommendations.value;
  c.bars = flags.bars.value;
  c.out = flags.out.value;
  c.progress = !flags.quiet;
  c.stats = flags.stats;
  c.report = flags.report.value;
  if (c.recommendations.empty()) throw ConfigError("--recommendations PATH is required");
  if (c.bars.empty()) throw ConfigError("--bars PATH is required");
  return c;
}

std::string serve_usage() {
  ServeFlags flags;
  return make_serve_app(flags)->help();
}

std::string backtest_usage() {
  BacktestFlags flags;
  return make_backtest_app(flags)->help();
}

}  // namespace qc
