//! What a poller's `updatedDateFormat` / `createdDateFormat` holds: a Java pattern or one of the
//! keywords `milliseconds` and `seconds` (epoch numbers).

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Error;
use crate::pattern::{DateParseError, DatePattern};
use crate::zone::Zone;

/// How a record's date field is written: a Java date pattern, or an epoch number.
///
/// ```
/// use pollen_template::{DateFormat, Zone};
/// use serde_json::json;
///
/// let format = DateFormat::compile("milliseconds").unwrap();
/// let at = format.parse_value(&json!("1563445635000"), &Zone::UTC).unwrap();
/// assert_eq!(at.to_rfc3339(), "2019-07-18T10:27:15+00:00");
///
/// let format = DateFormat::compile("yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap();
/// let at = format.parse_value(&json!("2019-07-18T10:27:15Z"), &Zone::GMT).unwrap();
/// assert_eq!(at.timestamp_millis(), 1_563_445_635_000);
/// assert!(format.parse_value(&json!(42), &Zone::GMT).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormat {
    /// A Java `SimpleDateFormat` pattern.
    Pattern(DatePattern),
    /// Milliseconds since 1970-01-01T00:00:00Z, as a JSON number or a numeric string.
    Milliseconds,
    /// Seconds since 1970-01-01T00:00:00Z, as a JSON number or a numeric string.
    Seconds,
}

impl DateFormat {
    /// `milliseconds` and `seconds` (any case) are the keywords; anything else is compiled as a
    /// Java pattern (neither keyword is a valid pattern, so there is no ambiguity).
    pub fn compile(format: &str) -> Result<DateFormat, Error> {
        if format.eq_ignore_ascii_case("milliseconds") {
            Ok(DateFormat::Milliseconds)
        } else if format.eq_ignore_ascii_case("seconds") {
            Ok(DateFormat::Seconds)
        } else {
            DatePattern::compile(format).map(DateFormat::Pattern)
        }
    }

    /// The pattern, or the keyword.
    pub fn as_str(&self) -> &str {
        match self {
            DateFormat::Pattern(pattern) => pattern.as_str(),
            DateFormat::Milliseconds => "milliseconds",
            DateFormat::Seconds => "seconds",
        }
    }

    /// Reads a record's date: a string for patterns (read in `zone` unless it has its own
    /// offset); a number or a numeric string for the keywords (`zone` does not apply).
    pub fn parse_value(&self, value: &Value, zone: &Zone) -> Result<DateTime<Utc>, DateParseError> {
        match (self, value) {
            (_, Value::String(text)) => self.parse_str(text, zone),
            (DateFormat::Pattern(pattern), other) => Err(DateParseError::new(
                &other.to_string(),
                pattern.as_str(),
                0,
                "expected a string",
            )),
            (_, Value::Number(number)) => {
                let text = number.to_string();
                let whole = number.as_i64().or_else(|| {
                    number
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                        .map(|f| f as i64)
                });
                match whole {
                    Some(whole) => self.epoch_to_instant(whole, &text),
                    None => Err(DateParseError::new(
                        &text,
                        self.as_str(),
                        0,
                        "expected a whole number",
                    )),
                }
            }
            (_, other) => Err(DateParseError::new(
                &other.to_string(),
                self.as_str(),
                0,
                "expected a number or a numeric string",
            )),
        }
    }

    /// Reads a date written as text (for the keywords: an optionally signed integer).
    pub fn parse_str(&self, value: &str, zone: &Zone) -> Result<DateTime<Utc>, DateParseError> {
        match self {
            DateFormat::Pattern(pattern) => pattern.parse(value, zone),
            _ => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                if let Some(bad) = digits.bytes().position(|b| !b.is_ascii_digit()) {
                    let position = bad + value.len() - digits.len();
                    return Err(DateParseError::new(
                        value,
                        self.as_str(),
                        position,
                        "expected a digit",
                    ));
                }
                if digits.is_empty() {
                    return Err(DateParseError::new(
                        value,
                        self.as_str(),
                        value.len(),
                        "expected a digit",
                    ));
                }
                let number = value.parse::<i64>().map_err(|_| {
                    DateParseError::new(value, self.as_str(), 0, "number out of range")
                })?;
                self.epoch_to_instant(number, value)
            }
        }
    }

    /// Formats an instant the same way (for keywords: the epoch number).
    pub fn format(&self, at: DateTime<Utc>, zone: &Zone) -> String {
        match self {
            DateFormat::Pattern(pattern) => pattern.format(at, zone),
            DateFormat::Milliseconds => at.timestamp_millis().to_string(),
            DateFormat::Seconds => at.timestamp().to_string(),
        }
    }

    fn epoch_to_instant(&self, number: i64, text: &str) -> Result<DateTime<Utc>, DateParseError> {
        let at = match self {
            DateFormat::Seconds => DateTime::from_timestamp(number, 0),
            _ => DateTime::from_timestamp_millis(number),
        };
        at.ok_or_else(|| DateParseError::new(text, self.as_str(), 0, "instant out of range"))
    }
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DateFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<DateFormat, Error> {
        DateFormat::compile(s)
    }
}
