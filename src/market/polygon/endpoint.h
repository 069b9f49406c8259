// A parsed ws://, wss://, http:// or https:// URL: what a Beast client needs
// to connect (host, port, TLS or not) and what to ask for (target).
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

// nullopt when the URL is not one of the four schemes or has no host.
std::optional<Endpoint> parse_endpoint(std::string_view url);

// Joins a base URL (e.g. https://api.massive.com) and a target ("/v2/...").
std::string join_url(std::string_view base, std::string_view target);

}  // namespace qc
