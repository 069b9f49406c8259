// Process-wide logging on spdlog: one line per event to stderr, UTC time,
// level and component; text or one JSON object per line. A leaf module: every
// layer may include it, it includes no other layer (text/ aside).
//
// Identical lines are rate-limited: the first of a kind is written, copies
// within the next `repeat_window` are counted and the count is written with
// the next copy after the window (or by flush_suppressed()). Over
// `max_lines_per_second` lines of any kind, the rest of that second is
// counted instead of written. A flood (a failing accept loop, a hostile
// client) therefore costs a few lines, not the disk.
//
// Secrets must be redacted by the caller (log/redact.h).
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace qc::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

struct Options {
  Level level = Level::Info;
  bool json = false;  // {"time","level","component","message"} per line
  std::chrono::milliseconds repeat_window{10'000};
  int max_lines_per_second = 500;
};

void configure(const Options& options);
void set_level(Level level);
void set_json(bool json);
bool parse_level(std::string_view text, Level& out);

void write(Level level, std::string_view component, std::string_view message);
inline void debug(std::string_view c, std::string_view m) { write(Level::Debug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::Info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::Warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::Error, c, m); }

// Masks `secret` (case-insensitively) in every line written from now on:
// the API key, the token, a database password and its pieces. A last line
// of defence for messages of third-party libraries that quote them.
// Secrets shorter than 3 characters are not masked.
void add_secret(std::string_view secret);

// Writes the counts of lines still held back (at shutdown).
void flush_suppressed();

// Tests: every formatted line goes to `sink` instead of stderr (empty
// function: back to stderr). Also resets the rate limiter.
void capture(std::function<void(std::string_view line)> sink);

}  // namespace qc::log
