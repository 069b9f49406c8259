// A parsed ws://, wss://, http:// or https:// URL: what a Beast client needs
// to connect (host, port, TLS or not) and what to ask for (target).
//
// Parsing normalises what names the same server the same way: scheme and
// host in lower case, the port always explicit and in plain decimal (443 or
// 80 when the URL has none). User info is never kept: the host is what
// follows it (`https://api.massive.com@evil.example/` is evil.example).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace qc {

struct Endpoint {
  std::string scheme;  // http, https, ws, wss
  bool tls = false;
  std::string host;
  std::string port;
  std::string target = "/";  // path and query
  std::string origin() const;  // scheme://host[:port], for logs (never carries a key)
};

// nullopt when the URL is not one of the four schemes, has no host or has a
// port outside 1..65535.
std::optional<Endpoint> parse_endpoint(std::string_view url);

// Same scheme, host and port (after the normalisation above): where a
// credential for `a` may also be sent.
bool same_origin(const Endpoint& a, const Endpoint& b);

// Joins a base URL (e.g. https://api.massive.com) and a target ("/v2/...").
std::string join_url(std::string_view base, std::string_view target);

}  // namespace qc
