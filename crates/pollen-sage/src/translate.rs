//! CEQL → Sage: which conditions of a where clause Sage filters by query parameters, and the
//! residual that pollen evaluates client-side so results are exactly what the clause says.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Timelike, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use pollen_template::{CompareOp, Expr, Field, Mode, Span, Value, Where};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::resources::HubResource;

/// Sage's list filters that pollen passes through from a `name = 'value'` condition and does
/// not evaluate client-side: they are query parameters, not record fields. (Filters that are
/// also record fields, such as `email` or `active`, are not listed: an equality on them is
/// sent to Sage *and* evaluated, which is exact either way.)
pub const SAGE_FILTERS: &[&str] = &[
    "search",
    "contact_type_id",
    "visible_in",
    "transaction_type_id",
    "contact_id",
    "status_id",
    "from_date",
    "to_date",
    "has_attachments",
    "ledger_account_type_id",
    "ledger_account_classification_id",
    "bank_account_id",
];

/// Parameters pollen sets itself; a where clause may not.
const RESERVED: &[&str] = &[
    "page",
    "items_per_page",
    "updated_or_created_since",
    "deleted_since",
];

/// Record fields that are never query parameters: equalities on them are evaluated
/// client-side only.
const RECORD_ONLY: &[&str] = &[
    "id",
    "displayed_as",
    "created_at",
    "updated_at",
    "deleted_at",
];

/// Fields every list record carries without asking.
const BASE_ATTRIBUTES: &[&str] = &["id", "displayed_as", "$path"];

/// The field Sage's `updated_or_created_since` filters on.
const UPDATED_AT: &str = "updated_at";

/// Characters percent-encoded in a query value: everything but unreserved characters and the
/// few that keep a query readable (`,` in attribute lists, `:` in times, `/`, `@`).
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'+')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `name=value&…`, each part percent-encoded for a URL query.
pub(crate) fn encode_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        let _ = write!(
            out,
            "{}={}",
            utf8_percent_encode(name, QUERY_VALUE),
            utf8_percent_encode(value, QUERY_VALUE)
        );
    }
    out
}

/// What a hub resource and where clause become: the Sage path, the query parameters Sage
/// filters by, and the residual clause evaluated on each record.
///
/// Serialized (for `pollen where translate`) as
/// `{"resource","path","params":[[name,value]…],"query","residual","residual_ast","deleted_since"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The hub resource.
    pub resource: &'static HubResource,
    /// Filters sent as query parameters, in order: the resource's fixed ones, then the
    /// clause's equalities, then any extra parameters of the hub URL.
    pub filters: Vec<(String, String)>,
    /// The `updated_or_created_since` value (UTC, whole seconds, `Z`), or the unexpanded
    /// `${…}` placeholder text of a clause not yet expanded.
    pub updated_since: Option<String>,
    /// The `attributes` value: the clause's list, the configured date fields and the fields
    /// the residual reads (or `all`).
    pub attributes: Option<String>,
    /// What Sage cannot filter, evaluated client-side with [`Expr::eval`]; `lastModifiedDate`
    /// is renamed `updated_at`, the field Sage records carry.
    pub residual: Option<Expr>,
}

impl Translation {
    /// Translates `clause` (already parsed) for `resource`. `date_fields` are the configured
    /// `updatedDateField` / `createdDateField`: they are always requested so records can be
    /// classified.
    pub fn new(
        resource: &'static HubResource,
        clause: Option<&Expr>,
        date_fields: &[String],
    ) -> Result<Translation> {
        let mut filters: Vec<(String, String)> = resource
            .fixed
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut user_attributes: Option<Vec<String>> = None;
        let mut updated_since = None;
        let mut residual = Vec::new();

        let mut conjuncts = Vec::new();
        if let Some(expr) = clause {
            flatten_and(expr, &mut conjuncts);
        }
        for condition in conjuncts {
            match classify(condition)? {
                Term::Attributes(list) => {
                    user_attributes.get_or_insert_with(Vec::new).extend(list);
                }
                Term::Since { value, exclusive } if updated_since.is_none() => {
                    let (text, exact) = since_value(condition, value)?;
                    updated_since = Some(text);
                    // `updated_or_created_since` is inclusive and whole seconds: keep the
                    // condition client-side when Sage's answer can be wider than it.
                    if exclusive || !exact {
                        residual.push(rename_alias(condition));
                    }
                }
                Term::Filter {
                    name,
                    value,
                    client_side,
                } => {
                    add_filter(&mut filters, resource, condition, name, value)?;
                    if client_side {
                        residual.push(condition.clone());
                    }
                }
                Term::Since { .. } | Term::Residual => residual.push(rename_alias(condition)),
            }
        }
        let residual = match residual.len() {
            0 => None,
            1 => residual.pop(),
            _ => {
                let span = Span::new(
                    residual.first().map_or(0, |e| e.span().start),
                    residual.last().map_or(0, |e| e.span().end),
                );
                Some(Expr::And {
                    args: residual,
                    span,
                })
            }
        };
        if let Some(expr) = &residual {
            check_residual(expr)?;
        }
        let attributes = attributes(user_attributes, date_fields, residual.as_ref());
        Ok(Translation {
            resource,
            filters,
            updated_since,
            attributes,
            residual,
        })
    }

    /// Adds parameters from the hub URL's own query (after the clause's).
    pub(crate) fn add_url_params(&mut self, params: Vec<(String, String)>) -> Result<()> {
        for (name, value) in params {
            if RESERVED.contains(&name.as_str()) || name == "attributes" {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "the hub URL parameter `{name}` is set by pollen: use the where clause \
                         (lastModifiedDate >= …, attributes='…') and pageSize instead"
                    ),
                ));
            }
            self.filters.push((name, value));
        }
        Ok(())
    }

    /// Every query parameter of a change query, in order (paging excluded).
    pub fn params(&self) -> Vec<(&str, &str)> {
        let mut params: Vec<(&str, &str)> = self
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(since) = &self.updated_since {
            params.push(("updated_or_created_since", since));
        }
        if let Some(attributes) = &self.attributes {
            params.push(("attributes", attributes));
        }
        params
    }

    /// [`Translation::params`] encoded as a URL query.
    pub fn query(&self) -> String {
        encode_query(self.params())
    }
}

impl Serialize for Translation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Translation", 7)?;
        s.serialize_field("resource", self.resource.name)?;
        s.serialize_field("path", self.resource.path)?;
        s.serialize_field("params", &self.params())?;
        s.serialize_field("query", &self.query())?;
        s.serialize_field("residual", &self.residual.as_ref().map(ToString::to_string))?;
        s.serialize_field("residual_ast", &self.residual)?;
        s.serialize_field("deleted_since", &self.resource.deleted_since)?;
        s.end()
    }
}

/// Translates a CEQL where clause for a hub resource, as `pollen where translate --resource R
/// CEQL` prints it. The clause is parsed leniently (like a poller URL's); `${…}` placeholders
/// stay as their text. No date fields are configured here, so `attributes` is the clause's
/// list plus the fields the residual reads.
pub fn translate(resource: &str, clause: &str) -> Result<Translation> {
    let resource = HubResource::named(resource)?;
    let clause = clause.trim();
    if clause.is_empty() {
        return Translation::new(resource, None, &[]);
    }
    let parsed = Where::parse(clause, Mode::Lenient)
        .map_err(|e| Error::new(ErrorKind::InvalidRequest, format!("where clause: {e}")))?;
    Translation::new(resource, Some(&parsed.expr), &[])
}

/// How one top-level condition is handled.
enum Term<'a> {
    Attributes(Vec<String>),
    Since {
        value: &'a Value,
        exclusive: bool,
    },
    Filter {
        name: &'a str,
        value: String,
        client_side: bool,
    },
    Residual,
}

fn flatten_and<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::And { args, .. } => args.iter().for_each(|arg| flatten_and(arg, out)),
        other => out.push(other),
    }
}

fn single_name(field: &Field) -> Option<&str> {
    match field.path.as_slice() {
        [name] => Some(name.as_str()),
        _ => None,
    }
}

fn is_last_modified(name: &str) -> bool {
    name.eq_ignore_ascii_case("lastModifiedDate")
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Placeholder(p) => p.text.clone(),
    }
}

fn classify(condition: &Expr) -> Result<Term<'_>> {
    let Expr::Compare {
        field, op, value, ..
    } = condition
    else {
        return Ok(Term::Residual);
    };
    let Some(name) = single_name(field) else {
        return Ok(Term::Residual);
    };
    if name == "attributes" {
        return match (op, value) {
            (CompareOp::Eq, Value::String(_) | Value::Placeholder(_)) => Ok(Term::Attributes(
                value_text(value)
                    .split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
            )),
            _ => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "`{condition}`: attributes takes a quoted comma list, as in attributes='created_at,updated_at'"
                ),
            )),
        };
    }
    if is_last_modified(name) || name == UPDATED_AT {
        return Ok(match op {
            CompareOp::Ge | CompareOp::Gt if !matches!(value, Value::Bool(_)) => Term::Since {
                value,
                exclusive: *op == CompareOp::Gt,
            },
            _ => Term::Residual,
        });
    }
    if *op != CompareOp::Eq || RECORD_ONLY.contains(&name) {
        return Ok(Term::Residual);
    }
    if RESERVED.contains(&name) {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            format!(
                "`{condition}`: {name} is set by pollen (use lastModifiedDate >= … and pageSize)"
            ),
        ));
    }
    Ok(Term::Filter {
        name,
        value: value_text(value),
        client_side: !SAGE_FILTERS.contains(&name),
    })
}

fn add_filter(
    filters: &mut Vec<(String, String)>,
    resource: &HubResource,
    condition: &Expr,
    name: &str,
    value: String,
) -> Result<()> {
    match filters.iter().find(|(k, _)| k == name) {
        None => {
            filters.push((name.to_owned(), value));
            Ok(())
        }
        Some((_, existing)) if *existing == value => Ok(()),
        Some((_, existing)) => {
            let why = if resource.fixed.iter().any(|(k, _)| *k == name) {
                format!("resource {} always sends {name}={existing}", resource.name)
            } else {
                format!("an earlier condition already asks for {name}={existing}")
            };
            Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("`{condition}` cannot be sent to Sage: {why}"),
            ))
        }
    }
}

/// The `updated_or_created_since` value of a `>=`/`>` literal, and whether it is exact.
fn since_value(condition: &Expr, value: &Value) -> Result<(String, bool)> {
    let text = match value {
        Value::Placeholder(p) => return Ok((p.text.clone(), true)),
        Value::String(s) => s.as_str(),
        Value::Number(_) | Value::Bool(_) => {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                "`{condition}` (byte {} of the where clause): expected a quoted date or date-time",
                condition.span().start
            ),
            ))
        }
    };
    let instant = parse_instant(text).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!(
                "`{condition}` (byte {} of the where clause): '{text}' is not a date \
                 (yyyy-MM-dd) or an ISO 8601 date-time",
                condition.span().start
            ),
        )
    })?;
    let exact = instant.nanosecond() == 0;
    let whole = instant.with_nanosecond(0).unwrap_or(instant);
    Ok((whole.to_rfc3339_opts(SecondsFormat::Secs, true), exact))
}

/// A date (`2017-05-05`, midnight UTC), an RFC 3339 date-time, or an ISO date-time with a
/// `+hhmm` offset or none (UTC) — what the CEQL evaluator reads as an instant.
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|t| t.and_utc())
}

/// A copy of `expr` with `lastModifiedDate` read as Sage's `updated_at`.
fn rename_alias(expr: &Expr) -> Expr {
    let field = |f: &Field| match f.path.as_slice() {
        [name] if is_last_modified(name) => Field {
            path: vec![UPDATED_AT.to_owned()],
            span: f.span,
        },
        _ => f.clone(),
    };
    let all = |args: &[Expr]| args.iter().map(rename_alias).collect();
    match expr {
        Expr::And { args, span } => Expr::And {
            args: all(args),
            span: *span,
        },
        Expr::Or { args, span } => Expr::Or {
            args: all(args),
            span: *span,
        },
        Expr::Not { arg, span } => Expr::Not {
            arg: Box::new(rename_alias(arg)),
            span: *span,
        },
        Expr::Compare {
            field: f,
            op,
            value,
            span,
        } => Expr::Compare {
            field: field(f),
            op: *op,
            value: value.clone(),
            span: *span,
        },
        Expr::Like {
            field: f,
            negated,
            pattern,
            span,
        } => Expr::Like {
            field: field(f),
            negated: *negated,
            pattern: pattern.clone(),
            span: *span,
        },
        Expr::In {
            field: f,
            negated,
            values,
            span,
        } => Expr::In {
            field: field(f),
            negated: *negated,
            values: values.clone(),
            span: *span,
        },
        Expr::IsNull {
            field: f,
            negated,
            span,
        } => Expr::IsNull {
            field: field(f),
            negated: *negated,
            span: *span,
        },
    }
}

/// Every field the clause reads, in source order.
fn fields<'a>(expr: &'a Expr, out: &mut Vec<&'a Field>) {
    match expr {
        Expr::And { args, .. } | Expr::Or { args, .. } => {
            args.iter().for_each(|arg| fields(arg, out));
        }
        Expr::Not { arg, .. } => fields(arg, out),
        Expr::Compare { field, .. }
        | Expr::Like { field, .. }
        | Expr::In { field, .. }
        | Expr::IsNull { field, .. } => out.push(field),
    }
}

/// A residual condition on a query parameter can never match a record: refuse it.
fn check_residual(expr: &Expr) -> Result<()> {
    let mut found = Vec::new();
    fields(expr, &mut found);
    for field in found {
        let Some(name) = single_name(field) else {
            continue;
        };
        if name == "attributes" || SAGE_FILTERS.contains(&name) || RESERVED.contains(&name) {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "`{name}` (byte {} of the where clause) is a Sage query parameter, not a \
                     record field: use it only as name = 'value' joined to the rest with AND",
                    field.span.start
                ),
            ));
        }
    }
    Ok(())
}

/// The `attributes` parameter: the clause's list, then the date fields, then the top-level
/// fields the residual reads; `None` when nothing beyond Sage's default is needed.
fn attributes(
    user: Option<Vec<String>>,
    date_fields: &[String],
    residual: Option<&Expr>,
) -> Option<String> {
    let mut list: Vec<String> = user.unwrap_or_default();
    if list.iter().any(|a| a == "all") {
        return Some("all".to_owned());
    }
    let mut extra: Vec<String> = date_fields
        .iter()
        .map(|f| f.split('.').next().unwrap_or(f).to_owned())
        .collect();
    if let Some(expr) = residual {
        let mut found = Vec::new();
        fields(expr, &mut found);
        extra.extend(found.iter().filter_map(|f| f.path.first().cloned()));
    }
    for name in extra {
        if !BASE_ATTRIBUTES.contains(&name.as_str()) && !list.contains(&name) {
            list.push(name);
        }
    }
    let mut seen = Vec::with_capacity(list.len());
    list.retain(|a| {
        let fresh = !seen.contains(a);
        seen.push(a.clone());
        fresh
    });
    (!list.is_empty()).then(|| list.join(","))
}

/// A hub request as the core hands it over: `/hubs/finance/customers?where=…&pageSize=50`,
/// templates already expanded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HubRequest {
    pub(crate) resource: &'static HubResource,
    /// The `where=` value, decoded when it was percent-encoded.
    pub(crate) where_clause: Option<String>,
    /// `pageSize` from the URL.
    pub(crate) page_size: Option<u32>,
    /// Other parameters, passed to Sage as they are.
    pub(crate) params: Vec<(String, String)>,
}

/// Open Connectors paging parameters that mean nothing to Sage's API.
const HUB_PAGING: &[&str] = &["nextPage", "page", "returnCount", "orderBy"];

impl HubRequest {
    pub(crate) fn parse(text: &str) -> Result<HubRequest> {
        let (path, query) = text.split_once('?').unwrap_or((text, ""));
        let resource = HubResource::for_path(path)?;
        let mut request = HubRequest {
            resource,
            where_clause: None,
            page_size: None,
            params: Vec::new(),
        };
        let bytes = query.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let is_where = query[start..].starts_with("where=");
            let mut end = start;
            let mut quoted = false;
            while end < bytes.len() {
                match bytes[end] {
                    // Inside a where clause, `&` in a quoted literal is part of it.
                    b'\'' if is_where => quoted = !quoted,
                    b'&' if !quoted => break,
                    _ => {}
                }
                end += 1;
            }
            let part = &query[start..end];
            start = end + 1;
            if part.is_empty() {
                continue;
            }
            if let Some(clause) = part.strip_prefix("where=") {
                if request.where_clause.is_some() {
                    return Err(Error::new(
                        ErrorKind::InvalidRequest,
                        format!("`{text}` has more than one where parameter"),
                    ));
                }
                request.where_clause = Some(decode_where(clause));
                continue;
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = form_decode(name);
            let value = form_decode(value);
            if name == "pageSize" {
                let size = value.trim().parse::<u32>().ok().filter(|n| *n > 0);
                request.page_size = Some(size.ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidRequest,
                        format!("pageSize must be a whole number of at least 1, found `{value}`"),
                    )
                })?);
            } else if !HUB_PAGING.contains(&name.as_str()) {
                request.params.push((name, value));
            }
        }
        Ok(request)
    }
}

/// `+` as space and `%XX` decoded (invalid escapes kept as written).
fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// A where value written percent-encoded (no raw quote but `%27`) is decoded; any other is
/// taken as written, as `pollen-config` reads it.
fn decode_where(raw: &str) -> String {
    if !raw.contains('\'') && raw.contains("%27") {
        form_decode(raw)
    } else {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_requests_split_around_quoted_ampersands() {
        let r = HubRequest::parse(
            "/hubs/finance/customers?pageSize=50&where=name='A&B' and lastModifiedDate>='2026-01-01'&search=x%20y",
        )
        .unwrap();
        assert_eq!(r.resource.name, "customers");
        assert_eq!(
            r.where_clause.as_deref(),
            Some("name='A&B' and lastModifiedDate>='2026-01-01'")
        );
        assert_eq!(r.page_size, Some(50));
        assert_eq!(r.params, vec![("search".to_owned(), "x y".to_owned())]);
    }

    #[test]
    fn encoded_where_values_are_decoded() {
        let r = HubRequest::parse("/hubs/finance/vendors?where=name%3D%27A%2BB%27").unwrap();
        assert_eq!(r.where_clause.as_deref(), Some("name='A+B'"));
    }

    #[test]
    fn the_documented_example() {
        let t = translate(
            "customers",
            "lastModifiedDate >= '2026-11-27T10:00:00Z' AND attributes='name' AND name LIKE 'A%'",
        )
        .unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json["residual_ast"],
            serde_json::json!({"op": "LIKE", "field": "name", "value": "A%", "span": {"start": 69, "end": 83}})
        );
        assert_eq!(json["deleted_since"], true);
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query([("search", "a b&c+d'"), ("attributes", "x,y")]),
            "search=a%20b%26c%2Bd%27&attributes=x,y"
        );
    }

    #[test]
    fn instants_read_like_the_evaluator() {
        let at = |s| parse_instant(s).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
        assert_eq!(
            at("2017-05-05").as_deref(),
            Some("2017-05-05T00:00:00.000Z")
        );
        assert_eq!(
            at("2017-05-05T10:00:00+02:00").as_deref(),
            Some("2017-05-05T08:00:00.000Z")
        );
        assert_eq!(
            at("2017-05-05T10:00:00.250").as_deref(),
            Some("2017-05-05T10:00:00.250Z")
        );
        assert_eq!(at("yesterday"), None);
    }
}
