#include "app/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

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

// Splits "--name=value" / "--name value"; returns false for a positional.
struct FlagReader {
  const std::vector<std::string>& args;
  std::size_t i = 0;
  std::string name, value;
  bool has_value = false;
  bool next() {
    if (i >= args.size()) return false;
    const std::string& a = args[i++];
    if (a.rfind("--", 0) != 0) throw ConfigError("unexpected argument '" + a + "'");
    auto eq = a.find('=');
    has_value = eq != std::string::npos;
    name = a.substr(0, eq);
    value = has_value ? a.substr(eq + 1) : std::string();
    return true;
  }
  std::string take() {
    if (has_value) return value;
    if (i >= args.size()) throw ConfigError("option " + name + " needs a value");
    return args[i++];
  }
};

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
  ServeConfig c;
  auto var = [&](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  if (auto v = var("PORT")) c.port = parse_int<std::uint16_t>("PORT", *v, 1, 65535);
  if (auto v = var("HOST")) c.host = *v;
  if (auto v = var("QC_DATA_DIR")) c.data_dir = *v;
  if (auto v = var("MONGO_ATLAS_URI")) c.mongo_uri = *v;
  if (auto v = var("REDIS_URL")) c.redis_url = *v;
  if (auto v = var("REDIS_HOST")) c.redis_host = *v;
  if (auto v = var("POLYGON_API_KEY")) c.polygon_api_key = *v;
  if (auto v = var("POLYGON_API_URL")) c.polygon_api_url = *v;
  if (auto v = var("POLYGON_WS_URL")) c.polygon_ws_url = *v;
  if (auto v = var("QC_API_TOKEN")) c.api_token = *v;
  if (auto v = var("QC_CORS_ORIGINS")) c.cors_origins = split_list(*v);
  if (auto v = var("QC_FEED")) set_feed(c, "QC_FEED", *v);
  if (auto v = var("QC_REPLAY_RATE")) c.replay_rate = parse_nonnegative("QC_REPLAY_RATE", *v);
  if (auto v = var("QC_SIM_STEP_MS")) c.sim_step_ms = parse_int<int>("QC_SIM_STEP_MS", *v, 0, 60000);
  if (auto v = var("QC_DOCS_DIR")) c.docs_dir = *v;
  if (auto v = var("QC_HTTP_THREADS")) c.http_threads = parse_int<int>("QC_HTTP_THREADS", *v, 1, 64);
  if (auto v = var("QC_LOG_LEVEL")) c.log_level = *v;
  if (auto v = var("QC_LOG_FORMAT")) c.log_format = *v;
  if (auto v = var("QC_SNAPSHOT_SECONDS")) c.snapshot_seconds = parse_int<int>("QC_SNAPSHOT_SECONDS", *v, 1, 3600);
  if (auto v = var("QC_POLYGON_STALE_SECONDS")) c.stale_seconds = parse_int<int>("QC_POLYGON_STALE_SECONDS", *v, 1, 86400);
  if (auto v = var("QC_POLYGON_BACKOFF_MS")) c.backoff_ms = parse_int<int>("QC_POLYGON_BACKOFF_MS", *v, 1, 600000);
  if (auto v = var("QC_POLYGON_MAX_BACKOFF_MS")) c.max_backoff_ms = parse_int<int>("QC_POLYGON_MAX_BACKOFF_MS", *v, 1, 3600000);

  FlagReader f{args, 0, {}, {}, false};
  while (f.next()) {
    if (f.name == "--host") c.host = f.take();
    else if (f.name == "--port") c.port = parse_int<std::uint16_t>("--port", f.take(), 1, 65535);
    else if (f.name == "--data-dir") c.data_dir = f.take();
    else if (f.name == "--feed") set_feed(c, "--feed", f.take());
    else if (f.name == "--replay-rate") c.replay_rate = parse_nonnegative("--replay-rate", f.take());
    else if (f.name == "--sim-step-ms") c.sim_step_ms = parse_int<int>("--sim-step-ms", f.take(), 0, 60000);
    else if (f.name == "--sim-seed") c.sim_seed = parse_int<std::uint64_t>("--sim-seed", f.take(), 0, UINT64_MAX);
    else if (f.name == "--docs-dir") c.docs_dir = f.take();
    else if (f.name == "--threads") c.http_threads = parse_int<int>("--threads", f.take(), 1, 64);
    else if (f.name == "--log-level") c.log_level = f.take();
    else if (f.name == "--log-format") c.log_format = f.take();
    else throw ConfigError("unknown option " + f.name + " (see quantcrunch serve --help)");
  }
  if (c.cors_origins.empty()) c.cors_origins = {"*"};
  if (!c.feed_chosen) c.feed = c.polygon_api_key.empty() ? FeedKind::Sim : FeedKind::Polygon;
  if (c.feed == FeedKind::Replay) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(c.replay_path, ec))
      throw ConfigError("replay file '" + c.replay_path.string() + "' does not exist");
  }
  if (c.feed == FeedKind::Polygon && c.polygon_api_key.empty())
    throw ConfigError("--feed polygon needs POLYGON_API_KEY");
  if (c.data_dir.empty()) throw ConfigError("QC_DATA_DIR must not be empty");
  if (c.log_format != "text" && c.log_format != "json")
    throw ConfigError("QC_LOG_FORMAT must be text or json, got '" + c.log_format + "'");
  for (const char* level : {"debug", "info", "warn", "warning", "error"})
    if (c.log_level == level) return c;
  throw ConfigError("QC_LOG_LEVEL must be debug, info, warn or error, got '" + c.log_level + "'");
}

BacktestConfig parse_backtest_config(const std::vector<std::string>& args) {
  BacktestConfig c;
  FlagReader f{args, 0, {}, {}, false};
  while (f.next()) {
    if (f.name == "--recommendations") c.recommendations = f.take();
    else if (f.name == "--bars") c.bars = f.take();
    else if (f.name == "--out") c.out = f.take();
    else if (f.name == "--quiet") c.progress = false;
    else throw ConfigError("unknown option " + f.name + " (see quantcrunch backtest --help)");
  }
  if (c.recommendations.empty()) throw ConfigError("--recommendations PATH is required");
  if (c.bars.empty()) throw ConfigError("--bars PATH is required");
  return c;
}

std::string serve_usage() {
  return R"(usage: quantcrunch serve [options]

Runs the HTTP API and the position engine.

options (each also settable by the environment variable in brackets):
  --host H              bind address [HOST] (default 0.0.0.0)
  --port N              HTTP port [PORT] (default 5050)
  --data-dir DIR        SQLite file and local state [QC_DATA_DIR] (default ./data)
  --feed KIND           sim | replay:PATH | none | polygon [QC_FEED]
                        (default: polygon when POLYGON_API_KEY is set, else sim)
  --replay-rate N       replay at N bars per second, 0 = unlimited [QC_REPLAY_RATE]
  --sim-step-ms MS      wall-clock ms per simulated minute [QC_SIM_STEP_MS] (default 50)
  --sim-seed N          seed of the simulated random walk (default 20210712)
  --docs-dir DIR        where openapi.json and the Swagger UI files are [QC_DOCS_DIR]
  --threads N           HTTP threads [QC_HTTP_THREADS] (default 2)
  --log-level L         debug | info | warn | error [QC_LOG_LEVEL]
  --log-format F        text | json (one JSON object per line) [QC_LOG_FORMAT]

Polygon tuning: QC_SNAPSHOT_SECONDS (15), QC_POLYGON_STALE_SECONDS (180),
QC_POLYGON_BACKOFF_MS (500), QC_POLYGON_MAX_BACKOFF_MS (60000).
other variables: MONGO_ATLAS_URI, REDIS_URL, REDIS_HOST, POLYGON_API_KEY,
POLYGON_API_URL, POLYGON_WS_URL, QC_API_TOKEN, QC_CORS_ORIGINS (see README).
Variables are read from the environment, then ./.env (environment wins).
)";
}

std::string backtest_usage() {
  return R"(usage: quantcrunch backtest --recommendations PATH --bars PATH [--out PATH] [--quiet]

Runs the position engine over recommendation documents (JSON Lines) and minute
bars (JSON Lines of Polygon AM events, or CSV symbol,time,open,high,low,close,volume)
and prints the /api/performance document. Progress goes to stderr.
)";
}

}  // namespace qc
