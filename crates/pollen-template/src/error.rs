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
    /// A CEQL string literal whose closing quote is missing (strict mode only: lenient mode
    /// closes it at the end of the clause and warns).
    UnterminatedString,
    /// A CEQL clause asked for its flat `{attribute, operator, value}` form while it uses `OR`
    /// or `NOT`, which have none.
    NotFlat,
    /// A CEQL clause evaluated while it still holds a `${...}` placeholder: expand it first.
    UnexpandedPlaceholder,
}

/// A compile error: a message, the byte offset it concerns and the input, so that
/// `Display` can show the input with a caret under the offending spot.
///
/// The first line of the `Display` output is the message followed by the position; the
/// excerpt with the caret follows on the next two lines, then the hint, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    input: String,
    offset: usize,
    hint: Option<String>,
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
            hint: None,
        }
    }

    /// The same error with a suggestion of how to fix it, shown after the caret.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
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

    /// A suggestion of how to fix the input, when there is an obvious one.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// 1-based line and column (in characters) of [`Error::offset`].
    pub fn line_column(&self) -> (usize, usize) {
        line_column(&self.input, self.offset)
    }

    /// The line of the input holding the error, and under it a caret at the error's column.
    pub fn excerpt(&self) -> String {
        excerpt(&self.input, self.offset)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `input`.
pub(crate) fn line_column(input: &str, offset: usize) -> (usize, usize) {
    let before = &input[..floor_offset(input, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Lines up to this many bytes are shown whole in an excerpt; a longer line is cut to
/// [`EXCERPT_CONTEXT`] characters on each side of the caret, so that an error about a 10 MB
/// input is not itself 10 MB.
const EXCERPT_WHOLE_LINE: usize = 240;

/// How many characters of a long line an excerpt shows on each side of the caret.
const EXCERPT_CONTEXT: usize = 100;

/// The line of `input` holding byte `offset`, and under it a caret at that column. A line
/// longer than [`EXCERPT_WHOLE_LINE`] bytes is shown around the caret only, `...`
/// marking what was cut.
pub(crate) fn excerpt(input: &str, offset: usize) -> String {
    let at = floor_offset(input, offset);
    let line_start = input[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = input[at..].find('\n').map_or(input.len(), |i| at + i);
    let (from, to) = if line_end - line_start > EXCERPT_WHOLE_LINE {
        let from = input[line_start..at]
            .char_indices()
            .rev()
            .nth(EXCERPT_CONTEXT - 1)
            .map_or(line_start, |(i, _)| line_start + i);
        let to = input[at..line_end]
            .char_indices()
            .nth(EXCERPT_CONTEXT)
            .map_or(line_end, |(i, _)| at + i);
        (from, to)
    } else {
        (line_start, line_end)
    };
    let (head, tail) = (
        if from > line_start { "..." } else { "" },
        if to < line_end { "..." } else { "" },
    );
    let pad: String = head
        .chars()
        .chain(input[from..at].chars())
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("  {head}{}{tail}\n  {pad}^", &input[from..to])
}

/// At most `max` characters of `text`, with `...` when it was cut: for quoting input in
/// messages, which must stay short whatever the input's size.
pub(crate) fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]).into(),
        None => text.into(),
    }
}

/// `message`, the position of byte `offset` in `input` and the excerpt with its caret: the
/// layout shared by [`Error`] and the CEQL warnings.
pub(crate) fn write_located(
    f: &mut fmt::Formatter<'_>,
    message: &str,
    input: &str,
    offset: usize,
) -> fmt::Result {
    let (line, column) = line_column(input, offset);
    if input.contains('\n') {
        write!(
            f,
            "{message} at line {line}, column {column} (byte {offset})"
        )?;
    } else {
        write!(f, "{message} at byte {offset} (column {column})")?;
    }
    write!(f, "\n{}", excerpt(input, offset))
}

/// `offset` clamped to `input` and moved back to a char boundary, so slicing never panics.
fn floor_offset(input: &str, offset: usize) -> usize {
    let mut at = offset.min(input.len());
    while !input.is_char_boundary(at) {
        at -= 1;
    }
    at
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.message, &self.input, self.offset)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}
