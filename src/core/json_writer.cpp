#include "core/json_writer.h"

#include <charconv>
#include <cmath>

namespace qc {

void append_json_number(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == 0) d = 0;  // no "-0"
  // Shortest round-trip digits, in plain notation for every magnitude a
  // price, percent or timestamp can have (1680000000, not 1.68e+09).
  char buf[64];
  double magnitude = std::fabs(d);
  // A whole number below 2^53 (a timestamp): its shortest digits are the
  // integer's, which the integer formatting writes several times faster.
  if (magnitude < 9007199254740992.0 && d == std::trunc(d)) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d));
    out.append(buf, r.ptr);
    return;
  }
  if (magnitude >= 1e-6 && magnitude < 1e21) {
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    if (r.ec == std::errc{}) {
      out.append(buf, r.ptr);
      return;
    }
  }
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

void JsonWriter::separate() {
  if (need_comma_) out_ += ',';
}
JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ += '{';
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ += '[';
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
  separate();
  append_json_string(out_, k);
  out_ += ':';
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::value(std::string_view s) {
  separate();
  append_json_string(out_, s);
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(double d) {
  separate();
  append_json_number(out_, d);
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(std::int64_t i) {
  separate();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, i);
  out_.append(buf, r.ptr);
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(bool b) {
  separate();
  out_ += b ? "true" : "false";
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  out_ += json;
  need_comma_ = true;
  return *this;
}

}  // namespace qc
