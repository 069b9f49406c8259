// The logger: spdlog for formatting (UTC timestamps, pattern) and the
// thread-safe stderr sink; the rate limiter in front of it is ours.
#include "log/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <unordered_map>

#include "text/ascii.h"
#include "text/json_string.h"

namespace qc::log {
namespace {

using clock = std::chrono::steady_clock;

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warn: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// %q: our level names ("warn", not spdlog's "warning").
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  explicit LevelFlag(bool json) : json_(json) {}
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char* n = "info";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: n = "debug"; break;
      case spdlog::level::warn: n = "warn"; break;
      case spdlog::level::err:
      case spdlog::level::critical: n = "error"; break;
      default: break;
    }
    std::string_view v(n);
    std::size_t width = json_ ? v.size() : 5;  // text: padded to a column
    dest.append(v.data(), v.data() + v.size());
    for (std::size_t i = v.size(); i < width; ++i) dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>(json_);
  }

 private:
  bool json_;
};

// Lines for tests.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CaptureSink(std::function<void(std::string_view)> f) : f_(std::move(f)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    f_(std::string_view(buf.data(), buf.size()));
  }
  void flush_() override {}

 private:
  std::function<void(std::string_view)> f_;
};

struct Repeat {
  clock::time_point window_start;
  std::uint64_t suppressed = 0;
  Level level = Level::Info;
  std::size_t component_size = 0;  // key: level digit, component, 0x1f, message
};

struct State {
  std::mutex mutex;
  std::shared_ptr<spdlog::logger> logger;
  Options options;
  std::vector<std::string> secrets;  // lower-case
  // Rate limiter: key is level + component + message.
  std::unordered_map<std::string, Repeat> repeats;
  clock::time_point second_start{};
  int lines_this_second = 0;
  std::uint64_t over_rate = 0;

  State() { rebuild(spdlog::sinks_init_list{std::make_shared<spdlog::sinks::stderr_sink_mt>()}); }

  void rebuild(spdlog::sinks_init_list sinks) {
    logger = std::make_shared<spdlog::logger>("quantcrunch", sinks);
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::trace);  // every line reaches stderr at once
    apply_pattern();
  }

  void apply_pattern() {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<LevelFlag>('q', options.json);
    f->set_pattern(options.json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%q",%v})"
                                : "%Y-%m-%dT%H:%M:%S.%eZ %q %v");
    logger->set_formatter(std::move(f));
  }

  // `message` with every registered secret replaced by "***".
  std::string masked(std::string_view message) const {
    std::string out(message);
    if (secrets.empty()) return out;
    std::string lower = ascii_lower(out);
    for (const auto& secret : secrets) {
      for (std::size_t pos = 0; (pos = lower.find(secret, pos)) != std::string::npos;) {
        out.replace(pos, secret.size(), "***");
        lower.replace(pos, secret.size(), "***");
        pos += 3;
      }
    }
    return out;
  }

  void emit(Level level, std::string_view component, std::string_view raw_message) {
    std::string message = masked(raw_message);
    std::string payload;
    if (options.json) {
      payload = "\"component\":";
      append_json_string(payload, component);
      payload += ",\"message\":";
      append_json_string(payload, message);
      payload += '}';
    } else {
      payload.reserve(component.size() + message.size() + 3);
      payload += '[';
      payload += component;
      payload += "] ";
      payload += message;
    }
    logger->log(to_spdlog(level), spdlog::string_view_t(payload.data(), payload.size()));
  }

  // Writes how many copies of an entry's line were held back.
  void report(std::pair<const std::string, Repeat>& entry) {
    auto& r = entry.second;
    if (!r.suppressed) return;
    std::string_view key = entry.first;
    emit(r.level, key.substr(1, r.component_size), summary(key.substr(2 + r.component_size), r.suppressed));
    r.suppressed = 0;
  }

  std::string summary(std::string_view message, std::uint64_t n) const {
    return std::string(message) + " (and " + std::to_string(n) + " identical line" +
           (n == 1 ? "" : "s") + " in the last " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options.repeat_window).count()) +
           " s, not shown)";
  }
};

State& state() {
  static State s;
  return s;
}

std::atomic<int> g_level{static_cast<int>(Level::Info)};

}  // namespace

void configure(const Options& options) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.options = options;
  g_level = static_cast<int>(options.level);
  s.apply_pattern();
}

void set_level(Level level) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.options.level = level;
  g_level = static_cast<int>(level);
}

void set_json(bool json) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.options.json = json;
  s.apply_pattern();
}

bool parse_level(std::string_view t, Level& out) {
  if (t == "debug") out = Level::Debug;
  else if (t == "info") out = Level::Info;
  else if (t == "warn" || t == "warning") out = Level::Warn;
  else if (t == "error") out = Level::Error;
  else return false;
  return true;
}

void write(Level level, std::string_view component, std::string_view message) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  auto& s = state();
  auto now = clock::now();
  std::lock_guard lock(s.mutex);
  // Overall rate.
  if (now - s.second_start >= std::chrono::seconds(1)) {
    if (s.over_rate)
      s.emit(Level::Warn, "log", std::to_string(s.over_rate) + " log lines not shown (more than " +
                                     std::to_string(s.options.max_lines_per_second) + " lines/s)");
    s.second_start = now;
    s.lines_this_second = 0;
    s.over_rate = 0;
  }
  // Identical lines.
  std::string key;
  key.reserve(component.size() + message.size() + 2);
  key += static_cast<char>('0' + static_cast<int>(level));
  key += component;
  key += '\x1f';
  key += message;
  auto it = s.repeats.find(key);
  std::uint64_t held_back = 0;
  if (it != s.repeats.end()) {
    if (now - it->second.window_start < s.options.repeat_window) {
      ++it->second.suppressed;
      return;
    }
    held_back = it->second.suppressed;
    it->second.window_start = now;
    it->second.suppressed = 0;
  } else {
    if (s.repeats.size() >= 4096) {
      // Bounded: forget lines whose window is over (their counts are written).
      for (auto i = s.repeats.begin(); i != s.repeats.end();) {
        if (now - i->second.window_start >= s.options.repeat_window) {
          s.report(*i);
          i = s.repeats.erase(i);
        } else {
          ++i;
        }
      }
    }
    if (s.repeats.size() < 4096) s.repeats.emplace(std::move(key), Repeat{now, 0, level, component.size()});
  }
  if (++s.lines_this_second > s.options.max_lines_per_second) {
    ++s.over_rate;
    return;
  }
  if (held_back) s.emit(level, component, s.summary(message, held_back));
  else s.emit(level, component, message);
}

void add_secret(std::string_view secret) {
  if (secret.size() < 3) return;  // masking "t" everywhere would destroy every line
  std::string lower = ascii_lower(secret);
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (std::find(s.secrets.begin(), s.secrets.end(), lower) == s.secrets.end()) s.secrets.push_back(std::move(lower));
  // Longest first, so that a secret is never half-masked by one of its pieces.
  std::sort(s.secrets.begin(), s.secrets.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
}

void flush_suppressed() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  for (auto& entry : s.repeats) s.report(entry);
  if (s.over_rate) {
    s.emit(Level::Warn, "log", std::to_string(s.over_rate) + " log lines not shown (more than " +
                                   std::to_string(s.options.max_lines_per_second) + " lines/s)");
    s.over_rate = 0;
  }
}

void capture(std::function<void(std::string_view)> sink) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.repeats.clear();
  s.lines_this_second = 0;
  s.over_rate = 0;
  if (sink) s.rebuild({std::make_shared<CaptureSink>(std::move(sink))});
  else s.rebuild({std::make_shared<spdlog::sinks::stderr_sink_mt>()});
}

}  // namespace qc::log
