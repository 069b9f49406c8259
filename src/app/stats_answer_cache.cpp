#include "app/stats_answer_cache.h"

namespace qc {

void StatsAnswerCache::erase(Iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->key);
  lru_.erase(it);
}

void StatsAnswerCache::recount(Iterator it) {
  bytes_ -= it->bytes;
  it->bytes = (it->text ? it->text->size() : 0) + (it->book ? it->book->bytes() : 0);
  bytes_ += it->bytes;
}

void StatsAnswerCache::account(Iterator it) {
  recount(it);
  evict_beyond_bound(it);
}

StatsAnswerCache::Lookup StatsAnswerCache::lookup_of(const Entry& e) {
  if (e.text) return {e.text, nullptr, 0};
  return {nullptr, e.book, e.generation};  // stale entries always keep their book
}

void StatsAnswerCache::evict_beyond_bound(Iterator keep) {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    auto last = std::prev(lru_.end());
    if (last == keep) {
      if (lru_.size() == 1) return;  // alone and within a quarter: stays
      last = std::prev(last);
    }
    erase(last);
  }
}

StatsAnswerCache::Lookup StatsAnswerCache::lookup(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return {};
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  auto found = lookup_of(*it->second);
  ++(found.text ? hits_ : refreshes_);
  return found;
}

bool StatsAnswerCache::store(const std::string& key, const TradeFilter& filter, std::uint64_t version,
                             Text text, Book book) {
  if (!text) return false;
  std::lock_guard lock(mutex_);
  if (version != version_ || text->size() > max_bytes_ / 4) return false;
  if (book && book->bytes() > max_bytes_ / 4) book = nullptr;
  if (auto it = index_.find(key); it != index_.end()) erase(it->second);
  lru_.push_front(Entry{key, filter, std::move(text), std::move(book), 0, 0});
  index_.emplace(key, lru_.begin());
  account(lru_.begin());
  return true;
}

bool StatsAnswerCache::refreshed(const std::string& key, std::uint64_t generation, Text text) {
  if (!text) return false;
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end() || it->second->generation != generation || it->second->text) return false;
  it->second->text = std::move(text);
  account(it->second);
  return true;
}

StatsAnswerCache::Lookup StatsAnswerCache::peek(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return {};
  return lookup_of(*it->second);
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
    if (matches(it->filter, trade)) {
      if (it->book && it->book->add_in_order(trade) && it->book->bytes() <= max_bytes_ / 4) {
        it->text = nullptr;
        ++it->generation;
        recount(it);
      } else {
        erase(it);
      }
    }
    it = next;
  }
  evict_beyond_bound(lru_.end());
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

std::uint64_t StatsAnswerCache::refreshes() const {
  std::lock_guard lock(mutex_);
  return refreshes_;
}

}  // namespace qc
