// Conversions between SPEC §5 MongoDB documents and the domain types. Field
// names and shapes are the earlier service's, so documents it wrote are read
// as they are and vice versa. Numbers may be stored as int32, int64 or double.
#pragma once
#include <mongoc/mongoc.h>

#include <optional>
#include <string>
#include <vector>

#include "core/position.h"
#include "core/recommendation.h"
#include "core/ticker.h"

namespace qc::mongo {

std::optional<double> number_field(const bson_t* doc, const char* key);
std::optional<std::string> string_field(const bson_t* doc, const char* key);

// A `recommendations` document; structural problems are reported per item.
ParsedDocument read_recommendation(const bson_t* doc);
void append_recommendation(bson_t* out, const RecommendationDocument& doc);

// Insertion order of an ObjectId: its seconds and counter (monotonic enough
// to order documents inserted by one writer).
std::int64_t object_id_order(const bson_oid_t& oid);

std::optional<OpenPosition> read_open_position(const bson_t* doc);
void append_open_position(bson_t* out, const OpenPosition& p);
// A closed position inside a `performance` document. Documents written by
// the earlier service have no `exit_price`; it is derived from pnl.
std::optional<ClosedPosition> read_closed_position(const bson_t* doc);
void append_closed_position(bson_t* out, const ClosedPosition& c);

std::optional<Ticker> read_ticker(const bson_t* doc);

}  // namespace qc::mongo
