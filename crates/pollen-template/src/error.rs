//! The one error type of this crate: what went wrong, where, and the input it happened in.

use std::fmt;

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `${name...}` where `name` is not a known placeholder.
    UnknownPlaceholder,
    /// A `${` without its closing `}`.
    UnclosedPlaceholder,
    /// A time zone id, short id or offset that is not known.
    UnknownZone,
    /// A Java date pattern that does not compile (illegal letter, unterminated quote).
    BadPattern,
    /// A CEQL where clause that does not parse.
    Syntax,
}

/// A compile error: a message, the byte offset it concerns and the input, so that
/// `Display` can show the input with a caret under the offending spot.
///
/// The first line of the `Display` output is the message followed by the position; the
/// excerpt with the caret follows on the next two lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    input: String,
    offset: usize,
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        input: &str,
        offset: usize,
    ) -> Self {
        let offset = offset.min(input.len());
        Error {
            kind,
            message: message.into(),
            input: input.to_owned(),
            offset,
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone, without position or excerpt (lowercase, no trailing period).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The byte offset into [`Error::input`] the error points at.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The input that failed to compile.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// 1-based line and column (in characters) of [`Error::offset`].
    pub fn line_column(&self) -> (usize, usize) {
        let before = &self.input[..self.floor_offset()];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// The line of the input holding the error, and under it a caret at the error's column.
    pub fn excerpt(&self) -> String {
        let at = self.floor_offset();
        let line_start = self.input[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.input[at..]
            .find('\n')
            .map_or(self.input.len(), |i| at + i);
        let line = &self.input[line_start..line_end];
        let pad: String = self.input[line_start..at]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("  {line}\n  {pad}^")
    }

    /// The offset moved back to a char boundary, so slicing never panics.
    fn floor_offset(&self) -> usize {
        let mut at = self.offset.min(self.input.len());
        while !self.input.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.line_column();
        if self.input.contains('\n') {
            write!(f, "{} at line {line}, column {column}", self.message)?;
        } else {
            write!(
                f,
                "{} at byte {} (column {column})",
                self.message, self.offset
            )?;
        }
        write!(f, "\n{}", self.excerpt())
    }
}
