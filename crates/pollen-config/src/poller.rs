//! `event.poller.configuration` (object or JSON string), its resources and their URLs, the
//! legacy `event.poller.urls`, and `event.notification.callback.headers`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::load::{json_error_message, read_section_default, MAX_SECONDS};
use crate::model::{
    DateField, DateFormatSetting, DatesConfiguration, FieldPath, PollUrl, Resource, ZoneSetting,
};
use crate::problem::{Problem, ProblemKind, Severity};
use crate::schema::Section;
use crate::walk::{child, describe, quote, Ctx};
use pollen_template::{DateFormat, Mode, Template, Where, Zone};

const POLLER: &str = "/configuration/event.poller.configuration";
const LEGACY: &str = "/configuration/event.poller.urls";
const HEADERS: &str = "/configuration/event.notification.callback.headers";

/// Sage returns at most this many records per page.
const MAX_PAGE_SIZE: u64 = 200;

/// `value` if `want` takes it, else the JSON a string holds if `want` takes that (the vendor
/// stores structured values as strings); `what` names the wanted type in the error.
fn decoded<T>(
    ctx: &mut Ctx,
    value: &Value,
    at: &str,
    what: &str,
    want: impl Fn(Value) -> Result<T, Value>,
) -> Option<T> {
    let value = match want(value.clone()) {
        Ok(found) => return Some(found),
        Err(value) => value,
    };
    let Value::String(text) = &value else {
        ctx.error(
            ProblemKind::WrongType,
            at,
            format!(
                "expected {what} or a JSON-encoded string, found {}",
                describe(&value)
            ),
        );
        return None;
    };
    match serde_json::from_str::<Value>(text) {
        Ok(inner) => match want(inner) {
            Ok(found) => Some(found),
            Err(other) => {
                ctx.error(
                    ProblemKind::WrongType,
                    at,
                    format!(
                        "expected {what} or a string holding one, found a string holding {}",
                        describe(&other)
                    ),
                );
                None
            }
        },
        Err(err) => {
            ctx.error(
                ProblemKind::WrongType,
                at,
                format!(
                    "expected {what} or a string holding one in JSON, but the string is \
                     not valid JSON: {} at line {}, column {}",
                    json_error_message(&err),
                    err.line(),
                    err.column()
                ),
            );
            None
        }
    }
}

/// An array, or a string holding one in JSON.
pub(crate) fn encoded_array(ctx: &mut Ctx, value: &Value, at: &str) -> Option<Vec<Value>> {
    decoded(ctx, value, at, "an array", |v| match v {
        Value::Array(items) => Ok(items),
        other => Err(other),
    })
}

/// An object, or a string holding one encoded as JSON (as the vendor returns it).
fn object_or_encoded(ctx: &mut Ctx, value: &Value, at: &str) -> Option<Map<String, Value>> {
    decoded(ctx, value, at, "an object", |v| match v {
        Value::Object(map) => Ok(map),
        other => Err(other),
    })
}

/// `event.notification.callback.headers`, sorted by name.
pub(crate) fn read_headers(
    ctx: &mut Ctx,
    configuration: &Map<String, Value>,
) -> Option<Vec<(String, String)>> {
    let Some(value) = Ctx::present(configuration, "event.notification.callback.headers") else {
        return Some(Vec::new());
    };
    let map = object_or_encoded(ctx, value, HEADERS)?;
    let mut headers = Vec::new();
    let mut ok = true;
    for (name, value) in &map {
        let at = child(HEADERS, name);
        let is_token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            ctx.error(
                ProblemKind::InvalidValue,
                &at,
                format!("{} is not a valid HTTP header name", quote(name)),
            );
            ok = false;
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                ctx.error(
                    ProblemKind::WrongType,
                    &at,
                    format!(
                        "expected a header value as a string, found {}",
                        describe(other)
                    ),
                );
                ok = false;
                continue;
            }
        };
        if text.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
            ctx.error(
                ProblemKind::InvalidValue,
                &at,
                "a header value must not contain line breaks or NUL",
            );
            ok = false;
            continue;
        }
        headers.push((name.clone(), text));
    }
    ok.then_some(headers)
}

/// The resources of `event.poller.configuration`, or of the legacy `event.poller.urls`.
pub(crate) fn read_resources(
    ctx: &mut Ctx,
    configuration: &Map<String, Value>,
    zone: &Zone,
) -> Option<BTreeMap<String, Resource>> {
    let legacy = Ctx::present(configuration, "event.poller.urls");
    let Some(value) = Ctx::present(configuration, "event.poller.configuration") else {
        return match legacy {
            Some(value) => read_legacy(ctx, value, zone),
            None => Some(BTreeMap::new()),
        };
    };
    if legacy.is_some() {
        ctx.warning(
            ProblemKind::Inconsistent,
            LEGACY,
            "ignored: event.poller.configuration is set too, and replaces this legacy form",
        );
    }
    let map = object_or_encoded(ctx, value, POLLER)?;
    let mut resources = BTreeMap::new();
    let mut ok = true;
    for (name, value) in &map {
        match read_resource(ctx, name, value, &child(POLLER, name), zone) {
            Some(resource) => {
                resources.insert(name.clone(), resource);
            }
            None => ok = false,
        }
    }
    ok.then_some(resources)
}

fn read_resource(
    ctx: &mut Ctx,
    name: &str,
    value: &Value,
    at: &str,
    zone: &Zone,
) -> Option<Resource> {
    if name.trim().is_empty() {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            "a resource name must not be empty",
        );
        return None;
    }
    let map = ctx.object(value, at)?;
    let extra = ctx.unknown_keys(map, at, Section::Resource, &[]);
    let url = ctx
        .required(map, at, "url", None)
        .and_then(|v| read_url(ctx, v, &child(at, "url"), zone));
    let id_field = read_section_default(ctx, map, at, Section::Resource, "idField", field_path);
    let dates = read_dates(ctx, map, at);
    let filter_by_updated_date = read_section_default(
        ctx,
        map,
        at,
        Section::Resource,
        "filterByUpdatedDate",
        |c, v, p| c.boolean(v, p),
    );
    let filter_by_current_date = read_section_default(
        ctx,
        map,
        at,
        Section::Resource,
        "filterByCurrentDate",
        |c, v, p| c.boolean(v, p),
    );
    let created_check_tolerance = read_section_default(
        ctx,
        map,
        at,
        Section::Resource,
        "createdCheckTolerance",
        seconds,
    );
    let poll_delay = read_section_default(ctx, map, at, Section::Resource, "pollDelay", seconds);
    let page_size =
        Ctx::present(map, "pageSize").map(|v| page_size(ctx, v, &child(at, "pageSize")));

    if let (Some(url), Some(dates)) = (&url, &dates) {
        let where_has_template = url
            .where_clause()
            .is_some_and(|clause| !clause.expr.placeholders().is_empty());
        if where_has_template && dates.updated.field.is_none() {
            ctx.warning(
                ProblemKind::Inconsistent,
                &child(&child(at, "datesConfiguration"), "updatedDateField"),
                "the where clause filters on the poll date but no updatedDateField is set: \
                 records cannot be filtered or classified by date, every one is UPDATED",
            );
        }
    }

    Some(Resource {
        name: name.to_owned(),
        url: url?,
        id_field: id_field?,
        dates: dates?,
        filter_by_updated_date: filter_by_updated_date?,
        filter_by_current_date: filter_by_current_date?,
        created_check_tolerance: created_check_tolerance?,
        page_size: settled(page_size)?,
        poll_delay: poll_delay?,
        extra,
    })
}

/// An optional value that was read: `None` when it was given but did not read (the problem is
/// recorded), otherwise whether it was given.
fn settled<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(None) => None,
        Some(Some(value)) => Some(Some(value)),
    }
}

fn field_path(ctx: &mut Ctx, value: &Value, at: &str) -> Option<FieldPath> {
    let text = ctx.string(value, at, "a dotted field path")?;
    match FieldPath::parse(&text) {
        Ok(path) => Some(path),
        Err(message) => {
            ctx.error(ProblemKind::InvalidValue, at, message);
            None
        }
    }
}

fn seconds(ctx: &mut Ctx, value: &Value, at: &str) -> Option<Duration> {
    let seconds = ctx.number(value, at, "a number of seconds")?;
    if !(0.0..=MAX_SECONDS).contains(&seconds) {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!(
                "expected between 0 and {MAX_SECONDS} seconds, found {}",
                crate::walk::number(seconds)
            ),
        );
        return None;
    }
    Some(Duration::from_secs_f64(seconds))
}

fn page_size(ctx: &mut Ctx, value: &Value, at: &str) -> Option<u32> {
    let number = ctx.number(value, at, "a number of records")?;
    if number.fract() != 0.0 || number < 1.0 {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!(
                "expected a whole number of records, at least 1, found {}",
                crate::walk::number(number)
            ),
        );
        return None;
    }
    if number > MAX_PAGE_SIZE as f64 {
        ctx.warning(
            ProblemKind::InvalidValue,
            at,
            format!("Sage returns at most {MAX_PAGE_SIZE} records per page, so {} means {MAX_PAGE_SIZE}", crate::walk::number(number)),
        );
        return Some(MAX_PAGE_SIZE as u32);
    }
    Some(number as u32)
}

/// A time zone id.
pub(crate) fn zone(ctx: &mut Ctx, value: &Value, at: &str) -> Option<ZoneSetting> {
    let text = ctx.string(value, at, "a time zone id")?;
    match Zone::parse(text.trim()) {
        Ok(zone) => Some(ZoneSetting::new(text, zone)),
        Err(err) => {
            ctx.push(Problem::new(
                Severity::Error,
                ProblemKind::DateFormat,
                at,
                err.message(),
            ));
            None
        }
    }
}

/// A Java date pattern, `milliseconds` or `seconds`.
fn date_format(ctx: &mut Ctx, value: &Value, at: &str) -> Option<DateFormatSetting> {
    let text = ctx.string(value, at, "a Java date pattern, milliseconds or seconds")?;
    match DateFormat::compile(&text) {
        Ok(format) => Some(DateFormatSetting::new(text, format)),
        Err(err) => {
            ctx.push(located(
                Severity::Error,
                ProblemKind::DateFormat,
                at,
                &err,
                &text,
                err.offset(),
            ));
            None
        }
    }
}

/// A problem about a compiled string (pattern, template, where clause): the message, then the
/// string with a caret at `offset` (a byte offset into `text`) and the hint, if any.
pub(crate) fn located(
    severity: Severity,
    kind: ProblemKind,
    at: &str,
    err: &pollen_template::Error,
    text: &str,
    offset: usize,
) -> Problem {
    let mut excerpt = caret_excerpt(text, offset);
    if let Some(hint) = err.hint() {
        excerpt.push_str("\n  hint: ");
        excerpt.push_str(hint);
    }
    Problem::new(severity, kind, at, err.message()).with_excerpt(excerpt)
}

fn read_dates(
    ctx: &mut Ctx,
    resource: &Map<String, Value>,
    resource_at: &str,
) -> Option<DatesConfiguration> {
    let at = child(resource_at, "datesConfiguration");
    let empty = Map::new();
    let map = match Ctx::present(resource, "datesConfiguration") {
        Some(value) => ctx.object(value, &at)?,
        None => &empty,
    };
    let extra = ctx.unknown_keys(map, &at, Section::Dates, &[]);
    let optional = |key: &str| Ctx::present(map, key).map(|v| (v, child(&at, key)));

    let updated_field = optional("updatedDateField").map(|(v, p)| field_path(ctx, v, &p));
    let updated_format = optional("updatedDateFormat").map(|(v, p)| date_format(ctx, v, &p));
    // The zone may sit in datesConfiguration or, as in one vendor example, on the resource.
    let outer_zone = Ctx::present(resource, "updatedDateTimezone");
    let updated_zone = match (Ctx::present(map, "updatedDateTimezone"), outer_zone) {
        (Some(inner), Some(outer)) => {
            if inner != outer {
                ctx.warning(
                    ProblemKind::Inconsistent,
                    &child(resource_at, "updatedDateTimezone"),
                    "ignored: datesConfiguration.updatedDateTimezone is set too, and wins",
                );
            }
            zone(ctx, inner, &child(&at, "updatedDateTimezone"))
        }
        (None, Some(outer)) => zone(ctx, outer, &child(resource_at, "updatedDateTimezone")),
        _ => read_section_default(ctx, map, &at, Section::Dates, "updatedDateTimezone", zone),
    };
    let created_field = optional("createdDateField").map(|(v, p)| field_path(ctx, v, &p));
    let created_format = optional("createdDateFormat").map(|(v, p)| date_format(ctx, v, &p));
    let created_zone = optional("createdDateTimezone").map(|(v, p)| zone(ctx, v, &p));

    let updated_format = settled(updated_format)?;
    let updated_zone = updated_zone?;
    let created_format = match created_format {
        Some(format) => Some(format?),
        None => updated_format.clone(),
    };
    let created_zone = match created_zone {
        Some(zone) => zone?,
        None => updated_zone.clone(),
    };
    Some(DatesConfiguration {
        updated: DateField {
            field: settled(updated_field)?,
            format: updated_format,
            timezone: updated_zone,
        },
        created: DateField {
            field: settled(created_field)?,
            format: created_format,
            timezone: created_zone,
        },
        extra,
    })
}

/// The byte ranges of a poll URL: where the path ends, and the `where=` value if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts {
    pub(crate) path_end: usize,
    pub(crate) where_range: Option<Range<usize>>,
    /// The where value ends inside a quote: the byte offset of that opening quote.
    pub(crate) unterminated_quote: Option<usize>,
    /// More than one `where=` parameter: the byte offset of the second.
    pub(crate) second_where: Option<usize>,
}

/// The end of a `${...}` starting at `start` (the byte after `}`), or the end of the text.
fn skip_placeholder(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'}')
        .map_or(bytes.len(), |i| start + i + 1)
}

/// Splits a poll URL. The `where` value is not percent-encoded and holds quotes, spaces, `&` in
/// literals and `${...}` templates whose Java patterns have quotes of their own: it runs up to the
/// first `&` outside a quoted literal and outside a template, or to the end.
pub(crate) fn split_url(url: &str) -> UrlParts {
    let bytes = url.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] != b'?' {
        i = if bytes[i..].starts_with(b"${") {
            skip_placeholder(bytes, i)
        } else {
            i + 1
        };
    }
    let mut parts = UrlParts {
        path_end: i.min(bytes.len()),
        where_range: None,
        unterminated_quote: None,
        second_where: None,
    };
    // Each parameter starts after `?` or a separating `&`.
    let mut start = i + 1;
    while start <= bytes.len() {
        if bytes[start..].starts_with(b"where=") {
            let value_start = start + "where=".len();
            let mut j = value_start;
            let mut quoted: Option<usize> = None;
            while j < bytes.len() {
                match bytes[j] {
                    b'$' if bytes[j..].starts_with(b"${") => {
                        j = skip_placeholder(bytes, j);
                        continue;
                    }
                    b'\'' => quoted = if quoted.is_some() { None } else { Some(j) },
                    b'&' if quoted.is_none() => break,
                    _ => {}
                }
                j += 1;
            }
            if parts.where_range.is_none() {
                parts.where_range = Some(value_start..j);
                parts.unterminated_quote = quoted;
            } else if parts.second_where.is_none() {
                parts.second_where = Some(start);
            }
            start = j + 1;
        } else {
            let mut j = start;
            while j < bytes.len() && bytes[j] != b'&' {
                j = if bytes[j..].starts_with(b"${") {
                    skip_placeholder(bytes, j)
                } else {
                    j + 1
                };
            }
            start = j + 1;
        }
    }
    parts
}

/// The line of `text` holding byte `offset`, with a caret under it (as `pollen-template` shows):
/// a line longer than 240 bytes is cut to 100 characters on each side of the caret, `...`
/// marking the cuts, so that a problem about a 10 MB value is not itself 10 MB.
pub(crate) fn caret_excerpt(text: &str, offset: usize) -> String {
    const WHOLE_LINE: usize = 240;
    const CONTEXT: usize = 100;
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let (from, to) = if line_end - line_start > WHOLE_LINE {
        let from = text[line_start..at]
            .char_indices()
            .rev()
            .nth(CONTEXT - 1)
            .map_or(line_start, |(i, _)| line_start + i);
        let to = text[at..line_end]
            .char_indices()
            .nth(CONTEXT)
            .map_or(line_end, |(i, _)| at + i);
        (from, to)
    } else {
        (line_start, line_end)
    };
    let head = if from > line_start { "..." } else { "" };
    let tail = if to < line_end { "..." } else { "" };
    let pad: String = head
        .chars()
        .chain(text[from..at].chars())
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("  {head}{}{tail}\n  {pad}^", &text[from..to])
}

fn read_url(ctx: &mut Ctx, value: &Value, at: &str, zone: &Zone) -> Option<PollUrl> {
    let text = ctx.string(value, at, "a hub URL")?;
    if !text.starts_with('/') {
        ctx.push(
            Problem::new(
                Severity::Error,
                ProblemKind::Template,
                at,
                "expected a hub path starting with /, such as /hubs/finance/customers",
            )
            .with_excerpt(caret_excerpt(&text, 0)),
        );
        return None;
    }
    let template = Template::compile_in(&text, zone.clone());
    if let Err(err) = &template {
        ctx.push(located(
            Severity::Error,
            ProblemKind::Template,
            at,
            err,
            &text,
            err.offset(),
        ));
    }
    literal_z_check(ctx, at, &text, zone);
    let parts = split_url(&text);
    if let Some(known) = &ctx.hub_resources {
        if let Some(problem) = unknown_resource(known, at, &text, parts.path_end) {
            ctx.push(problem);
            return None;
        }
    }
    if ctx.v3 {
        if let Some(problem) = v31_only_resource(&ctx.v31_only, at, &text, parts.path_end) {
            ctx.push(problem);
            return None;
        }
    }
    if let Some(second) = parts.second_where {
        ctx.push(
            Problem::new(
                Severity::Error,
                ProblemKind::Where,
                at,
                "more than one where parameter: combine the conditions with and",
            )
            .with_excerpt(caret_excerpt(&text, second)),
        );
        return None;
    }
    let where_clause = match &parts.where_range {
        None => None,
        Some(range) => {
            let mut scratch = Ctx::default();
            let parsed = parse_where(&mut scratch, at, &text, range.clone());
            // An unclosed `${` is reported once, by the template.
            let template_offset = template.as_ref().err().map(|err| err.offset());
            let seen = template_offset.map(|offset| caret_excerpt(&text, offset));
            for problem in scratch.problems {
                let duplicate = problem.is_error()
                    && seen
                        .as_deref()
                        .is_some_and(|s| problem.excerpt().is_some_and(|e| e.starts_with(s)));
                if !duplicate {
                    ctx.push(problem);
                }
            }
            Some(parsed?)
        }
    };
    Some(PollUrl::new(
        template.ok()?,
        parts.path_end,
        parts.where_range,
        where_clause,
    ))
}

/// An error when the hub path `text[..path_end]` (`/hubs/HUB/RESOURCE`, or `/RESOURCE`) names a
/// resource not in `known`, with the closest known names; `None` when it is known, or when the
/// path holds a template (checked when it expands).
fn unknown_resource(known: &[String], at: &str, text: &str, path_end: usize) -> Option<Problem> {
    let path = text[..path_end].trim_end_matches('/');
    if path.contains("${") {
        return None;
    }
    let segments: Vec<&str> = path.split('/').collect();
    let name = match segments.as_slice() {
        ["", "hubs", _, name] | ["", name] if !name.is_empty() => *name,
        _ => {
            return Some(
                Problem::new(
                    Severity::Error,
                    ProblemKind::UnknownResource,
                    at,
                    format!(
                        "the hub path `{path}` is not of the form /hubs/HUB/RESOURCE (such as \
                         /hubs/finance/customers)"
                    ),
                )
                .with_excerpt(caret_excerpt(text, 0)),
            )
        }
    };
    if known.iter().any(|k| k == name) {
        return None;
    }
    let offset = path.len() - name.len();
    let close = closest(known, name);
    let message = if close.is_empty() {
        let mut all: Vec<&str> = known.iter().map(String::as_str).collect();
        all.sort_unstable();
        format!(
            "unknown hub resource `{name}`: the element serves {}",
            all.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let names: Vec<String> = close.iter().map(|k| format!("`{k}`")).collect();
        format!(
            "unknown hub resource `{name}`: did you mean {}?",
            match names.as_slice() {
                [one] => one.clone(),
                [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
                [] => String::new(),
            }
        )
    };
    Some(
        Problem::new(Severity::Error, ProblemKind::UnknownResource, at, message)
            .with_excerpt(caret_excerpt(text, offset)),
    )
}

/// An error when the hub path `text[..path_end]` names a resource of `v31_only` (the instance
/// uses v3, which does not serve it).
fn v31_only_resource(
    v31_only: &[String],
    at: &str,
    text: &str,
    path_end: usize,
) -> Option<Problem> {
    let path = text[..path_end].trim_end_matches('/');
    let name = path.rsplit('/').next()?;
    if path.contains("${") || !v31_only.iter().any(|k| k == name) {
        return None;
    }
    Some(
        Problem::new(
            Severity::Error,
            ProblemKind::UnknownResource,
            at,
            format!(
                "hub resource `{name}` is served by Sage's v3.1 API only, and sage.api.version \
                 is v3"
            ),
        )
        .with_excerpt(caret_excerpt(text, path.len() - name.len())),
    )
}

/// The known names within a few edits of `name` (a third of its length, at least two), the
/// closest first, at most three.
fn closest<'a>(known: &'a [String], name: &str) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| {
            (
                edit_distance(&name.to_lowercase(), &k.to_lowercase()),
                k.as_str(),
            )
        })
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort_unstable();
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

/// Levenshtein distance with adjacent transpositions counted as one edit (`cusotmers` is one
/// edit from `customers`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Warns about `${date:...'Z'}` when the poller's zone is not UTC: the literal `Z` claims UTC,
/// but the date is written in that zone.
fn literal_z_check(ctx: &mut Ctx, at: &str, url: &str, zone: &Zone) {
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    if zone.is_fixed() && zone.offset_at(epoch).local_minus_utc() == 0 {
        return;
    }
    let bytes = url.as_bytes();
    let mut from = 0;
    while let Some(found) = url[from..].find("${date:") {
        let start = from + found;
        let end = skip_placeholder(bytes, start);
        if url[start..end].contains("'Z'") {
            ctx.push(
                Problem::new(
                    Severity::Warning,
                    ProblemKind::Template,
                    at,
                    format!(
                        "this date is written in event.poller.timezone ({}) but its pattern holds \
                         a literal 'Z' that claims UTC: use ${{gmtDate:...}}, or XXX instead of 'Z'",
                        zone.id()
                    ),
                )
                .with_excerpt(caret_excerpt(url, start)),
            );
        }
        from = end;
    }
}

/// Parses the `where=` value of `url` (at `range`) leniently; warnings and errors point into
/// the URL. A value written percent-encoded (no raw quote, but `%27`) is decoded first.
fn parse_where(ctx: &mut Ctx, at: &str, url: &str, range: Range<usize>) -> Option<Where> {
    let raw = &url[range.clone()];
    let (clause, origin) = match percent_decoded(raw) {
        Some((decoded, origin)) => (decoded, origin),
        None => (raw.to_owned(), (0..=raw.len()).collect()),
    };
    // Byte offset in the clause -> byte offset in the URL.
    let in_url = |offset: usize| range.start + origin[offset.min(origin.len() - 1)];
    match Where::parse(&clause, Mode::Lenient) {
        Ok(parsed) => {
            for warning in &parsed.warnings {
                ctx.push(
                    Problem::new(Severity::Warning, ProblemKind::Where, at, warning.message())
                        .with_excerpt(caret_excerpt(url, in_url(warning.span().start))),
                );
            }
            Some(parsed)
        }
        Err(err) => {
            ctx.push(located(
                Severity::Error,
                ProblemKind::Where,
                at,
                &err,
                url,
                in_url(err.offset()),
            ));
            None
        }
    }
}

/// `text` percent-decoded when it is evidently encoded (outside `${...}`, no raw `'` but `%27`),
/// with, for each byte of the result and one past its end, the offset of its origin in `text`.
/// `${...}` templates are copied verbatim: their date patterns hold quotes of their own.
fn percent_decoded(text: &str) -> Option<(String, Vec<usize>)> {
    let bytes = text.as_bytes();
    let mut outside = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"${") {
            i = skip_placeholder(bytes, i);
        } else {
            outside.push(char::from(bytes[i]));
            i += 1;
        }
    }
    if outside.contains('\'') || !outside.contains("%27") {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut origin = Vec::with_capacity(bytes.len() + 1);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"${") {
            let end = skip_placeholder(bytes, i);
            out.extend_from_slice(&bytes[i..end]);
            origin.extend(i..end);
            i = end;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        origin.push(i);
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    origin.push(bytes.len());
    let decoded = String::from_utf8(out).ok()?;
    Some((decoded, origin))
}

/// The legacy `event.poller.urls`: one
/// `resource|url|xPathFilter|updatedDateField|updatedDateFormat|updatedDateTimeZone|createdDateField|createdDateFormat|createdDateTimeZone`
/// per line, migrated to resources. Problems point at `event.poller.urls` and name the line and
/// the field.
fn read_legacy(ctx: &mut Ctx, value: &Value, zone: &Zone) -> Option<BTreeMap<String, Resource>> {
    const FIELDS: [&str; 9] = [
        "resource",
        "url",
        "xPathFilter",
        "updatedDateField",
        "updatedDateFormat",
        "updatedDateTimezone",
        "createdDateField",
        "createdDateFormat",
        "createdDateTimezone",
    ];
    let text = ctx.string(value, LEGACY, "resource|url|... lines")?;
    let mut resources = BTreeMap::new();
    let mut ok = true;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        if fields.len() > FIELDS.len() {
            ctx.error(
                ProblemKind::InvalidValue,
                LEGACY,
                format!(
                    "line {line_number}: expected at most {} |-separated fields, found {}",
                    FIELDS.len(),
                    fields.len()
                ),
            );
            ok = false;
            continue;
        }
        let name = fields[0];
        let mut resource = Map::new();
        let mut dates = Map::new();
        for (field, text) in FIELDS.iter().zip(&fields).skip(1) {
            if text.is_empty() {
                continue;
            }
            match *field {
                "url" => {
                    resource.insert("url".into(), Value::String((*text).to_owned()));
                }
                "xPathFilter" => ctx.warning(
                    ProblemKind::UnknownKey,
                    LEGACY,
                    format!("line {line_number} ({name}): xPathFilter: ignored (pollen reads JSON only)"),
                ),
                dates_key => {
                    dates.insert(dates_key.into(), Value::String((*text).to_owned()));
                }
            }
        }
        if !dates.is_empty() {
            resource.insert("datesConfiguration".into(), Value::Object(dates));
        }
        // Read as if it were JSON, then point the problems back at the legacy line.
        let mut scratch = Ctx::default();
        let prefix = child("", name);
        let parsed = read_resource(&mut scratch, name, &Value::Object(resource), &prefix, zone);
        for mut problem in scratch.problems {
            let field = problem
                .pointer()
                .rsplit('/')
                .next()
                .filter(|_| problem.pointer() != prefix)
                .map(|f| format!("{f}: "))
                .unwrap_or_default();
            let message = format!("line {line_number} ({name}): {field}{}", problem.message());
            problem.set_message(message);
            problem.set_pointer(LEGACY.to_owned());
            ctx.push(problem);
        }
        match parsed {
            Some(resource) => {
                if resources.insert(name.to_owned(), resource).is_some() {
                    ctx.error(
                        ProblemKind::InvalidValue,
                        LEGACY,
                        format!(
                            "line {line_number}: resource {} is defined twice",
                            quote(name)
                        ),
                    );
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances_count_a_swap_as_one_edit() {
        assert_eq!(edit_distance("cusotmers", "customers"), 1);
        assert_eq!(edit_distance("invoice", "invoices"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("vendors", "vendors"), 0);
        let known: Vec<String> = ["customers", "contacts", "vendors", "invoices"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(closest(&known, "cusotmers"), ["customers"]);
        assert_eq!(closest(&known, "Invoice"), ["invoices"]);
        assert!(closest(&known, "ledger").is_empty());
    }

    const SEED: &str = "/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at";

    #[test]
    fn the_seed_url_splits_around_its_template_quotes() {
        let parts = split_url(SEED);
        assert_eq!(&SEED[..parts.path_end], "/hubs/finance/customers");
        let range = parts.where_range.clone().expect("a where clause");
        assert_eq!(
            &SEED[range],
            "lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at"
        );
        assert_eq!(parts.unterminated_quote, SEED.rfind('\''));
    }

    #[test]
    fn ampersands_inside_literals_stay_in_the_where_value() {
        let url =
            "/hubs/finance/contacts?pageSize=5&where=name='A&B' and x='${gmtDate:yyyy}'&page=2";
        let parts = split_url(url);
        let range = parts.where_range.expect("a where clause");
        assert_eq!(&url[range], "name='A&B' and x='${gmtDate:yyyy}'");
        assert_eq!(parts.unterminated_quote, None);
        assert_eq!(parts.second_where, None);
    }

    #[test]
    fn urls_without_query_or_where() {
        let parts = split_url("/hubs/finance/ledger-accounts");
        assert_eq!(parts.path_end, "/hubs/finance/ledger-accounts".len());
        assert_eq!(parts.where_range, None);
        let parts = split_url("/hubs/finance/x?nowhere=1&swhere=2");
        assert_eq!(parts.where_range, None);
    }

    #[test]
    fn a_second_where_is_found() {
        let url = "/x?where=a='1'&where=b='2'";
        assert_eq!(split_url(url).second_where, Some(15));
    }

    #[test]
    fn encoded_where_values_decode_with_their_origins() {
        let text = "a%3D%27${date:yyyy'T'}%27+b";
        let (decoded, origin) = percent_decoded(text).expect("encoded");
        assert_eq!(decoded, "a='${date:yyyy'T'}' b");
        assert_eq!(origin.len(), decoded.len() + 1);
        assert_eq!(origin[1], 1); // `=` comes from `%3D`
        assert_eq!(origin[3], 7); // `$` is copied verbatim
        assert_eq!(&text[origin[decoded.len() - 2]..], "+b");
        assert_eq!(percent_decoded("a='%27'"), None, "raw quotes: not encoded");
        assert_eq!(percent_decoded("name LIKE '%ab%'"), None);
    }

    #[test]
    fn excerpts_put_the_caret_under_the_offset() {
        assert_eq!(caret_excerpt("abc", 1), "  abc\n   ^");
        assert_eq!(caret_excerpt("abc", 3), "  abc\n     ^");
    }
}
