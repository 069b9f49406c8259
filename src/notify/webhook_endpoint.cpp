#include "notify/webhook_endpoint.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>

#include "notify/webhook_signature.h"
#include "text/ascii.h"

namespace qc {
WebhookEndpoint parse_webhook_url(std::string_view text, int index) {
  const std::string where = "entry " + std::to_string(index);
  // Only the scheme is ever quoted back: the rest may hold the secret.
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    throw WebhookUrlError(where + " is not a URL: write http://host/path or https://host/path");
  std::string scheme = ascii_lower(text.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    bool printable = scheme.size() <= 16 && !scheme.empty();
    for (unsigned char c : scheme) printable = printable && (std::isalnum(c) || c == '+' || c == '-' || c == '.');
    throw WebhookUrlError(where + (printable ? " has scheme '" + scheme + "'" : " has an unknown scheme") +
                          ": webhooks are http:// or https:// URLs");
  }
  // A NUL-terminated copy: Boost.URL 1.81 may read past a string_view's end.
  const std::string copy(text);
  auto parsed = boost::urls::parse_uri(copy);  // with a fragment, refused below by name
  if (!parsed)
    throw WebhookUrlError(where + " (" + scheme +
                          "://...) is not a valid URL (characters such as spaces must be "
                          "percent-encoded)");
  const auto& u = *parsed;
  if (u.has_userinfo())
    throw WebhookUrlError(where + " (" + scheme +
                          "://...) has user info ('user:password@'), which webhooks do not send; "
                          "put the credential in the path or query, or rely on "
                          "QC_WEBHOOK_SECRET's signature");
  WebhookEndpoint e;
  e.url = copy;
  e.tls = scheme == "https";
  e.host = ascii_lower(u.host_address());
  if (e.host.empty()) throw WebhookUrlError(where + " (" + scheme + "://) has no host");
  const bool ipv6 = u.host_type() == boost::urls::host_type::ipv6;
  const std::string shown_host = ipv6 ? "[" + e.host + "]" : e.host;
  if (u.host_type() == boost::urls::host_type::ipvfuture)
    throw WebhookUrlError(where + " (" + scheme + "://...) has an unusable host");
  if (u.host_type() == boost::urls::host_type::name)
    for (unsigned char c : e.host)
      if (!std::isalnum(c) && c != '-' && c != '.' && c != '_')
        throw WebhookUrlError(where + " (" + scheme +
                              "://...) has a host name with characters other than letters, digits, "
                              "'-', '.' and '_' (write an international name in its xn-- form)");
  if (u.has_fragment())
    throw WebhookUrlError(where + " (" + scheme + "://" + shown_host +
                          ") has a fragment ('#...'), which is never sent to a server; remove it");
  if (u.has_port()) {
    const std::string digits(u.port());
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value == 0 ||
        value > 65535)
      throw WebhookUrlError(where + " (" + scheme + "://" + shown_host +
                            ") has a port that is not a number from 1 to 65535");
    e.port = std::to_string(value);
  } else {
    e.port = e.tls ? "443" : "80";
  }
  const bool default_port = e.port == (e.tls ? "443" : "80");
  e.host_header = default_port ? shown_host : shown_host + ":" + e.port;
  e.origin = scheme + "://" + e.host_header;
  e.name = e.origin + "#" + std::to_string(index);
  e.target = std::string(u.encoded_path());
  if (e.target.empty()) e.target = "/";
  if (u.has_query()) e.target += "?" + std::string(u.encoded_query());
  e.key = sha256_hex(e.url);
  return e;
}

std::vector<std::string> webhook_url_secrets(const WebhookEndpoint& endpoint) {
  std::vector<std::string> out;
  if (endpoint.target.size() > 1) out.push_back(endpoint.target);
  // Tokens on their own (a library message may quote one piece); short
  // segments such as "api" or "webhooks" are words, not secrets.
  std::size_t start = 0;
  const std::string& t = endpoint.target;
  for (std::size_t i = 0; i <= t.size(); ++i) {
    if (i == t.size() || t[i] == '/' || t[i] == '?' || t[i] == '&' || t[i] == '=') {
      if (i - start >= 16) out.push_back(t.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

}  // namespace qc
