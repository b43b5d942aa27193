//! CEQL, the Open Connectors query language of a poller URL's `where` clause: parse it once
//! (with spans, warnings and caret errors), print it back canonically, flatten it into the
//! vendor's `{attribute, operator, value}` list, and evaluate it against JSON records.
//!
//! The grammar, with examples, is in `docs/ceql.md`.

mod ast;
mod eval;
mod flat;
mod lexer;
mod parser;
mod print;

use std::fmt;

pub use ast::{CompareOp, Expr, Field, Placeholder, Span, Value};
pub use flat::FlatTerm;

use crate::error::{write_located, Error};

/// How forgiving [`Where::parse`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// The default for poller URLs: a string literal left open at the end of the clause (as in
    /// the vendor's own example) is closed there, with a [`Warning`].
    #[default]
    Lenient,
    /// Everything must be well-formed; an unterminated string is an
    /// [`ErrorKind::UnterminatedString`](crate::ErrorKind::UnterminatedString) error.
    Strict,
}

/// A parsed where clause: its syntax tree and what lenient parsing had to assume.
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    /// The clause. Its spans are byte offsets into the parsed text.
    pub expr: Expr,
    /// What was assumed to accept the clause (always empty in [`Mode::Strict`]).
    pub warnings: Vec<Warning>,
}

impl Where {
    /// Parses a where clause (the text after `where=`, already URL-decoded).
    ///
    /// Placeholders (`'${date:yyyy-MM-dd}'`) stay unexpanded [`Value::Placeholder`]s: validate
    /// the clause once, then [`Expr::expand`] it at each poll. Errors are
    /// [`ErrorKind::Syntax`](crate::ErrorKind::Syntax),
    /// [`UnterminatedString`](crate::ErrorKind::UnterminatedString) (strict mode) or
    /// [`UnclosedPlaceholder`](crate::ErrorKind::UnclosedPlaceholder), and say what was expected,
    /// what was found and where.
    pub fn parse(src: &str, mode: Mode) -> Result<Where, Error> {
        let (expr, warnings) = parser::parse(src, mode).map_err(|error| *error)?;
        Ok(Where { expr, warnings })
    }
}

impl fmt::Display for Where {
    /// The canonical text of the clause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

/// Something lenient parsing assumed: a message, the span it concerns and the clause, so that
/// `Display` shows the clause with a caret under the spot (the same layout as [`Error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    message: String,
    span: Span,
    input: String,
}

impl Warning {
    pub(crate) fn new(message: impl Into<String>, span: Span, input: &str) -> Self {
        Warning {
            message: message.into(),
            span,
            input: input.to_owned(),
        }
    }

    /// The message alone (lowercase, no trailing period).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The part of the clause the warning concerns.
    pub fn span(&self) -> Span {
        self.span
    }

    /// 1-based line and column (in characters) of the start of [`Warning::span`].
    pub fn line_column(&self) -> (usize, usize) {
        crate::error::line_column(&self.input, self.span.start)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.message, &self.input, self.span.start)
    }
}

impl serde::Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("span", &self.span)?;
        map.end()
    }
}
