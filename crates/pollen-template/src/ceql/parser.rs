//! The recursive-descent parser: precedence `OR` < `AND` < `NOT` < parentheses and conditions.
//!
//! Every error names what was expected, what came after (the operator or keyword before the
//! problem) and what was found instead, at the offset of the offending token.

use super::ast::{Expr, Field, Placeholder, Span, Value};
use super::lexer::{fail, Keyword, Lexer, Tok, Token};
use super::{Mode, Warning};
use crate::error::{line_column, Error, ErrorKind};

/// Deepest nesting of parentheses and `NOT` accepted: bounds the recursion on hostile input.
const MAX_DEPTH: usize = 100;

/// How much of a string literal or field an error message quotes.
const QUOTE_CHARS: usize = 40;

pub(crate) fn parse(src: &str, mode: Mode) -> Result<(Expr, Vec<Warning>), Box<Error>> {
    let mut parser = Parser {
        src,
        lexer: Lexer::new(src, mode),
        peeked: None,
        last: None,
        before_last: None,
        last_end: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    let tok = parser.next()?;
    match tok.tok {
        Tok::Eof => Ok((expr, parser.lexer.warnings)),
        Tok::RParen => fail(
            Error::new(ErrorKind::Syntax, "unmatched ')'", src, tok.span.start)
                .with_hint("every '(' before it is already closed"),
        ),
        _ => Err(parser.expected("AND, OR or the end of the clause", &tok, None)),
    }
}

#[derive(Debug)]
struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    /// The span of the last consumed token when it is worth naming ("after '>='"): an
    /// operator, keyword, punctuation or field, not a value.
    last: Option<Span>,
    /// The same for the token consumed before it: what an error about `last` comes after.
    before_last: Option<Span>,
    /// End offset of the last consumed token.
    last_end: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token, Box<Error>> {
        let tok = match self.peeked.take() {
            Some(tok) => tok,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(tok))
    }

    fn peek_keyword(&mut self, keyword: Keyword) -> Result<bool, Box<Error>> {
        Ok(self.peek()?.tok == Tok::Keyword(keyword))
    }

    fn next(&mut self) -> Result<Token, Box<Error>> {
        let tok = match self.peeked.take() {
            Some(tok) => tok,
            None => self.lexer.next_token()?,
        };
        self.before_last = self.last;
        self.last = match tok.tok {
            Tok::Str { .. } | Tok::Number(_) | Tok::Eof => None,
            _ => Some(tok.span),
        };
        self.last_end = tok.span.end;
        Ok(tok)
    }

    /// `expected WHAT after 'PREVIOUS', found TOKEN`, at `tok`, with an optional hint.
    fn expected(&self, what: &str, tok: &Token, hint: Option<&str>) -> Box<Error> {
        let after = self.before_last.map(|span| &self.src[span.start..span.end]);
        self.expected_after(what, after, tok, hint)
    }

    /// [`Parser::expected`] with the words it comes after given explicitly.
    fn expected_after(
        &self,
        what: &str,
        after: Option<&str>,
        tok: &Token,
        hint: Option<&str>,
    ) -> Box<Error> {
        let mut message = format!("expected {what}");
        if let Some(after) = after {
            message.push_str(&format!(" after '{}'", quote(after)));
        }
        message.push_str(&format!(", found {}", self.describe(tok)));
        let error = Error::new(ErrorKind::Syntax, message, self.src, tok.span.start);
        Box::new(match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        })
    }

    fn describe(&self, tok: &Token) -> String {
        let text = quote(&self.src[tok.span.start..tok.span.end]);
        match tok.tok {
            Tok::Eof => "end of input".to_owned(),
            Tok::Field(_) => format!("field name '{text}'"),
            Tok::Str { .. } => format!("string {text}"),
            Tok::Number(_) => format!("number {text}"),
            _ => format!("'{text}'"),
        }
    }

    /// One more level of `(` or `NOT` at `tok`.
    fn enter(&mut self, tok: &Token) -> Result<(), Box<Error>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(Error::new(
                ErrorKind::Syntax,
                format!("too deeply nested: more than {MAX_DEPTH} levels of parentheses and NOT"),
                self.src,
                tok.span.start,
            ));
        }
        Ok(())
    }

    /// `and (OR and)*`
    fn or(&mut self) -> Result<Expr, Box<Error>> {
        let start = self.peek()?.span.start;
        let first = self.and()?;
        if !self.peek_keyword(Keyword::Or)? {
            return Ok(first);
        }
        let mut args = Vec::with_capacity(4);
        args.push(first);
        while self.peek_keyword(Keyword::Or)? {
            self.next()?;
            args.push(self.and()?);
        }
        Ok(Expr::Or {
            args,
            span: Span::new(start, self.last_end),
        })
    }

    /// `unary (AND unary)*`
    fn and(&mut self) -> Result<Expr, Box<Error>> {
        let start = self.peek()?.span.start;
        let first = self.unary()?;
        if !self.peek_keyword(Keyword::And)? {
            return Ok(first);
        }
        let mut args = Vec::with_capacity(4);
        args.push(first);
        while self.peek_keyword(Keyword::And)? {
            self.next()?;
            args.push(self.unary()?);
        }
        Ok(Expr::And {
            args,
            span: Span::new(start, self.last_end),
        })
    }

    /// `NOT unary | primary`
    fn unary(&mut self) -> Result<Expr, Box<Error>> {
        if !self.peek_keyword(Keyword::Not)? {
            return self.primary();
        }
        let not = self.next()?;
        self.enter(&not)?;
        let arg = self.unary()?;
        self.depth -= 1;
        Ok(Expr::Not {
            arg: Box::new(arg),
            span: Span::new(not.span.start, self.last_end),
        })
    }

    /// `( or ) | condition`
    fn primary(&mut self) -> Result<Expr, Box<Error>> {
        let tok = self.next()?;
        match tok.tok {
            Tok::LParen => {
                self.enter(&tok)?;
                let inner = self.or()?;
                let close = self.next()?;
                if close.tok != Tok::RParen {
                    let (line, column) = line_column(self.src, tok.span.start);
                    let opened = if self.src.contains('\n') {
                        format!("the '(' at line {line}, column {column} is still open")
                    } else {
                        format!("the '(' at column {column} is still open")
                    };
                    return Err(self.expected_after("AND, OR or ')'", None, &close, Some(&opened)));
                }
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Field(path) => self.condition(Field {
                path,
                span: tok.span,
            }),
            _ => Err(self.not_a_condition(&tok)),
        }
    }

    fn not_a_condition(&self, tok: &Token) -> Box<Error> {
        if tok.tok == Tok::Eof && self.before_last.is_none() {
            let error = Error::new(
                ErrorKind::Syntax,
                "empty where clause",
                self.src,
                tok.span.start,
            );
            return Box::new(error.with_hint("write a condition such as name = 'value'"));
        }
        let text = &self.src[tok.span.start..tok.span.end];
        let keyword_hint;
        let hint = match tok.tok {
            Tok::Keyword(Keyword::And | Keyword::Or | Keyword::Not) | Tok::Eof => None,
            Tok::Keyword(_) => {
                keyword_hint = format!("back-quote a field named like a keyword: `{text}`");
                Some(keyword_hint.as_str())
            }
            Tok::Str { .. } | Tok::Number(_) | Tok::Cmp(_) => {
                Some("a condition starts with a field name, as in name = 'value'")
            }
            _ => None,
        };
        self.expected("a condition", tok, hint)
    }

    /// The rest of a condition after its field: an operator and its operand(s).
    fn condition(&mut self, field: Field) -> Result<Expr, Box<Error>> {
        let start = field.span.start;
        let tok = self.next()?;
        let expr = match tok.tok {
            Tok::Cmp(op) => Expr::Compare {
                field,
                op,
                value: self.value(Context::Comparison)?,
                span: Span::default(),
            },
            Tok::Keyword(Keyword::Like) => Expr::Like {
                field,
                negated: false,
                pattern: self.pattern()?,
                span: Span::default(),
            },
            Tok::Keyword(Keyword::In) => Expr::In {
                field,
                negated: false,
                values: self.list()?,
                span: Span::default(),
            },
            Tok::Keyword(Keyword::Not) => {
                let tok = self.next()?;
                match tok.tok {
                    Tok::Keyword(Keyword::Like) => Expr::Like {
                        field,
                        negated: true,
                        pattern: self.pattern()?,
                        span: Span::default(),
                    },
                    Tok::Keyword(Keyword::In) => Expr::In {
                        field,
                        negated: true,
                        values: self.list()?,
                        span: Span::default(),
                    },
                    _ => return Err(self.expected("LIKE or IN", &tok, None)),
                }
            }
            Tok::Keyword(Keyword::Is) => {
                let is = tok.span;
                let tok = self.next()?;
                let negated = match tok.tok {
                    Tok::Keyword(Keyword::Null) => false,
                    Tok::Keyword(Keyword::Not) => {
                        let is_not = &self.src[is.start..tok.span.end];
                        let tok = self.next()?;
                        if tok.tok != Tok::Keyword(Keyword::Null) {
                            return Err(self.expected_after("NULL", Some(is_not), &tok, None));
                        }
                        true
                    }
                    _ => return Err(self.expected("NULL or NOT NULL", &tok, None)),
                };
                Expr::IsNull {
                    field,
                    negated,
                    span: Span::default(),
                }
            }
            _ => {
                let hint = match tok.tok {
                    Tok::Field(_) => {
                        Some("back-quote a name that contains spaces, as in `first name`")
                    }
                    _ => None,
                };
                return Err(self.expected(
                    "an operator (=, !=, <>, <, <=, >, >=, LIKE, NOT LIKE, IN, NOT IN, IS NULL, IS NOT NULL)",
                    &tok,
                    hint,
                ));
            }
        };
        Ok(with_span(expr, Span::new(start, self.last_end)))
    }

    /// A literal: string, placeholder, number, `true` or `false`.
    fn value(&mut self, context: Context) -> Result<Value, Box<Error>> {
        let tok = self.next()?;
        let Token { tok, span } = tok;
        match tok {
            Tok::Str {
                text,
                placeholder: false,
            } => Ok(Value::String(text)),
            Tok::Str {
                text,
                placeholder: true,
            } => Ok(Value::Placeholder(Placeholder { text, span })),
            Tok::Number(n) => Ok(Value::Number(n)),
            Tok::Keyword(Keyword::True) => Ok(Value::Bool(true)),
            Tok::Keyword(Keyword::False) => Ok(Value::Bool(false)),
            tok => {
                let tok = Token { tok, span };
                let text = &self.src[span.start..span.end];
                let field_hint;
                let hint = match tok.tok {
                    Tok::Field(_) => {
                        field_hint = format!("quote text values, as in '{}'", quote(text));
                        Some(field_hint.as_str())
                    }
                    Tok::Keyword(Keyword::Null) => {
                        Some("test for a missing value with IS NULL or IS NOT NULL")
                    }
                    Tok::Cmp(_) if text == "=" => Some("CEQL compares with a single '='"),
                    Tok::RParen if context == Context::ListStart => {
                        Some("an IN list holds at least one value")
                    }
                    Tok::RParen if context == Context::ListNext => Some("remove the last ','"),
                    _ => None,
                };
                Err(self.expected("a value", &tok, hint))
            }
        }
    }

    /// The pattern after `LIKE`: a quoted string (or placeholder).
    fn pattern(&mut self) -> Result<Value, Box<Error>> {
        if matches!(self.peek()?.tok, Tok::Str { .. }) {
            return self.value(Context::Comparison);
        }
        let tok = self.next()?;
        let hint = matches!(tok.tok, Tok::Number(_) | Tok::Field(_))
            .then_some("patterns are quoted, as in name LIKE 'Ac%'");
        Err(self.expected("a quoted pattern", &tok, hint))
    }

    /// `( value (, value)* )` after `IN`.
    fn list(&mut self) -> Result<Vec<Value>, Box<Error>> {
        let open = self.next()?;
        if open.tok != Tok::LParen {
            return Err(self.expected("'(' to start the list", &open, Some("write IN ('a', 'b')")));
        }
        let mut values = vec![self.value(Context::ListStart)?];
        loop {
            let tok = self.next()?;
            match tok.tok {
                Tok::Comma => values.push(self.value(Context::ListNext)?),
                Tok::RParen => return Ok(values),
                _ => {
                    let message = format!(
                        "expected ',' or ')' in the IN list, found {}",
                        self.describe(&tok)
                    );
                    return fail(Error::new(
                        ErrorKind::Syntax,
                        message,
                        self.src,
                        tok.span.start,
                    ));
                }
            }
        }
    }
}

/// Where a value is expected, for hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Comparison,
    /// The first value of an `IN` list.
    ListStart,
    /// A value after a `,` of an `IN` list.
    ListNext,
}

fn with_span(mut expr: Expr, new: Span) -> Expr {
    match &mut expr {
        Expr::And { span, .. }
        | Expr::Or { span, .. }
        | Expr::Not { span, .. }
        | Expr::Compare { span, .. }
        | Expr::Like { span, .. }
        | Expr::In { span, .. }
        | Expr::IsNull { span, .. } => *span = new,
    }
    expr
}

/// `text` for an error message: cut after [`QUOTE_CHARS`] characters, control characters
/// escaped so the message stays on one line.
fn quote(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}
