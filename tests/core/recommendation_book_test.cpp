// Which documents are known and the order their items are listed in
// (SPEC §4.2, §6.3), shared by the ledger and the backtest.
#include "core/recommendation_book.h"

#include <gtest/gtest.h>

namespace {

using qc::OpenPosition;
using qc::RecommendationBook;

OpenPosition p(std::string symbol, std::int64_t ts) {
  OpenPosition x;
  x.symbol = std::move(symbol);
  x.open_timestamp = ts;
  return x;
}

std::vector<std::string> symbols(const std::vector<OpenPosition>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.symbol);
  return out;
}

TEST(RecommendationBook, RememberIsTrueOnlyTheFirstTime) {
  RecommendationBook b;
  EXPECT_TRUE(b.remember("{\"a\":1}"));
  EXPECT_FALSE(b.remember("{\"a\":1}"));
  EXPECT_TRUE(b.knows("{\"a\":1}"));
  EXPECT_FALSE(b.knows("{\"a\":2}"));
}

TEST(RecommendationBook, NewerDocumentIsListedFirst) {
  RecommendationBook b;
  b.list({100, 1, {p("OLD", 100)}});
  b.list({200, 2, {p("NEW", 200)}});
  EXPECT_EQ(symbols(b.latest(10)), (std::vector<std::string>{"NEW", "OLD"}));
}

TEST(RecommendationBook, OlderDocumentInsertedLaterIsListedAfterNewerOnes) {
  RecommendationBook b;
  b.list({200, 1, {p("NEW", 200)}});
  b.list({100, 2, {p("OLD", 100)}});
  EXPECT_EQ(symbols(b.latest(10)), (std::vector<std::string>{"NEW", "OLD"}));
}

TEST(RecommendationBook, EqualDatesListTheLaterInsertedFirst) {
  RecommendationBook b;
  b.list({100, 1, {p("FIRST", 100)}});
  b.list({100, 2, {p("SECOND", 100)}});
  EXPECT_EQ(symbols(b.latest(10)), (std::vector<std::string>{"SECOND", "FIRST"}));
}

TEST(RecommendationBook, ItemsKeepDocumentOrderAndTheLimitCutsAcrossDocuments) {
  RecommendationBook b;
  b.list({100, 1, {p("A", 100), p("B", 100)}});
  b.list({200, 2, {p("C", 200), p("D", 200)}});
  EXPECT_EQ(symbols(b.latest(3)), (std::vector<std::string>{"C", "D", "A"}));
  EXPECT_TRUE(b.latest(0).empty());
}

TEST(RecommendationBook, ClearForgetsEverything) {
  RecommendationBook b;
  b.remember("x");
  b.list({1, 1, {p("A", 1)}});
  b.clear();
  EXPECT_FALSE(b.knows("x"));
  EXPECT_TRUE(b.latest(10).empty());
}

}  // namespace
