#include "app/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "core/json_writer.h"

namespace qc::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<bool> g_json{false};
std::mutex g_mutex;
const char* name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "?";
}
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }
void set_json(bool json) { g_json = json; }

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
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  if (g_json.load(std::memory_order_relaxed)) {
    char time[48];
    std::snprintf(time, sizeof time, "%s.%03dZ", stamp, static_cast<int>(ms));
    std::string line = "{\"time\":\"";
    line += time;
    line += "\",\"level\":\"";
    line += name(level);
    line += "\",\"component\":";
    append_json_string(line, component);
    line += ",\"message\":";
    append_json_string(line, message);
    line += "}\n";
    std::lock_guard lock(g_mutex);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    return;
  }
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s.%03dZ %-5s [%.*s] %.*s\n", stamp, static_cast<int>(ms), name(level),
               static_cast<int>(component.size()), component.data(),
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

std::string redact_uri(std::string_view uri) {
  auto scheme = uri.find("://");
  if (scheme == std::string_view::npos) return std::string(uri);
  auto start = scheme + 3;
  auto at = uri.find('@', start);
  auto slash = uri.find('/', start);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return std::string(uri);
  auto colon = uri.find(':', start);
  std::string out(uri.substr(0, start));
  if (colon != std::string_view::npos && colon < at)
    out += std::string(uri.substr(start, colon - start)) + ":***";
  else
    out += "***";
  out += uri.substr(at);
  return out;
}

}  // namespace qc::log
