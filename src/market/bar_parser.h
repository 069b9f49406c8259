// Reading minute bars from text: Polygon `AM` events (JSON object, or a JSON
// array of events as on the websocket) and CSV
// `symbol,time,open,high,low,close,volume`. Every rejected input comes back
// with a reason; nothing is silently dropped.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/minute_bar.h"

namespace qc {

enum class BarFormat { JsonLines, Csv };

// Parses one line. Appends the bars it holds to `out`; returns an empty string
// on success, else the reason it was rejected (nothing appended). Status
// events (`ev: "status"`) are skipped without error.
// `line` must be followed by at least 64 readable bytes (simdjson padding).
std::string parse_json_bar_line(std::string_view line, std::vector<MinuteBar>& out);
std::string parse_csv_bar_line(std::string_view line, std::vector<MinuteBar>& out);

struct RejectedLine {
  std::uint64_t line = 0;
  std::string reason;
};

// Streams a bar file in large chunks; format detected from its first
// non-blank character.
class BarFileReader {
 public:
  explicit BarFileReader(const std::filesystem::path& path);  // throws std::runtime_error
  ~BarFileReader();
  BarFileReader(const BarFileReader&) = delete;
  BarFileReader& operator=(const BarFileReader&) = delete;

  // Appends up to about `max_bars` bars; false once the file is exhausted
  // (nothing appended). Rejected lines are reported through `on_reject`.
  bool next(std::vector<MinuteBar>& out, std::size_t max_bars,
            const std::function<void(const RejectedLine&)>& on_reject);
  BarFormat format() const { return format_; }
  std::uint64_t bytes_read() const { return bytes_read_; }
  std::uint64_t file_size() const { return file_size_; }
  std::uint64_t lines_read() const { return line_no_; }

 private:
  bool fill();
  struct File;
  std::unique_ptr<File> file_;
  BarFormat format_ = BarFormat::JsonLines;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  bool seen_content_ = false;  // a non-blank line was read (CSV header detection)
  std::uint64_t line_no_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t file_size_ = 0;
};

}  // namespace qc
