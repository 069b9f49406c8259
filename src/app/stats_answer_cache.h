// Filtered /api/stats answers kept between closes (docs/decisions.md
// "Filtered statistics"): a filtered request is a scan of the matching
// trades (~25 ms for one symbol of a million), so the rendered statistics of
// a filter are kept until a trade the filter matches closes, and the same
// request asked again (a dashboard refreshing, several people on one view)
// is a lookup.
//
// What is kept is the document without its "open" part (render_stats_
// without_tail), which changes with every bar and is added per request.
// The owner tells the cache of every change to the closed trades while
// holding the lock that keeps scans out (closed(), cleared()); a scan reads
// version() under that lock, and what it stores is dropped when a change
// came in between. At most `max_bytes` of text are kept: the least recently
// used entries go first, and a text bigger than a quarter of that is never
// kept (sizes are plain bytes; a kept text's gzip form adds about a third).
// Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/position.h"
#include "core/trade_history.h"
#include "http/view_body.h"

namespace qc {

class StatsAnswerCache {
 public:
  // A kept answer is a body part: its gzip form, once made, is kept with it.
  using Text = BodyPartPtr;
  static constexpr std::size_t kDefaultBytes = 32 << 20;

  explicit StatsAnswerCache(std::size_t max_bytes = kDefaultBytes) : max_bytes_(max_bytes) {}

  // The text kept for `key`, or null.
  Text find(const std::string& key);
  // Keeps `text` for `key`, the answer for `filter` as of `version`; ignored
  // (returns false) when the closed trades changed since version() said
  // `version`, or the text is too big to keep.
  bool store(const std::string& key, const TradeFilter& filter, std::uint64_t version, Text text);

  std::uint64_t version() const;
  // `trade` closed: the answers of the filters that match it are dropped.
  void closed(const ClosedPosition& trade);
  // The closed trades were replaced: every answer is dropped.
  void cleared();

  std::size_t bytes() const;
  std::size_t entries() const;
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  struct Entry {
    std::string key;
    TradeFilter filter;
    Text text;
  };
  using Iterator = std::list<Entry>::iterator;
  void erase(Iterator it);

  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::uint64_t version_ = 0;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, Iterator> index_;
  std::size_t bytes_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace qc
