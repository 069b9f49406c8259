// Filtered /api/stats answers kept between closes (docs/decisions.md
// "Filtered statistics"): a filtered request is a scan of the matching
// trades (~8 ms for one symbol of a million), so the answer of a filter is
// kept, and the same request asked again (a dashboard refreshing, several
// people on one view) is a lookup.
//
// What is kept is the document without its "open" part (render_stats_
// without_tail), which changes with every bar and is added per request, and,
// when it fits, the statistics it was rendered from (a StatsBook). A close
// the filter matches is added to those statistics when it comes in §4.3
// order (the usual case: a window open at the end, a symbol) and makes the
// text stale: the next ask renders the statistics again instead of scanning
// (a refresh). A matching close that sorts earlier, or one for an answer
// kept without its statistics, drops the answer.
//
// Locking: the owner tells the cache of every change to the closed trades
// while holding the lock that keeps scans out (closed(), cleared()), so a
// kept StatsBook changes only under that lock held exclusively; whoever
// renders one from lookup() holds it shared. A scan reads version() under it,
// and what it stores is dropped when a change came in between; a refresh is
// dropped when the statistics changed again after it read them.
//
// At most `max_bytes` are kept (text plus an estimate of the statistics'
// memory; a text's gzip form, once made, adds about a third of the text):
// the least recently used entries go first; statistics bigger than a
// quarter of that are not kept (the text alone is, if it fits), and a text
// bigger than a quarter is never kept. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/position.h"
#include "core/stats_book.h"
#include "core/trade_history.h"
#include "http/view_body.h"

namespace qc {

class StatsAnswerCache {
 public:
  // A kept answer is a body part: its gzip form, once made, is kept with it.
  using Text = BodyPartPtr;
  using Book = std::shared_ptr<StatsBook>;
  static constexpr std::size_t kDefaultBytes = 64 << 20;

  explicit StatsAnswerCache(std::size_t max_bytes = kDefaultBytes) : max_bytes_(max_bytes) {}

  // What is kept for `key`, counted once: `text` set, a hit (send it);
  // else `book` set, a refresh (a stale answer: render `book` again while
  // holding the lock the owner changes the trades under, shared, and hand
  // the text to refreshed() with `generation`); else a miss (scan).
  struct Lookup {
    Text text;
    std::shared_ptr<const StatsBook> book;
    std::uint64_t generation = 0;
  };
  Lookup lookup(const std::string& key);
  // The same, not counted (a second look, once holding the owner's lock).
  Lookup peek(const std::string& key) const;
  // lookup(key).text.
  Text find(const std::string& key) { return lookup(key).text; }
  // Keeps `text` (and `book`, the statistics it was rendered from, when it
  // fits; may be null) for `key`, the answer for `filter` as of `version`.
  // Returns false, keeping nothing, when the closed trades changed since
  // version() said `version` or the text is too big to keep.
  bool store(const std::string& key, const TradeFilter& filter, std::uint64_t version, Text text,
             Book book = nullptr);
  // The text rendered again from lookup(key).book at `generation`; kept (true)
  // unless the statistics changed since or the answer is gone.
  bool refreshed(const std::string& key, std::uint64_t generation, Text text);

  std::uint64_t version() const;
  // `trade` closed: added to the statistics of the answers whose filter
  // matches it (their text goes stale), or those answers are dropped.
  void closed(const ClosedPosition& trade);
  // The closed trades were replaced: every answer is dropped.
  void cleared();

  std::size_t bytes() const;
  std::size_t entries() const;
  std::uint64_t hits() const;
  std::uint64_t misses() const;
  std::uint64_t refreshes() const;

 private:
  struct Entry {
    std::string key;
    TradeFilter filter;
    Text text;  // null: stale, render `book` again
    Book book;  // null: not kept (too big); the answer is dropped on a match
    std::uint64_t generation = 0;  // bumped with each close added to `book`
    std::size_t bytes = 0;  // what this entry counts against max_bytes_
  };
  using Iterator = std::list<Entry>::iterator;
  void erase(Iterator it);
  // Re-counts the entry's bytes.
  void recount(Iterator it);
  // recount(), then the least recently used others go while more than
  // max_bytes_ are kept.
  void account(Iterator it);
  static Lookup lookup_of(const Entry& e);
  void evict_beyond_bound(Iterator keep);

  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::uint64_t version_ = 0;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, Iterator> index_;
  std::size_t bytes_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0, refreshes_ = 0;
};

}  // namespace qc
