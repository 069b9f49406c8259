#include "text/percent.h"

namespace qc {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes into `out`; false at the first malformed escape when `strict`.
bool decode(std::string_view s, PlusMeans plus, bool strict, std::string& out) {
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && plus == PlusMeans::Space) {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (c == '%' && strict) {
      return false;
    } else {
      out += c;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, PlusMeans plus) {
  std::string out;
  if (!decode(s, plus, true, out)) return std::nullopt;
  return out;
}

std::string percent_decode_lenient(std::string_view s, PlusMeans plus) {
  std::string out;
  decode(s, plus, false, out);
  return out;
}

}  // namespace qc
