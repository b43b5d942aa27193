//! `${...}` URL templates: parsed once with nom into literal text and placeholders, expanded for
//! any instant without re-parsing.

use std::fmt;

use chrono::{DateTime, Utc};
use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_till};
use nom::IResult;

use crate::error::{shorten, Error, ErrorKind};
use crate::pattern::{put_digits, write_number, DatePattern, DigitSlot};
use crate::zone::Zone;

/// How much of a placeholder name, zone or unit an error message quotes.
const QUOTE_CHARS: usize = 60;

/// The pattern of `${date}`, `${gmtDate}` and `${dateTimeZone:ZONE}` without a pattern.
pub const DEFAULT_DATE_PATTERN: &str = "yyyy-MM-dd'T'HH:mm:ssXXX";

/// A compiled URL template such as
/// `/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'`.
///
/// Placeholders:
///
/// | placeholder | expands to |
/// |---|---|
/// | `${date:PATTERN}` | the instant in the template's zone (UTC unless [`Template::compile_in`]) |
/// | `${gmtDate:PATTERN}` | the instant in GMT |
/// | `${dateTimeZone:ZONE:PATTERN}` | the instant in `ZONE` (any form [`Zone::parse`] accepts) |
/// | `${date}`, `${gmtDate}`, `${dateTimeZone:ZONE}` | the same with `yyyy-MM-dd'T'HH:mm:ssXXX` |
/// | `${epoch}`, `${epoch:ms}` / `${epoch:s}` / `${epoch:us}` | epoch milliseconds / seconds / microseconds |
///
/// A PATTERN is a Java date pattern ([`DatePattern`]); it ends at the first `}` that is not
/// inside a quoted section, so `'}'` puts a brace in the output.
///
/// The ZONE of `${dateTimeZone:...}` ends at a `:` or `}`; since offsets such as `-8:00` and
/// `GMT+05:30` contain a colon themselves, the zone is the *longest* text ending before a `:` or
/// the closing `}` that is a valid zone: `${dateTimeZone:-8:00:HH:mm}` is zone `-8:00` with
/// pattern `HH:mm`, `${dateTimeZone:-8:HH}` is zone `-8` with pattern `HH`.
///
/// Everything else is literal. To write a literal `${`, double the dollar: `$${` expands to
/// `${`. A `$` not followed by `{` needs no escape.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use pollen_template::Template;
///
/// let template = Template::compile("since=${dateTimeZone:-8:00:yyyy-MM-dd HH:mm}&t=${epoch:s}&raw=$${x}").unwrap();
/// let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
/// assert_eq!(template.expand(at), "since=2026-11-27 02:00&t=1795773600&raw=${x}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: Box<str>,
    segments: Box<[Segment]>,
    zone: Zone,
    size_hint: usize,
    /// The fast path, when every part has a fixed width (see [`Layout`]).
    layout: Option<Layout>,
}

/// A template whose expansion always has the same length and shape, such as the seed's URL:
/// the text with literals in place, and the digit slots to fill. Expanding copies the
/// skeleton into a stack buffer, writes the digits and appends the buffer in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    skeleton: Box<str>,
    /// The zone of each date placeholder, in order.
    zones: Box<[Zone]>,
    /// Digit slots: which date placeholder (index into `zones`) and where.
    slots: Box<[(usize, DigitSlot)]>,
}

/// Longest template the fixed-layout path expands (its stack buffer).
const LAYOUT_MAX_LEN: usize = 256;
/// Most date placeholders the fixed-layout path handles.
const LAYOUT_MAX_DATES: usize = 4;

impl Layout {
    fn of(segments: &[Segment]) -> Option<Layout> {
        let mut skeleton = String::new();
        let mut zones = Vec::new();
        let mut slots = Vec::new();
        for segment in segments {
            match segment {
                Segment::Literal(text) => skeleton.push_str(text),
                Segment::Date { pattern, zone } => {
                    let (text, digits) = pattern.fixed_layout()?;
                    slots.extend(digits.into_iter().map(|slot| {
                        let at = slot.at + skeleton.len();
                        (zones.len(), DigitSlot { at, ..slot })
                    }));
                    skeleton.push_str(&text);
                    zones.push(zone.clone());
                }
                Segment::Epoch(_) => return None,
            }
        }
        (skeleton.len() <= LAYOUT_MAX_LEN && zones.len() <= LAYOUT_MAX_DATES).then(|| Layout {
            skeleton: skeleton.into(),
            zones: zones.into(),
            slots: slots.into(),
        })
    }

    /// Appends the expansion; `false` (and nothing appended) when a year has no four digits.
    #[inline]
    fn expand_into(&self, at: DateTime<Utc>, out: &mut String) -> bool {
        let mut values = [[0u32; 8]; LAYOUT_MAX_DATES];
        for (slot, zone) in values.iter_mut().zip(self.zones.iter()) {
            match DatePattern::layout_values(at, zone) {
                Some(computed) => *slot = computed,
                None => return false,
            }
        }
        let mut buffer = [0u8; LAYOUT_MAX_LEN];
        let buffer = &mut buffer[..self.skeleton.len()];
        buffer.copy_from_slice(self.skeleton.as_bytes());
        for &(date, slot) in &self.slots {
            put_digits(
                &mut buffer[slot.at..slot.at + slot.width],
                values[date][slot.source],
            );
        }
        // Whole literals and ASCII digits: always valid UTF-8.
        match std::str::from_utf8(buffer) {
            Ok(text) => {
                out.push_str(text);
                true
            }
            Err(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Date { pattern: DatePattern, zone: Zone },
    Epoch(EpochUnit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EpochUnit {
    Seconds,
    Milliseconds,
    Microseconds,
}

/// A nom parser that never reports its own error detail: compile errors are built by hand
/// with the byte offset into the template.
type Parsed<'a, T> = IResult<&'a str, T, ()>;

fn escaped_open(input: &str) -> Parsed<'_, &str> {
    tag("$${")(input).map(|(rest, _)| (rest, "${"))
}

fn open(input: &str) -> Parsed<'_, &str> {
    tag("${")(input)
}

/// A run of text without `$`, or a lone `$` (one that does not start `${` or `$${`).
fn literal_run(input: &str) -> Parsed<'_, &str> {
    alt((is_not("$"), tag("$")))(input)
}

/// A placeholder name: everything up to the `:` or `}` after it.
fn name(input: &str) -> Parsed<'_, &str> {
    take_till(|c| c == ':' || c == '}')(input)
}

/// The text of a date pattern: up to the first `}` outside single quotes. `None` when there is
/// no such `}`; then the position of an unterminated quote, if any, explains why.
fn pattern_text(input: &str) -> Result<(&str, &str), Option<usize>> {
    let mut quote_at = None;
    let mut chars = input.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            // `''` is a literal quote, inside or outside a quoted section.
            '\'' if chars.next_if(|&(_, next)| next == '\'').is_some() => {}
            '\'' if quote_at.is_some() => quote_at = None,
            '\'' => quote_at = Some(at),
            '}' if quote_at.is_none() => return Ok((&input[at + 1..], &input[..at])),
            _ => {}
        }
    }
    Err(quote_at)
}

impl Template {
    /// Compiles a template; `${date...}` placeholders use UTC.
    pub fn compile(source: &str) -> Result<Template, Error> {
        Template::compile_in(source, Zone::UTC)
    }

    /// Compiles a template whose `${date...}` placeholders use `zone` (the poller's zone).
    ///
    /// Errors name the byte offset in `source` and show it with a caret: an unknown
    /// placeholder, an unclosed `${`, an unknown zone or a bad pattern.
    pub fn compile_in(source: &str, zone: Zone) -> Result<Template, Error> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while !rest.is_empty() {
            let offset = source.len() - rest.len();
            if let Ok((after, text)) = escaped_open(rest) {
                literal.push_str(text);
                rest = after;
            } else if let Ok((after, _)) = open(rest) {
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal).into()));
                }
                let (after, segment) = placeholder(source, offset, after, &zone)?;
                segments.push(segment);
                rest = after;
            } else if let Ok((after, text)) = literal_run(rest) {
                literal.push_str(text);
                rest = after;
            } else {
                // `literal_run` accepts any non-empty input; kept for totality.
                break;
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal.into()));
        }
        let size_hint = segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.len(),
                Segment::Date { pattern, .. } => pattern.as_str().len() + 8,
                Segment::Epoch(_) => 20,
            })
            .sum();
        Ok(Template {
            layout: Layout::of(&segments),
            source: source.into(),
            segments: segments.into(),
            zone,
            size_hint,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The zone of `${date...}` placeholders.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Whether the template has any placeholder (date or epoch): without one it expands to the
    /// same text at every instant.
    pub fn has_placeholders(&self) -> bool {
        self.segments
            .iter()
            .any(|segment| !matches!(segment, Segment::Literal(_)))
    }

    /// Expands the template for the instant `at`.
    pub fn expand(&self, at: DateTime<Utc>) -> String {
        let mut out = String::with_capacity(self.size_hint);
        self.expand_into(at, &mut out);
        out
    }

    /// Appends the expansion to `out`, allocating nothing beyond growing `out`.
    pub fn expand_into(&self, at: DateTime<Utc>, out: &mut String) {
        if let Some(layout) = &self.layout {
            if layout.expand_into(at, out) {
                return;
            }
        }
        out.reserve(self.size_hint);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Date { pattern, zone } => pattern.format_into(at, zone, out),
                Segment::Epoch(unit) => {
                    let value = match unit {
                        EpochUnit::Seconds => at.timestamp(),
                        EpochUnit::Milliseconds => at.timestamp_millis(),
                        EpochUnit::Microseconds => at.timestamp_micros(),
                    };
                    write_number(out, value, 1);
                }
            }
        }
    }
}

/// Parses one placeholder; `input` starts after `${`, which is at `start` in `source`.
fn placeholder<'a>(
    source: &str,
    start: usize,
    input: &'a str,
    zone: &Zone,
) -> Result<(&'a str, Segment), Error> {
    let offset_of = |rest: &str| source.len() - rest.len();
    let unclosed = || {
        Error::new(
            ErrorKind::UnclosedPlaceholder,
            "unclosed `${`: no `}` after it",
            source,
            start,
        )
    };
    let Ok((after_name, name)) = name(input) else {
        return Err(unclosed());
    };
    let (has_argument, after) = match after_name.chars().next() {
        Some('}') => (false, &after_name[1..]),
        Some(':') => (true, &after_name[1..]),
        _ => return Err(unclosed()),
    };
    match name {
        "date" | "gmtDate" => {
            let zone = if name == "date" {
                zone.clone()
            } else {
                Zone::GMT
            };
            if !has_argument {
                return Ok((after, date_segment(source, 0, DEFAULT_DATE_PATTERN, zone)?));
            }
            let pattern_at = offset_of(after);
            let (rest, pattern) = pattern_text(after).map_err(|quote| unclosed_pattern(source, start, pattern_at, quote))?;
            Ok((rest, date_segment(source, pattern_at, pattern, zone)?))
        }
        "dateTimeZone" => {
            if !has_argument {
                return Err(Error::new(
                    ErrorKind::UnknownZone,
                    "`${dateTimeZone}` needs a zone: `${dateTimeZone:ZONE}` or `${dateTimeZone:ZONE:PATTERN}`",
                    source,
                    offset_of(after_name),
                ));
            }
            let zone_at = offset_of(after);
            let (zone, after_zone) = zone_prefix(after).ok_or_else(|| {
                let shown = after.split([':', '}']).next().unwrap_or(after);
                if !after.contains('}') {
                    return unclosed();
                }
                Error::new(
                    ErrorKind::UnknownZone,
                    format!("unknown time zone `{}` (expected an IANA id such as America/New_York, a Java id such as PST, UTC, GMT+05:30 or an offset such as -8:00)", shorten(shown, QUOTE_CHARS)),
                    source,
                    zone_at,
                )
            })?;
            if let Some(rest) = after_zone.strip_prefix('}') {
                return Ok((rest, date_segment(source, 0, DEFAULT_DATE_PATTERN, zone)?));
            }
            let after_colon = &after_zone[1..];
            let pattern_at = offset_of(after_colon);
            let (rest, pattern) = pattern_text(after_colon).map_err(|quote| unclosed_pattern(source, start, pattern_at, quote))?;
            Ok((rest, date_segment(source, pattern_at, pattern, zone)?))
        }
        "epoch" => {
            if !has_argument {
                return Ok((after, Segment::Epoch(EpochUnit::Milliseconds)));
            }
            let (rest, unit) = take_till::<_, _, ()>(|c| c == '}')(after).map_err(|_| unclosed())?;
            let Some(rest) = rest.strip_prefix('}') else {
                return Err(unclosed());
            };
            let unit = match unit {
                "s" => EpochUnit::Seconds,
                "ms" => EpochUnit::Milliseconds,
                "us" => EpochUnit::Microseconds,
                _ => {
                    return Err(Error::new(
                        ErrorKind::BadPattern,
                        format!("unknown epoch unit `{}` (expected s, ms or us)", shorten(unit, QUOTE_CHARS)),
                        source,
                        offset_of(after),
                    ))
                }
            };
            Ok((rest, Segment::Epoch(unit)))
        }
        "" => Err(Error::new(
            ErrorKind::UnknownPlaceholder,
            "empty placeholder name (expected date, gmtDate, dateTimeZone or epoch; `$${` is a literal `${`)",
            source,
            offset_of(input),
        )),
        _ => Err(Error::new(
            ErrorKind::UnknownPlaceholder,
            format!("unknown placeholder `{}` (expected date, gmtDate, dateTimeZone or epoch)", shorten(name, QUOTE_CHARS)),
            source,
            offset_of(input),
        )),
    }
}

/// The error for a pattern without its closing `}`, blaming an unterminated quote if there is one.
fn unclosed_pattern(source: &str, start: usize, pattern_at: usize, quote: Option<usize>) -> Error {
    match quote {
        Some(quote) => Error::new(
            ErrorKind::UnclosedPlaceholder,
            "unclosed `${`: the quote here is never closed, so the `}` after it is quoted text",
            source,
            pattern_at + quote,
        ),
        None => Error::new(
            ErrorKind::UnclosedPlaceholder,
            "unclosed `${`: no `}` after it",
            source,
            start,
        ),
    }
}

/// Compiles `pattern` (found at byte `pattern_at` of `source`); errors point into `source`.
fn date_segment(
    source: &str,
    pattern_at: usize,
    pattern: &str,
    zone: Zone,
) -> Result<Segment, Error> {
    if pattern.is_empty() {
        return Err(Error::new(
            ErrorKind::BadPattern,
            "empty date pattern (leave out the `:` for the default pattern)",
            source,
            pattern_at,
        ));
    }
    let pattern = DatePattern::compile(pattern).map_err(|error| {
        Error::new(
            error.kind(),
            error.message(),
            source,
            pattern_at + error.offset(),
        )
    })?;
    Ok(Segment::Date { pattern, zone })
}

/// The longest valid zone at the start of `input` that ends right before a `:` or `}` (not past
/// the first `}`); returns the zone and the rest, starting at that `:` or `}`.
fn zone_prefix(input: &str) -> Option<(Zone, &str)> {
    let end = input.find('}')?;
    input[..=end]
        .char_indices()
        .filter(|&(_, c)| c == ':' || c == '}')
        .map(|(at, _)| at)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|at| {
            Zone::parse(&input[..at])
                .ok()
                .map(|zone| (zone, &input[at..]))
        })
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Template {
    type Err = Error;

    fn from_str(s: &str) -> Result<Template, Error> {
        Template::compile(s)
    }
}
