// The recommendation documents seen so far (SPEC §4.2, §6.3): which documents
// are known (a re-sent one opens nothing and is not listed twice) and the
// order in which their items are listed. Used by the live ledger and by the
// backtest, so both treat the same input the same way.
//
// Identity of a document: its canonical JSON (field order fixed, shortest
// numbers). Listing order: newest `us-date` first; equal dates, the later
// inserted (higher store seq) first; items in document order.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/position.h"
#include "core/recommendation.h"

namespace qc {

class RecommendationBook {
 public:
  struct Entry {
    std::int64_t open_timestamp = 0;  // the document's us-date (SPEC §6.1)
    std::int64_t seq = 0;             // insertion order in the store
    std::vector<OpenPosition> items;  // the positions its valid items describe
  };

  // Remembers a document's identity; false when it was known already.
  bool remember(std::string canonical);
  bool knows(const std::string& canonical) const { return known_.count(canonical) > 0; }
  // Lists a remembered document (once it is durable).
  void list(Entry entry);
  // The items of the newest documents, at most `limit`.
  std::vector<OpenPosition> latest(std::size_t limit) const;
  std::size_t size() const { return known_.size(); }
  void clear();

 private:
  std::unordered_set<std::string> known_;
  std::vector<Entry> entries_;  // oldest first
};

// The positions a document's valid items describe, in document order
// (invalid items, by SPEC §6.1, are left out).
template <class IsTracked>
std::vector<OpenPosition> described_positions(const RecommendationDocument& doc,
                                              std::int64_t open_timestamp, IsTracked&& is_tracked) {
  std::vector<OpenPosition> out;
  for (std::size_t i = 0; i < doc.items.size(); ++i)
    if (!validate_item(doc.items[i], static_cast<int>(i), is_tracked))
      out.push_back(position_for(doc.items[i], open_timestamp));
  return out;
}

}  // namespace qc
