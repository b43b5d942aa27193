//! The flat view: the list of `{attribute, operator, value}` the vendor hands its hooks.

use serde_json::Value as Json;

use super::ast::{Expr, Value};
use super::print::{print, Mark};
use crate::error::{Error, ErrorKind};

/// One condition of a pure conjunction, as the vendor's hooks see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlatTerm {
    /// The field's names joined by `.` (no back-quotes): `lastModifiedDate`, `address.city`.
    pub attribute: String,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `NOT LIKE`, `IN`, `NOT IN`, `IS NULL` or
    /// `IS NOT NULL`.
    pub operator: &'static str,
    /// The literal as JSON (a placeholder as its unexpanded text), an array for `IN`, `null`
    /// for `IS NULL`.
    pub value: Json,
}

impl Expr {
    /// The clause as a list of conditions, when it is a pure conjunction: one condition, or
    /// conditions joined by `AND` (parenthesized `AND`s included).
    ///
    /// Fails with [`ErrorKind::NotFlat`] on the first `OR` or `NOT`, which have no flat form;
    /// the error points into the clause's canonical text.
    pub fn flat(&self) -> Result<Vec<FlatTerm>, Error> {
        let mut terms = Vec::new();
        collect(self, &mut terms).map_err(|offender| {
            let (text, at) = print(self, Mark::Expr(offender));
            let error = |message| Error::new(ErrorKind::NotFlat, message, &text, at.unwrap_or(0));
            match offender {
                Expr::Or { .. } => error("OR has no flat form")
                    .with_hint("the flat view lists conditions joined by AND only"),
                _ => error("NOT has no flat form").with_hint(
                    "the flat view lists conditions joined by AND only; negate the operator \
                     instead (!=, NOT LIKE, NOT IN, IS NOT NULL)",
                ),
            }
        })?;
        Ok(terms)
    }
}

fn collect<'a>(expr: &'a Expr, terms: &mut Vec<FlatTerm>) -> Result<(), &'a Expr> {
    let (field, value) = match expr {
        Expr::And { args, .. } => {
            return args.iter().try_for_each(|arg| collect(arg, terms));
        }
        Expr::Or { .. } | Expr::Not { .. } => return Err(expr),
        Expr::Compare { field, value, .. } => (field, json(value)),
        Expr::Like { field, pattern, .. } => (field, json(pattern)),
        Expr::In { field, values, .. } => (field, Json::Array(values.iter().map(json).collect())),
        Expr::IsNull { field, .. } => (field, Json::Null),
    };
    terms.push(FlatTerm {
        attribute: field.path.join("."),
        operator: expr.op_name(),
        value,
    });
    Ok(())
}

fn json(value: &Value) -> Json {
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => Json::Number(n.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Placeholder(p) => Json::String(p.text.clone()),
    }
}
