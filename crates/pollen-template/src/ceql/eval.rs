//! The evaluator: does a JSON record satisfy a where clause?
//!
//! SQL's three-valued logic: a condition on a missing or `null` field is *unknown*, `NOT`
//! keeps unknown unknown, `AND`/`OR` follow Kleene, and a clause that ends unknown does not
//! match. So `NOT (a = 1)` and `a != 1` agree: neither matches a record without `a`.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value as Json;

use super::ast::{CompareOp, Expr, Placeholder, Value};
use super::print::{print, Mark};
use crate::error::{Error, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn known(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

impl Expr {
    /// Whether `record` satisfies the clause.
    ///
    /// Fields are dotted paths into the record (a numeric name indexes an array); a missing
    /// field or `null` is SQL `NULL`: every comparison with it is unknown, which does not match,
    /// and only `IS NULL` is true. Numbers compare as numbers (also against numeric strings),
    /// two strings that both read as RFC 3339 / ISO 8601 dates compare as instants (a date
    /// alone is midnight UTC, a date-time without offset is UTC), `true`/`false` match booleans
    /// and the strings `"true"`/`"false"`, other strings compare by code point. Values of
    /// kinds that cannot be compared (an object with a string) are unequal and unordered.
    /// `LIKE` is case-sensitive: `%` matches any run of characters, `_` exactly one.
    ///
    /// Fails, with [`ErrorKind::UnexpandedPlaceholder`], on a clause that still holds a
    /// `${...}` placeholder: expand it first with [`Expr::expand`]. The check covers the
    /// whole clause, so the outcome never depends on the record.
    pub fn eval(&self, record: &Json) -> Result<bool, Error> {
        if let Some(placeholder) = first_placeholder(self) {
            let (text, at) = print(self, Mark::Placeholder(placeholder));
            return Err(Error::new(
                ErrorKind::UnexpandedPlaceholder,
                format!(
                    "cannot evaluate the unexpanded placeholder '{}': expand the clause first",
                    placeholder.text
                ),
                &text,
                at.unwrap_or(0),
            ));
        }
        Ok(truth(self, record) == Truth::True)
    }
}

fn first_placeholder(expr: &Expr) -> Option<&Placeholder> {
    fn placeholder(value: &Value) -> Option<&Placeholder> {
        match value {
            Value::Placeholder(p) => Some(p),
            _ => None,
        }
    }
    match expr {
        Expr::And { args, .. } | Expr::Or { args, .. } => args.iter().find_map(first_placeholder),
        Expr::Not { arg, .. } => first_placeholder(arg),
        Expr::Compare { value, .. } | Expr::Like { pattern: value, .. } => placeholder(value),
        Expr::In { values, .. } => values.iter().find_map(placeholder),
        Expr::IsNull { .. } => None,
    }
}

fn truth(expr: &Expr, record: &Json) -> Truth {
    match expr {
        Expr::And { args, .. } => {
            let mut result = Truth::True;
            for arg in args {
                match truth(arg, record) {
                    Truth::False => return Truth::False,
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::True => {}
                }
            }
            result
        }
        Expr::Or { args, .. } => {
            let mut result = Truth::False;
            for arg in args {
                match truth(arg, record) {
                    Truth::True => return Truth::True,
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::False => {}
                }
            }
            result
        }
        Expr::Not { arg, .. } => match truth(arg, record) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        },
        Expr::Compare {
            field, op, value, ..
        } => {
            let Some(left) = lookup(record, &field.path) else {
                return Truth::Unknown;
            };
            let order = compare(left, value);
            Truth::known(match op {
                CompareOp::Eq => order == Some(Ordering::Equal),
                CompareOp::Ne => order != Some(Ordering::Equal),
                CompareOp::Lt => order == Some(Ordering::Less),
                CompareOp::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
                CompareOp::Gt => order == Some(Ordering::Greater),
                CompareOp::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
            })
        }
        Expr::Like {
            field,
            negated,
            pattern,
            ..
        } => {
            let Some(left) = lookup(record, &field.path) else {
                return Truth::Unknown;
            };
            let text: Option<Cow<'_, str>> = match left {
                Json::String(s) => Some(Cow::Borrowed(s)),
                Json::Number(n) => Some(Cow::Owned(n.to_string())),
                Json::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
                _ => None,
            };
            let pattern = match pattern {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(other.to_string()),
            };
            // A value that has no text (object, array) is simply not like the pattern.
            let matched = text.is_some_and(|t| like(&t, &pattern));
            Truth::known(matched != *negated)
        }
        Expr::In {
            field,
            negated,
            values,
            ..
        } => {
            let Some(left) = lookup(record, &field.path) else {
                return Truth::Unknown;
            };
            let found = values
                .iter()
                .any(|value| compare(left, value) == Some(Ordering::Equal));
            Truth::known(found != *negated)
        }
        Expr::IsNull { field, negated, .. } => {
            Truth::known(lookup(record, &field.path).is_none() != *negated)
        }
    }
}

/// The value at `path`, or `None` when it is missing or `null`.
fn lookup<'r>(record: &'r Json, path: &[String]) -> Option<&'r Json> {
    let mut at = record;
    for name in path {
        at = match at {
            Json::Object(map) => map.get(name.as_str())?,
            Json::Array(items) => items.get(name.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!at.is_null()).then_some(at)
}

/// How the record's value orders against the literal, or `None` when they cannot be compared.
fn compare(left: &Json, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Json::Number(a), Value::Number(b)) => Num::of(a).compare(Num::of(b)),
        (Json::String(a), Value::Number(b)) => Num::parse(a)?.compare(Num::of(b)),
        (Json::Number(a), Value::String(b)) => Num::of(a).compare(Num::parse(b)?),
        (Json::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Json::String(a), Value::Bool(b)) => Some(parse_bool(a)?.cmp(b)),
        (Json::Bool(a), Value::String(b)) => Some(a.cmp(&parse_bool(b)?)),
        (Json::String(a), Value::String(b)) => Some(compare_text(a, b)),
        _ => None,
    }
}

fn compare_text(a: &str, b: &str) -> Ordering {
    match (parse_instant(a), parse_instant(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A number for comparison: integers exactly, anything else as `f64`.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn of(n: &serde_json::Number) -> Num {
        if let Some(i) = n.as_i64() {
            Num::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Num::Int(i128::from(u))
        } else {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// A number written as text (`"100.50"`), finite only.
    fn parse(s: &str) -> Option<Num> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i128>() {
            return Some(Num::Int(i));
        }
        // `f64::from_str` also reads "inf" and "NaN", which are not numbers to compare.
        let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
        Some(Num::Float(f))
    }

    fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    #[allow(clippy::cast_precision_loss)] // comparing an integer with a float is inexact anyway
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// `s` as an instant when it is a date (`2017-05-05`, midnight UTC), an RFC 3339 date-time, or
/// an ISO date-time with a `+hhmm` offset or none (UTC).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let looks_like_date =
        b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-';
    if !looks_like_date {
        return None;
    }
    if b.len() == 10 {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
        .map(|t| t.and_utc())
}

/// SQL `LIKE`, case-sensitive: `%` any run of characters, `_` exactly one; no escape character.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let (mut t, mut p) = (0, 0);
    // After a `%`: where the pattern resumes and the text position it is being tried against.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        let next_char_len = |s: &str, at: usize| s[at..].chars().next().map_or(1, char::len_utf8);
        match pattern[p..].chars().next() {
            Some('%') => {
                p += 1;
                backtrack = Some((p, t));
                continue;
            }
            Some('_') => {
                t += next_char_len(text, t);
                p += 1;
                continue;
            }
            Some(c) if text[t..].starts_with(c) => {
                t += c.len_utf8();
                p += c.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((resume, tried)) = backtrack else {
            return false;
        };
        let t_next = tried + next_char_len(text, tried);
        backtrack = Some((resume, t_next));
        p = resume;
        t = t_next;
    }
    pattern[p..].chars().all(|c| c == '%')
}
