#include "market/polygon/endpoint.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

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
  std::string scheme(u.scheme());
  Endpoint e;
  e.scheme = scheme;
  if (scheme == "https" || scheme == "wss") e.tls = true;
  else if (scheme != "http" && scheme != "ws") return std::nullopt;
  e.host = std::string(u.host_address());
  if (e.host.empty()) return std::nullopt;
  e.port = u.has_port() ? std::string(u.port()) : (e.tls ? "443" : "80");
  std::string target(u.encoded_path());
  if (target.empty()) target = "/";
  if (u.has_query()) target += "?" + std::string(u.encoded_query());
  e.target = std::move(target);
  return e;
}

std::string join_url(std::string_view base, std::string_view target) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (target.empty() || target.front() != '/') out += '/';
  out += target;
  return out;
}

}  // namespace qc
