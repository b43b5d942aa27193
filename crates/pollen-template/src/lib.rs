//! Open Connectors poller URL templates, Java `SimpleDateFormat` date patterns and CEQL.
//!
//! An Open Connectors instance describes each polled resource with a URL such as
//! `/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'`
//! and says how the records' dates are written (`updatedDateFormat`, a Java date pattern, with
//! `updatedDateTimezone`). This crate holds the three small languages involved, each compiled
//! once into a value that is then used many times without re-parsing:
//!
//! - [`Template`]: the `${...}` URL template. [`Template::compile`] parses it (with nom) into
//!   literal text and placeholders (`${date:PATTERN}`, `${gmtDate:PATTERN}`,
//!   `${dateTimeZone:ZONE:PATTERN}`, `${epoch:s|ms|us}`); [`Template::expand`] writes it for an
//!   instant. `$${` is a literal `${`.
//! - [`DatePattern`]: a Java date pattern, with the behaviour of `java.text.SimpleDateFormat`
//!   for `Locale.US` and a proleptic Gregorian calendar — every pattern letter and count, US
//!   week years, zone names. It formats instants ([`DatePattern::format`]) and parses record
//!   dates ([`DatePattern::parse`], failures are an inspectable [`DateParseError`]). The
//!   engine is checked against golden files written by Java itself
//!   (`fixtures/patterns/*.tsv`, produced by `xtask/java/PatternGolden.java`).
//! - [`DateFormat`]: what `updatedDateFormat` holds — a [`DatePattern`] or the keywords
//!   `milliseconds` / `seconds`, parsed from JSON values.
//! - [`Zone`]: the zones these accept: IANA ids, Java's short ids (`PST`, `EST`, …), `UTC`,
//!   `GMT`, `GMT+05:30` and bare offsets (`-8:00`).
//!
//! CEQL, the `where` language of the hub URLs, is parsed in this crate too (see below).
//!
//! Compile errors ([`Error`]) carry the byte offset and the input, and display with a caret:
//!
//! ```text
//! unknown placeholder `dat` (expected date, gmtDate, dateTimeZone or epoch) at byte 6 (column 7)
//!   since=${dat:yyyy}
//!         ^
//! ```
//!
//! # Example
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use pollen_template::{DateFormat, DatePattern, Template, Zone};
//!
//! // The seed instance's URL, compiled once and expanded for the last poll date.
//! let url = Template::compile(
//!     "/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at",
//! )?;
//! let polled_at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
//! assert_eq!(
//!     url.expand(polled_at),
//!     "/hubs/finance/customers?where=lastModifiedDate>='2026-11-27T10:00:00Z' and attributes='created_at,updated_at",
//! );
//!
//! // Zones and the poller's own zone.
//! let pacific = Template::compile_in("${date:EEE d MMM yyyy HH:mm zzz}|${dateTimeZone:GMT+05:30:HH:mm XXX}", Zone::parse("PST")?)?;
//! assert_eq!(pacific.expand(polled_at), "Fri 27 Nov 2026 02:00 PST|15:30 +05:30");
//!
//! // Record dates: format and parse with the same compiled pattern.
//! let pattern = DatePattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")?;
//! let new_york = Zone::parse("America/New_York")?;
//! assert_eq!(pattern.format(polled_at, &new_york), "2026-11-27T05:00:00.000-05:00");
//! assert_eq!(pattern.parse("2026-11-27T05:00:00.000-05:00", &Zone::UTC)?, polled_at);
//!
//! // A value that does not match says where.
//! let updated = DateFormat::compile("yyyy-MM-dd'T'HH:mm:ss'Z'")?;
//! let error = updated.parse_str("2019-07-18 10:27:15Z", &Zone::GMT).unwrap_err();
//! assert_eq!(error.position(), 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # CEQL
//!
//! (The CEQL where-clause parser documents itself here.)

mod civil;
mod date_format;
mod error;
mod pattern;
mod template;
mod zone;

pub use date_format::DateFormat;
pub use error::{Error, ErrorKind};
pub use pattern::{DateParseError, DatePattern};
pub use template::{Template, DEFAULT_DATE_PATTERN};
pub use zone::Zone;
