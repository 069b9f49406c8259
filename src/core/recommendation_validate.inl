// Template body of qc::validate_item (SPEC §6.1), included by recommendation.h.
#pragma once
#include <cmath>

namespace qc {

template <class IsTracked>
std::optional<DocumentProblem> validate_item(const RecommendationItem& item, int index,
                                             IsTracked&& is_tracked) {
  if (!is_tracked(item.symbol))
    return DocumentProblem{index, "symbol", "'" + item.symbol + "' is not a tracked ticker"};
  if (!std::isfinite(item.current_price))
    return DocumentProblem{index, "currentPrice", "must be a finite number"};
  if (!std::isfinite(item.target_price))
    return DocumentProblem{index, "targetPrice", "must be a finite number"};
  if (!(item.current_price > 0))
    return DocumentProblem{index, "currentPrice", "must be greater than 0"};
  if (!(item.target_price > item.current_price))
    return DocumentProblem{index, "targetPrice", "must be greater than currentPrice"};
  // Finite prices can still overflow (targetPrice 1e300, currentPrice 1e-300);
  // a position whose expected_profit is not a number would be served as null.
  if (!std::isfinite((item.target_price - item.current_price) / item.current_price * 100))
    return DocumentProblem{index, "targetPrice",
                           "gives an expected_profit too large to represent "
                           "((targetPrice - currentPrice) / currentPrice * 100 is not finite)"};
  return std::nullopt;
}

}  // namespace qc
