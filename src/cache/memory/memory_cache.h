// In-process adapter of the cache port (the embedded default).
#pragma once
#include <mutex>
#include <unordered_map>

#include "cache/cache.h"

namespace qc {

class MemoryCache final : public Cache {
 public:
  std::string kind() const override { return "memory"; }
  std::string location() const override { return "in-process"; }
  void put(const std::string& key, const std::string& value) override;
  void put_list(const std::string& key, const std::vector<std::string>& items) override;
  std::optional<std::string> get(const std::string& key) override;
  std::optional<std::vector<std::string>> get_list(const std::string& key) override;
  bool healthy() override { return true; }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> values_;
  std::unordered_map<std::string, std::vector<std::string>> lists_;
};

}  // namespace qc
