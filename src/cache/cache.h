// The cache port: a key/value store the server keeps warm copies in
// (SPEC §2: in-process by default, Redis in production). Values are JSON text.
// A cache is never the source of truth; losing it loses nothing.
//
// Keys kept (the earlier service's, so its tools keep working):
//   tickers_metadata  JSON object symbol -> {"symbol","exchange","name"}
//   open_positions    list of JSON open positions (SPEC §5 shape)
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace qc {

class Cache {
 public:
  virtual ~Cache() = default;
  virtual std::string kind() const = 0;      // "memory", "redis"
  virtual std::string location() const = 0;  // secrets redacted
  // Never throw: a cache that cannot be written keeps the value to write it
  // later (or drops it) and reports through healthy().
  virtual void put(const std::string& key, const std::string& value) = 0;
  // Replaces the list at `key` as a whole (a Redis LIST of JSON strings).
  virtual void put_list(const std::string& key, const std::vector<std::string>& items) = 0;
  virtual std::optional<std::string> get(const std::string& key) = 0;
  virtual std::optional<std::vector<std::string>> get_list(const std::string& key) = 0;
  virtual bool healthy() = 0;
  // How the cache is reached, for /readyz: "" in-process; "tcp", "tls" or
  // "tls-unverified" for a network cache.
  virtual std::string transport() const { return {}; }
  // Why healthy() is false, for /readyz ("" when healthy or unknown); no
  // secrets, no host names. Must not wait for the cache.
  virtual std::string detail() { return {}; }
};

}  // namespace qc
