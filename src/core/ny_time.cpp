// New York / Singapore local time conversions over the tz database.
#include "core/ny_time.h"

#include <charconv>
#include <chrono>

#include <date/date.h>
#include <date/tz.h>

namespace qc {
namespace {

using namespace std::chrono;

const date::time_zone* new_york() {
  static const date::time_zone* zone = date::locate_zone("America/New_York");
  return zone;
}
const date::time_zone* singapore() {
  static const date::time_zone* zone = date::locate_zone("Asia/Singapore");
  return zone;
}

bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  for (std::size_t i = pos; i < pos + len; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  auto r = std::from_chars(s.data() + pos, s.data() + pos + len, out);
  return r.ec == std::errc{};
}

// "YYYY-MM-DD HH:MM:SS" (a 'T' separator is accepted too) -> local seconds.
std::optional<date::local_seconds> parse_local(std::string_view s) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  int y, mo, d, h, mi, se;
  if (!read_int(s, 0, 4, y) || !read_int(s, 5, 2, mo) || !read_int(s, 8, 2, d) ||
      !read_int(s, 11, 2, h) || !read_int(s, 14, 2, mi) || !read_int(s, 17, 2, se))
    return std::nullopt;
  date::year_month_day ymd{date::year{y}, date::month(static_cast<unsigned>(mo)),
                           date::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 59) return std::nullopt;
  return date::local_days{ymd} + hours{h} + minutes{mi} + seconds{se};
}

std::string format_in(const date::time_zone* zone, std::int64_t unix_seconds) {
  auto zt = date::make_zoned(zone, sys_seconds{seconds{unix_seconds}});
  return date::format("%Y-%m-%d %H:%M:%S", zt.get_local_time());
}

}  // namespace

std::optional<std::int64_t> parse_new_york_time(std::string_view us_date,
                                                std::string_view sg_date_hint) {
  auto local = parse_local(us_date);
  if (!local) return std::nullopt;
  auto info = new_york()->get_info(*local);
  switch (info.result) {
    case date::local_info::unique:
      return (*local - info.first.offset).time_since_epoch().count();
    case date::local_info::nonexistent:
      // Inside the skipped hour: the instant the clocks jumped.
      return info.first.end.time_since_epoch().count();
    case date::local_info::ambiguous: {
      std::int64_t first = (*local - info.first.offset).time_since_epoch().count();
      std::int64_t second = (*local - info.second.offset).time_since_epoch().count();
      if (auto sg = parse_singapore_time(sg_date_hint); sg && *sg == second) return second;
      return first;
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_singapore_time(std::string_view sg_date) {
  auto local = parse_local(sg_date);
  if (!local) return std::nullopt;
  auto info = singapore()->get_info(*local);
  if (info.result != date::local_info::unique) return std::nullopt;
  return (*local - info.first.offset).time_since_epoch().count();
}

std::string format_new_york_time(std::int64_t unix_seconds) {
  return format_in(new_york(), unix_seconds);
}
std::string format_singapore_time(std::int64_t unix_seconds) {
  return format_in(singapore(), unix_seconds);
}

NewYorkClock new_york_clock(std::int64_t unix_seconds) {
  sys_seconds t{seconds{unix_seconds}};
  auto info = new_york()->get_info(t);
  auto local = t + info.offset;  // still sys-typed, but shifted to local wall time
  auto days = floor<date::days>(local);
  NewYorkClock c;
  c.days_since_epoch = static_cast<std::int32_t>(days.time_since_epoch().count());
  c.weekday = static_cast<int>(date::weekday{days}.c_encoding());
  c.minute_of_day = static_cast<int>(duration_cast<minutes>(local - days).count());
  return c;
}

std::int32_t NewYorkDays::day_of(std::int64_t unix_seconds) {
  if (unix_seconds < period_begin_ || unix_seconds >= period_end_) {
    auto info = new_york()->get_info(sys_seconds{seconds{unix_seconds}});
    period_begin_ = info.begin.time_since_epoch().count();
    period_end_ = info.end.time_since_epoch().count();
    offset_seconds_ = info.offset.count();
  }
  auto local = sys_seconds{seconds{unix_seconds + offset_seconds_}};
  return static_cast<std::int32_t>(floor<date::days>(local).time_since_epoch().count());
}

bool us_equity_extended_hours(std::int64_t unix_seconds) {
  auto c = new_york_clock(unix_seconds);
  if (c.weekday == 0 || c.weekday == 6) return false;
  return c.minute_of_day >= 4 * 60 && c.minute_of_day < 20 * 60;
}

}  // namespace qc
