// Content negotiation for the response body (RFC 9110 §12.5.3).
#pragma once
#include <string_view>

namespace qc {

// Whether an Accept-Encoding value accepts gzip: "gzip" or "x-gzip", or else
// "*", with a q-value above 0. An absent or empty header accepts none.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace qc
