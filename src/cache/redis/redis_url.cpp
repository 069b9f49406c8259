// REDIS_URL / REDIS_HOST parsing. Invariant: no string built here for a
// message contains the user info of the URL as given; messages quote the URL
// through redact_uri() or name the faulty part only.
#include "cache/redis/redis_url.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "log/redact.h"
#include "text/ascii.h"
#include "text/percent.h"

namespace qc {
namespace {

constexpr std::string_view kShape = "redis://[:password@]host[:port][/db] or rediss://... (TLS)";

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_host_name(std::string_view h) {
  return !h.empty() && std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

bool valid_ipv6(std::string_view h) {
  return h.find(':') != std::string_view::npos && std::all_of(h.begin(), h.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '%';
         });
}

// The value of ssl_cert_reqs: true = verify, false = do not; nullopt: unknown.
std::optional<bool> cert_reqs(std::string_view value) {
  const std::string v = ascii_lower(value);
  if (v == "none" || v == "cert_none") return false;
  if (v == "required" || v == "cert_required") return true;
  return std::nullopt;
}

}  // namespace

std::string RedisEndpoint::host_port() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string RedisEndpoint::redacted() const {
  std::string out = tls ? "rediss://" : "redis://";
  if (!password.empty()) out += username + ":***@";
  out += host_port();
  if (db != 0) {
    out += '/';  // appended apart: g++ 12 -O3 warns (-Wrestrict) on "/" + to_string
    out += std::to_string(db);
  }
  return out;
}

std::string RedisEndpoint::transport_description(bool connected) const {
  if (!tls) return "plain TCP";
  if (!tls_verify)
    return "TLS (certificate NOT verified: " +
           (tls_verify_source.empty() ? std::string("verification off") : tls_verify_source) + ")";
  return std::string("TLS (certificate ") + (connected ? "verified" : "must verify") + " against " +
         (tls_ca_file.empty() ? std::string("the system CAs") : tls_ca_file) + ")";
}

std::string RedisEndpoint::transport() const {
  if (!tls) return "tcp";
  return tls_verify ? "tls" : "tls-unverified";
}

RedisEndpoint parse_redis_url(std::string_view input) {
  const std::string_view url = trim(input);
  if (url.empty()) throw RedisUrlError("REDIS_URL is empty; expected " + std::string(kShape));
  auto fail = [&](const std::string& why) -> RedisUrlError {
    return RedisUrlError("REDIS_URL '" + redact_uri(url) + "': " + why);
  };

  auto sep = url.find("://");
  if (sep == std::string_view::npos)
    throw fail("not a URL; expected " + std::string(kShape) +
               " (for a bare host name, set REDIS_HOST instead)");
  const std::string scheme = ascii_lower(url.substr(0, sep));
  if (scheme == "unix") throw fail("Unix-socket URLs are not supported; use redis://host:port");
  if (scheme != "redis" && scheme != "rediss")
    throw fail("unsupported scheme '" + scheme + "'; expected " + std::string(kShape));

  RedisEndpoint ep;
  ep.tls = scheme == "rediss";
  std::string_view rest = url.substr(sep + 3);

  // User info: up to the last '@'.
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = info.find(':');
    if (colon == std::string_view::npos) {
      if (!info.empty())
        throw fail("user info without a ':' (write the password as redis://:password@host)");
    } else {
      auto user = percent_decode(info.substr(0, colon));
      auto pass = percent_decode(info.substr(colon + 1));
      if (!user || !pass) throw fail("malformed %-escape in the user name or password");
      ep.username = std::move(*user);
      ep.password = std::move(*pass);
      if (ep.password.empty() && !ep.username.empty()) throw fail("a user name without a password");
    }
  }

  // Authority, path and query.
  if (rest.find('#') != std::string_view::npos) throw fail("fragments ('#...') are not supported");
  std::string_view query;
  bool has_query = false;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    has_query = true;
  }
  auto path_at = rest.find('/');
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path =
      path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  if (has_query && !ep.tls)
    throw fail(
        "query parameters are not supported in a redis:// URL (ssl_cert_reqs and ssl_ca_certs "
        "apply to rediss:// only); put the db number in the path (redis://host:port/2)");

  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw fail("unterminated '[' in the host");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw fail("unexpected text after ']' in the host");
      port = after.substr(1);
      if (port.empty()) throw fail("empty port after ':'");
    }
    if (!valid_ipv6(host)) throw fail("invalid IPv6 address '" + std::string(host) + "'");
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos)
      throw fail("an IPv6 address must be written in brackets, e.g. redis://[::1]:6379");
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) throw fail("empty port after ':'");
    }
    if (host.empty()) throw fail("no host; expected " + std::string(kShape));
    if (!valid_host_name(host)) throw fail("invalid host '" + std::string(host) + "'");
  }
  ep.host = std::string(host);

  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (!all_digits(port) || ec != std::errc{} || end != port.data() + port.size() || value < 1 ||
        value > 65535)
      throw fail("port must be a number from 1 to 65535, got '" + std::string(port) + "'");
    ep.port = static_cast<std::uint16_t>(value);
  }

  if (path.size() > 1) {
    std::string_view db = path.substr(1);
    int value = 0;
    auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), value);
    if (!all_digits(db) || ec != std::errc{} || end != db.data() + db.size())
      throw fail("the path must be a database number (redis://host:port/2), got '/" +
                 std::string(db) + "'");
    ep.db = value;
  }

  // rediss:// query: ssl_cert_reqs and ssl_ca_certs, each at most once.
  bool seen_reqs = false, seen_ca = false;
  while (has_query) {
    auto amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    if (!piece.empty()) {
      auto eq = piece.find('=');
      const std::string name = ascii_lower(piece.substr(0, eq));
      std::string_view raw =
          eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
      auto value = percent_decode(raw);
      if (!value) throw fail("malformed %-escape in the query parameter '" + name + "'");
      if (name == "ssl_cert_reqs") {
        if (seen_reqs) throw fail("ssl_cert_reqs is given twice");
        seen_reqs = true;
        auto verify = cert_reqs(*value);
        if (!verify)
          throw fail(
              "ssl_cert_reqs must be none (or CERT_NONE) to accept a certificate that "
              "cannot be verified, such as Heroku's self-signed ones, or required (or "
              "CERT_REQUIRED, the default); got '" +
              *value + "'");
        ep.tls_verify = *verify;
        ep.tls_verify_source = "ssl_cert_reqs=" + ascii_lower(*value);
      } else if (name == "ssl_ca_certs") {
        if (seen_ca) throw fail("ssl_ca_certs is given twice");
        seen_ca = true;
        if (value->empty())
          throw fail("ssl_ca_certs needs the path of a PEM file of CA certificates");
        ep.tls_ca_file = std::move(*value);
      } else {
        throw fail("unsupported query parameter '" + name +
                   "'; a rediss:// URL takes ssl_cert_reqs=none and ssl_ca_certs=PATH only (query "
                   "parameters such as db are not supported: put the db number in the path, "
                   "rediss://host:port/2)");
      }
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return ep;
}

RedisEndpoint parse_redis_host(std::string_view input) {
  std::string_view host = trim(input);
  auto fail = [&](const std::string& why) -> RedisUrlError {
    return RedisUrlError("REDIS_HOST '" + redact_uri(host) + "': " + why);
  };
  if (host.empty()) throw RedisUrlError("REDIS_HOST is empty; expected a host name or address");
  if (host.find("://") != std::string_view::npos || host.find('@') != std::string_view::npos)
    throw fail("takes a host name only; set REDIS_URL for a redis:// URL");
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto colons = std::count(host.begin(), host.end(), ':');
  if (colons == 1)
    throw fail(
        "takes a host name only (port 6379); set REDIS_URL=redis://host:port for another "
        "port");
  if (colons > 1 ? !valid_ipv6(host) : !valid_host_name(host))
    throw fail("not a valid host name or address");
  RedisEndpoint ep;
  ep.host = std::string(host);
  return ep;
}

std::optional<RedisEndpoint> redis_endpoint_from(std::string_view redis_url,
                                                 std::string_view redis_host,
                                                 const RedisTlsSettings& tls) {
  if (trim(redis_url).empty()) {
    if (!trim(redis_host).empty()) return parse_redis_host(redis_host);
    return std::nullopt;
  }
  RedisEndpoint ep = parse_redis_url(redis_url);
  if (!ep.tls) return ep;
  if (tls.verify) {
    const std::string source = std::string("QC_REDIS_TLS_VERIFY=") + (*tls.verify ? "1" : "0");
    if (!ep.tls_verify_source.empty() && ep.tls_verify != *tls.verify)
      throw RedisUrlError("REDIS_URL says " + ep.tls_verify_source + " but " + source +
                          "; remove one of them");
    if (ep.tls_verify_source.empty()) ep.tls_verify_source = source;
    ep.tls_verify = *tls.verify;
  }
  if (!tls.ca_file.empty()) {
    if (!ep.tls_ca_file.empty() && ep.tls_ca_file != tls.ca_file)
      throw RedisUrlError("REDIS_URL says ssl_ca_certs=" + ep.tls_ca_file +
                          " but QC_REDIS_TLS_CA_FILE=" + tls.ca_file + "; remove one of them");
    ep.tls_ca_file = tls.ca_file;
  }
  return ep;
}

}  // namespace qc
