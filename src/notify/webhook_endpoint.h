// A webhook URL (one entry of QC_WEBHOOK_URLS, SPEC §4.9), checked and split
// for the client. The path and query of such a URL are a secret (Slack and
// Discord incoming-webhook URLs carry their token there): what may be shown
// in a log line, an error message, /readyz or a metric label is `origin`
// (scheme://host[:port]) and `name` (origin#index) only.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qc {

// Why a text is not a usable webhook URL. The message never quotes the
// URL's path, query or user info.
class WebhookUrlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WebhookEndpoint {
  std::string url;          // as configured: a secret, never logged
  bool tls = false;         // https
  std::string host;         // to connect to and for SNI (an IPv6 address without brackets)
  std::string port;         // decimal, always set (443 / 80 by default)
  std::string target;       // path and query: a secret
  std::string host_header;  // the Host header: host[:port], IPv6 in brackets
  std::string origin;       // scheme://host[:port] (default port left out)
  std::string name;         // origin#index (1-based, the order of QC_WEBHOOK_URLS)
  // The key of this endpoint's delivery progress in the store: the SHA-256
  // of the URL, so that the store holds no secret.
  std::string key;
};

// Accepts http:// and https:// URLs with a host, without user info or a
// fragment; `index` is the entry's 1-based position. Throws WebhookUrlError.
WebhookEndpoint parse_webhook_url(std::string_view text, int index);

// The pieces of the URL that must never reach a log line (for
// log::add_secret): the path with its query, and long path segments and
// query values on their own.
std::vector<std::string> webhook_url_secrets(const WebhookEndpoint& endpoint);

}  // namespace qc
