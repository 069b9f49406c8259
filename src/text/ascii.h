// ASCII case folding, the one way every layer lower-cases names (URL schemes
// and hosts, configuration values, secrets to mask). Locale-independent:
// only 'A'..'Z' change.
#pragma once
#include <string>
#include <string_view>

namespace qc {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace qc
