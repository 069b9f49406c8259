// One connection to Redis, plain TCP or TLS, for the Redis cache adapter.
//
// hiredis 0.14 (Debian 12) has no TLS, so it is used for the protocol only:
// redisFormatCommandArgv encodes commands and a redisReader parses replies.
// The bytes travel over our own transport: a Boost.Asio TCP socket, wrapped
// in an asio::ssl::stream (OpenSSL) for rediss://. Plain redis:// takes the
// same path without the TLS layer (docs/decisions.md, "Redis").
//
// Bounds: every call returns or throws within its deadline. Each connection
// owns an io_context that only the calling thread runs, for at most the time
// left; when the deadline passes the socket is closed, the pending operation
// completes as aborted, and the connection is unusable from then on.
//   - open(): host name resolution, TCP connect and the TLS handshake share
//     one connect timeout; AUTH, SELECT and PING then take one command
//     timeout each.
//   - pipeline()/run()/transaction(): writing every command and reading
//     every reply take one command timeout in all.
// A RedisConnection is not thread-safe (the cache serializes calls).
#pragma once
#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cache/redis/redis_url.h"

namespace qc {

// A connection-level failure: the connection it happened on is discarded.
// The message names the reason, never the password or the host.
class RedisFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

using Command = std::vector<std::string_view>;

// The OpenSSL client context of a rediss:// endpoint (CA store, verification
// mode), built once per cache and shared by its connections.
class RedisTlsContext;

// Null for a redis:// endpoint. Throws RedisUrlError when the CA file of
// the endpoint cannot be loaded.
std::shared_ptr<RedisTlsContext> make_redis_tls_context(const RedisEndpoint& endpoint);

struct RedisTimeouts {
  std::chrono::milliseconds connect{1000};
  std::chrono::milliseconds command{1000};
};

class RedisConnection {
 public:
  // Connects (TLS handshake included), AUTHs, SELECTs and PINGs, so that a
  // server that refuses this client is a failed connection, not a healthy
  // one. `tls` must be make_redis_tls_context(endpoint). Throws RedisFailure.
  static std::unique_ptr<RedisConnection> open(const RedisEndpoint& endpoint,
                                               std::shared_ptr<RedisTlsContext> tls,
                                               RedisTimeouts timeouts);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // One command; an error reply is returned, an I/O failure throws.
  ReplyPtr run(const Command& command);

  // Sends all commands, then reads one reply each. Throws RedisFailure on an
  // I/O error, a protocol error or the deadline (the connection is then
  // unusable).
  std::vector<ReplyPtr> pipeline(const std::vector<Command>& commands);

  // MULTI, commands..., EXEC. Throws RedisFailure when the transaction did
  // not apply in full (I/O error, a command refused, EXEC aborted).
  void transaction(const std::vector<Command>& commands);

 private:
  struct Impl;
  explicit RedisConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

inline bool is_error(const redisReply& r) {
  return r.type == REDIS_REPLY_ERROR;
}
inline std::string text(const redisReply& r) {
  return r.str ? std::string(r.str, r.len) : std::string();
}

}  // namespace qc
