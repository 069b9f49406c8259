// The cache port: a key/value store the server keeps warm copies in
// (SPEC §2: in-process by default, Redis in production). Values are JSON text.
// A cache is never the source of truth; losing it loses nothing.
#pragma once
#include <optional>
#include <string>

namespace qc {

class Cache {
 public:
  virtual ~Cache() = default;
  virtual std::string kind() const = 0;      // "memory", "redis"
  virtual std::string location() const = 0;  // secrets redacted
  virtual void put(const std::string& key, const std::string& value) = 0;
  virtual std::optional<std::string> get(const std::string& key) = 0;
  virtual bool healthy() = 0;
};

}  // namespace qc
