#include "http/content_coding.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace qc {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// The q-value of one element's parameters; 1 when absent; 0 when malformed
// (a client that garbles q does not get what it may not decode).
double q_value(std::string_view params) {
  while (!params.empty()) {
    auto semi = params.find(';');
    auto param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    auto eq = param.find('=');
    if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "q")) continue;
    auto v = trim(param.substr(eq + 1));
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return 0;
    if (v.size() > 1 && (v[1] != '.' || v.size() > 5)) return 0;
    double q = v[0] - '0', scale = 0.1;
    for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
      if (!std::isdigit(static_cast<unsigned char>(v[i]))) return 0;
      q += (v[i] - '0') * scale;
    }
    return q > 1 ? 0 : q;
  }
  return 1;
}

}  // namespace

bool accepts_gzip(std::string_view header) {
  std::optional<double> gzip, any;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto element = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto semi = element.find(';');
    auto coding = trim(element.substr(0, semi));
    double q = semi == std::string_view::npos ? 1 : q_value(element.substr(semi + 1));
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) gzip = gzip ? std::max(*gzip, q) : q;
    else if (coding == "*") any = q;
  }
  if (gzip) return *gzip > 0;
  return any && *any > 0;
}

}  // namespace qc
