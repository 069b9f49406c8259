// Where the Redis cache lives (SPEC §3): REDIS_URL, Heroku style
// `redis://[[user]:password@]host[:port][/db]`, or REDIS_HOST (port 6379).
// Owns the parsing and the redacted form used in logs; a password never
// appears in a message or error produced here (SPEC §3).
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

  // "host:port" ("[::1]:6379" for IPv6), for log lines.
  std::string host_port() const;
  // "redis://:***@host:port/db": the password replaced, db shown when not 0.
  std::string redacted() const;
};

// Parses a REDIS_URL. Throws RedisUrlError (rediss:// included: the hiredis
// 0.14 of Debian 12 is built without TLS, so a TLS URL is refused up front
// instead of failing at every connection attempt).
RedisEndpoint parse_redis_url(std::string_view url);

// REDIS_HOST: a host name or address, port 6379, no password, db 0.
// Throws RedisUrlError when it is empty or looks like a URL or host:port.
RedisEndpoint parse_redis_host(std::string_view host);

// SPEC §3: REDIS_URL when set, else REDIS_HOST when set, else nullopt
// (the in-process cache). Empty strings count as unset.
std::optional<RedisEndpoint> redis_endpoint_from(std::string_view redis_url,
                                                 std::string_view redis_host);

}  // namespace qc
