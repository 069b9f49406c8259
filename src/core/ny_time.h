// New York (and Singapore) local time <-> UNIX seconds, from the tz database
// (Howard Hinnant's date/tz over the system zoneinfo). DST-aware.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qc {

// Parses "YYYY-MM-DD HH:MM:SS" as America/New_York local time.
// Ambiguous times (the repeated hour when DST ends) are resolved with
// `sg_date_hint` (the same instant in Asia/Singapore, which has no DST) when
// it matches one of the two candidates, else the earlier instant. Times inside
// the skipped hour when DST starts map to the transition instant.
// Returns nullopt when the text is not a valid date-time.
std::optional<std::int64_t> parse_new_york_time(std::string_view us_date,
                                                std::string_view sg_date_hint = {});

// Parses "YYYY-MM-DD HH:MM:SS" as Asia/Singapore local time.
std::optional<std::int64_t> parse_singapore_time(std::string_view sg_date);

// "YYYY-MM-DD HH:MM:SS" in New York / Singapore local time.
std::string format_new_york_time(std::int64_t unix_seconds);
std::string format_singapore_time(std::int64_t unix_seconds);

struct NewYorkClock {
  std::int32_t days_since_epoch = 0;  // local calendar day
  int weekday = 0;                    // 0 = Sunday
  int minute_of_day = 0;              // 0..1439, local
};
NewYorkClock new_york_clock(std::int64_t unix_seconds);

// The New York calendar day (days since 1970-01-01) of instants, remembering
// the UTC offset period (tz database) of the last one: instants in time order
// cost one zone lookup per DST period.
class NewYorkDays {
 public:
  std::int32_t day_of(std::int64_t unix_seconds);

 private:
  std::int64_t period_begin_ = 1, period_end_ = 0;  // [begin, end), empty at first
  std::int64_t offset_seconds_ = 0;
};

// Regular or extended US equity session (4:00-20:00 ET on weekdays).
// Holidays are not known here.
bool us_equity_extended_hours(std::int64_t unix_seconds);

}  // namespace qc
