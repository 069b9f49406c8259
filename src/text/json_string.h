// JSON string escaping, shared by every layer (a leaf: includes no other
// layer). Output is always valid UTF-8: a byte sequence that is not valid
// UTF-8 (a stray continuation byte, an overlong form, a surrogate, a
// truncated sequence) is written as U+FFFD, so an error message quoting a
// client's bytes is still a JSON document a browser can parse.
#pragma once
#include <string>
#include <string_view>

namespace qc {

// Appends `s` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes
// there are not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

}  // namespace qc
