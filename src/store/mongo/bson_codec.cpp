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

}  // namespace

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

std::optional<OpenPosition> read_open_position(const bson_t* doc) {
  OpenPosition p;
  auto symbol = string_field(doc, "symbol");
  auto target = number_field(doc, "target_price"), entry = number_field(doc, "entry_price"),
       opened = number_field(doc, "open_timestamp"), stop = number_field(doc, "stop_loss");
  if (!symbol || !target || !entry || !opened || !stop) return std::nullopt;
  p.symbol = *symbol;
  p.target_price = *target;
  p.entry_price = *entry;
  p.open_timestamp = static_cast<std::int64_t>(std::floor(*opened));
  p.stop_loss = *stop;
  p.expected_profit = number_field(doc, "expected_profit")
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

std::optional<ClosedPosition> read_closed_position(const bson_t* doc) {
  auto open = read_open_position(doc);
  auto pnl = number_field(doc, "pnl"), closed_at = number_field(doc, "close_timestamp");
  auto notes = string_field(doc, "notes");
  if (!open || !pnl || !closed_at || !notes) return std::nullopt;
  ClosedPosition c;
  c.position = *open;
  c.pnl = *pnl;
  c.close_timestamp = *closed_at;
  if (!parse_close_notes(*notes, c.reason)) return std::nullopt;
  c.exit_price = number_field(doc, "exit_price").value_or(open->entry_price * (1 + *pnl / 100));
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

std::optional<Ticker> read_ticker(const bson_t* doc) {
  auto symbol = string_field(doc, "symbol");
  if (!symbol || symbol->empty()) return std::nullopt;
  return Ticker{*symbol, string_field(doc, "exchange").value_or(""),
                string_field(doc, "name").value_or(*symbol)};
}

}  // namespace qc::mongo
