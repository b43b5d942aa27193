//! What the loader reports: every problem of an instance JSON, each with its JSON Pointer.

use std::fmt;

/// Whether a [`Problem`] stops the configuration from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration cannot be used until this is fixed.
    Error,
    /// The configuration loads, but probably not the way its author meant.
    Warning,
}

/// What kind of problem a [`Problem`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The input is not JSON at all (the problem carries a line and column).
    NotJson,
    /// A required key is absent or empty.
    Missing,
    /// A value of the wrong JSON type, or a string that does not read as the expected type.
    WrongType,
    /// A value of the right type that is not allowed (unknown country, zero interval, ...).
    InvalidValue,
    /// A value still holding a placeholder of the vendor's documentation, such as `<minutes>`.
    Placeholder,
    /// A key pollen does not know; it is kept as is.
    UnknownKey,
    /// A poller URL template that does not compile.
    Template,
    /// A poller URL naming a hub resource the element does not serve.
    UnknownResource,
    /// A CEQL where clause that does not parse (or parses only leniently).
    Where,
    /// A Java date pattern or time zone that does not compile.
    DateFormat,
    /// Values that are fine one by one but do not fit together.
    Inconsistent,
}

/// One problem found in an instance JSON.
///
/// [`Problem::pointer`] is an RFC 6901 JSON Pointer into the input (`""` is the whole
/// document). Inside `event.poller.configuration` it continues into the resources even when
/// that value arrives as a JSON-encoded string, as if the string were the object it encodes.
/// A key that is missing is pointed at where it should be.
///
/// It serialises (for the management API) as
/// `{"severity", "kind", "pointer", "message", "excerpt"?, "line"?, "column"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    severity: Severity,
    kind: ProblemKind,
    pointer: String,
    message: String,
    excerpt: Option<String>,
    line_column: Option<(usize, usize)>,
}

impl Problem {
    pub(crate) fn new(
        severity: Severity,
        kind: ProblemKind,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            severity,
            kind,
            pointer: pointer.into(),
            message: message.into(),
            excerpt: None,
            line_column: None,
        }
    }

    pub(crate) fn with_excerpt(mut self, excerpt: String) -> Self {
        self.excerpt = Some(excerpt);
        self
    }

    pub(crate) fn with_line_column(mut self, line: usize, column: usize) -> Self {
        self.line_column = Some((line, column));
        self
    }

    pub(crate) fn set_pointer(&mut self, pointer: String) {
        self.pointer = pointer;
    }

    pub(crate) fn set_message(&mut self, message: String) {
        self.message = message;
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// The JSON Pointer of the offending value (`""` for the whole document).
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The message alone: lowercase, no trailing period, never a secret value.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For templates and where clauses: the offending string with a caret under the spot,
    /// as two lines each indented by two spaces.
    pub fn excerpt(&self) -> Option<&str> {
        self.excerpt.as_deref()
    }

    /// For input that is not JSON: the 1-based line and column of the syntax error.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        self.line_column
    }

    /// The problem as `pollen validate` prints it for the file `source`:
    /// `FILE:/json/pointer: message`, with `warning: ` in front for warnings, `FILE:LINE:COLUMN:`
    /// for input that is not JSON, `FILE:` alone for the whole document, and the excerpt (if
    /// any) on the following lines. No trailing newline.
    pub fn render(&self, source: &str) -> String {
        self.render_with(Some(source))
    }

    fn render_with(&self, source: Option<&str>) -> String {
        let mut out = String::new();
        if self.severity == Severity::Warning {
            out.push_str("warning: ");
        }
        let mut location = Vec::new();
        if let Some(source) = source {
            location.push(source.to_owned());
        }
        match self.line_column {
            Some((line, column)) => location.push(format!("{line}:{column}")),
            None if self.pointer.is_empty() => {}
            None => location.push(self.pointer.clone()),
        }
        if !location.is_empty() {
            out.push_str(&location.join(":"));
            out.push_str(": ");
        }
        out.push_str(&self.message);
        if let Some(excerpt) = &self.excerpt {
            out.push('\n');
            out.push_str(excerpt);
        }
        out
    }
}

impl serde::Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("severity", &self.severity)?;
        map.serialize_entry("kind", &self.kind)?;
        map.serialize_entry("pointer", &self.pointer)?;
        map.serialize_entry("message", &self.message)?;
        if let Some(excerpt) = &self.excerpt {
            map.serialize_entry("excerpt", excerpt)?;
        }
        if let Some((line, column)) = self.line_column {
            map.serialize_entry("line", &line)?;
            map.serialize_entry("column", &column)?;
        }
        map.end()
    }
}

/// As [`Problem::render`] without the file name: `/json/pointer: message`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_with(None))
    }
}

/// Problems in pointer order (segment by segment, array indices as numbers), those at the same
/// pointer in the order they were found.
pub(crate) fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    fn key(pointer: &str) -> Vec<(u64, &str)> {
        pointer
            .split('/')
            .skip(1)
            .map(|segment| match segment.parse::<u64>() {
                Ok(index) => (index, ""),
                Err(_) => (u64::MAX, segment),
            })
            .collect()
    }
    problems.sort_by(|a, b| key(&a.pointer).cmp(&key(&b.pointer)));
    problems
}

/// The instance JSON does not load: every problem found, errors and warnings, sorted by pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    problems: Vec<Problem>,
}

impl ConfigErrors {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        debug_assert!(problems.iter().any(Problem::is_error));
        ConfigErrors {
            problems: sorted(problems),
        }
    }

    /// Every problem, errors and warnings.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The errors only (never empty).
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }

    /// The first [`MAX_SHOWN_PROBLEMS`] problems rendered as by [`Problem::render`], one after
    /// the other, then `FILE: ... and N more problems` when there were more.
    pub fn render(&self, source: &str) -> String {
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .take(MAX_SHOWN_PROBLEMS)
            .map(|p| p.render(source))
            .collect();
        if let Some(more) = self.not_shown() {
            lines.push(format!("{source}: {more}"));
        }
        lines.join("\n")
    }

    /// `... and N more problems` when there are more than [`MAX_SHOWN_PROBLEMS`].
    fn not_shown(&self) -> Option<String> {
        let more = self.problems.len().checked_sub(MAX_SHOWN_PROBLEMS)?;
        (more > 0).then(|| format!("... and {more} more problems"))
    }
}

/// How many problems [`ConfigErrors::render`] and `Display` show: an input with thousands of
/// bad values gets a report of bounded size (all of them stay in [`ConfigErrors::problems`]).
pub const MAX_SHOWN_PROBLEMS: usize = 100;

/// A one-line summary followed by the problems, one per line (at most
/// [`MAX_SHOWN_PROBLEMS`], then how many more there were).
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        let plural = if errors == 1 { "" } else { "s" };
        write!(f, "invalid instance configuration: {errors} error{plural}")?;
        for problem in self.problems.iter().take(MAX_SHOWN_PROBLEMS) {
            write!(f, "\n{problem}")?;
        }
        if let Some(more) = self.not_shown() {
            write!(f, "\n{more}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_render_for_validate_and_serialise_for_the_api() {
        let warning = Problem::new(
            Severity::Warning,
            ProblemKind::UnknownKey,
            "/a~1b",
            "unknown key",
        )
        .with_excerpt("  x\n  ^".to_owned());
        assert_eq!(
            warning.render("f.json"),
            "warning: f.json:/a~1b: unknown key\n  x\n  ^"
        );
        assert_eq!(warning.to_string(), "warning: /a~1b: unknown key\n  x\n  ^");
        let not_json = Problem::new(
            Severity::Error,
            ProblemKind::NotJson,
            "",
            "not valid JSON: x",
        )
        .with_line_column(3, 7);
        assert_eq!(not_json.render("f.json"), "f.json:3:7: not valid JSON: x");
        let root = Problem::new(
            Severity::Error,
            ProblemKind::WrongType,
            "",
            "expected an object",
        );
        assert_eq!(root.render("f.json"), "f.json: expected an object");
        assert_eq!(
            serde_json::to_value(&not_json).unwrap(),
            serde_json::json!({"severity": "error", "kind": "not_json", "pointer": "",
                "message": "not valid JSON: x", "line": 3, "column": 7})
        );
    }

    #[test]
    fn problems_sort_by_pointer_segments_and_indices() {
        let at = |p: &str| Problem::new(Severity::Error, ProblemKind::Missing, p, p);
        let sorted = sorted(vec![
            at("/tags/10"),
            at("/b"),
            at("/tags/2"),
            at(""),
            at("/a/z"),
        ]);
        let pointers: Vec<&str> = sorted.iter().map(Problem::pointer).collect();
        assert_eq!(pointers, ["", "/a/z", "/b", "/tags/2", "/tags/10"]);
    }
}
