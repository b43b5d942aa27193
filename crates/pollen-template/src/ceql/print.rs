//! The canonical printer: upper-case keywords, one space around operators, `!=` for `<>`,
//! parentheses only where precedence needs them (and always after `NOT`), strings in single
//! quotes, back-quotes only around names that need them. Its output parses back to an equal AST.

use std::fmt;

use super::ast::{Expr, Field, Placeholder, Value};
use super::lexer::{is_name_char, is_name_start, keyword, placeholder_len};

/// A node whose position in the printed text is wanted (errors about a clause built in code
/// point into its canonical text, since there is no source to point into).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mark<'a> {
    Nothing,
    /// Points at the node's operator keyword (`OR`, `NOT`).
    Expr(&'a Expr),
    /// Points at the literal's opening quote.
    Placeholder(&'a Placeholder),
}

/// The canonical text of `expr`, and the offset of `mark` in it (if found).
pub(crate) fn print(expr: &Expr, mark: Mark<'_>) -> (String, Option<usize>) {
    let mut printer = Printer {
        out: String::with_capacity(128),
        mark,
        found: None,
    };
    printer.expr(expr);
    (printer.out, printer.found)
}

#[derive(Debug)]
struct Printer<'a> {
    out: String,
    mark: Mark<'a>,
    found: Option<usize>,
}

impl Printer<'_> {
    fn is_marked(&self, expr: &Expr) -> bool {
        matches!(self.mark, Mark::Expr(m) if std::ptr::eq(m, expr))
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::And { args, .. } => {
                self.join(expr, args, " AND ", |arg| {
                    matches!(arg, Expr::And { .. } | Expr::Or { .. })
                });
            }
            Expr::Or { args, .. } => {
                self.join(expr, args, " OR ", |arg| matches!(arg, Expr::Or { .. }));
            }
            Expr::Not { arg, .. } => {
                if self.is_marked(expr) {
                    self.found = Some(self.out.len());
                }
                self.out.push_str("NOT (");
                self.expr(arg);
                self.out.push(')');
            }
            Expr::Compare {
                field, op, value, ..
            } => {
                write_field(&mut self.out, field);
                self.out.push(' ');
                self.out.push_str(op.as_str());
                self.out.push(' ');
                self.value(value);
            }
            Expr::Like {
                field,
                negated,
                pattern,
                ..
            } => {
                write_field(&mut self.out, field);
                self.out
                    .push_str(if *negated { " NOT LIKE " } else { " LIKE " });
                self.value(pattern);
            }
            Expr::In {
                field,
                negated,
                values,
                ..
            } => {
                write_field(&mut self.out, field);
                self.out
                    .push_str(if *negated { " NOT IN (" } else { " IN (" });
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(value);
                }
                self.out.push(')');
            }
            Expr::IsNull { field, negated, .. } => {
                write_field(&mut self.out, field);
                self.out
                    .push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
        }
    }

    fn join(&mut self, node: &Expr, args: &[Expr], separator: &str, parens: fn(&Expr) -> bool) {
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                if i == 1 && self.is_marked(node) {
                    self.found = Some(self.out.len() + 1);
                }
                self.out.push_str(separator);
            }
            if parens(arg) {
                self.out.push('(');
                self.expr(arg);
                self.out.push(')');
            } else {
                self.expr(arg);
            }
        }
    }

    fn value(&mut self, value: &Value) {
        if let (Value::Placeholder(p), Mark::Placeholder(m)) = (value, self.mark) {
            if std::ptr::eq(p, m) {
                self.found = Some(self.out.len());
            }
        }
        write_value(&mut self.out, value);
    }
}

/// Appends the canonical text of `field`: names joined by `.`, back-quoted when bare text would
/// not read back as that one name.
pub(crate) fn write_field(out: &mut String, field: &Field) {
    let single = field.path.len() == 1;
    for (i, name) in field.path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let bare = !name.is_empty()
            && name.chars().all(is_name_char)
            && (i > 0 || name.starts_with(is_name_start))
            && !(single && keyword(name).is_some());
        if bare {
            out.push_str(name);
        } else {
            out.push('`');
            for (i, part) in name.split('`').enumerate() {
                if i > 0 {
                    out.push_str("``");
                }
                out.push_str(part);
            }
            out.push('`');
        }
    }
}

/// Appends the canonical literal for `value`.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => {
            out.push('\'');
            push_escaped(out, s);
            out.push('\'');
        }
        Value::Number(n) => match n.as_f64() {
            // Floats print with Rust's `Debug` form: shortest text that reads back exactly, and
            // always with a `.` or an exponent, so it reads back as a float, not an integer.
            Some(f) if !n.is_i64() && !n.is_u64() => out.push_str(&format!("{f:?}")),
            _ => out.push_str(&n.to_string()),
        },
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Placeholder(p) => {
            out.push('\'');
            let mut rest = p.text.as_str();
            while let Some(at) = rest.find("${") {
                let len = placeholder_len(&rest[at..]).unwrap_or(rest.len() - at);
                push_escaped(out, &rest[..at]);
                out.push_str(&rest[at..at + len]);
                rest = &rest[at + len..];
            }
            push_escaped(out, rest);
            out.push('\'');
        }
    }
}

/// Appends `text` with each `'` doubled.
fn push_escaped(out: &mut String, text: &str) {
    let mut parts = text.split('\'');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        out.push_str("''");
        out.push_str(part);
    }
}

impl fmt::Display for Expr {
    /// The canonical CEQL text: it parses back to an equal tree (`docs/ceql.md`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print(self, Mark::Nothing).0)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_field(&mut out, self);
        f.write_str(&out)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_value(&mut out, self);
        f.write_str(&out)
    }
}
