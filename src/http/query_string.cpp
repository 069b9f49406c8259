#include "http/query_string.h"

#include "text/percent.h"

namespace qc {

QueryParams parse_query_string(std::string_view query) {
  QueryParams params;
  auto decode = [](std::string_view s) { return percent_decode_lenient(s, PlusMeans::Space); };
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    if (eq == std::string_view::npos)
      params.emplace_back(decode(piece), std::string());
    else
      params.emplace_back(decode(piece.substr(0, eq)), decode(piece.substr(eq + 1)));
  }
  return params;
}

}  // namespace qc
