//! Proleptic Gregorian calendar arithmetic on days since 1970-01-01, with no table and no
//! allocation: the formatter and parser work on plain integers, never on chrono's types.
//!
//! The conversions are Howard Hinnant's `days_from_civil` / `civil_from_days`, valid for every
//! year chrono can represent.

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day` (`month` 1..=12).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub(crate) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in `month` (1..=12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Day of the week of a day count, 0 = Sunday .. 6 = Saturday (1970-01-01 was a Thursday).
pub(crate) fn weekday_sun0(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// Day of the year, 1-based, of a day count whose civil year is `year`.
pub(crate) fn day_of_year(days: i64, year: i64) -> u32 {
    (days - days_from_civil(year, 1, 1) + 1) as u32
}

/// The US week date (weeks start on Sunday; week 1 is the week holding January 1st, i.e. minimal
/// days in the first week = 1) of a day count: `(week_year, week_of_year)`.
///
/// A week belongs to the year of its Saturday: the week that holds January 1st is week 1 of the
/// new year even when it starts in December.
pub(crate) fn us_week_date(days: i64) -> (i64, u32) {
    let saturday = days + 6 - i64::from(weekday_sun0(days));
    let (year, _, _) = civil_from_days(saturday);
    let week = (day_of_year(saturday, year) - 1) / 7 + 1;
    (year, week)
}

/// Week of the month under US rules (Sunday first, the week holding the 1st is week 1).
pub(crate) fn us_week_of_month(days: i64, day_of_month: u32) -> u32 {
    let first_weekday = (i64::from(weekday_sun0(days)) - i64::from(day_of_month) + 1).rem_euclid(7);
    ((i64::from(day_of_month) - 1 + first_weekday) / 7 + 1) as u32
}

/// Day count of the Sunday that starts week `week` (1-based) of US week year `week_year`.
pub(crate) fn us_week_start(week_year: i64, week: i64) -> i64 {
    let jan1 = days_from_civil(week_year, 1, 1);
    let week1_sunday = jan1 - i64::from(weekday_sun0(jan1));
    week1_sunday + (week - 1) * 7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_eras() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn us_weeks() {
        // 2026-12-27 is a Sunday: its week holds 2027-01-01, so it is week 1 of 2027.
        assert_eq!(us_week_date(days_from_civil(2026, 12, 27)), (2027, 1));
        assert_eq!(us_week_date(days_from_civil(2026, 12, 26)), (2026, 52));
        assert_eq!(us_week_date(days_from_civil(2026, 1, 1)), (2026, 1));
        assert_eq!(us_week_start(2027, 1), days_from_civil(2026, 12, 27));
        // 2026-11-01 is a Sunday.
        assert_eq!(us_week_of_month(days_from_civil(2026, 11, 1), 1), 1);
        assert_eq!(us_week_of_month(days_from_civil(2026, 11, 8), 8), 2);
    }
}
