// The US equity regular session as the simulated market keeps it: weekdays
// 9:30-16:00 New York time, minus the NYSE full holidays, closing at 13:00 on
// the NYSE early-close days (the day before Independence Day, the day after
// Thanksgiving, Christmas Eve). Rules as the NYSE applies them since 2022
// (Juneteenth included; a Saturday holiday is observed on the Friday before,
// a Sunday one on the Monday after, except that New Year's Day on a Saturday
// is not observed). One-off closures (days of mourning, storms) are not
// known. Pure functions of time, no clock of their own.
#pragma once
#include <cstdint>
#include <optional>

namespace qc {

struct SessionHours {
  int open_minute = 9 * 60 + 30;  // minutes after local midnight
  int close_minute = 16 * 60;     // the first minute after the session
};

// The session of a New York calendar day (days since 1970-01-01), or nullopt
// on weekends and holidays.
std::optional<SessionHours> us_equity_session(std::int32_t ny_day);

// Whether `unix_seconds` lies inside a regular session.
bool us_equity_in_session(std::int64_t unix_seconds);

// The start (UNIX s) of the first session minute that starts at or after `t`.
std::int64_t us_equity_next_session_minute(std::int64_t t);

// The UNIX time of `minute_of_day` on New York calendar day `ny_day`, for
// times outside the nightly DST change hours (any session time).
std::int64_t new_york_instant(std::int32_t ny_day, int minute_of_day);

}  // namespace qc
