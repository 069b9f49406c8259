// SPEC §5 recommendation documents: parsing from text, problems with item
// indexes and field names, canonical JSON identity.
#include <gtest/gtest.h>

#include <charconv>
#include <string>

#include "core/recommendation.h"

namespace {

using qc::canonical_json;
using qc::parse_recommendation_document;

constexpr const char* kValid =
    R"({"us-date": "2021-07-12 10:59:00", "sg-date": "2021-07-12 22:59:00",)"
    R"( "recommendations": [{"symbol": "AAPL", "targetPrice": 150.2, "currentPrice": 145.1},)"
    R"( {"symbol": "NVDA", "targetPrice": 210.5, "currentPrice": 200.25}]})";

// Shortest round-trip text of a double, so failures show every digit.
std::string digits(double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

bool has_problem(const qc::ParsedDocument& p, int item, const std::string& field) {
  for (const auto& pr : p.problems)
    if (pr.item == item && pr.field == field) return true;
  return false;
}

TEST(RecommendationParse, ValidDocumentHasNoProblems) {
  auto p = parse_recommendation_document(std::string_view(kValid));
  EXPECT_TRUE(p.problems.empty());
}

TEST(RecommendationParse, ValidDocumentReadsDatesAndItems) {
  auto p = parse_recommendation_document(std::string_view(kValid));
  EXPECT_EQ(p.document.us_date, "2021-07-12 10:59:00");
  EXPECT_EQ(p.document.sg_date, "2021-07-12 22:59:00");
  ASSERT_EQ(p.document.items.size(), 2u);
  EXPECT_EQ(p.document.items[0], (qc::RecommendationItem{"AAPL", 150.2, 145.1}));
  EXPECT_EQ(p.document.items[1], (qc::RecommendationItem{"NVDA", 210.5, 200.25}));
}

TEST(RecommendationParse, MalformedJsonGivesOneDocumentLevelProblem) {
  auto p = parse_recommendation_document(std::string_view(R"({"us-date": "2021-07-12 10:59:00",)"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
  EXPECT_EQ(p.problems[0].reason.rfind("malformed JSON", 0), 0u) << p.problems[0].reason;
  EXPECT_TRUE(p.document.items.empty());
}

TEST(RecommendationParse, EmptyTextIsMalformedJson) {
  auto p = parse_recommendation_document(std::string_view(""));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
}

TEST(RecommendationParse, TopLevelArrayIsNotAnObject) {
  auto p = parse_recommendation_document(std::string_view("[1, 2]"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
  EXPECT_NE(p.problems[0].reason.find("object"), std::string::npos);
}

TEST(RecommendationParse, TopLevelStringIsNotAnObject) {
  auto p = parse_recommendation_document(std::string_view(R"("hello")"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
}

TEST(RecommendationParse, MissingUsDateIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"recommendations": [{"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
  EXPECT_EQ(p.problems[0].field, "us-date");
  EXPECT_EQ(p.document.items.size(), 1u);
}

TEST(RecommendationParse, UsDateAsNumberIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": 1626101940, "recommendations": []})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].field, "us-date");
}

TEST(RecommendationParse, UnparsableUsDateFebruary30IsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-02-30 10:00:00", "recommendations": []})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
  EXPECT_EQ(p.problems[0].field, "us-date");
}

TEST(RecommendationParse, MissingSgDateIsTolerated) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": []})"));
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(p.document.sg_date, "");
}

TEST(RecommendationParse, NullSgDateIsTolerated) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "sg-date": null, "recommendations": []})"));
  EXPECT_TRUE(p.problems.empty());
}

TEST(RecommendationParse, SgDateAsNumberIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "sg-date": 5, "recommendations": []})"));
  EXPECT_TRUE(has_problem(p, -1, "sg-date"));
}

TEST(RecommendationParse, MissingRecommendationsIsReported) {
  auto p = parse_recommendation_document(std::string_view(R"({"us-date": "2021-07-12 10:59:00"})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].field, "recommendations");
}

TEST(RecommendationParse, RecommendationsAsObjectIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": {"symbol": "AAPL"}})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, -1);
  EXPECT_EQ(p.problems[0].field, "recommendations");
}

TEST(RecommendationParse, EmptyRecommendationsArrayIsValid) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": []})"));
  EXPECT_TRUE(p.problems.empty());
  EXPECT_TRUE(p.document.items.empty());
}

TEST(RecommendationParse, TargetPriceAsString150IsReportedForItem0) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": "150", "currentPrice": 145}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, 0);
  EXPECT_EQ(p.problems[0].field, "targetPrice");
  EXPECT_TRUE(p.document.items.empty());
}

TEST(RecommendationParse, DescribeNamesIndexFieldAndReason) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": "150", "currentPrice": 145}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(qc::describe(p.problems[0]),
            "recommendations[0].targetPrice: must be a number, got a string");
}

TEST(RecommendationParse, DescribeDocumentLevelProblemHasNoIndex) {
  EXPECT_EQ(qc::describe({-1, "us-date", "is required"}), "us-date: is required");
}

TEST(RecommendationParse, ProblemInThirdItemHasIndex2AndOtherItemsKept) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145},)"
      R"({"symbol": "AMZN", "targetPrice": 3700, "currentPrice": 3600},)"
      R"({"symbol": "NVDA", "targetPrice": 200, "currentPrice": true},)"
      R"({"symbol": "C", "targetPrice": 70, "currentPrice": 65}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, 2);
  EXPECT_EQ(p.problems[0].field, "currentPrice");
  ASSERT_EQ(p.document.items.size(), 3u);
  EXPECT_EQ(p.document.items[0].symbol, "AAPL");
  EXPECT_EQ(p.document.items[1].symbol, "AMZN");
  EXPECT_EQ(p.document.items[2].symbol, "C");
}

TEST(RecommendationParse, EveryBadFieldOfOneItemIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": 5, "targetPrice": null}]})"));
  EXPECT_TRUE(has_problem(p, 0, "symbol"));
  EXPECT_TRUE(has_problem(p, 0, "targetPrice"));
  EXPECT_TRUE(has_problem(p, 0, "currentPrice"));
  EXPECT_TRUE(p.document.items.empty());
}

TEST(RecommendationParse, MissingSymbolIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"targetPrice": 150, "currentPrice": 145}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, 0);
  EXPECT_EQ(p.problems[0].field, "symbol");
}

TEST(RecommendationParse, EmptySymbolIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "", "targetPrice": 150, "currentPrice": 145}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].field, "symbol");
}

TEST(RecommendationParse, MissingCurrentPriceIsReported) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150}]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].field, "currentPrice");
}

TEST(RecommendationParse, ItemThatIsNotAnObjectIsReportedWithItsIndex) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145}, "AMZN"]})"));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].item, 1);
  EXPECT_EQ(p.problems[0].field, "");
  EXPECT_EQ(p.document.items.size(), 1u);
}

TEST(RecommendationParse, IntegerPricesAreAccepted) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145}]})"));
  EXPECT_TRUE(p.problems.empty());
  ASSERT_EQ(p.document.items.size(), 1u);
  EXPECT_EQ(p.document.items[0].target_price, 150.0);
  EXPECT_EQ(p.document.items[0].current_price, 145.0);
}

TEST(RecommendationParse, ExtraFieldsAreTolerated) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"_id": {"$oid": "60ec5a1b2f8fb814b56fa181"}, "us-date": "2021-07-12 10:59:00",)"
      R"( "model": "v2", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145, "confidence": 0.9}]})"));
  EXPECT_TRUE(p.problems.empty());
  ASSERT_EQ(p.document.items.size(), 1u);
  EXPECT_EQ(p.document.items[0], (qc::RecommendationItem{"AAPL", 150, 145}));
}

TEST(RecommendationParse, ParsingKeepsUntrackedSymbolsForLaterValidation) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "MSFT", "targetPrice": 100, "currentPrice": 145}]})"));
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(p.document.items.size(), 1u);
}

TEST(RecommendationParse, SeventeenDigitPriceParsesToTheExactDouble) {
  // 145.1 * 1.035 as Python prints it: a realistic algorithm output.
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150.17849999999999, "currentPrice": 145.1}]})"));
  ASSERT_TRUE(p.problems.empty());
  ASSERT_EQ(p.document.items.size(), 1u);
  EXPECT_EQ(digits(p.document.items[0].target_price), digits(150.17849999999999));
}

TEST(RecommendationParse, SixteenDigitPriceParsesToTheExactDouble) {
  auto p = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 940.6921769452537, "currentPrice": 900}]})"));
  ASSERT_TRUE(p.problems.empty());
  ASSERT_EQ(p.document.items.size(), 1u);
  EXPECT_EQ(digits(p.document.items[0].target_price), digits(940.6921769452537));
}

// --- canonical JSON --------------------------------------------------------------------

TEST(CanonicalJson, ExactTextForOneItemDocument) {
  qc::RecommendationDocument d{"2021-07-12 10:59:00", "2021-07-12 22:59:00",
                               {{"AAPL", 150.2, 145.1}}};
  EXPECT_EQ(canonical_json(d),
            R"({"us-date":"2021-07-12 10:59:00","sg-date":"2021-07-12 22:59:00",)"
            R"("recommendations":[{"symbol":"AAPL","targetPrice":150.2,"currentPrice":145.1}]})");
}

TEST(CanonicalJson, IdenticalForEqualDocumentsWrittenDifferently) {
  auto a = parse_recommendation_document(std::string_view(
      R"({"us-date": "2021-07-12 10:59:00", "sg-date": "2021-07-12 22:59:00", "recommendations": [)"
      R"({"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145.10}]})"));
  auto b = parse_recommendation_document(std::string_view(
      R"({"recommendations":[{"currentPrice":1.451e2,"targetPrice":150.0,"symbol":"AAPL","x":1}],)"
      R"("sg-date":"2021-07-12 22:59:00","us-date":"2021-07-12 10:59:00","extra":true})"));
  ASSERT_TRUE(a.problems.empty());
  ASSERT_TRUE(b.problems.empty());
  EXPECT_EQ(canonical_json(a.document), canonical_json(b.document));
}

TEST(CanonicalJson, ParsingCanonicalJsonGivesBackTheSameDocument) {
  qc::RecommendationDocument d{"2021-07-12 10:59:00", "2021-07-12 22:59:00",
                               {{"AAPL", 150.17849999999999, 145.1}, {"NVDA", 940.6921769452537, 900}}};
  auto p = parse_recommendation_document(std::string_view(canonical_json(d)));
  ASSERT_TRUE(p.problems.empty());
  EXPECT_EQ(canonical_json(p.document), canonical_json(d));
}

TEST(CanonicalJson, DifferentTargetPriceGivesDifferentText) {
  qc::RecommendationDocument a{"2021-07-12 10:59:00", "", {{"AAPL", 150.2, 145.1}}};
  auto b = a;
  b.items[0].target_price = 150.21;
  EXPECT_NE(canonical_json(a), canonical_json(b));
}

TEST(CanonicalJson, DifferentUsDateGivesDifferentText) {
  qc::RecommendationDocument a{"2021-07-12 10:59:00", "", {{"AAPL", 150.2, 145.1}}};
  auto b = a;
  b.us_date = "2021-07-12 11:00:00";
  EXPECT_NE(canonical_json(a), canonical_json(b));
}

TEST(CanonicalJson, DifferentSgDateGivesDifferentText) {
  qc::RecommendationDocument a{"2021-07-12 10:59:00", "2021-07-12 22:59:00", {}};
  auto b = a;
  b.sg_date = "";
  EXPECT_NE(canonical_json(a), canonical_json(b));
}

TEST(CanonicalJson, DifferentItemOrderGivesDifferentText) {
  qc::RecommendationDocument a{"2021-07-12 10:59:00", "", {{"AAPL", 150, 145}, {"C", 70, 65}}};
  auto b = a;
  std::swap(b.items[0], b.items[1]);
  EXPECT_NE(canonical_json(a), canonical_json(b));
}

TEST(CanonicalJson, EscapesSymbolText) {
  qc::RecommendationDocument a{"2021-07-12 10:59:00", "", {{"A\"B", 150, 145}}};
  EXPECT_NE(canonical_json(a).find(R"("symbol":"A\"B")"), std::string::npos);
}

}  // namespace
