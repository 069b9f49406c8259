// SPEC §6.1 / docs/decisions.md "Time": us-date is New York local time,
// DST-aware; skipped hour maps to the transition, repeated hour resolved by
// the sg-date hint, else the earlier (EDT) instant.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

#include "core/ny_time.h"

namespace {

using qc::parse_new_york_time;

// --- ordinary dates -----------------------------------------------------------

TEST(NyTimeParse, SummerDateIsEdtUtcMinus4) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:59:00"), std::optional<std::int64_t>(1626101940));
}

TEST(NyTimeParse, WinterDateIsEstUtcMinus5) {
  EXPECT_EQ(parse_new_york_time("2021-01-15 09:30:00"), std::optional<std::int64_t>(1610721000));
}

TEST(NyTimeParse, LeapDayInLeapYearParses) {
  EXPECT_EQ(parse_new_york_time("2020-02-29 12:00:00"), std::optional<std::int64_t>(1582995600));
}

TEST(NyTimeParse, UnambiguousTimeIgnoresMismatchingSgHint) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:59:00", "2000-01-01 00:00:00"),
            std::optional<std::int64_t>(1626101940));
}

TEST(NyTimeParse, UnambiguousTimeIgnoresGarbageSgHint) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:59:00", "garbage"),
            std::optional<std::int64_t>(1626101940));
}

// --- spring forward: 2021-03-14, 02:00 EST -> 03:00 EDT ---------------------------

TEST(NyTimeDst, SpringForwardLastEstSecond015959) {
  EXPECT_EQ(parse_new_york_time("2021-03-14 01:59:59"), std::optional<std::int64_t>(1615705199));
}

TEST(NyTimeDst, SpringForwardFirstEdtSecond030000) {
  EXPECT_EQ(parse_new_york_time("2021-03-14 03:00:00"), std::optional<std::int64_t>(1615705200));
}

TEST(NyTimeDst, SpringForwardNonexistent023000MapsToTransitionInstant) {
  EXPECT_EQ(parse_new_york_time("2021-03-14 02:30:00"), std::optional<std::int64_t>(1615705200));
}

TEST(NyTimeDst, SpringForwardNonexistent020000MapsToTransitionInstant) {
  EXPECT_EQ(parse_new_york_time("2021-03-14 02:00:00"), std::optional<std::int64_t>(1615705200));
}

TEST(NyTimeDst, SpringForwardNonexistent025959MapsToTransitionInstant) {
  EXPECT_EQ(parse_new_york_time("2021-03-14 02:59:59"), std::optional<std::int64_t>(1615705200));
}

// --- fall back: 2021-11-07, 02:00 EDT -> 01:00 EST ----------------------------------

TEST(NyTimeDst, FallBackBeforeRepeatedHour005959IsEdt) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 00:59:59"), std::optional<std::int64_t>(1636261199));
}

TEST(NyTimeDst, FallBackAmbiguous013000WithoutHintIsEarlierEdt) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 01:30:00"), std::optional<std::int64_t>(1636263000));
}

TEST(NyTimeDst, FallBackAmbiguous013000SgHintSelectsLaterEst) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 01:30:00", "2021-11-07 14:30:00"),
            std::optional<std::int64_t>(1636266600));
}

TEST(NyTimeDst, FallBackAmbiguous013000SgHintSelectsEarlierEdt) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 01:30:00", "2021-11-07 13:30:00"),
            std::optional<std::int64_t>(1636263000));
}

TEST(NyTimeDst, FallBackAmbiguous013000NonMatchingSgHintFallsBackToEarlier) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 01:30:00", "2021-11-07 20:00:00"),
            std::optional<std::int64_t>(1636263000));
}

TEST(NyTimeDst, FallBackAmbiguous013000UnparsableSgHintFallsBackToEarlier) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 01:30:00", "not a date"),
            std::optional<std::int64_t>(1636263000));
}

TEST(NyTimeDst, FallBackAfterRepeatedHour020000IsEst) {
  EXPECT_EQ(parse_new_york_time("2021-11-07 02:00:00"), std::optional<std::int64_t>(1636268400));
}

// --- unparsable -----------------------------------------------------------------

TEST(NyTimeParseInvalid, February30IsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-02-30 10:00:00"), std::nullopt);
}

TEST(NyTimeParseInvalid, February29InNonLeapYearIsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-02-29 10:00:00"), std::nullopt);
}

TEST(NyTimeParseInvalid, GarbageIsRejected) {
  EXPECT_EQ(parse_new_york_time("garbage"), std::nullopt);
}

TEST(NyTimeParseInvalid, EmptyStringIsRejected) {
  EXPECT_EQ(parse_new_york_time(""), std::nullopt);
}

TEST(NyTimeParseInvalid, Month13IsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-13-01 10:00:00"), std::nullopt);
}

TEST(NyTimeParseInvalid, Hour24IsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 24:00:00"), std::nullopt);
}

TEST(NyTimeParseInvalid, Minute60IsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:60:00"), std::nullopt);
}

TEST(NyTimeParseInvalid, Second60IsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:59:60"), std::nullopt);
}

TEST(NyTimeParseInvalid, MissingSecondsIsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:59"), std::nullopt);
}

TEST(NyTimeParseInvalid, TrailingCharactersAreRejected) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 10:59:00Z"), std::nullopt);
}

TEST(NyTimeParseInvalid, SingleDigitMonthIsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-7-12 10:59:00"), std::nullopt);
}

TEST(NyTimeParseInvalid, SignInsideFieldIsRejected) {
  EXPECT_EQ(parse_new_york_time("2021-07-12 +1:59:00"), std::nullopt);
}

// --- Singapore and formatting ---------------------------------------------------------

TEST(SingaporeTime, ParseIsUtcPlus8) {
  EXPECT_EQ(qc::parse_singapore_time("2021-07-12 22:59:00"),
            std::optional<std::int64_t>(1626101940));
}

TEST(SingaporeTime, GarbageIsRejected) {
  EXPECT_EQ(qc::parse_singapore_time("garbage"), std::nullopt);
}

TEST(NyTimeFormat, SummerInstantFormatsAsEdtLocalTime) {
  EXPECT_EQ(qc::format_new_york_time(1626101940), "2021-07-12 10:59:00");
}

TEST(NyTimeFormat, FallBackLaterEstInstantFormatsAsRepeated0130) {
  EXPECT_EQ(qc::format_new_york_time(1636266600), "2021-11-07 01:30:00");
}

TEST(NyTimeFormat, SingaporeFormatIsUtcPlus8) {
  EXPECT_EQ(qc::format_singapore_time(1626101940), "2021-07-12 22:59:00");
}

// --- clock and session ---------------------------------------------------------------

TEST(NewYorkClock, MondaySummerMorningWeekdayAndMinute) {
  auto c = qc::new_york_clock(1626101940);  // Mon 2021-07-12 10:59 EDT
  EXPECT_EQ(c.weekday, 1);
  EXPECT_EQ(c.minute_of_day, 10 * 60 + 59);
}

TEST(NewYorkClock, EveningInNewYorkIsSameLocalDayAlthoughNextUtcDay) {
  auto morning = qc::new_york_clock(1626101940);  // 2021-07-12 10:59 EDT
  auto evening = qc::new_york_clock(1626138000);  // 2021-07-12 21:00 EDT = 07-13 01:00 UTC
  EXPECT_EQ(morning.days_since_epoch, evening.days_since_epoch);
  EXPECT_EQ(evening.minute_of_day, 21 * 60);
}

TEST(NewYorkClock, NextMorningIsNextLocalDay) {
  auto a = qc::new_york_clock(1626138000);  // 2021-07-12 21:00 EDT
  auto b = qc::new_york_clock(1626183000);  // 2021-07-13 09:30 EDT
  EXPECT_EQ(b.days_since_epoch, a.days_since_epoch + 1);
}

TEST(ExtendedHours, WeekdayMidMorningIsOpen) {
  EXPECT_TRUE(qc::us_equity_extended_hours(1626101940));
}

TEST(ExtendedHours, Weekday0400IsOpen) {
  EXPECT_TRUE(qc::us_equity_extended_hours(1626076800));  // 2021-07-12 04:00 EDT
}

TEST(ExtendedHours, Weekday0359IsClosed) {
  EXPECT_FALSE(qc::us_equity_extended_hours(1626076800 - 60));
}

TEST(ExtendedHours, Weekday2000IsClosed) {
  EXPECT_FALSE(qc::us_equity_extended_hours(1626134400));  // 2021-07-12 20:00 EDT
}

TEST(ExtendedHours, Weekday1959IsOpen) {
  EXPECT_TRUE(qc::us_equity_extended_hours(1626134400 - 60));
}

TEST(ExtendedHours, SaturdayIsClosed) {
  EXPECT_FALSE(qc::us_equity_extended_hours(1626530400));  // Sat 2021-07-17 10:00 EDT
}

// --- NewYorkDays ------------------------------------------------------------------------
// Days since 1970-01-01: 18699 = 2021-03-13, 18700 = 2021-03-14, 18701 = 2021-03-15.

TEST(NewYorkDays, AcrossSpringForwardInTimeOrder) {
  qc::NewYorkDays days;
  EXPECT_EQ(days.day_of(1615697999), 18699);  // 2021-03-13 23:59:59 EST
  EXPECT_EQ(days.day_of(1615697999 + 1), 18700);  // 2021-03-14 00:00:00 EST
  EXPECT_EQ(days.day_of(1615782600), 18701);  // 2021-03-15 00:30 EDT (23:30 in EST)
}

TEST(NewYorkDays, BackwardsAcrossADstChangeUsesTheEarlierOffset) {
  qc::NewYorkDays days;
  EXPECT_EQ(days.day_of(1615782600), 18701);  // 2021-03-15 00:30 EDT
  EXPECT_EQ(days.day_of(1615779000 - 86400), 18699);  // 2021-03-13 22:30 EST
}

TEST(NewYorkDays, AgreesWithNewYorkClockOverAYearOfHours) {
  qc::NewYorkDays days;
  for (std::int64_t t = 1609459200; t < 1609459200 + 366 * 86400; t += 3599)
    EXPECT_EQ(days.day_of(t), qc::new_york_clock(t).days_since_epoch) << t;
}

}  // namespace
