#include "app/stats_answer_cache.h"

namespace qc {

void StatsAnswerCache::erase(Iterator it) {
  bytes_ -= it->text->size();
  index_.erase(it->key);
  lru_.erase(it);
}

StatsAnswerCache::Text StatsAnswerCache::find(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  return it->second->text;
}

bool StatsAnswerCache::store(const std::string& key, const TradeFilter& filter, std::uint64_t version,
                             Text text) {
  if (!text) return false;
  std::lock_guard lock(mutex_);
  if (version != version_ || text->size() > max_bytes_ / 4) return false;
  if (auto it = index_.find(key); it != index_.end()) erase(it->second);
  while (!lru_.empty() && bytes_ + text->size() > max_bytes_) erase(std::prev(lru_.end()));
  bytes_ += text->size();
  lru_.push_front(Entry{key, filter, std::move(text)});
  index_.emplace(key, lru_.begin());
  return true;
}

std::uint64_t StatsAnswerCache::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

void StatsAnswerCache::closed(const ClosedPosition& trade) {
  std::lock_guard lock(mutex_);
  ++version_;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (matches(it->filter, trade)) erase(it);
    it = next;
  }
}

void StatsAnswerCache::cleared() {
  std::lock_guard lock(mutex_);
  ++version_;
  lru_.clear();
  index_.clear();
  bytes_ = 0;
}

std::size_t StatsAnswerCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::size_t StatsAnswerCache::entries() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

std::uint64_t StatsAnswerCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

std::uint64_t StatsAnswerCache::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace qc
