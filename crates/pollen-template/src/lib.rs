//! Open Connectors poller URL templates, Java `SimpleDateFormat` patterns and CEQL.
//!
//! (The full essay and runnable example arrive with the engine.)
//!
//! # CEQL where clauses
//!
//! A poller URL filters with a `where` clause in CEQL, the vendor's SQL-like query language.
//! [`Where::parse`] reads one into an [`Expr`] with byte spans; in the default
//! [`Mode::Lenient`] it accepts the vendor's own example, whose last string is never closed,
//! and says what it assumed in a [`Warning`]. `${...}` placeholders stay
//! [`Value::Placeholder`]s, so a clause is validated once and [`Expr::expand`]ed at each poll.
//! `Display` prints canonical CEQL that parses back to an equal tree, [`Expr::flat`] gives the
//! vendor's `{attribute, operator, value}` list, and [`Expr::eval`] tests a JSON record.
//!
//! ```
//! use pollen_template::{Mode, Where};
//!
//! let clause = "lastModifiedDate>='${date:yyyy-MM-dd}' and attributes='created_at,updated_at";
//! let parsed = Where::parse(clause, Mode::Lenient)?;
//! assert_eq!(parsed.warnings.len(), 1); // the last string was closed at the end
//! assert_eq!(
//!     parsed.to_string(),
//!     "lastModifiedDate >= '${date:yyyy-MM-dd}' AND attributes = 'created_at,updated_at'"
//! );
//! assert_eq!(parsed.expr.flat()?[1].attribute, "attributes");
//!
//! // At poll time: expand the placeholders, then filter records client-side.
//! let filter = Where::parse("updated_at >= '${date:yyyy-MM-dd}' AND name LIKE 'Ac%'", Mode::Strict)?;
//! let expr = filter.expr.expand(|_| Ok::<_, std::convert::Infallible>("2017-05-05".into()))?;
//! let record = serde_json::json!({"name": "Acme", "updated_at": "2017-05-05T09:30:00Z"});
//! assert!(expr.eval(&record)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ceql;
mod error;

pub use ceql::{CompareOp, Expr, Field, FlatTerm, Mode, Placeholder, Span, Value, Warning, Where};
pub use error::{Error, ErrorKind};
