// Recommendation documents as the algorithm writes them (SPEC §5) and their
// validation into positions (SPEC §6.1).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/position.h"

namespace qc {

struct RecommendationItem {
  std::string symbol;
  double target_price = 0;   // `targetPrice`
  double current_price = 0;  // `currentPrice`
  bool operator==(const RecommendationItem&) const = default;
};

struct RecommendationDocument {
  std::string us_date;  // New York local "YYYY-MM-DD HH:MM:SS"
  std::string sg_date;  // Singapore local, informational
  std::vector<RecommendationItem> items;
  bool operator==(const RecommendationDocument&) const = default;
};

// A reason why a document or one of its items cannot be used. `item` is the
// index in `recommendations`, or -1 for the document itself.
struct DocumentProblem {
  int item = -1;
  std::string field;
  std::string reason;
};
std::string describe(const DocumentProblem& problem);

// Reads the JSON shape of SPEC §5. Structural problems (wrong types, missing
// fields) are reported per item; an item with a structural problem is kept out
// of `items` but its slot is remembered so indexes in problems stay correct.
struct ParsedDocument {
  RecommendationDocument document;
  std::vector<DocumentProblem> problems;
  bool malformed = false;  // the text is not JSON at all
};
// Parses text (numbers exactly, to the nearest double); malformed JSON
// yields a single document-level problem and `malformed`.
ParsedDocument parse_recommendation_document(std::string_view text);

// Canonical JSON of a document (field order fixed, shortest numbers).
// Identical documents give identical text; used as their identity.
std::string canonical_json(const RecommendationDocument& doc);

// SPEC §6.1 for one item; `is_tracked` tells whether a symbol is a ticker.
template <class IsTracked>
std::optional<DocumentProblem> validate_item(const RecommendationItem& item, int index,
                                             IsTracked&& is_tracked);

// The position an item opens at `open_timestamp` (no validation).
OpenPosition position_for(const RecommendationItem& item, std::int64_t open_timestamp);

}  // namespace qc

#include "core/recommendation_validate.inl"
