//! The CEQL tokenizer: turns the clause into tokens on demand, one at a time, so the parser
//! reports the leftmost problem whether it is lexical or grammatical.

use serde_json::Number;

use super::ast::{CompareOp, Span};
use super::{Mode, Warning};
use crate::error::{Error, ErrorKind};

/// A reserved word (matched case-insensitively). Back-quote a field named like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    Like,
    In,
    Is,
    Null,
    True,
    False,
}

const KEYWORDS: [(&str, Keyword); 9] = [
    ("and", Keyword::And),
    ("or", Keyword::Or),
    ("not", Keyword::Not),
    ("like", Keyword::Like),
    ("in", Keyword::In),
    ("is", Keyword::Is),
    ("null", Keyword::Null),
    ("true", Keyword::True),
    ("false", Keyword::False),
];

/// The keyword `word` spells, if any.
pub(crate) fn keyword(word: &str) -> Option<Keyword> {
    KEYWORDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, k)| k)
}

/// May start a bare field name.
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// May continue a bare field name (the `.` between path segments is handled apart).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// For `s` starting with `${`: the length of the placeholder through its closing `}`.
///
/// Inside `${...}` single quotes belong to the Java date pattern (`'T'`), so the placeholder
/// ends at the first `}` that is not inside a quoted section.
pub(crate) fn placeholder_len(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, b) in s.bytes().enumerate().skip(2) {
        match b {
            b'\'' => quoted = !quoted,
            b'}' if !quoted => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Errors travel boxed inside the lexer and parser: a small `Result` keeps the hot path's
/// moves cheap (the error type is large and rare).
pub(crate) fn fail<T>(error: Error) -> Result<T, Box<Error>> {
    Err(Box::new(error))
}

/// The first offset from `at` that is not whitespace (ASCII fast path, then Unicode).
fn skip_whitespace(src: &str, mut at: usize) -> usize {
    let bytes = src.as_bytes();
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    if bytes.get(at).is_some_and(|b| !b.is_ascii()) {
        let rest = &src[at..];
        at += rest.len() - rest.trim_start().len();
    }
    at
}

/// The length of the run of name characters at the start of `s` (ASCII fast path).
fn name_len(s: &str) -> usize {
    let ascii = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .unwrap_or(s.len());
    if s.as_bytes().get(ascii).is_some_and(|b| !b.is_ascii()) {
        let rest = &s[ascii..];
        ascii + rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len())
    } else {
        ascii
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Keyword(Keyword),
    /// A field path (a single bare name that spells a keyword is a [`Tok::Keyword`] instead).
    Field(Vec<String>),
    /// A quoted string; `placeholder` when it holds a `${...}`.
    Str {
        text: String,
        placeholder: bool,
    },
    Number(Number),
    Cmp(CompareOp),
    LParen,
    RParen,
    Comma,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    mode: Mode,
    pub(crate) warnings: Vec<Warning>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str, mode: Mode) -> Self {
        Lexer {
            src,
            pos: 0,
            mode,
            warnings: Vec::new(),
        }
    }

    /// The next token, or [`Tok::Eof`] (again and again) at the end.
    pub(crate) fn next_token(&mut self) -> Result<Token, Box<Error>> {
        let start = skip_whitespace(self.src, self.pos);
        let mut chars = self.src[start..].chars();
        let Some(c) = chars.next() else {
            self.pos = self.src.len();
            return Ok(Token {
                tok: Tok::Eof,
                span: Span::new(start, start),
            });
        };
        let next = chars.next();
        let (tok, end) = match c {
            '(' => (Tok::LParen, start + 1),
            ')' => (Tok::RParen, start + 1),
            ',' => (Tok::Comma, start + 1),
            '=' => (Tok::Cmp(CompareOp::Eq), start + 1),
            '!' if next == Some('=') => (Tok::Cmp(CompareOp::Ne), start + 2),
            '<' if next == Some('=') => (Tok::Cmp(CompareOp::Le), start + 2),
            '<' if next == Some('>') => (Tok::Cmp(CompareOp::Ne), start + 2),
            '<' => (Tok::Cmp(CompareOp::Lt), start + 1),
            '>' if next == Some('=') => (Tok::Cmp(CompareOp::Ge), start + 2),
            '>' => (Tok::Cmp(CompareOp::Gt), start + 1),
            '\'' => self.string(start)?,
            '`' => self.word(start)?,
            c if is_name_start(c) => self.word(start)?,
            c if c.is_ascii_digit() => self.number(start)?,
            '-' if next.is_some_and(|n| n.is_ascii_digit()) => self.number(start)?,
            other => return Err(self.unexpected_char(other, start)),
        };
        self.pos = end;
        Ok(Token {
            tok,
            span: Span::new(start, end),
        })
    }

    fn unexpected_char(&self, c: char, at: usize) -> Box<Error> {
        let hint = match c {
            '!' => Some("write '!=' for 'not equal'"),
            '"' => Some("CEQL strings are in single quotes, as in name = 'value'"),
            '&' => Some("join conditions with AND"),
            '|' => Some("join alternatives with OR"),
            _ => None,
        };
        let error = Error::new(
            ErrorKind::Syntax,
            if c.is_control() {
                format!("unexpected character '{}'", c.escape_debug())
            } else {
                format!("unexpected character '{c}'")
            },
            self.src,
            at,
        );
        Box::new(match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        })
    }

    /// A quoted string from the quote at `start`; `''` is a quote, `${...}` a placeholder.
    fn string(&mut self, start: usize) -> Result<(Tok, usize), Box<Error>> {
        let bytes = self.src.as_bytes();
        let mut text = String::new();
        let mut placeholder = false;
        let mut at = start + 1;
        loop {
            let rest = &self.src[at..];
            let Some(k) = rest.find(['\'', '$']) else {
                text.push_str(rest);
                self.unterminated(start)?;
                return Ok((Tok::Str { text, placeholder }, self.src.len()));
            };
            text.push_str(&rest[..k]);
            at += k;
            if bytes[at] == b'\'' {
                if bytes.get(at + 1) == Some(&b'\'') {
                    text.push('\'');
                    at += 2;
                } else {
                    return Ok((Tok::Str { text, placeholder }, at + 1));
                }
            } else if bytes.get(at + 1) == Some(&b'{') {
                let Some(len) = placeholder_len(&self.src[at..]) else {
                    return fail(Error::new(
                        ErrorKind::UnclosedPlaceholder,
                        "unclosed placeholder: no '}' closes the '${' opened",
                        self.src,
                        at,
                    )
                    .with_hint(
                        "quotes inside '${...}' belong to the date pattern: they must pair up, \
                         as in '${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
                    ));
                };
                text.push_str(&self.src[at..at + len]);
                placeholder = true;
                at += len;
            } else {
                text.push('$');
                at += 1;
            }
        }
    }

    /// A string opened at `start` runs to the end of the clause: an error in strict mode, a
    /// warning in lenient mode (the vendor's own example ends that way).
    fn unterminated(&mut self, start: usize) -> Result<(), Box<Error>> {
        match self.mode {
            Mode::Strict => fail(
                Error::new(
                    ErrorKind::UnterminatedString,
                    "unterminated string: no quote closes the string opened",
                    self.src,
                    start,
                )
                .with_hint("add the closing ' (lenient mode assumes it at the end of the clause)"),
            ),
            Mode::Lenient => {
                self.warnings.push(Warning::new(
                    "unterminated string: assumed the end of the clause closes the string opened",
                    Span::new(start, self.src.len()),
                    self.src,
                ));
                Ok(())
            }
        }
    }

    /// A field path (`a.b`, `` `a.b`.c ``) or a keyword, from `start`.
    fn word(&mut self, start: usize) -> Result<(Tok, usize), Box<Error>> {
        let mut path = Vec::new();
        let mut quoted = false;
        let mut at = start;
        loop {
            if self.src[at..].starts_with('`') {
                let (name, end) = self.back_quoted(at)?;
                path.push(name);
                quoted = true;
                at = end;
            } else {
                let rest = &self.src[at..];
                let len = name_len(rest);
                if len == 0 {
                    return fail(Error::new(
                        ErrorKind::Syntax,
                        "expected a name after '.' in the field path",
                        self.src,
                        at,
                    ));
                }
                path.push(rest[..len].to_owned());
                at += len;
            }
            if self.src[at..].starts_with('.') {
                at += 1;
            } else {
                break;
            }
        }
        if let ([name], false) = (path.as_slice(), quoted) {
            if let Some(k) = keyword(name) {
                return Ok((Tok::Keyword(k), at));
            }
        }
        Ok((Tok::Field(path), at))
    }

    /// A back-quoted name from the back-quote at `start` (` `` ` inside is one back-quote).
    fn back_quoted(&self, start: usize) -> Result<(String, usize), Box<Error>> {
        let mut name = String::new();
        let mut at = start + 1;
        loop {
            let Some(k) = self.src[at..].find('`') else {
                return fail(Error::new(
                    ErrorKind::Syntax,
                    "unterminated back-quoted name: no back-quote closes the name opened",
                    self.src,
                    start,
                ));
            };
            name.push_str(&self.src[at..at + k]);
            at += k + 1;
            if self.src[at..].starts_with('`') {
                name.push('`');
                at += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            return fail(Error::new(
                ErrorKind::Syntax,
                "empty back-quoted name: expected a field name between the back-quotes",
                self.src,
                start,
            ));
        }
        Ok((name, at))
    }

    /// A number from `start`: `-? digits (. digits)? ([eE] [+-]? digits)?`.
    fn number(&mut self, start: usize) -> Result<(Tok, usize), Box<Error>> {
        let bytes = self.src.as_bytes();
        let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
        let skip_digits = |mut i: usize| {
            while digit_at(i) {
                i += 1;
            }
            i
        };
        let mut at = start + usize::from(bytes[start] == b'-');
        at = skip_digits(at);
        let mut integer = true;
        if bytes.get(at) == Some(&b'.') && digit_at(at + 1) {
            at = skip_digits(at + 1);
            integer = false;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
            if digit_at(at + 1 + sign) {
                at = skip_digits(at + 1 + sign);
                integer = false;
            }
        }
        let rest = &self.src[at..];
        let glued = rest
            .find(|c: char| !(is_name_char(c) || c == '.'))
            .unwrap_or(rest.len());
        if glued > 0 {
            let word = &self.src[start..at + glued];
            return fail(
                Error::new(
                    ErrorKind::Syntax,
                    format!("invalid number '{word}'"),
                    self.src,
                    start,
                )
                .with_hint(format!(
                    "quote a text value ('{word}'); back-quote a field name (`{word}`)"
                )),
            );
        }
        let text = &self.src[start..at];
        let number = if integer {
            text.parse::<i64>()
                .map(Number::from)
                .or_else(|_| text.parse::<u64>().map(Number::from))
                .ok()
        } else {
            None
        };
        // Rust's float parser rounds exactly, so a printed float reads back as the same value.
        let number = number.or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64));
        match number {
            Some(n) => Ok((Tok::Number(n), at)),
            None => fail(Error::new(
                ErrorKind::Syntax,
                format!("number {text} is out of range"),
                self.src,
                start,
            )),
        }
    }
}
