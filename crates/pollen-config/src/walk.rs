//! Reading JSON values leniently (booleans and numbers may be strings), each problem recorded
//! with its JSON Pointer instead of stopping at the first.

use serde_json::{Map, Value};

use crate::problem::{Problem, ProblemKind, Severity};
use crate::schema::{self, Section};
use crate::secret::Secret;

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub(crate) problems: Vec<Problem>,
    /// The hub resources the element serves (`None`: not checked).
    pub(crate) hub_resources: Option<Vec<String>>,
    /// The hub resources only v3.1 serves (see [`crate::Vocabulary::v31_only`]).
    pub(crate) v31_only: Vec<String>,
    /// Whether `sage.api.version` is v3 (read before the poller's URLs).
    pub(crate) v3: bool,
}

/// The pointer of `key` inside the value at `parent` (RFC 6901 escaping).
pub(crate) fn child(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// How a JSON value looks, for messages. Strings are quoted and cut at 60 characters.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", quote(s)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A number for a message: as written when short, in scientific notation when huge (`1e300`
/// rather than 301 digits; `inf` for a value too large for a float).
pub(crate) fn number(n: f64) -> String {
    if n.is_finite() && n.abs() >= 1e16 {
        format!("{n:e}")
    } else {
        n.to_string()
    }
}

/// A string in double quotes for a message, cut at 60 characters.
pub(crate) fn quote(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(60).collect();
    let more = if chars.next().is_some() { "..." } else { "" };
    format!("\"{}{more}\"", head.escape_debug())
}

/// The JSON type of a value, for messages about secrets (whose content is never shown).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// True for the vendor documentation's placeholders: `<minutes>`, `<CLIENT_ID>`.
pub(crate) fn is_placeholder(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    !inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ')
}

impl Ctx {
    pub(crate) fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    pub(crate) fn error(&mut self, kind: ProblemKind, pointer: &str, message: impl Into<String>) {
        self.push(Problem::new(Severity::Error, kind, pointer, message));
    }

    pub(crate) fn warning(&mut self, kind: ProblemKind, pointer: &str, message: impl Into<String>) {
        self.push(Problem::new(Severity::Warning, kind, pointer, message));
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    /// The value as an object, or an error at `pointer`.
    pub(crate) fn object<'v>(
        &mut self,
        value: &'v Value,
        pointer: &str,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.error(
                    ProblemKind::WrongType,
                    pointer,
                    format!("expected an object, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// The keys of `map` that `section` does not document, kept, each reported as a warning.
    pub(crate) fn unknown_keys(
        &mut self,
        map: &Map<String, Value>,
        pointer: &str,
        section: Section,
        also_known: &[&str],
    ) -> crate::model::Extra {
        let mut extra = crate::model::Extra::default();
        for (key, value) in map {
            if schema::doc(section, key).is_some() || also_known.contains(&key.as_str()) {
                continue;
            }
            let suggestion = schema::keys(section)
                .map(|k| k.key)
                .chain(also_known.iter().copied())
                .filter(|known| is_near(key, known))
                .min_by_key(|known| edit_distance(key, known));
            let message = match suggestion {
                Some(known) => format!("unknown key, kept as is: did you mean `{known}`?"),
                None => "unknown key, kept as is".to_owned(),
            };
            self.warning(ProblemKind::UnknownKey, &child(pointer, key), message);
            extra.insert(key.clone(), value.clone());
        }
        extra
    }

    /// `map[key]` unless it is absent, `null` or the empty string.
    pub(crate) fn present<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(value) => Some(value),
        }
    }

    /// `map[key]`, or an error saying it is required (`when` names the condition, if any).
    pub(crate) fn required<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        parent: &str,
        key: &str,
        when: Option<&str>,
    ) -> Option<&'v Value> {
        let value = Self::present(map, key);
        if value.is_none() {
            let message = match (when, map.get(key).is_some()) {
                (None, false) => "required key is missing".to_owned(),
                (None, true) => "required value is empty".to_owned(),
                (Some(when), false) => format!("required when {when}, but missing"),
                (Some(when), true) => format!("required when {when}, but empty"),
            };
            self.error(ProblemKind::Missing, &child(parent, key), message);
        }
        value
    }

    /// A placeholder error when `value` is one of the documentation's `<PLACEHOLDERS>`.
    fn placeholder(&mut self, value: &Value, pointer: &str, expected: &str, secret: bool) -> bool {
        let Value::String(s) = value else {
            return false;
        };
        if !is_placeholder(s) {
            return false;
        }
        let message = if secret {
            format!("still holds a placeholder of the vendor's documentation: replace it with {expected}")
        } else {
            format!(
                "still holds the placeholder {} of the vendor's documentation: replace it with {expected}",
                quote(s)
            )
        };
        self.error(ProblemKind::Placeholder, pointer, message);
        true
    }

    /// A string (`expected` describes it for messages: "the client id").
    pub(crate) fn string(
        &mut self,
        value: &Value,
        pointer: &str,
        expected: &str,
    ) -> Option<String> {
        if self.placeholder(value, pointer, expected, false) {
            return None;
        }
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(
                    ProblemKind::WrongType,
                    pointer,
                    format!("expected {expected} as a string, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// A secret string; messages never show its content.
    pub(crate) fn secret(
        &mut self,
        value: &Value,
        pointer: &str,
        expected: &str,
    ) -> Option<Secret> {
        if self.placeholder(value, pointer, expected, true) {
            return None;
        }
        match value {
            Value::String(s) => Some(Secret::new(s.clone())),
            other => {
                self.error(
                    ProblemKind::WrongType,
                    pointer,
                    format!(
                        "expected {expected} as a string, found {}",
                        json_type(other)
                    ),
                );
                None
            }
        }
    }

    /// A boolean: `true`, `false`, or those words in a string (any case).
    pub(crate) fn boolean(&mut self, value: &Value, pointer: &str) -> Option<bool> {
        if self.placeholder(value, pointer, "true or false", false) {
            return None;
        }
        match value {
            Value::Bool(b) => return Some(*b),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => return Some(true),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => return Some(false),
            _ => {}
        }
        self.error(
            ProblemKind::WrongType,
            pointer,
            format!(
                "expected a boolean (true or false, or \"true\" or \"false\"), found {}",
                describe(value)
            ),
        );
        None
    }

    /// A finite number, or a string holding one (`expected`: "a number of minutes").
    pub(crate) fn number(&mut self, value: &Value, pointer: &str, expected: &str) -> Option<f64> {
        if self.placeholder(value, pointer, expected, false) {
            return None;
        }
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => parse_decimal(s.trim()),
            _ => None,
        };
        if number.is_none() {
            self.error(
                ProblemKind::WrongType,
                pointer,
                format!("expected {expected}, found {}", describe(value)),
            );
        }
        number
    }
}

/// A plain decimal number (`15`, `0.5`, `-3`); no exponent, `inf` or `NaN`.
fn parse_decimal(s: &str) -> Option<f64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let valid = !digits.is_empty()
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    if valid {
        s.parse().ok()
    } else {
        None
    }
}

/// Close enough to be a typo of `known`.
fn is_near(key: &str, known: &str) -> bool {
    let distance = edit_distance(&key.to_ascii_lowercase(), &known.to_ascii_lowercase());
    distance <= 2.max(known.len() / 8)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(
            child("", "event.poller.configuration"),
            "/event.poller.configuration"
        );
    }

    #[test]
    fn decimals_are_plain() {
        assert_eq!(parse_decimal("15"), Some(15.0));
        assert_eq!(parse_decimal("0.5"), Some(0.5));
        assert_eq!(parse_decimal("-1"), Some(-1.0));
        for bad in ["", ".5", "5.", "1e3", "inf", "NaN", "1.2.3", "15 min"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(is_placeholder("<minutes>"));
        assert!(is_placeholder(
            "<SUBSCRIPTION_PRIMARY_KEY_or_APIM_SUBSCRIPTION_KEY>"
        ));
        assert!(!is_placeholder("<>"));
        assert!(!is_placeholder("minutes"));
        assert!(!is_placeholder("<a href>x"));
    }

    #[test]
    fn typos_are_near() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert!(is_near(
            "event.poller.refresh_intervall",
            "event.poller.refresh_interval"
        ));
        assert!(is_near("idfield", "idField"));
        assert!(!is_near("pagination.type", "pageSize"));
    }
}
