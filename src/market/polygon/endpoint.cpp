#include "market/polygon/endpoint.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>

#include "text/ascii.h"

namespace qc {

std::string Endpoint::origin() const {
  bool default_port = (tls && port == "443") || (!tls && port == "80");
  return scheme + "://" + host + (default_port ? "" : ":" + port);
}

std::optional<Endpoint> parse_endpoint(std::string_view url) {
  // A NUL-terminated copy: Boost.URL 1.81 may read past a string_view's end.
  const std::string text(url);
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) return std::nullopt;
  const auto& u = *parsed;
  Endpoint e;
  e.scheme = ascii_lower(u.scheme());
  if (e.scheme == "https" || e.scheme == "wss")
    e.tls = true;
  else if (e.scheme != "http" && e.scheme != "ws")
    return std::nullopt;
  e.host = ascii_lower(u.host_address());
  if (e.host.empty()) return std::nullopt;
  if (u.has_port() && !u.port().empty()) {
    // Plain decimal without leading zeros, so "0443" and "443" compare equal.
    const std::string digits(u.port());
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535)
      return std::nullopt;
    e.port = std::to_string(value);
  } else {
    e.port = e.tls ? "443" : "80";
  }
  std::string target(u.encoded_path());
  if (target.empty()) target = "/";
  if (u.has_query()) target += "?" + std::string(u.encoded_query());
  e.target = std::move(target);
  return e;
}

bool same_origin(const Endpoint& a, const Endpoint& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

std::string join_url(std::string_view base, std::string_view target) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (target.empty() || target.front() != '/') out += '/';
  out += target;
  return out;
}

}  // namespace qc
