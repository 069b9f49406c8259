// Percent-decoding (RFC 3986 §2.1), the one decoder every layer uses: URL
// query strings and the user info of database URLs.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace qc {

enum class PlusMeans { Plus, Space };  // Space: application/x-www-form-urlencoded

// Strict: nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s, PlusMeans plus = PlusMeans::Plus);

// Lenient (query strings from browsers): a malformed escape is kept as is.
std::string percent_decode_lenient(std::string_view s, PlusMeans plus = PlusMeans::Plus);

}  // namespace qc
