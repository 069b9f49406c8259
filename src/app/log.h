// Process-wide logging: one line per event to stderr, with UTC time and level.
// Secrets must be redacted by the caller (see redact_uri).
#pragma once
#include <string>
#include <string_view>

namespace qc::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
void set_level(Level level);
// Text lines (default) or one JSON object per line for log collectors:
// {"time","level","component","message"}.
void set_json(bool json);
bool parse_level(std::string_view text, Level& out);
void write(Level level, std::string_view component, std::string_view message);
inline void debug(std::string_view c, std::string_view m) { write(Level::Debug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::Info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::Warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::Error, c, m); }

// "scheme://user:secret@host/..." -> "scheme://user:***@host/..."
std::string redact_uri(std::string_view uri);

}  // namespace qc::log
