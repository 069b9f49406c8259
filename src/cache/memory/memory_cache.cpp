#include "cache/memory/memory_cache.h"

namespace qc {

void MemoryCache::put(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  values_[key] = value;
}

std::optional<std::string> MemoryCache::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

void MemoryCache::put_list(const std::string& key, const std::vector<std::string>& items) {
  std::lock_guard lock(mutex_);
  lists_[key] = items;
}

std::optional<std::vector<std::string>> MemoryCache::get_list(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = lists_.find(key);
  if (it == lists_.end()) return std::nullopt;
  return it->second;
}

}  // namespace qc
