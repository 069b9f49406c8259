// Appends JSON to a string. Numbers in shortest round-trip form (std::to_chars),
// never Boost.JSON's exponent form; non-finite numbers are written as null.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "text/json_string.h"

namespace qc {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(double d);
  JsonWriter& value(std::int64_t i);
  JsonWriter& value(int i) { return value(static_cast<std::int64_t>(i)); }
  JsonWriter& value(std::size_t i) { return value(static_cast<std::int64_t>(i)); }
  JsonWriter& value(bool b);
  JsonWriter& null();
  JsonWriter& raw(std::string_view json);  // an already-encoded value

 private:
  void separate();
  std::string& out_;
  bool need_comma_ = false;
};

void append_json_number(std::string& out, double d);

}  // namespace qc
