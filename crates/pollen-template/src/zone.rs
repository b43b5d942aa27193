//! Time zones as Java's `TimeZone.getTimeZone` understands them, but strict: an unknown id is an
//! error instead of a silent fallback to GMT.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName};

use crate::civil;
use crate::error::{Error, ErrorKind};

/// A time zone: a fixed offset or an IANA zone with its daylight-saving rules.
///
/// [`Zone::parse`] accepts
/// - IANA ids (`America/New_York`, `Europe/Paris`, `Etc/GMT+8`, also the tz database's legacy
///   ids such as `CET` or `EST5EDT`),
/// - Java's three-letter ids, mapped as Java 17 maps them: `PST` is `America/Los_Angeles`,
///   `CST` is `America/Chicago`, `IST` is `Asia/Kolkata`, `ECT` is `Europe/Paris` …, while
///   `EST`, `MST` and `HST` are the fixed offsets -05:00, -07:00 and -10:00,
/// - `UTC`, `GMT` (also `UT`, `Z`),
/// - custom offsets `GMT+05:30`, `GMT-8`, `GMT+0530`, `UTC+01:00` and bare offsets `-8:00`,
///   `+05:30`, `+0530`, `-08` (hours up to 23, minutes up to 59).
///
/// Its [`Display`](fmt::Display) is its id: the IANA or Java id as given, and custom offsets
/// normalised the way Java does (`-8:00` becomes `GMT-08:00`).
///
/// ```
/// use pollen_template::Zone;
/// let zone: Zone = "-8:00".parse().unwrap();
/// assert_eq!(zone.to_string(), "GMT-08:00");
/// assert_eq!(Zone::parse("PST").unwrap().to_string(), "PST");
/// assert!(Zone::parse("Mars/Olympus_Mons").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Zone {
    id: Cow<'static, str>,
    rules: Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rules {
    /// A constant offset east of UTC, in seconds.
    Fixed(i32),
    Tz(chrono_tz::Tz),
}

/// The offset of a zone at one instant, and whether daylight-saving time is in effect then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZoneOffset {
    pub(crate) seconds: i32,
    pub(crate) dst: bool,
}

/// Java's three-letter ids that alias an IANA zone (`ZoneInfoFile` in JDK 17).
const JAVA_ALIASES: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
];

/// Java's three-letter ids that are fixed offsets in JDK 17 (no daylight saving).
const JAVA_FIXED: &[(&str, i32)] = &[("EST", -5 * 3600), ("MST", -7 * 3600), ("HST", -10 * 3600)];

impl Zone {
    /// Coordinated Universal Time.
    pub const UTC: Zone = Zone {
        id: Cow::Borrowed("UTC"),
        rules: Rules::Fixed(0),
    };

    /// Greenwich Mean Time: offset zero, named `GMT` by the `z` pattern letter.
    pub const GMT: Zone = Zone {
        id: Cow::Borrowed("GMT"),
        rules: Rules::Fixed(0),
    };

    /// [`Zone::UTC`], as a function.
    pub fn utc() -> Zone {
        Zone::UTC
    }

    /// Parses a zone id or offset (see the type's documentation for the accepted forms).
    ///
    /// An unknown id is an [`ErrorKind::UnknownZone`] error pointing at the start of `id`.
    pub fn parse(id: &str) -> Result<Zone, Error> {
        Zone::lookup(id).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownZone,
                format!("unknown time zone `{}` (expected an IANA id such as America/New_York, a Java id such as PST, UTC, GMT+05:30 or an offset such as -8:00)", crate::error::shorten(id, 60)),
                id,
                0,
            )
        })
    }

    /// The zone's id: what [`Display`](fmt::Display) prints.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the zone has a constant offset (no daylight-saving rules).
    pub fn is_fixed(&self) -> bool {
        matches!(self.rules, Rules::Fixed(_))
    }

    /// The zone's offset from UTC at the instant `at`.
    pub fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset {
        let seconds = self.offset_at_seconds(at.timestamp()).seconds;
        FixedOffset::east_opt(seconds).unwrap_or_else(|| Utc.fix())
    }

    /// The offset in seconds when the zone has a constant one.
    #[inline]
    pub(crate) fn fixed_offset(&self) -> Option<i32> {
        match self.rules {
            Rules::Fixed(seconds) => Some(seconds),
            Rules::Tz(_) => None,
        }
    }

    /// The offset at the instant `at`; the fixed-offset path does no lookup.
    #[inline]
    pub(crate) fn offset_at_instant(&self, at: DateTime<Utc>) -> ZoneOffset {
        match self.rules {
            Rules::Fixed(seconds) => ZoneOffset {
                seconds,
                dst: false,
            },
            Rules::Tz(tz) => self.tz_offset(tz, at.timestamp()),
        }
    }

    /// The offset at `utc_seconds` since the epoch; the fixed-offset path does no lookup.
    #[inline]
    pub(crate) fn offset_at_seconds(&self, utc_seconds: i64) -> ZoneOffset {
        match self.rules {
            Rules::Fixed(seconds) => ZoneOffset {
                seconds,
                dst: false,
            },
            Rules::Tz(tz) => self.tz_offset(tz, utc_seconds),
        }
    }

    /// The offset of an IANA zone the way Java's `ZoneInfo` computes it, which differs from
    /// the tz database in three places: before a zone's first transition Java uses the zone's
    /// current standard offset instead of local mean time; after 2037 it applies the zone's
    /// last daylight-saving rule (chrono-tz stops in 2099), which an equivalent year between
    /// 2010 and 2037 reproduces; and Europe/Dublin's summer time is daylight time (Java is built
    /// from the "rearguard" data, without negative saving).
    fn tz_offset(&self, tz: chrono_tz::Tz, utc_seconds: i64) -> ZoneOffset {
        const Y2038: i64 = 2_145_916_800;
        let mut seconds = utc_seconds;
        if seconds >= Y2038 {
            let days = seconds.div_euclid(86_400);
            let (year, _, _) = civil::civil_from_days(days);
            let target = equivalent_year(year);
            let shift = civil::days_from_civil(year, 1, 1) - civil::days_from_civil(target, 1, 1);
            seconds -= shift * 86_400;
        }
        let Some(at) = DateTime::from_timestamp(seconds, 0) else {
            return ZoneOffset {
                seconds: self.java_raw_offset(tz),
                dst: false,
            };
        };
        let offset = tz.offset_from_utc_datetime(&at.naive_utc());
        if offset.abbreviation() == Some("LMT") {
            return ZoneOffset {
                seconds: self.java_raw_offset(tz),
                dst: false,
            };
        }
        let total = offset.fix().local_minus_utc();
        let saving = offset.dst_offset().num_seconds();
        // Europe/Dublin's winter has a negative saving in the tz database; Java's data calls its
        // summer (the tz database's standard time, above Java's raw offset) daylight time.
        let dst = saving > 0
            || (saving == 0
                && matches!(tz.name(), "Europe/Dublin" | "Eire")
                && offset.base_utc_offset().num_seconds() > i64::from(self.java_raw_offset(tz)));
        ZoneOffset {
            seconds: total,
            dst,
        }
    }

    /// Java's "last raw offset" of a zone: its current standard offset.
    fn java_raw_offset(&self, tz: chrono_tz::Tz) -> i32 {
        if let Some(names) = self.names() {
            return names.raw_seconds;
        }
        let reference = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        let offset = tz.offset_from_utc_datetime(&reference.naive_utc());
        (offset.base_utc_offset().num_seconds()) as i32
    }

    /// The UTC offset that turns a local wall-clock time (seconds since the epoch, read as if
    /// it were UTC) into an instant, as Java's `GregorianCalendar` resolves it: an ambiguous
    /// time (the repeated hour when clocks go back) is read as standard time, a time in the gap
    /// when clocks go forward is read with the offset in effect before the gap.
    pub(crate) fn offset_for_local(&self, local_seconds: i64) -> i32 {
        match self.rules {
            Rules::Fixed(seconds) => seconds,
            Rules::Tz(_) => {
                // Offsets never reach a day, so the offsets a day before and after bracket any
                // transition near this wall time.
                let before = self.offset_at_seconds(local_seconds - 86_400).seconds;
                let after = self.offset_at_seconds(local_seconds + 86_400).seconds;
                let at = |offset: i32| self.offset_at_seconds(local_seconds - i64::from(offset));
                if before == after {
                    return at(before).seconds;
                }
                let (at_before, at_after) = (at(before), at(after));
                match (at_before.seconds == before, at_after.seconds == after) {
                    (true, true) => match (at_before.dst, at_after.dst) {
                        (true, false) => after,
                        (false, true) => before,
                        _ => before.min(after),
                    },
                    (true, false) => before,
                    (false, true) => after,
                    (false, false) => before,
                }
            }
        }
    }

    /// The names Java's `z` letter prints for this zone, when Java has any.
    pub(crate) fn names(&self) -> Option<&'static ZoneNames> {
        zone_row(&self.id).map(|row| &zone_names()[row])
    }

    fn lookup(id: &str) -> Option<Zone> {
        match id {
            "UTC" | "Z" => return Some(Zone::UTC),
            "GMT" | "UT" => return Some(Zone::GMT),
            _ => {}
        }
        if let Some(&(alias, seconds)) = JAVA_FIXED.iter().find(|(alias, _)| *alias == id) {
            return Some(Zone {
                id: Cow::Borrowed(alias),
                rules: Rules::Fixed(seconds),
            });
        }
        if let Some(&(alias, target)) = JAVA_ALIASES.iter().find(|(alias, _)| *alias == id) {
            let tz = chrono_tz::Tz::from_str(target).ok()?;
            return Some(Zone {
                id: Cow::Borrowed(alias),
                rules: Rules::Tz(tz),
            });
        }
        let offset = id
            .strip_prefix("GMT")
            .or_else(|| id.strip_prefix("UTC"))
            .unwrap_or(id);
        if offset.starts_with(['+', '-']) {
            return parse_offset(offset).map(Zone::fixed_custom);
        }
        let tz = chrono_tz::Tz::from_str(id).ok()?;
        Some(Zone {
            id: Cow::Borrowed(tz.name()),
            rules: Rules::Tz(tz),
        })
    }

    /// A custom fixed offset, named as Java names custom zones: `GMT+05:30`.
    fn fixed_custom(seconds: i32) -> Zone {
        Zone {
            id: Cow::Owned(custom_id(seconds)),
            rules: Rules::Fixed(seconds),
        }
    }
}

/// A year between 2010 and 2037 with the same calendar as `year` (same leap-ness, same weekday
/// on January 1st): daylight-saving rules that name weekdays fall on the same dates in both.
fn equivalent_year(year: i64) -> i64 {
    let leap = civil::is_leap(year);
    let weekday = civil::weekday_sun0(civil::days_from_civil(year, 1, 1));
    (2010..=2037)
        .find(|&candidate| {
            civil::is_leap(candidate) == leap
                && civil::weekday_sun0(civil::days_from_civil(candidate, 1, 1)) == weekday
        })
        .unwrap_or(2026)
}

/// `GMT+hh:mm` for an offset in seconds (minutes truncated toward zero, as Java does).
pub(crate) fn custom_id(seconds: i32) -> String {
    let minutes = seconds / 60;
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.unsigned_abs();
    format!("GMT{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `+h`, `+hh`, `+h:mm`, `+hh:mm`, `+hhmm` (hours ≤ 23, minutes ≤ 59) into seconds east.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) if (1..=2).contains(&h.len()) && m.len() == 2 => (h, m),
        Some(_) => return None,
        None if (1..=2).contains(&rest.len()) => (rest, "0"),
        None if rest.len() == 4 => rest.split_at(2),
        None => return None,
    };
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

impl FromStr for Zone {
    type Err = Error;

    fn from_str(s: &str) -> Result<Zone, Error> {
        Zone::parse(s)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::UTC
    }
}

/// One row of Java's `DateFormatSymbols.getZoneStrings()` for `Locale.US`, with the zone's
/// raw offset and daylight saving amount (generated by `xtask/java/PatternGolden.java`).
#[derive(Debug)]
pub(crate) struct ZoneNames {
    pub(crate) id: &'static str,
    pub(crate) raw_seconds: i32,
    pub(crate) dst_seconds: i32,
    pub(crate) long_standard: &'static str,
    pub(crate) short_standard: &'static str,
    pub(crate) long_daylight: &'static str,
    pub(crate) short_daylight: &'static str,
}

const ZONE_NAMES_TSV: &str = include_str!("zone_names.tsv");

/// The table in Java's order (parsing takes the first zone whose name matches, as Java does).
pub(crate) fn zone_names() -> &'static [ZoneNames] {
    static TABLE: OnceLock<Vec<ZoneNames>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ZONE_NAMES_TSV
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let mut cols = line.split('\t');
                Some(ZoneNames {
                    id: cols.next()?,
                    raw_seconds: cols.next()?.parse().ok()?,
                    dst_seconds: cols.next()?.parse().ok()?,
                    long_standard: cols.next()?,
                    short_standard: cols.next()?,
                    long_daylight: cols.next()?,
                    short_daylight: cols.next()?,
                })
            })
            .collect()
    })
}

/// The index in [`zone_names`] of the row for zone `id`.
pub(crate) fn zone_row(id: &str) -> Option<usize> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        zone_names()
            .iter()
            .enumerate()
            .map(|(i, row)| (row.id, i))
            .collect()
    });
    index.get(id).copied()
}
