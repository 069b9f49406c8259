#include "core/recommendation_book.h"

#include <algorithm>

namespace qc {

bool RecommendationBook::remember(std::string canonical) { return known_.insert(std::move(canonical)).second; }

void RecommendationBook::list(Entry entry) {
  // Oldest first, so the usual case (a new document is the newest) appends.
  auto older = [](const Entry& a, const Entry& b) {
    return a.open_timestamp < b.open_timestamp || (a.open_timestamp == b.open_timestamp && a.seq < b.seq);
  };
  if (entries_.empty() || !older(entry, entries_.back()))
    entries_.push_back(std::move(entry));
  else
    entries_.insert(std::upper_bound(entries_.begin(), entries_.end(), entry, older), std::move(entry));
}

std::vector<OpenPosition> RecommendationBook::latest(std::size_t limit) const {
  std::vector<OpenPosition> out;
  for (auto d = entries_.rbegin(); d != entries_.rend(); ++d) {
    for (const auto& p : d->items) {
      if (out.size() >= limit) return out;
      out.push_back(p);
    }
  }
  return out;
}

void RecommendationBook::clear() {
  known_.clear();
  entries_.clear();
}

}  // namespace qc
