#include "store/mongo/bson_codec.h"

#include <cmath>

namespace qc::mongo {
namespace {

std::optional<double> iter_number(const bson_iter_t* it) {
  switch (bson_iter_type(it)) {
    case BSON_TYPE_DOUBLE: return bson_iter_double(it);
    case BSON_TYPE_INT32: return static_cast<double>(bson_iter_int32(it));
    case BSON_TYPE_INT64: return static_cast<double>(bson_iter_int64(it));
    default: return std::nullopt;
  }
}

const char* type_name(bson_type_t t) {
  switch (t) {
    case BSON_TYPE_UTF8: return "a string";
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64: return "a number";
    case BSON_TYPE_NULL: return "null";
    case BSON_TYPE_DOCUMENT: return "an object";
    case BSON_TYPE_ARRAY: return "an array";
    case BSON_TYPE_BOOL: return "a boolean";
    default: return "another BSON type";
  }
}

bool present(const bson_t* doc, const char* key, bson_iter_t* it) {
  return bson_iter_init_find(it, doc, key) && !BSON_ITER_HOLDS_NULL(it);
}

[[noreturn]] void wrong_type(const char* key, const char* expected, const bson_iter_t* it) {
  throw DecodeError(std::string("field `") + key + "` must be " + expected + ", not " +
                    type_name(bson_iter_type(it)));
}

std::optional<std::string> optional_string(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!present(doc, key, &it)) return std::nullopt;
  if (!BSON_ITER_HOLDS_UTF8(&it)) wrong_type(key, "a string", &it);
  uint32_t len = 0;
  const char* s = bson_iter_utf8(&it, &len);
  return std::string(s, len);
}

}  // namespace

std::optional<double> optional_number(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!present(doc, key, &it)) return std::nullopt;
  if (auto v = iter_number(&it)) return v;
  wrong_type(key, "a number", &it);
}

double required_number(const bson_t* doc, const char* key) {
  if (auto v = optional_number(doc, key)) return *v;
  throw DecodeError(std::string("field `") + key + "` is missing");
}

std::string required_string(const bson_t* doc, const char* key) {
  if (auto v = optional_string(doc, key)) return *v;
  throw DecodeError(std::string("field `") + key + "` is missing");
}

std::string describe_id(const bson_t* doc) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id")) return "(no _id)";
  if (BSON_ITER_HOLDS_OID(&it)) {
    char hex[25];
    bson_oid_to_string(bson_iter_oid(&it), hex);
    return std::string("ObjectId(\"") + hex + "\")";
  }
  if (BSON_ITER_HOLDS_UTF8(&it)) return "\"" + std::string(bson_iter_utf8(&it, nullptr)) + "\"";
  if (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it))
    return std::to_string(bson_iter_as_int64(&it));
  return std::string("(an _id that is ") + type_name(bson_iter_type(&it)) + ")";
}

std::optional<double> number_field(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key)) return std::nullopt;
  return iter_number(&it);
}

std::optional<std::string> string_field(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
  uint32_t len = 0;
  const char* s = bson_iter_utf8(&it, &len);
  return std::string(s, len);
}

ParsedDocument read_recommendation(const bson_t* doc) {
  ParsedDocument out;
  auto problem = [&](int item, std::string field, std::string reason) {
    out.problems.push_back({item, std::move(field), std::move(reason)});
  };
  if (auto us = string_field(doc, "us-date")) out.document.us_date = *us;
  else problem(-1, "us-date", "is required and must be a string");
  if (auto sg = string_field(doc, "sg-date")) out.document.sg_date = *sg;
  bson_iter_t it, items;
  if (!bson_iter_init_find(&it, doc, "recommendations") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &items)) {
    problem(-1, "recommendations", "is required and must be an array");
    return out;
  }
  int index = -1;
  while (bson_iter_next(&items)) {
    ++index;
    if (!BSON_ITER_HOLDS_DOCUMENT(&items)) {
      problem(index, "", std::string("must be an object, got ") + type_name(bson_iter_type(&items)));
      continue;
    }
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    bson_iter_document(&items, &len, &data);
    bson_t item;
    if (!bson_init_static(&item, data, len)) continue;
    RecommendationItem parsed;
    bool ok = true;
    if (auto s = string_field(&item, "symbol"); s && !s->empty()) parsed.symbol = *s;
    else { problem(index, "symbol", "must be a non-empty string"); ok = false; }
    if (auto t = number_field(&item, "targetPrice")) parsed.target_price = *t;
    else { problem(index, "targetPrice", "must be a number"); ok = false; }
    if (auto c = number_field(&item, "currentPrice")) parsed.current_price = *c;
    else { problem(index, "currentPrice", "must be a number"); ok = false; }
    if (ok) out.document.items.push_back(std::move(parsed));
  }
  return out;
}

void append_recommendation(bson_t* out, const RecommendationDocument& doc) {
  BSON_APPEND_UTF8(out, "us-date", doc.us_date.c_str());
  BSON_APPEND_UTF8(out, "sg-date", doc.sg_date.c_str());
  bson_t array;
  BSON_APPEND_ARRAY_BEGIN(out, "recommendations", &array);
  for (std::size_t i = 0; i < doc.items.size(); ++i) {
    std::string key = std::to_string(i);
    bson_t item;
    bson_append_document_begin(&array, key.c_str(), -1, &item);
    BSON_APPEND_UTF8(&item, "symbol", doc.items[i].symbol.c_str());
    BSON_APPEND_DOUBLE(&item, "targetPrice", doc.items[i].target_price);
    BSON_APPEND_DOUBLE(&item, "currentPrice", doc.items[i].current_price);
    bson_append_document_end(&array, &item);
  }
  bson_append_array_end(out, &array);
}

std::int64_t object_id_order(const bson_oid_t& oid) {
  std::int64_t seconds = (std::int64_t{oid.bytes[0]} << 24) | (std::int64_t{oid.bytes[1]} << 16) |
                         (std::int64_t{oid.bytes[2]} << 8) | std::int64_t{oid.bytes[3]};
  std::int64_t counter = (std::int64_t{oid.bytes[9]} << 16) | (std::int64_t{oid.bytes[10]} << 8) |
                         std::int64_t{oid.bytes[11]};
  return (seconds << 24) | counter;
}

OpenPosition read_open_position(const bson_t* doc) {
  OpenPosition p;
  p.symbol = required_string(doc, "symbol");
  p.target_price = required_number(doc, "target_price");
  p.entry_price = required_number(doc, "entry_price");
  p.open_timestamp = static_cast<std::int64_t>(std::floor(required_number(doc, "open_timestamp")));
  p.stop_loss = required_number(doc, "stop_loss");
  p.expected_profit = optional_number(doc, "expected_profit")
                          .value_or((p.target_price - p.entry_price) / p.entry_price * 100);
  return p;
}

namespace {
// The fields an open and a closed position share, in SPEC §4 order.
void append_position_fields(bson_t* out, const OpenPosition& p) {
  BSON_APPEND_UTF8(out, "symbol", p.symbol.c_str());
  BSON_APPEND_DOUBLE(out, "target_price", p.target_price);
  BSON_APPEND_DOUBLE(out, "entry_price", p.entry_price);
  BSON_APPEND_INT64(out, "open_timestamp", p.open_timestamp);
  BSON_APPEND_DOUBLE(out, "stop_loss", p.stop_loss);
}
}  // namespace

void append_open_position(bson_t* out, const OpenPosition& p) {
  append_position_fields(out, p);
  BSON_APPEND_DOUBLE(out, "expected_profit", p.expected_profit);
}

ClosedPosition read_closed_position(const bson_t* doc) {
  ClosedPosition c;
  c.position = read_open_position(doc);
  c.pnl = required_number(doc, "pnl");
  c.close_timestamp = required_number(doc, "close_timestamp");
  auto notes = required_string(doc, "notes");
  if (!parse_close_notes(notes, c.reason))
    throw DecodeError("field `notes` is \"" + notes + "\", neither \"" +
                      std::string(close_notes(CloseReason::TargetPrice)) + "\" nor \"" +
                      std::string(close_notes(CloseReason::StopLoss)) + "\"");
  c.exit_price =
      optional_number(doc, "exit_price").value_or(c.position.entry_price * (1 + c.pnl / 100));
  return c;
}

void append_closed_position(bson_t* out, const ClosedPosition& c) {
  append_position_fields(out, c.position);
  BSON_APPEND_DOUBLE(out, "pnl", c.pnl);
  std::string notes(close_notes(c.reason));
  BSON_APPEND_UTF8(out, "notes", notes.c_str());
  BSON_APPEND_DOUBLE(out, "close_timestamp", c.close_timestamp);
  BSON_APPEND_DOUBLE(out, "exit_price", c.exit_price);
}

Ticker read_ticker(const bson_t* doc) {
  auto symbol = required_string(doc, "symbol");
  if (symbol.empty()) throw DecodeError("field `symbol` is empty");
  auto exchange = optional_string(doc, "exchange").value_or("");
  auto name = optional_string(doc, "name").value_or(symbol);
  return Ticker{std::move(symbol), std::move(exchange), std::move(name)};
}

}  // namespace qc::mongo
