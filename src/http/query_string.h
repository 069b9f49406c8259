// Splits a URL query ("a=1&b=x%20y") into decoded key/value pairs.
// Written here because Boost.URL 1.81's parse_query reads past the end of a
// string_view that is not NUL-terminated (boostorg/url#757), which a Beast
// request target is not.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qc {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// '+' means a space; "%XX" is a byte; a '%' not followed by two hex digits is
// kept as it is. Empty pieces ("a=1&&b=2") are skipped.
QueryParams parse_query_string(std::string_view query);

}  // namespace qc
