#include "market/sim/trading_calendar.h"

#include <date/date.h>

#include "core/ny_time.h"

namespace qc {
namespace {

using date::days;
using date::sys_days;

sys_days nth_weekday(int y, unsigned month, date::weekday wd, unsigned n) {
  return sys_days{date::year{y} / date::month{month} / wd[n]};
}

sys_days last_weekday(int y, unsigned month, date::weekday wd) {
  return sys_days{date::year{y} / date::month{month} / wd[date::last]};
}

// Gregorian Easter Sunday (the anonymous Gregorian algorithm).
sys_days easter(int y) {
  int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
  int f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30;
  int i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7;
  int m = (a + 11 * h + 22 * l) / 451;
  int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
  return sys_days{date::year{y} / date::month(static_cast<unsigned>(month)) /
                  date::day(static_cast<unsigned>(day))};
}

// A fixed-date holiday moved off the weekend (Saturday -> Friday, Sunday -> Monday).
sys_days observed(sys_days d) {
  auto wd = date::weekday{d};
  if (wd == date::Saturday) return d - days{1};
  if (wd == date::Sunday) return d + days{1};
  return d;
}

sys_days on(int y, unsigned month, unsigned day) {
  return sys_days{date::year{y} / date::month{month} / date::day{day}};
}

bool is_full_holiday(sys_days d) {
  int y = static_cast<int>(date::year_month_day{d}.year());
  // New Year's Day: Sunday -> Monday; Saturday -> not observed.
  if (auto ny = on(y, 1, 1); date::weekday{ny} != date::Saturday && d == observed(ny)) return true;
  if (d == nth_weekday(y, 1, date::Monday, 3)) return true;     // Martin Luther King Jr. Day
  if (d == nth_weekday(y, 2, date::Monday, 3)) return true;     // Washington's Birthday
  if (d == easter(y) - days{2}) return true;                    // Good Friday
  if (d == last_weekday(y, 5, date::Monday)) return true;       // Memorial Day
  if (y >= 2022 && d == observed(on(y, 6, 19))) return true;    // Juneteenth
  if (d == observed(on(y, 7, 4))) return true;                  // Independence Day
  if (d == nth_weekday(y, 9, date::Monday, 1)) return true;     // Labor Day
  if (d == nth_weekday(y, 11, date::Thursday, 4)) return true;  // Thanksgiving
  if (d == observed(on(y, 12, 25))) return true;                // Christmas
  return false;
}

bool is_early_close(sys_days d) {
  int y = static_cast<int>(date::year_month_day{d}.year());
  auto wd = date::weekday{d};
  bool mon_to_thu = wd != date::Friday && wd != date::Saturday && wd != date::Sunday;
  if (d == on(y, 7, 3) && mon_to_thu) return true;                        // before July 4
  if (d == nth_weekday(y, 11, date::Thursday, 4) + days{1}) return true;  // after Thanksgiving
  if (d == on(y, 12, 24) && mon_to_thu) return true;                      // Christmas Eve
  return false;
}

}  // namespace

std::optional<SessionHours> us_equity_session(std::int32_t ny_day) {
  sys_days d{days{ny_day}};
  auto wd = date::weekday{d};
  if (wd == date::Saturday || wd == date::Sunday || is_full_holiday(d)) return std::nullopt;
  SessionHours h;
  if (is_early_close(d)) h.close_minute = 13 * 60;
  return h;
}

bool us_equity_in_session(std::int64_t unix_seconds) {
  auto c = new_york_clock(unix_seconds);
  auto s = us_equity_session(c.days_since_epoch);
  return s && c.minute_of_day >= s->open_minute && c.minute_of_day < s->close_minute;
}

std::int64_t us_equity_next_session_minute(std::int64_t t) {
  // Round up to a whole minute (floor division, also before 1970).
  std::int64_t minute = t / 60 - (t % 60 < 0 ? 1 : 0);
  if (minute * 60 < t) ++minute;
  t = minute * 60;
  auto c = new_york_clock(t);
  std::int32_t day = c.days_since_epoch;
  int from = c.minute_of_day;
  // A session day comes at least every 5 days (the longest run of closed
  // days is a holiday weekend).
  for (int i = 0; i < 14; ++i, ++day, from = 0) {
    auto s = us_equity_session(day);
    if (!s || from >= s->close_minute) continue;
    if (from <= s->open_minute) return new_york_instant(day, s->open_minute);
    return t;
  }
  return t;  // not reached
}

std::int64_t new_york_instant(std::int32_t ny_day, int minute_of_day) {
  std::int64_t local = static_cast<std::int64_t>(ny_day) * 86400 + minute_of_day * 60;
  // Daylight time (UTC-4), else standard time (UTC-5).
  std::int64_t t = local + 4 * 3600;
  auto c = new_york_clock(t);
  if (c.days_since_epoch == ny_day && c.minute_of_day == minute_of_day) return t;
  return local + 5 * 3600;
}

}  // namespace qc
