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
//! # CEQL where clauses
//!
//! A poller URL filters with a `where` clause in CEQL, the vendor's SQL-like query language.
//! [`Where::parse`] reads one into an [`Expr`] with byte spans; in the default
//! [`Mode::Lenient`] it accepts the vendor's own example, whose last string is never closed,
//! and says what it assumed in a [`Warning`]. `${...}` placeholders stay
//! [`Value::Placeholder`]s, so a clause is validated once and [`Expr::expand`]ed at each poll.
//! `Display` prints canonical CEQL that parses back to an equal tree, [`Expr::flat`] gives the
//! vendor's `{attribute, operator, value}` list, and [`Expr::eval`] tests a JSON record.
//!
//! ```
//! use pollen_template::{Mode, Where};
//!
//! let clause = "lastModifiedDate>='${date:yyyy-MM-dd}' and attributes='created_at,updated_at";
//! let parsed = Where::parse(clause, Mode::Lenient)?;
//! assert_eq!(parsed.warnings.len(), 1); // the last string was closed at the end
//! assert_eq!(
//!     parsed.to_string(),
//!     "lastModifiedDate >= '${date:yyyy-MM-dd}' AND attributes = 'created_at,updated_at'"
//! );
//! assert_eq!(parsed.expr.flat()?[1].attribute, "attributes");
//!
//! // At poll time: expand the placeholders, then filter records client-side.
//! let filter = Where::parse("updated_at >= '${date:yyyy-MM-dd}' AND name LIKE 'Ac%'", Mode::Strict)?;
//! let expr = filter.expr.expand(|_| Ok::<_, std::convert::Infallible>("2017-05-05".into()))?;
//! let record = serde_json::json!({"name": "Acme", "updated_at": "2017-05-05T09:30:00Z"});
//! assert!(expr.eval(&record)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ceql;
mod civil;
mod date_format;
mod error;
mod pattern;
mod template;
mod zone;

pub use ceql::{CompareOp, Expr, Field, FlatTerm, Mode, Placeholder, Span, Value, Warning, Where};
pub use date_format::DateFormat;
pub use error::{Error, ErrorKind};
pub use pattern::{DateParseError, DatePattern};
pub use template::{Template, DEFAULT_DATE_PATTERN};
pub use zone::Zone;
