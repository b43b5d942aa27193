//! Java `SimpleDateFormat` patterns (`Locale.US`, proleptic Gregorian calendar): compiled once
//! into a list of items, then formatted and parsed without re-reading the pattern.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

use crate::civil;
use crate::error::{Error, ErrorKind};
use crate::zone::{custom_id, zone_names, zone_row, Zone, ZoneOffset};

/// A compiled Java date pattern such as `yyyy-MM-dd'T'HH:mm:ss'Z'`.
///
/// The behaviour is `java.text.SimpleDateFormat` with `Locale.US`, a proleptic Gregorian
/// calendar (no Julian dates before 1582) and US week rules (weeks start on Sunday, week 1 holds
/// January 1st). Every letter Java knows is supported, with Java's count semantics:
///
/// | letter | meaning | examples |
/// |---|---|---|
/// | `G` | era | `AD` |
/// | `y` / `Y` | year / US week year; `yy` keeps two digits, other counts pad | `2026`, `26`, `02026` |
/// | `M` / `L` | month (format / standalone); 3 letters short text, 4+ long text | `11`, `Nov`, `November` |
/// | `w` / `W` | week of year / week of month | `48`, `4` |
/// | `D` / `d` / `F` | day of year / day of month / day-of-week in month | `331`, `27`, `4` |
/// | `E` / `u` | day name (4+ letters long) / day number, 1 = Monday | `Fri`, `Friday`, `5` |
/// | `a` | AM/PM marker | `AM` |
/// | `H` `k` `K` `h` | hour 0-23, 1-24, 0-11, 1-12 | `0`, `24`, `0`, `12` |
/// | `m` / `s` / `S` | minute / second / millisecond (zero-padded to the count) | `05`, `09`, `007` |
/// | `z` | zone name (4+ letters long) | `PST`, `Pacific Standard Time` |
/// | `Z` | RFC 822 offset | `-0800` |
/// | `X` `XX` `XXX` | ISO 8601 offset, `Z` for zero | `-08`, `-0800`, `-08:00` |
///
/// Text in single quotes is literal (`'T'`); `''` is one quote, inside or outside quotes. Other
/// ASCII letters are errors, as in Java: `illegal pattern character 'Q'`.
///
/// [`DatePattern::parse`] reads values with the same pattern the way Java's non-lenient
/// `SimpleDateFormat.parse` does: numbers may have any width unless the next item is another
/// field (then exactly the letter count), month and day names match case-insensitively in
/// long or short form, spaces before a field are skipped, out-of-range fields are errors, and
/// text after the last item is ignored. A parsed zone (`z`, `Z`, `X`) overrides the zone
/// argument. Two-digit years (`yy` reading exactly two digits) fall in 1950–2049.
#[derive(Clone, PartialEq, Eq)]
pub struct DatePattern {
    source: Box<str>,
    items: Box<[Item]>,
    /// Upper bound of the formatted length for common fields, to reserve once.
    size_hint: usize,
    /// The items as formatting operations, with the common numeric fields specialised.
    ops: Box<[Op]>,
    /// Only literals and the numeric fields `y M d H m s S`: parses without Java's field
    /// resolution.
    simple: bool,
}

/// One formatting step: the common fields write straight from precomputed values, every other
/// letter goes through [`Fields::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Char(u8),
    Str(Box<str>),
    /// Two digits of a value always below 100.
    Two(Source),
    /// Three digits of a value always below 1000 (`SSS`).
    Three(Source),
    /// `yyyy`: four digits when the year has four, else Java's padding.
    Year4,
    /// A number zero-padded to `width`.
    Number {
        source: Source,
        width: usize,
    },
    Other {
        letter: Letter,
        count: usize,
    },
}

/// A run of digits in a fixed layout: `width` digits of value `source` at byte `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DigitSlot {
    pub(crate) at: usize,
    pub(crate) source: usize,
    pub(crate) width: usize,
}

/// Writes the last `out.len()` (2 to 4) decimal digits of `value` into `out`.
#[inline]
pub(crate) fn put_digits(out: &mut [u8], value: u32) {
    let digit = |d: u32| b'0' + (d % 10) as u8;
    match out {
        [a, b] => (*a, *b) = (digit(value / 10), digit(value)),
        [a, b, c] => (*a, *b, *c) = (digit(value / 100), digit(value / 10), digit(value)),
        [a, b, c, d] => {
            (*a, *b, *c, *d) = (
                digit(value / 1000),
                digit(value / 100),
                digit(value / 10),
                digit(value),
            );
        }
        // Layouts only have slots of two to four digits.
        _ => {}
    }
}

/// Index into the values [`DatePattern::format_into`] computes once per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    YearOfEra = 0,
    YearOfCentury,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

impl Op {
    fn of(item: &Item) -> Op {
        match *item {
            Item::Char(byte) => Op::Char(byte),
            Item::Literal(ref text) => Op::Str(text.clone()),
            Item::Field { letter, count } => {
                let source = match letter {
                    Letter::Year if count == 2 => return Op::Two(Source::YearOfCentury),
                    Letter::Year if count == 4 => return Op::Year4,
                    Letter::Year => Source::YearOfEra,
                    Letter::Month if count <= 2 => Source::Month,
                    Letter::DayOfMonth => Source::Day,
                    Letter::Hour0To23 => Source::Hour,
                    Letter::Minute => Source::Minute,
                    Letter::Second => Source::Second,
                    Letter::Millisecond if count == 3 => return Op::Three(Source::Millisecond),
                    Letter::Millisecond => Source::Millisecond,
                    _ => return Op::Other { letter, count },
                };
                if count == 2 && source != Source::YearOfEra && source != Source::Millisecond {
                    Op::Two(source)
                } else {
                    Op::Number {
                        source,
                        width: count,
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A one-byte literal (`-`, `:`, `T`): pushed without a copy loop.
    Char(u8),
    Literal(Box<str>),
    Field {
        letter: Letter,
        count: usize,
    },
}

/// The pattern letters, named after the `java.util.Calendar` field they show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Letter {
    Era,
    Year,
    WeekYear,
    Month,
    MonthStandalone,
    WeekOfYear,
    WeekOfMonth,
    DayOfYear,
    DayOfMonth,
    DayOfWeekInMonth,
    DayName,
    DayNumber,
    AmPm,
    Hour0To23,
    Hour1To24,
    Hour0To11,
    Hour1To12,
    Minute,
    Second,
    Millisecond,
    ZoneName,
    ZoneRfc822,
    ZoneIso8601,
}

impl Letter {
    /// The letters of simple patterns: plain numbers with no text, week or zone logic.
    fn is_simple(self, count: usize) -> bool {
        count <= 9
            && match self {
                Letter::Month => count <= 2,
                Letter::Year
                | Letter::DayOfMonth
                | Letter::Hour0To23
                | Letter::Minute
                | Letter::Second
                | Letter::Millisecond => true,
                _ => false,
            }
    }

    /// Whether the letter, repeated `count` times, is a number when parsing.
    fn is_numeric(self, count: usize) -> bool {
        match self {
            Letter::Month | Letter::MonthStandalone => count <= 2,
            Letter::Era
            | Letter::DayName
            | Letter::AmPm
            | Letter::ZoneName
            | Letter::ZoneRfc822
            | Letter::ZoneIso8601 => false,
            _ => true,
        }
    }

    fn of(c: char) -> Option<Letter> {
        Some(match c {
            'G' => Letter::Era,
            'y' => Letter::Year,
            'Y' => Letter::WeekYear,
            'M' => Letter::Month,
            'L' => Letter::MonthStandalone,
            'w' => Letter::WeekOfYear,
            'W' => Letter::WeekOfMonth,
            'D' => Letter::DayOfYear,
            'd' => Letter::DayOfMonth,
            'F' => Letter::DayOfWeekInMonth,
            'E' => Letter::DayName,
            'u' => Letter::DayNumber,
            'a' => Letter::AmPm,
            'H' => Letter::Hour0To23,
            'k' => Letter::Hour1To24,
            'K' => Letter::Hour0To11,
            'h' => Letter::Hour1To12,
            'm' => Letter::Minute,
            's' => Letter::Second,
            'S' => Letter::Millisecond,
            'z' => Letter::ZoneName,
            'Z' => Letter::ZoneRfc822,
            'X' => Letter::ZoneIso8601,
            _ => return None,
        })
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Sunday first, as `Calendar.DAY_OF_WEEK` (1 = Sunday) minus one.
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const SHORT_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const AM_PM: [&str; 2] = ["AM", "PM"];
const ERAS: [&str; 2] = ["BC", "AD"];

fn literal_item(text: String) -> Item {
    match text.as_bytes() {
        &[byte] => Item::Char(byte),
        _ => Item::Literal(text.into_boxed_str()),
    }
}

impl DatePattern {
    /// Compiles a Java date pattern.
    ///
    /// Errors ([`ErrorKind::BadPattern`]) point at the offending byte: an unquoted ASCII letter
    /// Java does not know, an unterminated quote, or `X` repeated more than three times.
    pub fn compile(pattern: &str) -> Result<DatePattern, Error> {
        let bad = |message: String, offset: usize| {
            Error::new(ErrorKind::BadPattern, message, pattern, offset)
        };
        let mut items: Vec<Item> = Vec::new();
        let mut literal = String::new();
        let mut quote_start: Option<usize> = None;
        let mut chars = pattern.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                    chars.next();
                    literal.push('\'');
                } else if quote_start.is_some() {
                    quote_start = None;
                } else {
                    quote_start = Some(at);
                }
                continue;
            }
            if quote_start.is_some() || !c.is_ascii_alphabetic() {
                literal.push(c);
                continue;
            }
            let letter =
                Letter::of(c).ok_or_else(|| bad(format!("illegal pattern character '{c}'"), at))?;
            let mut count = 1;
            while chars.next_if(|&(_, next)| next == c).is_some() {
                count += 1;
            }
            if letter == Letter::ZoneIso8601 && count > 3 {
                return Err(bad(format!("invalid ISO 8601 format: length={count}"), at));
            }
            if !literal.is_empty() {
                items.push(literal_item(std::mem::take(&mut literal)));
            }
            items.push(Item::Field { letter, count });
        }
        if let Some(at) = quote_start {
            return Err(bad("unterminated quote".to_owned(), at));
        }
        if !literal.is_empty() {
            items.push(literal_item(literal));
        }
        let size_hint = items
            .iter()
            .map(|item| match item {
                Item::Char(_) => 1,
                Item::Literal(text) => text.len(),
                Item::Field { count, .. } => (*count).max(4),
            })
            .sum();
        let simple = items.iter().all(|item| match *item {
            Item::Char(_) | Item::Literal(_) => true,
            Item::Field { letter, count } => letter.is_simple(count),
        });
        let ops = items.iter().map(Op::of).collect();
        Ok(DatePattern {
            ops,
            source: pattern.into(),
            items: items.into_boxed_slice(),
            size_hint,
            simple,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Formats the instant `at` as seen in `zone`.
    pub fn format(&self, at: DateTime<Utc>, zone: &Zone) -> String {
        let mut out = String::with_capacity(self.size_hint);
        self.format_into(at, zone, &mut out);
        out
    }

    /// Appends the formatted instant to `out`; allocates nothing beyond growing `out`.
    pub fn format_into(&self, at: DateTime<Utc>, zone: &Zone, out: &mut String) {
        let offset = zone.offset_at_instant(at);
        let fields = Fields::from_instant(at, offset);
        out.reserve(self.size_hint);
        let year = year_of_era(fields.year);
        let values = fields.values();
        let year32 = values[Source::YearOfEra as usize];
        let digit = |d: u32| char::from(b'0' + (d % 10) as u8);
        for op in &self.ops {
            match *op {
                // Single-byte literals are ASCII; the mask tells the compiler so.
                Op::Char(byte) => out.push(char::from(byte & 0x7f)),
                Op::Str(ref text) => out.push_str(text),
                Op::Two(source) => {
                    let value = values[source as usize];
                    out.push(digit(value / 10));
                    out.push(digit(value));
                }
                Op::Three(source) => {
                    let value = values[source as usize];
                    out.push(digit(value / 100));
                    out.push(digit(value / 10));
                    out.push(digit(value));
                }
                Op::Year4 if (1000..=9999).contains(&year32) => {
                    out.push(digit(year32 / 1000));
                    out.push(digit(year32 / 100));
                    out.push(digit(year32 / 10));
                    out.push(digit(year32));
                }
                Op::Year4 => write_number(out, year, 4),
                Op::Number { source, width } => {
                    write_number(out, i64::from(values[source as usize]), width);
                }
                Op::Other { letter, count } => fields.write(letter, count, zone, out),
            }
        }
    }

    /// The output as a fixed-width skeleton (literals in place, digits as `0`) and the digit
    /// slots to fill, when every item has a fixed width: literals, `yyyy` (for years
    /// 1000-9999), `yy`, `MM`, `dd`, `HH`, `mm`, `ss`, `SSS`.
    pub(crate) fn fixed_layout(&self) -> Option<(String, Vec<DigitSlot>)> {
        let mut skeleton = String::new();
        let mut slots = Vec::new();
        for op in &self.ops {
            let (source, width) = match *op {
                Op::Char(byte) => {
                    skeleton.push(char::from(byte));
                    continue;
                }
                Op::Str(ref text) => {
                    skeleton.push_str(text);
                    continue;
                }
                Op::Two(source) => (source, 2),
                Op::Three(source) => (source, 3),
                Op::Year4 => (Source::YearOfEra, 4),
                Op::Number { .. } | Op::Other { .. } => return None,
            };
            slots.push(DigitSlot {
                at: skeleton.len(),
                source: source as usize,
                width,
            });
            skeleton.push_str(&"0000"[..width]);
        }
        Some((skeleton, slots))
    }

    /// What [`DatePattern::fixed_layout`] slots are filled with, for `at` in `zone`; `None`
    /// when the year does not have four digits (the layout's `yyyy` would be wrong).
    #[inline]
    pub(crate) fn layout_values(at: DateTime<Utc>, zone: &Zone) -> Option<[u32; 8]> {
        let values = Fields::from_instant(at, zone.offset_at_instant(at)).values();
        (1000..=9999)
            .contains(&values[Source::YearOfEra as usize])
            .then_some(values)
    }

    /// Parses `value` with this pattern; the wall-clock time is read in `zone` unless the value
    /// carries its own zone or offset (`z`, `Z`, `X`).
    ///
    /// A value that does not match is a [`DateParseError`] saying where matching stopped.
    pub fn parse(&self, value: &str, zone: &Zone) -> Result<DateTime<Utc>, DateParseError> {
        let fail = |position: usize, reason: &str| DateParseError {
            value: value.to_owned(),
            pattern: self.source.to_string(),
            position,
            reason: reason.to_owned(),
        };
        let mut parsed = Parsed::default();
        let mut at = 0;
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Char(byte) => {
                    if value.as_bytes().get(at) != Some(byte) {
                        return Err(fail(at, &format!("expected {:?}", char::from(*byte))));
                    }
                    at += 1;
                }
                Item::Literal(text) => {
                    if value.as_bytes()[at..].starts_with(text.as_bytes()) {
                        at += text.len();
                        continue;
                    }
                    for expected in text.chars() {
                        if value[at..].starts_with(expected) {
                            at += expected.len_utf8();
                        } else {
                            return Err(fail(at, &format!("expected {expected:?}")));
                        }
                    }
                }
                Item::Field { letter, count } => {
                    // As Java's `shouldObeyCount`: a number takes exactly `count` characters
                    // when the next item is a numeric field ("yyyyMMdd").
                    let obey_count = match self.items.get(i + 1) {
                        Some(Item::Field { letter, count }) => letter.is_numeric(*count),
                        _ => false,
                    };
                    at = parse_field(value, at, *letter, *count, obey_count, zone, &mut parsed)
                        .map_err(|(position, reason)| fail(position, reason))?;
                }
            }
        }
        if at == 0 {
            return Err(fail(0, "nothing matched"));
        }
        let resolved = match (self.simple, zone.fixed_offset(), parsed.zone) {
            (true, Some(offset), ParsedZone::Argument) => parsed.resolve_simple(offset),
            _ => parsed.resolve(zone),
        };
        resolved.map_err(|reason| fail(at, reason))
    }
}

impl fmt::Debug for DatePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatePattern").field(&self.source).finish()
    }
}

impl fmt::Display for DatePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for DatePattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<DatePattern, Error> {
        DatePattern::compile(s)
    }
}

/// A record date that does not match its pattern (or its `milliseconds` / `seconds` keyword):
/// the value, the pattern and the byte position in the value where matching stopped.
/// `Display` quotes at most 60 characters of the value and of the pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "date `{}` does not match `{}` at byte {position}: {reason}",
    crate::error::shorten(.value, 60),
    crate::error::shorten(.pattern, 60)
)]
pub struct DateParseError {
    value: String,
    pattern: String,
    position: usize,
    reason: String,
}

impl DateParseError {
    pub(crate) fn new(value: &str, pattern: &str, position: usize, reason: &str) -> Self {
        DateParseError {
            value: value.to_owned(),
            pattern: pattern.to_owned(),
            position,
            reason: reason.to_owned(),
        }
    }

    /// The value that failed to parse (JSON text when it was not a string).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The pattern or keyword it was parsed with.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Byte offset in [`DateParseError::value`] where matching stopped.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong at that position (lowercase, no trailing period).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The calendar fields of one instant in one zone, computed once per format call.
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    seconds_of_day: u32,
    millis: u32,
    offset: ZoneOffset,
}

impl Fields {
    #[inline]
    fn new(utc_seconds: i64, millis: u32, offset: ZoneOffset) -> Fields {
        let local = utc_seconds + i64::from(offset.seconds);
        let days = local.div_euclid(86_400);
        let (year, month, day) = civil::civil_from_days(days);
        Fields {
            year,
            month,
            day,
            seconds_of_day: local.rem_euclid(86_400) as u32,
            millis,
            offset,
        }
    }

    /// From chrono's already split-up date and time: cheaper than going through the epoch.
    #[inline]
    fn from_instant(at: DateTime<Utc>, offset: ZoneOffset) -> Fields {
        let local = match FixedOffset::east_opt(offset.seconds) {
            Some(fixed) if offset.seconds != 0 => at.with_timezone(&fixed).naive_local(),
            _ => at.naive_utc(),
        };
        Fields {
            year: i64::from(local.year()),
            month: local.month(),
            day: local.day(),
            seconds_of_day: local.num_seconds_from_midnight(),
            // A leap second's nanoseconds exceed 10^9; Java has no leap seconds.
            millis: (local.nanosecond() / 1_000_000).min(999),
            offset,
        }
    }

    /// The values of the common numeric fields, indexed by [`Source`]. They are `u32` so that
    /// the compiler sees every digit pushed is ASCII (a plain byte push).
    #[inline]
    fn values(&self) -> [u32; 8] {
        let year = u32::try_from(year_of_era(self.year)).unwrap_or(0);
        [
            year,
            year % 100,
            self.month,
            self.day,
            self.hour(),
            self.seconds_of_day / 60 % 60,
            self.seconds_of_day % 60,
            self.millis,
        ]
    }

    /// Days since 1970-01-01 of the local date (only the week and weekday letters need it).
    fn days(&self) -> i64 {
        civil::days_from_civil(self.year, self.month, self.day)
    }

    fn hour(&self) -> u32 {
        self.seconds_of_day / 3600
    }

    #[inline(never)]
    fn write(&self, letter: Letter, count: usize, zone: &Zone, out: &mut String) {
        match letter {
            Letter::Era => out.push_str(ERAS[usize::from(self.year > 0)]),
            Letter::Year => write_year(out, year_of_era(self.year), count),
            Letter::WeekYear => {
                // Java prints the week year signed (1 BC is 0), unlike `y`.
                let (week_year, _) = civil::us_week_date(self.days());
                write_year(out, week_year, count);
            }
            Letter::Month | Letter::MonthStandalone => {
                let index = self.month as usize - 1;
                match count {
                    1 | 2 => write_number(out, i64::from(self.month), count),
                    3 => out.push_str(SHORT_MONTHS[index]),
                    _ => out.push_str(MONTHS[index]),
                }
            }
            Letter::WeekOfYear => {
                let (_, week) = civil::us_week_date(self.days());
                write_number(out, i64::from(week), count);
            }
            Letter::WeekOfMonth => {
                let week = civil::us_week_of_month(self.days(), self.day);
                write_number(out, i64::from(week), count);
            }
            Letter::DayOfYear => {
                let day = civil::day_of_year(self.days(), self.year);
                write_number(out, i64::from(day), count);
            }
            Letter::DayOfMonth => write_number(out, i64::from(self.day), count),
            Letter::DayOfWeekInMonth => write_number(out, i64::from((self.day - 1) / 7 + 1), count),
            Letter::DayName => {
                let weekday = civil::weekday_sun0(self.days()) as usize;
                out.push_str(if count >= 4 {
                    WEEKDAYS[weekday]
                } else {
                    SHORT_WEEKDAYS[weekday]
                });
            }
            Letter::DayNumber => {
                let weekday = civil::weekday_sun0(self.days());
                let iso = if weekday == 0 { 7 } else { weekday };
                write_number(out, i64::from(iso), count);
            }
            Letter::AmPm => out.push_str(AM_PM[usize::from(self.hour() >= 12)]),
            Letter::Hour0To23 => write_number(out, i64::from(self.hour()), count),
            Letter::Hour1To24 => {
                let hour = if self.hour() == 0 { 24 } else { self.hour() };
                write_number(out, i64::from(hour), count);
            }
            Letter::Hour0To11 => write_number(out, i64::from(self.hour() % 12), count),
            Letter::Hour1To12 => {
                let hour = if self.hour().is_multiple_of(12) {
                    12
                } else {
                    self.hour() % 12
                };
                write_number(out, i64::from(hour), count);
            }
            Letter::Minute => write_number(out, i64::from(self.seconds_of_day / 60 % 60), count),
            Letter::Second => write_number(out, i64::from(self.seconds_of_day % 60), count),
            Letter::Millisecond => write_number(out, i64::from(self.millis), count),
            Letter::ZoneName => match zone.names() {
                Some(names) => out.push_str(match (count >= 4, self.offset.dst) {
                    (false, false) => names.short_standard,
                    (false, true) => names.short_daylight,
                    (true, false) => names.long_standard,
                    (true, true) => names.long_daylight,
                }),
                None => out.push_str(&custom_id(self.offset.seconds)),
            },
            Letter::ZoneRfc822 => {
                let minutes = self.offset.seconds / 60;
                out.push(if minutes < 0 { '-' } else { '+' });
                let minutes = minutes.unsigned_abs();
                write_number(out, i64::from(minutes / 60 * 100 + minutes % 60), 4);
            }
            Letter::ZoneIso8601 => {
                if self.offset.seconds == 0 {
                    out.push('Z');
                    return;
                }
                let minutes = self.offset.seconds / 60;
                out.push(if minutes < 0 { '-' } else { '+' });
                let minutes = minutes.unsigned_abs();
                write_two_digits(out, minutes / 60);
                if count == 1 {
                    return;
                }
                if count == 3 {
                    out.push(':');
                }
                write_two_digits(out, minutes % 60);
            }
        }
    }
}

/// Java's year of era: 1 BC is proleptic year 0.
fn year_of_era(year: i64) -> i64 {
    if year > 0 {
        year
    } else {
        1 - year
    }
}

/// `yy` keeps the last two digits; any other count pads to the count.
#[inline]
fn write_year(out: &mut String, year: i64, count: usize) {
    if count == 2 {
        if year < 0 {
            out.push('-');
        }
        write_two_digits(out, (year.unsigned_abs() % 100) as u32);
    } else {
        write_number(out, year, count);
    }
}

#[inline]
fn write_two_digits(out: &mut String, value: u32) {
    out.push(char::from(b'0' + (value / 10 % 10) as u8));
    out.push(char::from(b'0' + (value % 10) as u8));
}

/// Writes `value` zero-padded to at least `width` digits (a minus sign before the padding).
#[inline]
pub(crate) fn write_number(out: &mut String, value: i64, width: usize) {
    let digit = |d: i64| char::from(b'0' + d as u8);
    match (width, value) {
        (1 | 2, 10..=99) | (2, 0..=9) => {
            out.push(digit(value / 10));
            out.push(digit(value % 10));
        }
        (1..=4, 1000..=9999) => {
            out.push(digit(value / 1000));
            out.push(digit(value / 100 % 10));
            out.push(digit(value / 10 % 10));
            out.push(digit(value % 10));
        }
        (1..=3, 100..=999) | (3, 0..=99) => {
            out.push(digit(value / 100));
            out.push(digit(value / 10 % 10));
            out.push(digit(value % 10));
        }
        (1, 0..=9) => out.push(digit(value)),
        _ => write_number_slow(out, value, width),
    }
}

#[inline(never)]
fn write_number_slow(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut rest = value.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in len..width {
        out.push('0');
    }
    for &digit in digits[..len].iter().rev() {
        out.push(char::from(digit));
    }
}

/// The `java.util.Calendar` fields a parse can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CalendarField {
    Era,
    Year,
    WeekYear,
    Month,
    WeekOfYear,
    WeekOfMonth,
    DayOfYear,
    DayOfMonth,
    DayOfWeekInMonth,
    DayOfWeek,
    AmPm,
    Hour,
    HourOfDay,
    Minute,
    Second,
    Millisecond,
}

const FIELD_COUNT: usize = 16;

/// The fields in declaration order (index = `field as usize`).
const ALL_FIELDS: [CalendarField; FIELD_COUNT] = [
    CalendarField::Era,
    CalendarField::Year,
    CalendarField::WeekYear,
    CalendarField::Month,
    CalendarField::WeekOfYear,
    CalendarField::WeekOfMonth,
    CalendarField::DayOfYear,
    CalendarField::DayOfMonth,
    CalendarField::DayOfWeekInMonth,
    CalendarField::DayOfWeek,
    CalendarField::AmPm,
    CalendarField::Hour,
    CalendarField::HourOfDay,
    CalendarField::Minute,
    CalendarField::Second,
    CalendarField::Millisecond,
];

/// How the zone of a parsed value was given.
#[derive(Debug, Clone, Copy, Default)]
enum ParsedZone {
    /// No zone in the value: use the zone argument.
    #[default]
    Argument,
    /// An explicit offset (`Z`, `X`, `GMT+hh:mm`), seconds east.
    Offset(i32),
    /// A zone name (`z`): the zone it names, and, when the name says standard or daylight
    /// time, the offset that name implies.
    Named { row: usize, offset: Option<i32> },
}

/// Parsed field values with Java's set-order stamps (later sets win in resolution).
#[derive(Debug, Default)]
struct Parsed {
    values: [i64; FIELD_COUNT],
    stamps: [u32; FIELD_COUNT],
    next_stamp: u32,
    zone: ParsedZone,
}

impl Parsed {
    fn set(&mut self, field: CalendarField, value: i64) {
        self.next_stamp += 1;
        self.values[field as usize] = value;
        self.stamps[field as usize] = self.next_stamp;
    }

    fn stamp(&self, field: CalendarField) -> u32 {
        self.stamps[field as usize]
    }

    fn is_set(&self, field: CalendarField) -> bool {
        self.stamp(field) != 0
    }

    fn get(&self, field: CalendarField) -> i64 {
        self.values[field as usize]
    }

    /// Java's quick validation of set fields (`getMinimum` / `getMaximum`), before resolution.
    fn check_ranges(&self) -> Result<(), &'static str> {
        use CalendarField as F;
        for (index, &stamp) in self.stamps.iter().enumerate() {
            if stamp == 0 {
                continue;
            }
            let (range, reason) = match ALL_FIELDS[index] {
                F::Era => (0..=1, "era out of range"),
                F::Year => (1..=292_278_994, "year out of range"),
                F::WeekYear => continue,
                F::Month => (0..=11, "month out of range"),
                F::WeekOfYear => (1..=53, "week of year out of range"),
                F::WeekOfMonth => (0..=6, "week of month out of range"),
                F::DayOfYear => (1..=366, "day of year out of range"),
                F::DayOfMonth => (1..=31, "day of month out of range"),
                F::DayOfWeekInMonth => (-1..=6, "day of week in month out of range"),
                F::DayOfWeek => (1..=7, "day of week out of range"),
                F::AmPm => (0..=1, "AM/PM out of range"),
                F::Hour => (0..=11, "hour out of range"),
                F::HourOfDay => (0..=23, "hour out of range"),
                F::Minute => (0..=59, "minute out of range"),
                F::Second => (0..=59, "second out of range"),
                F::Millisecond => (0..=999, "millisecond out of range"),
            };
            if !range.contains(&self.values[index]) {
                return Err(reason);
            }
        }
        Ok(())
    }

    /// Resolution for simple patterns (`y M d H m s S` only) in a fixed-offset zone: with no
    /// competing field groups and no clock changes, Java's rules reduce to range checks.
    fn resolve_simple(&self, offset: i32) -> Result<DateTime<Utc>, &'static str> {
        use CalendarField as F;
        self.check_ranges()?;
        let or = |field: F, default: i64| {
            if self.is_set(field) {
                self.get(field)
            } else {
                default
            }
        };
        let year = or(F::Year, 1970);
        let month = or(F::Month, 0) as u32 + 1;
        let day = or(F::DayOfMonth, 1);
        if day > i64::from(civil::days_in_month(year, month)) {
            return Err("day of month out of range");
        }
        let local = civil::days_from_civil(year, month, day as u32) * 86_400
            + or(F::HourOfDay, 0) * 3600
            + or(F::Minute, 0) * 60
            + or(F::Second, 0);
        let millis = or(F::Millisecond, 0) as u32;
        DateTime::from_timestamp(local - i64::from(offset), millis * 1_000_000)
            .ok_or("date out of range")
    }

    /// Java's `CalendarBuilder.establish` + non-lenient `GregorianCalendar.computeTime`: pick
    /// the most recently set group of date fields, compute the instant, then require every
    /// field that was set to agree with the instant.
    fn resolve(mut self, zone: &Zone) -> Result<DateTime<Utc>, &'static str> {
        use CalendarField as F;
        self.check_ranges()?;
        let week_date = self.is_set(F::WeekYear) && self.stamp(F::WeekYear) > self.stamp(F::Year);
        if week_date {
            let week = if self.is_set(F::WeekOfYear) {
                self.get(F::WeekOfYear)
            } else {
                1
            };
            let weekday = if self.is_set(F::DayOfWeek) {
                self.get(F::DayOfWeek)
            } else {
                1
            };
            if !(1..=7).contains(&weekday) {
                return Err("day of week out of range");
            }
            let week_year = self.get(F::WeekYear);
            let days = civil::us_week_start(week_year, week) + weekday - 1;
            if civil::us_week_date(days) != (week_year, week as u32) {
                return Err("week of year out of range");
            }
            let (year, month, day) = civil::civil_from_days(days);
            if self.is_set(F::Era) || year <= 0 {
                self.set(F::Era, i64::from(year > 0));
            }
            self.set(F::Year, year_of_era(year));
            self.set(F::Month, i64::from(month) - 1);
            self.set(F::DayOfMonth, i64::from(day));
        }
        let days = self.resolve_days()?;
        let seconds_of_day = self.resolve_time();
        let local = days
            .checked_mul(86_400)
            .and_then(|s| s.checked_add(seconds_of_day))
            .ok_or("date out of range")?;
        // The zone whose rules decide the offset (checked again at the instant, so that a
        // wall time skipped by a clock change fails as in Java); `None` for explicit offsets.
        let named;
        let (offset, rules) = match self.zone {
            ParsedZone::Argument => (zone.offset_for_local(local), Some(zone)),
            ParsedZone::Offset(seconds) => (seconds, None),
            ParsedZone::Named { row, offset } => {
                named = Zone::parse(zone_names()[row].id).ok();
                match (offset, &named) {
                    (Some(seconds), _) => (seconds, None),
                    (None, Some(named)) => (named.offset_for_local(local), Some(named)),
                    (None, None) => (zone_names()[row].raw_seconds, None),
                }
            }
        };
        let utc_seconds = local - i64::from(offset);
        let actual_offset = match rules {
            Some(zone) => zone.offset_at_seconds(utc_seconds).seconds,
            None => offset,
        };
        let millis = u32::try_from(self.get(F::Millisecond)).unwrap_or(0);
        self.verify(&Fields::new(
            utc_seconds,
            millis,
            ZoneOffset {
                seconds: actual_offset,
                dst: false,
            },
        ))?;
        DateTime::from_timestamp(utc_seconds, millis * 1_000_000).ok_or("date out of range")
    }

    /// Days since the epoch of the local date, by Java's `selectFields` rules.
    fn resolve_days(&self) -> Result<i64, &'static str> {
        use CalendarField as F;
        let aggregate = |a: u32, b: u32| if a == 0 || b == 0 { 0 } else { a.max(b) };
        let mut year = if self.is_set(F::Year) {
            self.get(F::Year)
        } else {
            1970
        };
        if self.is_set(F::Era) {
            match self.get(F::Era) {
                0 => year = 1 - year,
                1 => {}
                _ => return Err("era out of range"),
            }
        }
        if year.abs() > 200_000 {
            return Err("year out of range");
        }
        let dow_stamp = self.stamp(F::DayOfWeek);
        let month_stamp = self.stamp(F::Month);
        let mut dom_stamp = self.stamp(F::DayOfMonth);
        let mut wom_stamp = aggregate(self.stamp(F::WeekOfMonth), dow_stamp);
        let mut dowim_stamp = aggregate(self.stamp(F::DayOfWeekInMonth), dow_stamp);
        let doy_stamp = self.stamp(F::DayOfYear);
        let mut woy_stamp = aggregate(self.stamp(F::WeekOfYear), dow_stamp);
        let mut best = dom_stamp
            .max(wom_stamp)
            .max(dowim_stamp)
            .max(doy_stamp)
            .max(woy_stamp);
        if best == 0 {
            wom_stamp = self.stamp(F::WeekOfMonth);
            dowim_stamp = self.stamp(F::DayOfWeekInMonth).max(dow_stamp);
            woy_stamp = self.stamp(F::WeekOfYear);
            best = wom_stamp.max(dowim_stamp).max(woy_stamp);
            if best == 0 {
                dom_stamp = month_stamp;
                best = month_stamp;
            }
        }
        let weekday = |default: i64| {
            if dow_stamp != 0 {
                self.get(F::DayOfWeek)
            } else {
                default
            }
        };
        // The latest day on or before `days` that falls on Calendar weekday `weekday` (1 = Sunday).
        let on_or_before = |days: i64, weekday: i64| {
            days - (i64::from(civil::weekday_sun0(days)) - (weekday - 1)).rem_euclid(7)
        };
        let use_month = best == dom_stamp
            || (best == wom_stamp && self.stamp(F::WeekOfMonth) >= self.stamp(F::WeekOfYear))
            || (best == dowim_stamp
                && self.stamp(F::DayOfWeekInMonth) >= self.stamp(F::WeekOfYear));
        if use_month {
            let month0 = if self.is_set(F::Month) {
                self.get(F::Month)
            } else {
                0
            };
            // Out-of-range months are normalised here and rejected by `verify`, as in Java.
            let first = civil::days_from_civil(
                year + month0.div_euclid(12),
                month0.rem_euclid(12) as u32 + 1,
                1,
            );
            if best == dom_stamp {
                let day = if self.is_set(F::DayOfMonth) {
                    self.get(F::DayOfMonth)
                } else {
                    1
                };
                return Ok(first + day - 1);
            }
            let use_wom = if wom_stamp == dowim_stamp {
                self.stamp(F::WeekOfMonth) >= self.stamp(F::DayOfWeekInMonth)
            } else {
                best == wom_stamp
            };
            if use_wom {
                let mut week_start = on_or_before(first + 6, 1);
                if week_start - first >= 1 {
                    week_start -= 7;
                }
                if dow_stamp != 0 {
                    week_start = on_or_before(week_start + 6, self.get(F::DayOfWeek));
                }
                return Ok(week_start + 7 * (self.get(F::WeekOfMonth) - 1));
            }
            let dowim = if self.is_set(F::DayOfWeekInMonth) {
                self.get(F::DayOfWeekInMonth)
            } else {
                1
            };
            let weekday = weekday(1);
            if dowim >= 0 {
                return Ok(on_or_before(first + 7 * dowim - 1, weekday));
            }
            let last =
                first + i64::from(civil::days_in_month(year, month0.rem_euclid(12) as u32 + 1)) - 1;
            return Ok(on_or_before(last, weekday) + 7 * (dowim + 1));
        }
        let jan1 = civil::days_from_civil(year, 1, 1);
        if best == doy_stamp && doy_stamp != 0 {
            return Ok(jan1 + self.get(F::DayOfYear) - 1);
        }
        let mut week_start = on_or_before(jan1 + 6, 1);
        if week_start - jan1 >= 1 {
            week_start -= 7;
        }
        if dow_stamp != 0 && self.get(F::DayOfWeek) != 1 {
            week_start = on_or_before(week_start + 6, self.get(F::DayOfWeek));
        }
        Ok(week_start + 7 * (self.get(F::WeekOfYear) - 1))
    }

    /// Seconds into the local day: `HH` or `hh`+`a`, whichever was set last.
    fn resolve_time(&self) -> i64 {
        use CalendarField as F;
        let hour_of_day_stamp = self.stamp(F::HourOfDay);
        let hour_stamp = if self.is_set(F::Hour) && self.is_set(F::AmPm) {
            self.stamp(F::Hour).max(self.stamp(F::AmPm))
        } else {
            0
        };
        let mut best = hour_stamp.max(hour_of_day_stamp);
        if best == 0 {
            best = self.stamp(F::Hour).max(self.stamp(F::AmPm));
        }
        let hour = if best == 0 {
            0
        } else if best == hour_of_day_stamp {
            self.get(F::HourOfDay)
        } else {
            self.get(F::Hour) + 12 * self.get(F::AmPm)
        };
        hour * 3600 + self.get(F::Minute) * 60 + self.get(F::Second)
    }

    /// Non-lenient check: every field that was set must equal the resolved instant's field.
    fn verify(&self, fields: &Fields) -> Result<(), &'static str> {
        use CalendarField as F;
        // A day past the end of its month (February 30th) shows first as a day mismatch.
        if self.is_set(F::DayOfMonth) && self.get(F::DayOfMonth) != i64::from(fields.day) {
            return Err("day of month out of range");
        }
        let days = fields.days();
        let hour = i64::from(fields.hour());
        for (index, &stamp) in self.stamps.iter().enumerate() {
            if stamp == 0 {
                continue;
            }
            let field = ALL_FIELDS[index];
            let (actual, reason) = match field {
                F::Era => (
                    i64::from(fields.year > 0),
                    "era does not match the other fields",
                ),
                F::Year => (
                    year_of_era(fields.year),
                    "year does not match the other fields",
                ),
                // Not a calendar field in Java outside a week date; never checked there.
                F::WeekYear => continue,
                F::Month => (
                    i64::from(fields.month) - 1,
                    "month does not match the other fields",
                ),
                F::WeekOfYear => (
                    i64::from(civil::us_week_date(days).1),
                    "week of year does not match the date",
                ),
                F::WeekOfMonth => (
                    i64::from(civil::us_week_of_month(days, fields.day)),
                    "week of month does not match the date",
                ),
                F::DayOfYear => (
                    i64::from(civil::day_of_year(days, fields.year)),
                    "day of year does not match the date",
                ),
                F::DayOfMonth => (i64::from(fields.day), "day of month out of range"),
                F::DayOfWeekInMonth => (
                    i64::from((fields.day - 1) / 7 + 1),
                    "day of week in month does not match the date",
                ),
                F::DayOfWeek => (
                    i64::from(civil::weekday_sun0(days)) + 1,
                    "day of week does not match the date",
                ),
                F::AmPm => (i64::from(hour >= 12), "AM/PM does not match the hour"),
                F::Hour => (hour % 12, "hour does not match the other fields"),
                F::HourOfDay => (hour, "no such local time: skipped by a clock change"),
                F::Minute => (
                    i64::from(fields.seconds_of_day / 60 % 60),
                    "minute does not match the other fields",
                ),
                F::Second => (
                    i64::from(fields.seconds_of_day % 60),
                    "second does not match the other fields",
                ),
                F::Millisecond => (i64::from(fields.millis), "millisecond does not match"),
            };
            if self.values[index] != actual {
                return Err(reason);
            }
        }
        Ok(())
    }
}

type FieldResult = Result<usize, (usize, &'static str)>;

/// Parses one field at byte `start` of `text`; returns the position after it.
fn parse_field(
    text: &str,
    start: usize,
    letter: Letter,
    count: usize,
    obey_count: bool,
    zone: &Zone,
    parsed: &mut Parsed,
) -> FieldResult {
    use CalendarField as F;
    let bytes = text.as_bytes();
    // Java skips spaces and tabs before any field, and fails at the end of the text.
    let mut at = start;
    while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
        at += 1;
    }
    if at >= bytes.len() {
        return Err((start, "unexpected end of value"));
    }
    let number = |parsed_at: usize| -> Result<(i64, usize), (usize, &'static str)> {
        let limit = if obey_count {
            if start + count > bytes.len() {
                return Err((parsed_at, "value too short for the field width"));
            }
            start + count
        } else {
            bytes.len()
        };
        parse_number(bytes, parsed_at, limit).ok_or((parsed_at, "expected a number"))
    };
    match letter {
        Letter::Era => match_names(text, start, &[&ERAS])
            .map(|(index, end)| {
                parsed.set(F::Era, index as i64);
                end
            })
            .ok_or((at, "expected an era (AD or BC)")),
        Letter::Year | Letter::WeekYear => {
            let (mut value, end) = number(at)?;
            if count <= 2 && end - at == 2 && bytes[at].is_ascii_digit() {
                // Two-digit years fall in the century starting at 1950.
                value += if value < 50 { 2000 } else { 1900 };
            }
            let field = if letter == Letter::Year {
                F::Year
            } else {
                F::WeekYear
            };
            parsed.set(field, value);
            Ok(end)
        }
        Letter::Month | Letter::MonthStandalone => {
            if count <= 2 {
                let (value, end) = number(at)?;
                parsed.set(F::Month, value - 1);
                return Ok(end);
            }
            match_names(text, start, &[&MONTHS, &SHORT_MONTHS])
                .map(|(index, end)| {
                    parsed.set(F::Month, index as i64);
                    end
                })
                .ok_or((at, "expected a month name"))
        }
        Letter::DayName => match_names(text, start, &[&WEEKDAYS, &SHORT_WEEKDAYS])
            .map(|(index, end)| {
                parsed.set(F::DayOfWeek, index as i64 + 1);
                end
            })
            .ok_or((at, "expected a day name")),
        Letter::AmPm => match_names(text, start, &[&AM_PM])
            .map(|(index, end)| {
                parsed.set(F::AmPm, index as i64);
                end
            })
            .ok_or((at, "expected AM or PM")),
        Letter::Hour1To24 => {
            let (value, end) = number(at)?;
            if !(1..=24).contains(&value) {
                return Err((end, "hour (k) out of range 1-24"));
            }
            parsed.set(F::HourOfDay, if value == 24 { 0 } else { value });
            Ok(end)
        }
        Letter::Hour1To12 => {
            let (value, end) = number(at)?;
            if !(1..=12).contains(&value) {
                return Err((end, "hour (h) out of range 1-12"));
            }
            parsed.set(F::Hour, if value == 12 { 0 } else { value });
            Ok(end)
        }
        Letter::ZoneName | Letter::ZoneRfc822 => parse_zone_text(text, start, at, zone, parsed),
        Letter::ZoneIso8601 => {
            match bytes[at] {
                b'Z' => {
                    parsed.zone = ParsedZone::Offset(0);
                    return Ok(at + 1);
                }
                b'+' | b'-' => {}
                _ => return Err((at + 1, "expected Z or a +/- offset")),
            }
            let sign = if bytes[at] == b'-' { -1 } else { 1 };
            let (minutes, end) = parse_numeric_zone(bytes, at + 1, count, count == 3)?;
            parsed.zone = ParsedZone::Offset(sign * minutes * 60);
            Ok(end)
        }
        Letter::DayNumber => {
            let (value, end) = number(at)?;
            // ISO day number (1 = Monday) to Calendar's (1 = Sunday); out of range stays so.
            let weekday = if (1..=7).contains(&value) {
                value % 7 + 1
            } else {
                value
            };
            parsed.set(F::DayOfWeek, weekday);
            Ok(end)
        }
        _ => {
            let field = match letter {
                Letter::WeekOfYear => F::WeekOfYear,
                Letter::WeekOfMonth => F::WeekOfMonth,
                Letter::DayOfYear => F::DayOfYear,
                Letter::DayOfMonth => F::DayOfMonth,
                Letter::DayOfWeekInMonth => F::DayOfWeekInMonth,
                Letter::Hour0To23 => F::HourOfDay,
                Letter::Hour0To11 => F::Hour,
                Letter::Minute => F::Minute,
                Letter::Second => F::Second,
                _ => F::Millisecond,
            };
            let (value, end) = number(at)?;
            parsed.set(field, value);
            Ok(end)
        }
    }
}

/// An optional minus sign and decimal digits in `bytes[at..limit]`, as Java's `DecimalFormat`
/// reads them; `None` without a digit. Absurdly long numbers saturate (and fail validation).
fn parse_number(bytes: &[u8], at: usize, limit: usize) -> Option<(i64, usize)> {
    let mut i = at;
    let negative = i < limit && bytes[i] == b'-';
    if negative {
        i += 1;
    }
    let digits_start = i;
    let mut value: i64 = 0;
    while i < limit && bytes[i].is_ascii_digit() {
        value = value
            .saturating_mul(10)
            .saturating_add(i64::from(bytes[i] - b'0'));
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    Some((if negative { -value } else { value }, i))
}

/// The longest case-insensitive match at `start` in the first list that matches at all:
/// `(index in that list, end position)`.
fn match_names(text: &str, start: usize, lists: &[&[&str]]) -> Option<(usize, usize)> {
    let rest = text.get(start..)?;
    for list in lists {
        let best = list
            .iter()
            .enumerate()
            .filter(|(_, name)| starts_with_ignore_case(rest, name))
            .max_by_key(|(_, name)| name.len());
        if let Some((index, name)) = best {
            return Some((index, start + name.len()));
        }
    }
    None
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `z` and `Z` parse the same things in Java: `+hhmm`, `GMT`, `GMT+h:mm`, and zone names.
fn parse_zone_text(
    text: &str,
    start: usize,
    at: usize,
    zone: &Zone,
    parsed: &mut Parsed,
) -> FieldResult {
    let bytes = text.as_bytes();
    match bytes[at] {
        sign @ (b'+' | b'-') => {
            let (minutes, end) = parse_numeric_zone(bytes, at + 1, 0, false)?;
            let sign = if sign == b'-' { -1 } else { 1 };
            parsed.zone = ParsedZone::Offset(sign * minutes * 60);
            return Ok(end);
        }
        b'G' | b'g' if starts_with_ignore_case(&text[start..], "GMT") => {
            let after = start + 3;
            let sign = match bytes.get(after) {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => {
                    parsed.zone = ParsedZone::Offset(0);
                    return Ok(after);
                }
            };
            let (minutes, end) = parse_numeric_zone(bytes, after + 1, 0, true)?;
            parsed.zone = ParsedZone::Offset(sign * minutes * 60);
            return Ok(end);
        }
        _ => {}
    }
    let rest = &text[start..];
    let matches = |row: &crate::zone::ZoneNames| -> Option<usize> {
        [
            row.long_standard,
            row.short_standard,
            row.long_daylight,
            row.short_daylight,
        ]
        .iter()
        .position(|name| !name.is_empty() && starts_with_ignore_case(rest, name))
        .map(|i| i + 1)
    };
    let table = zone_names();
    // Java looks at the formatter's own zone first, then the default zone (UTC here), then
    // every zone in table order, and takes the first match.
    let found = None
        .or_else(|| {
            let own = zone_row(zone.id())?;
            matches(&table[own]).map(|name| (own, name))
        })
        .or_else(|| {
            table
                .iter()
                .position(|row| row.id == "UTC")
                .and_then(|utc| matches(&table[utc]).map(|name| (utc, name)))
        })
        .or_else(|| {
            table
                .iter()
                .enumerate()
                .find_map(|(i, row)| matches(row).map(|name| (i, name)))
        });
    let Some((row_index, name_index)) = found else {
        return Err((at, "expected a time zone"));
    };
    let row = &table[row_index];
    let names = [
        row.long_standard,
        row.short_standard,
        row.long_daylight,
        row.short_daylight,
    ];
    let same_name =
        name_index <= 2 && names[name_index - 1].eq_ignore_ascii_case(names[name_index + 1]);
    let dst = if name_index >= 3 { row.dst_seconds } else { 0 };
    let offset = if same_name || (name_index >= 3 && dst == 0) {
        None
    } else {
        Some(row.raw_seconds + dst)
    };
    parsed.zone = ParsedZone::Named {
        row: row_index,
        offset,
    };
    Ok(start + names[name_index - 1].len())
}

/// Java's `subParseNumericZone`: `hh` (one digit allowed only with `colon` and no count),
/// then unless `count == 1`, `mm` (after a `:` when `colon`). Returns (minutes, end); an error
/// points at the byte that did not fit.
fn parse_numeric_zone(
    bytes: &[u8],
    start: usize,
    count: usize,
    colon: bool,
) -> Result<(i32, usize), (usize, &'static str)> {
    const REASON: &str = "expected a zone offset";
    let digit = |at: usize| {
        bytes
            .get(at)
            .filter(|b| b.is_ascii_digit())
            .map(|b| i32::from(b - b'0'))
    };
    let mut at = start;
    let Some(mut hours) = digit(at) else {
        return Err((at, REASON));
    };
    at += 1;
    match digit(at) {
        Some(second) => {
            hours = hours * 10 + second;
            at += 1;
        }
        None if count > 0 || !colon => return Err((at, REASON)),
        None => {}
    }
    if hours > 23 {
        return Err((at - 1, REASON));
    }
    let mut minutes = 0;
    if count != 1 {
        if colon {
            if bytes.get(at) != Some(&b':') {
                return Err((at, REASON));
            }
            at += 1;
        }
        let Some(tens) = digit(at) else {
            return Err((at, REASON));
        };
        let Some(ones) = digit(at + 1) else {
            return Err((at + 1, REASON));
        };
        minutes = tens * 10 + ones;
        at += 2;
        if minutes > 59 {
            return Err((at - 1, REASON));
        }
    }
    Ok((hours * 60 + minutes, at))
}
