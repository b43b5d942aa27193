//! The CEQL syntax tree: expressions, fields, values and the spans that tie them to the source.
//!
//! Equality (`==`) compares structure and values and ignores spans, so two clauses that differ
//! only in spacing, keyword case or `<>` versus `!=` are equal. The JSON form (serde) uses the
//! stable keys `op`, `field`, `value`, `args` and `span`.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// A byte range `start..end` of the parsed clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// A comparison operator. `<>` parses as [`CompareOp::Ne`] and prints as `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The canonical spelling: `=`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// A where clause, or one node of it.
///
/// `And` and `Or` hold two or more operands in source order; a parenthesized `(a AND b) AND c`
/// stays nested as written. The `negated` flags spell `NOT LIKE`, `NOT IN` and `IS NOT NULL`;
/// `Not` is the prefix `NOT` (an extension: the vendor documents none).
#[derive(Debug, Clone)]
pub enum Expr {
    /// `a AND b AND ...`
    And {
        /// The operands, two or more.
        args: Vec<Expr>,
        /// From the first operand's first token to the last operand's last token.
        span: Span,
    },
    /// `a OR b OR ...`
    Or {
        /// The operands, two or more.
        args: Vec<Expr>,
        /// From the first operand's first token to the last operand's last token.
        span: Span,
    },
    /// `NOT a`
    Not {
        /// The negated expression.
        arg: Box<Expr>,
        /// From `NOT` to the operand's last token (its closing parenthesis, if any).
        span: Span,
    },
    /// `field = value`, `field >= value`, ...
    Compare {
        /// The field compared.
        field: Field,
        /// The operator.
        op: CompareOp,
        /// The value compared with.
        value: Value,
        /// From the field to the value.
        span: Span,
    },
    /// `field LIKE 'pattern'` or `field NOT LIKE 'pattern'` (`%` any run, `_` one character).
    Like {
        /// The field matched.
        field: Field,
        /// `NOT LIKE`.
        negated: bool,
        /// The pattern: a [`Value::String`] or a [`Value::Placeholder`].
        pattern: Value,
        /// From the field to the pattern.
        span: Span,
    },
    /// `field IN (v, ...)` or `field NOT IN (v, ...)`
    In {
        /// The field tested.
        field: Field,
        /// `NOT IN`.
        negated: bool,
        /// The listed values, one or more.
        values: Vec<Value>,
        /// From the field to the closing parenthesis.
        span: Span,
    },
    /// `field IS NULL` or `field IS NOT NULL`
    IsNull {
        /// The field tested.
        field: Field,
        /// `IS NOT NULL`.
        negated: bool,
        /// From the field to `NULL`.
        span: Span,
    },
}

impl Expr {
    /// Where this node is in the parsed clause.
    pub fn span(&self) -> Span {
        match self {
            Expr::And { span, .. }
            | Expr::Or { span, .. }
            | Expr::Not { span, .. }
            | Expr::Compare { span, .. }
            | Expr::Like { span, .. }
            | Expr::In { span, .. }
            | Expr::IsNull { span, .. } => *span,
        }
    }

    /// The operator as the JSON form and the flat view name it: `AND`, `OR`, `NOT`, `=`, `!=`,
    /// `<`, `<=`, `>`, `>=`, `LIKE`, `NOT LIKE`, `IN`, `NOT IN`, `IS NULL`, `IS NOT NULL`.
    pub fn op_name(&self) -> &'static str {
        match self {
            Expr::And { .. } => "AND",
            Expr::Or { .. } => "OR",
            Expr::Not { .. } => "NOT",
            Expr::Compare { op, .. } => op.as_str(),
            Expr::Like { negated, .. } => pick(*negated, "NOT LIKE", "LIKE"),
            Expr::In { negated, .. } => pick(*negated, "NOT IN", "IN"),
            Expr::IsNull { negated, .. } => pick(*negated, "IS NOT NULL", "IS NULL"),
        }
    }

    /// Every `${...}` placeholder of the clause, in source order: what a poll must expand, and
    /// what a loader may compile once to validate it.
    pub fn placeholders(&self) -> Vec<&Placeholder> {
        let mut found = Vec::new();
        self.visit_values(&mut |value| {
            if let Value::Placeholder(p) = value {
                found.push(p);
            }
        });
        found
    }

    /// A copy of the clause with every placeholder replaced by the [`Value::String`] that
    /// `expand` returns for it; the first error `expand` returns is passed through.
    ///
    /// This is how a poll turns the clause validated at load time into one it can evaluate.
    pub fn expand<E>(
        &self,
        mut expand: impl FnMut(&Placeholder) -> Result<String, E>,
    ) -> Result<Expr, E> {
        self.map_values(&mut |value| match value {
            Value::Placeholder(p) => expand(p).map(Value::String),
            other => Ok(other.clone()),
        })
    }

    /// Calls `f` on every value of the clause, in source order.
    pub(crate) fn visit_values<'a>(&'a self, f: &mut dyn FnMut(&'a Value)) {
        match self {
            Expr::And { args, .. } | Expr::Or { args, .. } => {
                for arg in args {
                    arg.visit_values(f);
                }
            }
            Expr::Not { arg, .. } => arg.visit_values(f),
            Expr::Compare { value, .. } => f(value),
            Expr::Like { pattern, .. } => f(pattern),
            Expr::In { values, .. } => values.iter().for_each(f),
            Expr::IsNull { .. } => {}
        }
    }

    fn map_values<E>(&self, f: &mut dyn FnMut(&Value) -> Result<Value, E>) -> Result<Expr, E> {
        let map_all = |args: &[Expr], f: &mut dyn FnMut(&Value) -> Result<Value, E>| {
            args.iter()
                .map(|arg| arg.map_values(f))
                .collect::<Result<Vec<_>, E>>()
        };
        Ok(match self {
            Expr::And { args, span } => Expr::And {
                args: map_all(args, f)?,
                span: *span,
            },
            Expr::Or { args, span } => Expr::Or {
                args: map_all(args, f)?,
                span: *span,
            },
            Expr::Not { arg, span } => Expr::Not {
                arg: Box::new(arg.map_values(f)?),
                span: *span,
            },
            Expr::Compare {
                field,
                op,
                value,
                span,
            } => Expr::Compare {
                field: field.clone(),
                op: *op,
                value: f(value)?,
                span: *span,
            },
            Expr::Like {
                field,
                negated,
                pattern,
                span,
            } => Expr::Like {
                field: field.clone(),
                negated: *negated,
                pattern: f(pattern)?,
                span: *span,
            },
            Expr::In {
                field,
                negated,
                values,
                span,
            } => Expr::In {
                field: field.clone(),
                negated: *negated,
                values: values.iter().map(&mut *f).collect::<Result<_, E>>()?,
                span: *span,
            },
            Expr::IsNull { .. } => self.clone(),
        })
    }
}

fn pick(negated: bool, yes: &'static str, no: &'static str) -> &'static str {
    if negated {
        yes
    } else {
        no
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Expr::And { args: a, .. }, Expr::And { args: b, .. })
            | (Expr::Or { args: a, .. }, Expr::Or { args: b, .. }) => a == b,
            (Expr::Not { arg: a, .. }, Expr::Not { arg: b, .. }) => a == b,
            (
                Expr::Compare {
                    field: fa,
                    op: oa,
                    value: va,
                    ..
                },
                Expr::Compare {
                    field: fb,
                    op: ob,
                    value: vb,
                    ..
                },
            ) => fa == fb && oa == ob && va == vb,
            (
                Expr::Like {
                    field: fa,
                    negated: na,
                    pattern: pa,
                    ..
                },
                Expr::Like {
                    field: fb,
                    negated: nb,
                    pattern: pb,
                    ..
                },
            ) => fa == fb && na == nb && pa == pb,
            (
                Expr::In {
                    field: fa,
                    negated: na,
                    values: va,
                    ..
                },
                Expr::In {
                    field: fb,
                    negated: nb,
                    values: vb,
                    ..
                },
            ) => fa == fb && na == nb && va == vb,
            (
                Expr::IsNull {
                    field: fa,
                    negated: na,
                    ..
                },
                Expr::IsNull {
                    field: fb,
                    negated: nb,
                    ..
                },
            ) => fa == fb && na == nb,
            _ => false,
        }
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("op", self.op_name())?;
        match self {
            Expr::And { args, .. } | Expr::Or { args, .. } => map.serialize_entry("args", args)?,
            Expr::Not { arg, .. } => map.serialize_entry("args", std::slice::from_ref(&**arg))?,
            Expr::Compare { field, value, .. } => {
                map.serialize_entry("field", field)?;
                map.serialize_entry("value", value)?;
            }
            Expr::Like { field, pattern, .. } => {
                map.serialize_entry("field", field)?;
                map.serialize_entry("value", pattern)?;
            }
            Expr::In { field, values, .. } => {
                map.serialize_entry("field", field)?;
                map.serialize_entry("value", values)?;
            }
            Expr::IsNull { field, .. } => map.serialize_entry("field", field)?,
        }
        map.serialize_entry("span", &self.span())?;
        map.end()
    }
}

/// A field: a dotted path into the record.
///
/// `a.b` is the path `["a", "b"]`; back-quotes keep a name whole, so `` `a.b` `` is the one-name
/// path `["a.b"]` and `` `a.b`.c `` is `["a.b", "c"]`. Names are never empty. Serialized as its
/// canonical CEQL text.
#[derive(Debug, Clone)]
pub struct Field {
    /// The names along the path, outermost first; never empty.
    pub path: Vec<String>,
    /// Where the field is in the parsed clause.
    pub span: Span,
}

impl Field {
    /// A field with this path and an empty span (for clauses built in code).
    pub fn new<S: Into<String>>(path: impl IntoIterator<Item = S>) -> Self {
        Field {
            path: path.into_iter().map(Into::into).collect(),
            span: Span::default(),
        }
    }
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A literal value.
///
/// A quoted string that contains `${...}` is a [`Value::Placeholder`], never a
/// [`Value::String`]: a `String` holding `${` does not print back as itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `'text'` (with `''` for a quote inside).
    String(String),
    /// `42`, `-1.5`, `1e3`: integers stay exact, anything else is an `f64`.
    Number(serde_json::Number),
    /// `true` or `false` (any case).
    Bool(bool),
    /// `'${date:yyyy-MM-dd}'`: a string with template placeholders, expanded at each poll.
    Placeholder(Placeholder),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::String(s) => serializer.serialize_str(s),
            Value::Number(n) => n.serialize(serializer),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Placeholder(p) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("placeholder", &p.text)?;
                map.serialize_entry("span", &p.span)?;
                map.end()
            }
        }
    }
}

/// A string literal holding one or more `${...}` template placeholders, kept unexpanded.
#[derive(Debug, Clone)]
pub struct Placeholder {
    /// The literal's text without its surrounding quotes, `''` outside placeholders already
    /// unescaped to `'`, and each `${...}` verbatim (its quotes belong to the date pattern):
    /// for `'${date:yyyy-MM-dd'T'HH:mm}'` it is `${date:yyyy-MM-dd'T'HH:mm}`. This is the
    /// template text to expand.
    pub text: String,
    /// Where the string literal, quotes included, is in the parsed clause.
    pub span: Span,
}

impl PartialEq for Placeholder {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
