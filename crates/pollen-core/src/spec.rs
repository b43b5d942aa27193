//! What the core needs to know to poll one resource of one instance: [`PollSpec`].
//!
//! The spec is the core's own input type, independent of the instance JSON: `pollen-config`
//! produces it, tests build it directly.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// One unit of polling work: an (instance, resource) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PollKey {
    /// The instance id.
    pub instance: String,
    /// The hub resource name (`customers`, `invoices` …), also the notification's `objectType`.
    pub resource: String,
}

impl PollKey {
    /// The key of `resource` of `instance`.
    pub fn new(instance: impl Into<String>, resource: impl Into<String>) -> Self {
        PollKey {
            instance: instance.into(),
            resource: resource.into(),
        }
    }
}

impl fmt::Display for PollKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.instance, self.resource)
    }
}

/// A dotted JSON path (`user.id`, `lines.0.id`), split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<String>,
}

impl FieldPath {
    /// Parses `path`; empty paths and empty segments (`a..b`) are rejected.
    pub fn parse(path: &str) -> Result<Self> {
        if path.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "empty field path"));
        }
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if let Some(at) = segments.iter().position(String::is_empty) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "field path `{path}` has an empty segment (segment {})",
                    at + 1
                ),
            ));
        }
        Ok(FieldPath {
            text: path.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path in `record`, if any. Array elements are addressed by index.
    pub fn get<'v>(&self, record: &'v Value) -> Option<&'v Value> {
        let mut at = record;
        for segment in &self.segments {
            at = match at {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(at)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a record's date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DateParseError(pub String);

/// Turns a record's date value into an instant: `updatedDateFormat` / `updatedDateTimezone`
/// via [`TemplateDates`] (`pollen-template`'s compiled patterns); [`Rfc3339Dates`] and
/// [`EpochMillis`] for tests and simple connectors.
pub trait DateParser: Send + Sync + fmt::Debug {
    /// Parses `value`, or says why not.
    fn parse(&self, value: &Value) -> Result<DateTime<Utc>, DateParseError>;
}

/// RFC 3339 date-time strings (`2026-01-02T03:04:05Z`, with any offset or fraction).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rfc3339Dates;

impl DateParser for Rfc3339Dates {
    fn parse(&self, value: &Value) -> Result<DateTime<Utc>, DateParseError> {
        let Value::String(text) = value else {
            return Err(DateParseError(format!(
                "expected an RFC 3339 string, found {}",
                kind_of(value)
            )));
        };
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| DateParseError(format!("`{text}` is not an RFC 3339 date-time: {e}")))
    }
}

/// Epoch milliseconds, as a JSON number or a string of digits (the `milliseconds` keyword).
#[derive(Debug, Clone, Copy, Default)]
pub struct EpochMillis;

impl DateParser for EpochMillis {
    fn parse(&self, value: &Value) -> Result<DateTime<Utc>, DateParseError> {
        let millis = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        millis
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| DateParseError(format!("`{value}` is not epoch milliseconds")))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A configured `updatedDateFormat` / `createdDateFormat` (Java pattern or the keywords
/// `milliseconds` / `seconds`) with its `…Timezone`, compiled by `pollen-template`.
#[derive(Debug, Clone)]
pub struct TemplateDates {
    /// The compiled format.
    pub format: pollen_template::DateFormat,
    /// The zone a value without an offset is read in.
    pub zone: pollen_template::Zone,
}

impl DateParser for TemplateDates {
    fn parse(&self, value: &Value) -> Result<DateTime<Utc>, DateParseError> {
        self.format
            .parse_value(value, &self.zone)
            .map_err(|e| DateParseError(e.to_string()))
    }
}

/// Where a date lives in a record and how to read it.
#[derive(Debug, Clone)]
pub struct DateField {
    /// Dotted path of the field.
    pub path: FieldPath,
    /// How to parse its value.
    pub parser: Arc<dyn DateParser>,
}

impl DateField {
    /// The field at `path` parsed by `parser`.
    pub fn new(path: FieldPath, parser: impl DateParser + 'static) -> Self {
        DateField {
            path,
            parser: Arc::new(parser),
        }
    }
}

impl DateField {
    /// The field at `path` read with a configured format and zone.
    pub fn with_format(
        path: FieldPath,
        format: pollen_template::DateFormat,
        zone: pollen_template::Zone,
    ) -> Self {
        DateField::new(path, TemplateDates { format, zone })
    }
}

type Expand = dyn Fn(DateTime<Utc>) -> String + Send + Sync;

/// The resource's request, compiled: expanded with the window start for each poll.
///
/// The core does not interpret the result: it hands the expanded text to the
/// [`Source`](crate::Source), which turns it into its own request (the Sage connector reads the
/// hub URL and its CEQL where clause). Build one from `pollen-template`'s compiled `Template`
/// with `RequestTemplate::from(template)`.
#[derive(Clone)]
pub struct RequestTemplate {
    text: Arc<str>,
    expand: Arc<Expand>,
}

impl RequestTemplate {
    /// A template written as `text` whose expansion for an instant is `expand(instant)`.
    pub fn new(
        text: impl Into<String>,
        expand: impl Fn(DateTime<Utc>) -> String + Send + Sync + 'static,
    ) -> Self {
        RequestTemplate {
            text: Arc::from(text.into()),
            expand: Arc::new(expand),
        }
    }

    /// A request without date placeholders: it expands to itself.
    pub fn literal(text: impl Into<String>) -> Self {
        let text: Arc<str> = Arc::from(text.into());
        let copy = Arc::clone(&text);
        RequestTemplate {
            text,
            expand: Arc::new(move |_| copy.to_string()),
        }
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The request for the window starting at `since`.
    pub fn expand(&self, since: DateTime<Utc>) -> String {
        (self.expand)(since)
    }
}

impl From<pollen_template::Template> for RequestTemplate {
    /// The poller `url` compiled by `pollen-template`: `${date:…}` and friends are expanded
    /// with each poll's window start.
    fn from(template: pollen_template::Template) -> Self {
        let text = template.source().to_owned();
        RequestTemplate::new(text, move |at| template.expand(at))
    }
}

impl fmt::Debug for RequestTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestTemplate").field(&self.text).finish()
    }
}

/// What notifications say about the instance (`elementKey`, `instanceName`, tags …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceInfo {
    /// The connector key, e.g. `sageaccounting`.
    pub element_key: String,
    /// The hub, e.g. `finance`.
    pub hub_key: String,
    /// The instance's display name.
    pub instance_name: String,
    /// The instance's tags.
    pub tags: Vec<String>,
}

impl InstanceInfo {
    /// Info for an instance of connector `element_key` in hub `hub_key`.
    pub fn new(element_key: impl Into<String>, hub_key: impl Into<String>) -> Self {
        InstanceInfo {
            element_key: element_key.into(),
            hub_key: hub_key.into(),
            instance_name: String::new(),
            tags: Vec::new(),
        }
    }
}

/// Everything the core needs to poll one (instance, resource).
///
/// Build with [`PollSpec::new`], then adjust the public fields; [`PollSpec::validate`] runs when
/// the spec is registered with a [`Scheduler`](crate::Scheduler).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollSpec {
    /// Which (instance, resource) this is.
    pub key: PollKey,
    /// Notification metadata.
    pub instance: InstanceInfo,
    /// The compiled request, expanded with each poll's window start.
    pub request: RequestTemplate,
    /// Page size to ask the source for (`None`: the source's default).
    pub page_size: Option<u32>,
    /// Dotted path of the record id (`idField`, default `id`).
    pub id_path: FieldPath,
    /// The last-modified date (`datesConfiguration.updatedDate*`).
    pub updated: Option<DateField>,
    /// The creation date (`datesConfiguration.createdDate*`).
    pub created: Option<DateField>,
    /// Created and updated dates at most this far apart mean CREATED (default 10 s).
    pub created_check_tolerance: TimeDelta,
    /// Drop records updated before the window start (default true).
    pub filter_by_updated_date: bool,
    /// Drop records updated after the poll started; they come with the next poll (default false).
    pub filter_by_current_date: bool,
    /// Subtracted from the watermark for APIs whose search index lags (`pollDelay`, default 0).
    pub poll_delay: TimeDelta,
    /// Re-read window before the watermark (default 60 s); de-duplication removes the repeats.
    pub overlap: TimeDelta,
    /// Seen change keys are kept this long beyond the window start (default 1 h).
    pub dedup_margin: TimeDelta,
    /// Time between polls (`event.poller.refresh_interval`, default 15 min).
    pub refresh_interval: TimeDelta,
    /// The initial watermark: the instance's creation time, or `backfill_since` when set.
    /// Records updated before it never fire.
    pub start: DateTime<Utc>,
    /// A poll walking more pages than this fails (a runaway source), default 100,000.
    pub max_pages: u32,
    /// How often to reconcile (`event.poller.reconcile_interval`): walk every id of the
    /// resource and emit DELETED for known ids that are gone, where the source has no deletion
    /// feed but can walk ids ([`Source::supports_reconcile`](crate::Source::supports_reconcile)).
    /// `None`: never (the default here; `from_config` applies the instance's, 24 h unless set).
    pub reconcile_interval: Option<TimeDelta>,
    /// The instance's subscriptions besides the callback that take events of this resource
    /// (`event.notification.subscriptions`), each sent its own filtered notifications.
    pub subscriptions: Vec<crate::SubscriptionFilter>,
    /// Whether the callback (subscription 0) is sent a checkpoint after each poll that moves
    /// the watermark (`event.notification.checkpoints`, default false); each subscription says
    /// so in [`SubscriptionFilter::checkpoints`](crate::SubscriptionFilter::checkpoints).
    pub checkpoints: bool,
}

impl PollSpec {
    /// A spec with the documented defaults: id at `id`, no date fields, tolerance 10 s,
    /// `filterByUpdatedDate` on, overlap 60 s, interval 15 min.
    pub fn new(key: PollKey, request: RequestTemplate, start: DateTime<Utc>) -> Self {
        PollSpec {
            key,
            instance: InstanceInfo::new("unknown", "unknown"),
            request,
            page_size: None,
            id_path: FieldPath::parse("id").expect("`id` is a valid path"),
            updated: None,
            created: None,
            created_check_tolerance: TimeDelta::seconds(10),
            filter_by_updated_date: true,
            filter_by_current_date: false,
            poll_delay: TimeDelta::zero(),
            overlap: TimeDelta::seconds(60),
            dedup_margin: TimeDelta::hours(1),
            refresh_interval: TimeDelta::minutes(15),
            start,
            max_pages: 100_000,
            reconcile_interval: None,
            subscriptions: Vec::new(),
            checkpoints: false,
        }
    }

    /// The subscriptions that are sent checkpoints (`None`: the callback), in order.
    pub fn checkpointed(&self) -> impl Iterator<Item = Option<&str>> {
        let callback = self.checkpoints.then_some(None);
        callback.into_iter().chain(
            self.subscriptions
                .iter()
                .filter(|s| s.checkpoints)
                .map(|s| Some(s.name.as_str())),
        )
    }

    /// Checks the values that would make polling misbehave.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::new(
                ErrorKind::InvalidInput,
                format!("poll spec for {}: {what}", self.key),
            ))
        };
        if self.refresh_interval < TimeDelta::seconds(1) {
            return bad("refresh interval must be at least 1 s");
        }
        if self.page_size == Some(0) {
            return bad("page size must be at least 1");
        }
        if self.created_check_tolerance < TimeDelta::zero() {
            return bad("createdCheckTolerance must not be negative");
        }
        if self.poll_delay < TimeDelta::zero() {
            return bad("pollDelay must not be negative");
        }
        if self.overlap < TimeDelta::zero() {
            return bad("overlap must not be negative");
        }
        if self.dedup_margin < TimeDelta::zero() {
            return bad("de-duplication margin must not be negative");
        }
        if self.max_pages == 0 {
            return bad("max pages must be at least 1");
        }
        if self
            .reconcile_interval
            .is_some_and(|every| every < TimeDelta::seconds(1))
        {
            return bad("reconcile interval must be at least 1 s (None turns it off)");
        }
        Ok(())
    }

    /// The start of the window a poll with watermark `watermark` queries:
    /// `watermark - pollDelay - overlap`.
    pub fn window_start(&self, watermark: DateTime<Utc>) -> DateTime<Utc> {
        watermark - self.poll_delay - self.overlap
    }
}
