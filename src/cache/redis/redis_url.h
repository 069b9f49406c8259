// Where the Redis cache lives (SPEC §3): REDIS_URL, Heroku style
// `redis://[[user]:password@]host[:port][/db]`, or `rediss://...` for Redis
// over TLS (with `?ssl_cert_reqs=none` and `?ssl_ca_certs=PATH`, the query
// parameters Heroku documents for its clients), or REDIS_HOST (port 6379).
// Owns the parsing, the merge with QC_REDIS_TLS_VERIFY / QC_REDIS_TLS_CA_FILE
// and the redacted form used in logs; a password never appears in a message
// or error produced here (SPEC §3).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace qc {

// A REDIS_URL or REDIS_HOST that cannot be used. The message names the
// variable and what is wrong, with any password replaced by ***; the app
// reports it like any other configuration error.
class RedisUrlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RedisEndpoint {
  std::string host;  // name or address; an IPv6 address without brackets
  std::uint16_t port = 6379;
  std::string username;  // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECTed after connecting when not 0

  // TLS (rediss://). The certificate is verified unless tls_verify is false:
  // against tls_ca_file when set (those CAs only), else the system CA store;
  // and it must be for `host` (its DNS name, or its IP address for an IP
  // literal).
  bool tls = false;
  bool tls_verify = true;
  std::string tls_ca_file;
  // The setting that decided tls_verify ("ssl_cert_reqs=none",
  // "QC_REDIS_TLS_VERIFY=0", ...); empty: the default (verify).
  std::string tls_verify_source;

  // "host:port" ("[::1]:6379" for IPv6), for log lines.
  std::string host_port() const;
  // "redis://:***@host:port/db" (rediss:// for TLS): the password replaced,
  // db shown when not 0, no query.
  std::string redacted() const;
  // How the connection is made, for the startup line (worded as MongoDB's):
  // "plain TCP", "TLS (certificate verified against the system CAs)",
  // "TLS (certificate verified against /path/ca.pem)", "TLS (certificate NOT
  // verified: ssl_cert_reqs=none)". `connected` says whether a connection
  // was made: without one, "verified" reads "must verify".
  std::string transport_description(bool connected) const;
  // The same in one word, for /readyz: "tcp", "tls" or "tls-unverified".
  std::string transport() const;
};

// QC_REDIS_TLS_VERIFY and QC_REDIS_TLS_CA_FILE (ServeConfig), applied to a
// rediss:// endpoint; ignored for redis:// and REDIS_HOST.
struct RedisTlsSettings {
  std::optional<bool> verify;  // unset: as the URL says (default: verify)
  std::string ca_file;         // empty: as the URL says (default: the system CA store)
};

// Parses a REDIS_URL. Throws RedisUrlError. A rediss:// URL may carry
// `ssl_cert_reqs` (none / CERT_NONE: do not verify the certificate;
// required / CERT_REQUIRED: verify, the default; any case) and
// `ssl_ca_certs=PATH` (percent-decoded); any other query parameter, or any
// query on a redis:// URL, is refused.
RedisEndpoint parse_redis_url(std::string_view url);

// REDIS_HOST: a host name or address, port 6379, no password, db 0.
// Throws RedisUrlError when it is empty or looks like a URL or host:port.
RedisEndpoint parse_redis_host(std::string_view host);

// SPEC §3: REDIS_URL when set, else REDIS_HOST when set, else nullopt
// (the in-process cache). Empty strings count as unset. `tls` is applied to
// a rediss:// URL; a setting that contradicts the URL's own query
// (QC_REDIS_TLS_VERIFY=1 with ssl_cert_reqs=none, two different CA files)
// is a RedisUrlError.
std::optional<RedisEndpoint> redis_endpoint_from(std::string_view redis_url,
                                                 std::string_view redis_host,
                                                 const RedisTlsSettings& tls = {});

}  // namespace qc
