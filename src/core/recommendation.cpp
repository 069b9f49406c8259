#include "core/recommendation.h"

#include <simdjson.h>

#include "core/json_writer.h"
#include "core/ny_time.h"

namespace qc {

std::string describe(const DocumentProblem& p) {
  std::string out;
  if (p.item >= 0) out = "recommendations[" + std::to_string(p.item) + "]";
  if (!p.field.empty()) {
    if (!out.empty()) out += '.';
    out += p.field;
  }
  if (!out.empty()) out += ": ";
  return out + p.reason;
}

namespace {

namespace dom = simdjson::dom;

const char* kind_name(dom::element v) {
  switch (v.type()) {
    case dom::element_type::NULL_VALUE: return "null";
    case dom::element_type::BOOL: return "a boolean";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: return "a number";
    case dom::element_type::STRING: return "a string";
    case dom::element_type::ARRAY: return "an array";
    case dom::element_type::OBJECT: return "an object";
  }
  return "unknown";
}

std::optional<double> as_number(dom::element v) {
  switch (v.type()) {
    case dom::element_type::DOUBLE: return double(v);
    case dom::element_type::INT64: return static_cast<double>(int64_t(v));
    case dom::element_type::UINT64: return static_cast<double>(uint64_t(v));
    default: return std::nullopt;
  }
}

ParsedDocument parse_element(dom::element value) {
  ParsedDocument out;
  auto problem = [&](int item, std::string field, std::string reason) {
    out.problems.push_back({item, std::move(field), std::move(reason)});
  };
  dom::object obj;
  if (value.get_object().get(obj)) {
    problem(-1, "", std::string("the document must be a JSON object, got ") + kind_name(value));
    return out;
  }
  dom::element field;
  if (obj["us-date"].get(field)) {
    problem(-1, "us-date", "is required");
  } else if (!field.is_string()) {
    problem(-1, "us-date", std::string("must be a string, got ") + kind_name(field));
  } else {
    out.document.us_date = std::string(std::string_view(field));
    if (!parse_new_york_time(out.document.us_date))
      problem(-1, "us-date", "must be a date-time \"YYYY-MM-DD HH:MM:SS\" (New York time)");
  }
  if (!obj["sg-date"].get(field)) {
    if (field.is_string())
      out.document.sg_date = std::string(std::string_view(field));
    else if (!field.is_null())
      problem(-1, "sg-date", std::string("must be a string, got ") + kind_name(field));
  }
  if (obj["recommendations"].get(field)) {
    problem(-1, "recommendations", "is required");
    return out;
  }
  dom::array items;
  if (field.get_array().get(items)) {
    problem(-1, "recommendations", std::string("must be an array, got ") + kind_name(field));
    return out;
  }
  int index = -1;
  for (dom::element element : items) {
    ++index;
    dom::object item;
    if (element.get_object().get(item)) {
      problem(index, "", std::string("must be an object, got ") + kind_name(element));
      continue;
    }
    RecommendationItem parsed;
    bool ok = true;
    dom::element v;
    if (item["symbol"].get(v)) {
      problem(index, "symbol", "is required");
      ok = false;
    } else if (!v.is_string() || std::string_view(v).empty()) {
      problem(index, "symbol", "must be a non-empty string");
      ok = false;
    } else {
      parsed.symbol = std::string(std::string_view(v));
    }
    auto read_price = [&](const char* name, double& dest) {
      dom::element f;
      if (item[name].get(f)) {
        problem(index, name, "is required");
        ok = false;
      } else if (auto n = as_number(f)) {
        dest = *n;
      } else {
        problem(index, name, std::string("must be a number, got ") + kind_name(f));
        ok = false;
      }
    };
    read_price("targetPrice", parsed.target_price);
    read_price("currentPrice", parsed.current_price);
    if (ok) out.document.items.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace

ParsedDocument parse_recommendation_document(std::string_view text) {
  // simdjson parses numbers exactly (Boost.JSON 1.81 can be one ulp off).
  thread_local dom::parser parser;
  dom::element root;
  if (auto err = parser.parse(text.data(), text.size(), true).get(root)) {
    ParsedDocument out;
    out.malformed = true;
    out.problems.push_back({-1, "", std::string("malformed JSON: ") + simdjson::error_message(err)});
    return out;
  }
  return parse_element(root);
}

std::string canonical_json(const RecommendationDocument& doc) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("us-date").value(doc.us_date).key("sg-date").value(doc.sg_date);
  w.key("recommendations").begin_array();
  for (const auto& item : doc.items) {
    w.begin_object()
        .key("symbol").value(item.symbol)
        .key("targetPrice").value(item.target_price)
        .key("currentPrice").value(item.current_price)
        .end_object();
  }
  w.end_array().end_object();
  return out;
}

OpenPosition position_for(const RecommendationItem& item, std::int64_t open_timestamp) {
  OpenPosition p;
  p.symbol = item.symbol;
  p.target_price = item.target_price;
  p.entry_price = item.current_price;
  p.open_timestamp = open_timestamp;
  p.stop_loss = item.current_price * 0.9;
  p.expected_profit = (item.target_price - item.current_price) / item.current_price * 100;
  return p;
}

std::string_view close_notes(CloseReason reason) {
  return reason == CloseReason::StopLoss ? "Reached stop loss" : "Reached target price";
}

bool parse_close_notes(std::string_view notes, CloseReason& out) {
  if (notes == "Reached stop loss") {
    out = CloseReason::StopLoss;
    return true;
  }
  if (notes == "Reached target price") {
    out = CloseReason::TargetPrice;
    return true;
  }
  return false;
}

}  // namespace qc
