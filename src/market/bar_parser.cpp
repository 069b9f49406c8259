#include "market/bar_parser.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <simdjson.h>

#include "core/ny_time.h"

namespace qc {
namespace {

namespace od = simdjson::ondemand;

enum class EventKind { Bar, Status, Error };

// Reads one event object into `bar`; on EventKind::Error `reason` says why.
EventKind read_event(od::object obj, MinuteBar& bar, std::string& reason) {
  bool has_sym = false, has_o = false, has_h = false, has_l = false, has_c = false,
       has_s = false, has_e = false;
  std::string_view ev;
  bool is_status = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      reason = "malformed JSON";
      return EventKind::Error;
    }
    auto value = field.value();
    simdjson::error_code err = simdjson::SUCCESS;
    if (key.size() == 1) {
      switch (key[0]) {
        case 'o': err = value.get_double().get(bar.open); has_o = !err; break;
        case 'h': err = value.get_double().get(bar.high); has_h = !err; break;
        case 'l': err = value.get_double().get(bar.low); has_l = !err; break;
        case 'c': err = value.get_double().get(bar.close); has_c = !err; break;
        case 'v': err = value.get_double().get(bar.volume); break;
        case 's': err = value.get_int64().get(bar.start_ms); has_s = !err; break;
        case 'e': err = value.get_int64().get(bar.end_ms); has_e = !err; break;
        default: break;
      }
      if (err) {
        reason = std::string("field '") + key[0] +
                 (key[0] == 's' || key[0] == 'e' ? "' must be an integer (UNIX ms)"
                                                 : "' must be a number");
        return EventKind::Error;
      }
    } else if (key == "sym") {
      std::string_view sym;
      if (value.get_string().get(sym) || sym.empty()) {
        reason = "field 'sym' must be a non-empty string";
        return EventKind::Error;
      }
      bar.symbol.assign(sym);
      has_sym = true;
    } else if (key == "ev") {
      if (value.get_string().get(ev)) {
        reason = "field 'ev' must be a string";
        return EventKind::Error;
      }
      if (ev == "status") {
        is_status = true;  // keep reading: the whole object must be well-formed
        continue;
      }
      if (ev != "AM") {
        reason = "event type '" + std::string(ev) + "' is not a minute aggregate (AM)";
        return EventKind::Error;
      }
    }
  }
  if (is_status) return EventKind::Status;
  const char* missing = !has_sym ? "sym" : !has_o ? "o" : !has_h ? "h" : !has_l ? "l"
                        : !has_c ? "c" : !has_s ? "s" : !has_e ? "e" : nullptr;
  if (missing) {
    reason = std::string("missing field '") + missing + "'";
    return EventKind::Error;
  }
  if (!std::isfinite(bar.open) || !std::isfinite(bar.high) || !std::isfinite(bar.low) ||
      !std::isfinite(bar.close)) {
    reason = "prices must be finite";
    return EventKind::Error;
  }
  if (bar.low > bar.high) {
    reason = "low is above high";
    return EventKind::Error;
  }
  if (bar.start_ms < 0 || bar.end_ms <= bar.start_ms) {
    reason = "bar end 'e' must be after bar start 's'";
    return EventKind::Error;
  }
  return EventKind::Bar;
}

bool parse_number(std::string_view s, double& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && std::isfinite(out);
}

// CSV bar time: UNIX seconds, UNIX ms (> 1e11), or New York "YYYY-MM-DD HH:MM[:SS]".
bool parse_bar_time(std::string_view s, std::int64_t& start_ms) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.size() >= 16 && s[4] == '-') {
    std::string text(s);
    if (text.size() == 16) text += ":00";
    auto t = parse_new_york_time(text);
    if (!t) return false;
    start_ms = *t * 1000;
    return true;
  }
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || v < 0) return false;
  start_ms = v > 100'000'000'000 ? v : v * 1000;
  return true;
}

}  // namespace

std::string parse_json_bar_line(std::string_view line, std::vector<MinuteBar>& out) {
  thread_local od::parser parser;
  od::document doc;
  if (auto err = parser.iterate(line.data(), line.size(), line.size() + simdjson::SIMDJSON_PADDING).get(doc))
    return std::string("malformed JSON: ") + simdjson::error_message(err);
  std::string reason;
  od::json_type type;
  if (doc.type().get(type)) return "malformed JSON";
  std::size_t before = out.size();
  auto fail = [&](std::string why) {
    out.resize(before);
    return why;
  };
  if (type == od::json_type::object) {
    od::object obj;
    if (doc.get_object().get(obj)) return "malformed JSON";
    MinuteBar bar;
    auto kind = read_event(obj, bar, reason);
    if (kind == EventKind::Error) return fail(reason);
    if (kind == EventKind::Bar) out.push_back(std::move(bar));
  } else if (type == od::json_type::array) {
    od::array arr;
    if (doc.get_array().get(arr)) return "malformed JSON";
    std::size_t index = 0;
    for (auto element : arr) {
      od::object obj;
      if (element.get_object().get(obj))
        return fail("element " + std::to_string(index) + " is not an object");
      MinuteBar bar;
      auto kind = read_event(obj, bar, reason);
      if (kind == EventKind::Error) return fail("element " + std::to_string(index) + ": " + reason);
      if (kind == EventKind::Bar) out.push_back(std::move(bar));
      ++index;
    }
  } else {
    return "expected a JSON object or array of AM events";
  }
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return fail("malformed JSON: trailing content");
  return {};
}

std::string parse_csv_bar_line(std::string_view line, std::vector<MinuteBar>& out) {
  std::string_view cols[7];
  std::size_t n = 0;
  while (n < 7) {
    auto comma = line.find(',');
    cols[n++] = line.substr(0, comma);
    if (comma == std::string_view::npos) {
      line = {};
      break;
    }
    line.remove_prefix(comma + 1);
    if (n == 7) return "expected 7 columns symbol,time,open,high,low,close,volume";
  }
  if (n != 7) return "expected 7 columns symbol,time,open,high,low,close,volume";
  MinuteBar bar;
  auto sym = cols[0];
  while (!sym.empty() && sym.front() == ' ') sym.remove_prefix(1);
  while (!sym.empty() && sym.back() == ' ') sym.remove_suffix(1);
  if (sym.empty()) return "empty symbol";
  bar.symbol.assign(sym);
  if (!parse_bar_time(cols[1], bar.start_ms))
    return "time must be UNIX seconds, UNIX ms or \"YYYY-MM-DD HH:MM[:SS]\" (New York)";
  bar.end_ms = bar.start_ms + 60'000;
  if (!parse_number(cols[2], bar.open) || !parse_number(cols[3], bar.high) ||
      !parse_number(cols[4], bar.low) || !parse_number(cols[5], bar.close))
    return "open, high, low and close must be finite numbers";
  if (!parse_number(cols[6], bar.volume)) return "volume must be a number";
  if (bar.low > bar.high) return "low is above high";
  out.push_back(std::move(bar));
  return {};
}

// ---- BarFileReader -----------------------------------------------------------

struct BarFileReader::File {
  std::FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

namespace {
constexpr std::size_t kChunk = 8 << 20;
}

BarFileReader::BarFileReader(const std::filesystem::path& path) : file_(new File) {
  file_->f = std::fopen(path.c_str(), "rb");
  if (!file_->f)
    throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  std::error_code ec;
  file_size_ = std::filesystem::file_size(path, ec);
  buf_.resize(kChunk + simdjson::SIMDJSON_PADDING);
  fill();
  for (std::size_t i = begin_; i < end_; ++i) {
    char c = buf_[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    format_ = (c == '{' || c == '[') ? BarFormat::JsonLines : BarFormat::Csv;
    break;
  }
}

BarFileReader::~BarFileReader() = default;

bool BarFileReader::fill() {
  if (eof_) return false;
  // Move the unread tail to the front, grow if a single line fills the buffer.
  std::size_t tail = end_ - begin_;
  if (begin_ > 0) std::memmove(buf_.data(), buf_.data() + begin_, tail);
  begin_ = 0;
  end_ = tail;
  if (buf_.size() - simdjson::SIMDJSON_PADDING - end_ < kChunk / 2) buf_.resize(buf_.size() * 2);
  std::size_t room = buf_.size() - simdjson::SIMDJSON_PADDING - end_;
  std::size_t got = std::fread(buf_.data() + end_, 1, room, file_->f);
  end_ += got;
  bytes_read_ += got;
  if (got < room) eof_ = true;
  std::memset(buf_.data() + end_, 0, simdjson::SIMDJSON_PADDING);
  return got > 0;
}

bool BarFileReader::next(std::vector<MinuteBar>& out, std::size_t max_bars,
                         const std::function<void(const RejectedLine&)>& on_reject) {
  std::size_t start = out.size();
  while (out.size() - start < max_bars) {
    const char* base = buf_.data();
    const void* nl = std::memchr(base + begin_, '\n', end_ - begin_);
    std::size_t line_end;
    if (!nl) {
      if (!eof_) {
        fill();
        continue;
      }
      if (begin_ == end_) break;
      line_end = end_;  // last line without a newline
    } else {
      line_end = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
    }
    std::string_view line(base + begin_, line_end - begin_);
    begin_ = line_end < end_ ? line_end + 1 : end_;
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;  // blank line
    std::string reason;
    if (format_ == BarFormat::JsonLines) {
      reason = parse_json_bar_line(line, out);
    } else {
      bool header = !seen_content_ && line.substr(first, 6) == "symbol";
      seen_content_ = true;
      if (header) continue;
      reason = parse_csv_bar_line(line, out);
    }
    if (!reason.empty()) on_reject({line_no_, std::move(reason)});
  }
  return out.size() > start || begin_ < end_ || !eof_;
}

}  // namespace qc
