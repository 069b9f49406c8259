// Conversions between SPEC §5 MongoDB documents and the domain types. Field
// names and shapes are the earlier service's, so documents it wrote are read
// as they are and vice versa. Numbers may be stored as int32, int64 or double.
//
// The readers of the server's own records (positions, tickers, last bars)
// throw DecodeError when a required field is missing or of the wrong type;
// an optional field may be absent (or null) but is never of the wrong type.
#pragma once
#include <mongoc/mongoc.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/position.h"
#include "core/recommendation.h"
#include "core/ticker.h"

namespace qc::mongo {

// What is wrong with a stored document: "field `entry_price` is missing", ...
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Lenient lookups: absent or of another type give nullopt.
std::optional<double> number_field(const bson_t* doc, const char* key);
std::optional<std::string> string_field(const bson_t* doc, const char* key);

// Strict lookups: throw DecodeError naming the field.
double required_number(const bson_t* doc, const char* key);
// Absent or null: nullopt; present: a number, else DecodeError.
std::optional<double> optional_number(const bson_t* doc, const char* key);
std::string required_string(const bson_t* doc, const char* key);

// The document's _id for messages: ObjectId("..."), "text", 42, or "(no _id)".
std::string describe_id(const bson_t* doc);

// A `recommendations` document; structural problems are reported per item.
ParsedDocument read_recommendation(const bson_t* doc);
void append_recommendation(bson_t* out, const RecommendationDocument& doc);

// Insertion order of an ObjectId: its seconds and counter (monotonic enough
// to order documents inserted by one writer).
std::int64_t object_id_order(const bson_oid_t& oid);

// `expected_profit` is optional (derived from the prices, SPEC §6.1).
// Throws DecodeError.
OpenPosition read_open_position(const bson_t* doc);
void append_open_position(bson_t* out, const OpenPosition& p);
// A closed position inside a `performance` document. Documents written by
// the earlier service have no `exit_price`; it is derived from pnl. Throws
// DecodeError (also for notes other than the two of SPEC §6.2).
ClosedPosition read_closed_position(const bson_t* doc);
void append_closed_position(bson_t* out, const ClosedPosition& c);

// `symbol` is required and non-empty; `exchange` (default "") and `name`
// (default: the symbol) are optional. Throws DecodeError.
Ticker read_ticker(const bson_t* doc);

}  // namespace qc::mongo
