// Redis adapter of the cache port (SPEC §2 production): redis:// or, over
// TLS, rediss:// (redis_connection.h: hiredis 0.14 for the protocol, Asio and
// OpenSSL for the bytes).
//
// Owns: one connection (used by one caller at a time), an in-memory mirror
// of every key written through it, the TLS client context of a rediss://
// endpoint, and a background thread that watches the connection.
// Invariants:
//  - put/put_list/get/get_list never throw and never wait on Redis longer
//    than one command timeout: a write lands in the mirror first, then in
//    Redis; when Redis is unreachable the mirror answers.
//  - Losing Redis logs exactly one warning per outage, naming the host and
//    the reason (for TLS: the handshake's, e.g. "certificate verify failed:
//    hostname mismatch"); the background thread
//    reconnects with capped exponential backoff and jitter, writes every
//    mirrored key back in one MULTI/EXEC (re-sync), and only then reports
//    healthy again (one info line).
//  - Keys keep the earlier service's layout: tickers_metadata is a Redis
//    string, open_positions a Redis LIST of JSON strings (cache/cache.h).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache.h"
#include "cache/redis/redis_url.h"

namespace qc {

class RedisConnection;  // redis_connection.h
class RedisTlsContext;

struct RedisCacheOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{10000};
  // While healthy, the connection is PINGed this often so that a Redis that
  // went away (or restarted empty) is noticed and re-synced without waiting
  // for the next write.
  std::chrono::milliseconds health_interval{1000};
};

// What Redis held at startup under the earlier service's keys.
struct CacheWarmStart {
  bool reached = false;                         // Redis answered; false: nothing could be read
  std::optional<std::string> tickers_metadata;  // raw JSON as stored
  std::optional<std::vector<std::string>> open_positions;  // raw JSON items
  std::size_t ticker_count = 0;  // members of tickers_metadata (0 unless a JSON object)
  // "11 tickers, 3 open positions", "no earlier keys" or "Redis unreachable".
  std::string summary() const;
};

class RedisCache final : public Cache {
 public:
  // Tries to connect once (bounded by connect_timeout); when Redis is down
  // the cache starts unhealthy, logs one warning and keeps retrying in the
  // background. Throws RedisUrlError only for an unusable endpoint (no host,
  // port 0, a TLS CA file that holds no certificate).
  explicit RedisCache(RedisEndpoint endpoint, RedisCacheOptions options = {});
  ~RedisCache() override;
  RedisCache(const RedisCache&) = delete;
  RedisCache& operator=(const RedisCache&) = delete;

  std::string kind() const override { return "redis"; }
  std::string location() const override { return endpoint_.redacted(); }
  void put(const std::string& key, const std::string& value) override;
  // MULTI, DEL, RPUSH items..., EXEC: readers never see a half-written list.
  // An empty list leaves no key in Redis (a Redis list cannot be empty).
  void put_list(const std::string& key, const std::vector<std::string>& items) override;
  // From Redis when healthy, from the mirror otherwise.
  std::optional<std::string> get(const std::string& key) override;
  std::optional<std::vector<std::string>> get_list(const std::string& key) override;
  bool healthy() override { return healthy_.load(); }
  // "tcp", "tls" or "tls-unverified".
  std::string transport() const override { return endpoint_.transport(); }
  // Why Redis is not in use now (the last failure; "" while healthy). Never
  // waits for a call in progress.
  std::string detail() override;

  // Reads tickers_metadata and open_positions as Redis holds them now (call
  // at startup, before the first write) and keeps them in the mirror for the
  // keys not written yet, so they survive a later outage.
  CacheWarmStart warm_start();

 private:
  void watch();  // background thread body
  void watch_step(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds& backoff);
  void lose_connection_locked(const std::string& reason);
  void set_detail(const std::string& reason);
  std::chrono::milliseconds jittered(std::chrono::milliseconds delay);

  const RedisEndpoint endpoint_;
  const RedisCacheOptions options_;
  const std::shared_ptr<RedisTlsContext> tls_;  // null for redis://

  mutable std::mutex detail_mutex_;  // guards detail_ only
  std::string detail_;

  std::mutex mutex_;  // guards everything below (a connection is not thread-safe)
  std::condition_variable wake_;
  std::unique_ptr<RedisConnection> connection_;  // null while unhealthy
  std::map<std::string, std::string> values_;    // the mirror
  std::map<std::string, std::vector<std::string>> lists_;
  bool stopping_ = false;
  std::atomic<bool> healthy_{false};
  bool outage_reported_ = false;  // the one warning of the current outage is out
  std::minstd_rand jitter_;

  std::thread watcher_;  // last: started once everything above exists
};

}  // namespace qc
