//! The typed instance configuration: what a loaded instance JSON becomes.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pollen_template::{DateFormat, Template, Where, Zone};
use serde_json::Value;

use crate::secret::Secret;

/// Keys pollen does not know, kept as they came (each was reported as a warning).
///
/// Its `Debug` output masks the values of keys that look like credentials (`secret`, `password`,
/// `token`, `signature`, `credential` in the name): an unknown key may still hold one.
#[derive(Clone, Default, PartialEq)]
pub struct Extra(BTreeMap<String, Value>);

impl Extra {
    pub(crate) fn insert(&mut self, key: String, value: Value) {
        self.0.insert(key, value);
    }

    /// The value of one unknown key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Every unknown key and its value, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of unknown keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when every key was known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a key's name suggests its value is a credential.
    pub fn looks_secret(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        [
            "secret",
            "password",
            "token",
            "signature",
            "credential",
            "apikey",
            "api_key",
        ]
        .iter()
        .any(|word| key.contains(word))
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.0 {
            if Extra::looks_secret(key) {
                map.entry(key, &crate::secret::MASK);
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

/// A loaded instance JSON.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InstanceConfig {
    /// `element.key`.
    pub element: ElementKey,
    /// `providerData`.
    pub provider_data: ProviderData,
    /// `configuration`.
    pub configuration: Configuration,
    /// `tags`.
    pub tags: Vec<String>,
    /// `name`.
    pub name: String,
    /// Unknown top-level keys.
    pub extra: Extra,
}

/// The connector an instance belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementKey {
    /// Sage Business Cloud Accounting (`sageone`).
    SageOne,
}

impl ElementKey {
    /// Every known connector.
    pub const ALL: [ElementKey; 1] = [ElementKey::SageOne];

    /// The key as written in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ElementKey::SageOne => "sageone",
        }
    }
}

impl fmt::Display for ElementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `providerData`: the OAuth grant code, or tokens the user already holds.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProviderData {
    /// `code`: the authorization grant code.
    pub code: Option<Secret>,
    /// `access_token`.
    pub access_token: Option<Secret>,
    /// `refresh_token`.
    pub refresh_token: Option<Secret>,
    /// Unknown keys.
    pub extra: Extra,
}

/// `configuration`, grouped by concern.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Configuration {
    /// The OAuth client.
    pub oauth: OAuth,
    /// The Sage API generation and its credentials.
    pub sage: Sage,
    /// Where and how notifications are sent.
    pub notification: Notification,
    /// What is polled and how often.
    pub poller: Poller,
    /// Unknown configuration keys.
    pub extra: Extra,
}

/// The OAuth client of the instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OAuth {
    /// `oauth.api.key`: the client id.
    pub api_key: String,
    /// `oauth.api.secret`: the client secret.
    pub api_secret: Secret,
    /// `oauth.callback.url`: the redirect URI (required to exchange a code).
    pub callback_url: Option<AbsoluteUrl>,
    /// `oauth.token.url`: token endpoint override.
    pub token_url: Option<AbsoluteUrl>,
}

/// The largest `sage.rate_limit` accepted, in calls a minute.
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// The Sage API generation and what it needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Sage {
    /// `sage.api.version`.
    pub api_version: ApiVersion,
    /// `country` (`uk` already mapped to [`Country::Gb`]).
    pub country: Option<Country>,
    /// `signature.secret` (v3 request signing).
    pub signature_secret: Option<Secret>,
    /// `apim.subscription.key` (v3 gateway).
    pub apim_subscription_key: Option<Secret>,
    /// `base.url`: API base override.
    pub base_url: Option<AbsoluteUrl>,
    /// `sage.business.id` (an extension): which of the user's businesses to poll (v3.1
    /// `X-Business`); `None`: the user's lead business.
    pub business_id: Option<String>,
    /// `sage.rate_limit` (an extension): the calls a minute this instance's business may
    /// receive from pollen, shared by every instance of the business; `None`: the process
    /// default (`--sage-rate-limit`, 200).
    pub rate_limit: Option<u32>,
}

/// `sage.api.version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiVersion {
    /// The current API at `api.accounting.sage.com/v3.1`.
    V3_1,
    /// The "Columbus" API with signed requests, the one the vendor's keys describe.
    V3,
}

impl ApiVersion {
    /// As written in the JSON: `v3.1` or `v3`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V3_1 => "v3.1",
            ApiVersion::V3 => "v3",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `country`: the countries Sage Business Cloud Accounting serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Country {
    /// Canada.
    Ca,
    /// Germany.
    De,
    /// Spain.
    Es,
    /// France.
    Fr,
    /// The United Kingdom (`gb`, also written `uk`).
    Gb,
    /// Ireland.
    Ie,
    /// The United States.
    Us,
}

impl Country {
    /// Every country, in code order.
    pub const ALL: [Country; 7] = [
        Country::Ca,
        Country::De,
        Country::Es,
        Country::Fr,
        Country::Gb,
        Country::Ie,
        Country::Us,
    ];

    /// The lower-case ISO 3166 code (`gb` for the United Kingdom).
    pub fn code(self) -> &'static str {
        match self {
            Country::Ca => "ca",
            Country::De => "de",
            Country::Es => "es",
            Country::Fr => "fr",
            Country::Gb => "gb",
            Country::Ie => "ie",
            Country::Us => "us",
        }
    }

    /// Reads a code in any case; `uk` is accepted as `gb`.
    pub fn from_code(code: &str) -> Option<Country> {
        let code = code.trim().to_ascii_lowercase();
        if code == "uk" {
            return Some(Country::Gb);
        }
        Country::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where and how notifications are delivered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Notification {
    /// `event.notification.enabled`.
    pub enabled: bool,
    /// `event.notification.callback.url` (always set when `enabled`).
    pub callback_url: Option<AbsoluteUrl>,
    /// `event.notification.signature.key`.
    pub signature_key: Option<Secret>,
    /// `event.notification.standard_webhooks.secret`: `whsec_` + base64 of 24 to 64 bytes
    /// (checked at load time).
    pub standard_webhooks_secret: Option<Secret>,
    /// `event.notification.basic.username` and `.password`.
    pub basic: Option<BasicAuth>,
    /// `event.notification.callback.headers`, sorted by name.
    pub headers: Vec<(String, String)>,
    /// `event.notification.subscriptions`: receivers besides the callback, in order, names
    /// unique (a pollen extension).
    pub subscriptions: Vec<crate::Subscription>,
    /// `event.notification.checkpoints`: whether the callback is sent checkpoints.
    pub checkpoints: bool,
    /// `event.notification.alerts.url`: where this instance's operational alerts are POSTed.
    pub alerts_url: Option<AbsoluteUrl>,
    /// `event.notification.alerts.secret`: `whsec_` + base64 of 24 to 64 bytes, signing the
    /// alerts in the Standard Webhooks format (checked at load time).
    pub alerts_secret: Option<Secret>,
}

/// HTTP basic authentication to the callback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// What is polled and how often.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Poller {
    /// `event.poller.refresh_interval` (given in minutes).
    pub refresh_interval: Duration,
    /// `event.poller.timezone`: zone of `${date:...}` templates.
    pub timezone: ZoneSetting,
    /// `event.poller.backfill_since`.
    pub backfill_since: Option<DateTime<Utc>>,
    /// `event.poller.reconcile_interval` (given in minutes, default 24 h): how often resources
    /// without a deletion feed are reconciled; `None` when set to 0 (off).
    pub reconcile_interval: Option<Duration>,
    /// `event.poller.configuration` (or the migrated `event.poller.urls`), by resource name.
    pub resources: BTreeMap<String, Resource>,
}

/// One resource of `event.poller.configuration`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resource {
    /// The resource name (the key in `event.poller.configuration`), the events' `objectType`.
    pub name: String,
    /// `url`.
    pub url: PollUrl,
    /// `idField`.
    pub id_field: FieldPath,
    /// `datesConfiguration`, with its defaults applied.
    pub dates: DatesConfiguration,
    /// `filterByUpdatedDate`.
    pub filter_by_updated_date: bool,
    /// `filterByCurrentDate`.
    pub filter_by_current_date: bool,
    /// `createdCheckTolerance`.
    pub created_check_tolerance: Duration,
    /// `pageSize`.
    pub page_size: Option<u32>,
    /// `pollDelay`.
    pub poll_delay: Duration,
    /// Unknown keys of the resource.
    pub extra: Extra,
}

/// `datesConfiguration`: how to read the updated and created dates of a record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DatesConfiguration {
    /// `updatedDateField`, `updatedDateFormat`, `updatedDateTimezone`.
    pub updated: DateField,
    /// `createdDateField`, `createdDateFormat`, `createdDateTimezone` (format and zone default to
    /// the updated ones).
    pub created: DateField,
    /// Unknown keys of `datesConfiguration`.
    pub extra: Extra,
}

/// One date of a record: where it is, how it is written, in which zone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DateField {
    /// The dotted path of the field; `None` when not configured.
    pub field: Option<FieldPath>,
    /// The format; `None` means RFC 3339 / ISO 8601.
    pub format: Option<DateFormatSetting>,
    /// The zone of dates that carry no offset.
    pub timezone: ZoneSetting,
}

/// An absolute URL as written (`as_str` keeps it byte for byte: an OAuth `redirect_uri` must
/// match the registered one exactly), and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsoluteUrl {
    source: String,
    url: url::Url,
}

impl AbsoluteUrl {
    pub(crate) fn new(source: String, url: url::Url) -> Self {
        AbsoluteUrl { source, url }
    }

    /// The URL as written (surrounding white space removed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed URL (normalised: `https://a.com` becomes `https://a.com/`).
    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

impl fmt::Display for AbsoluteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A dotted path into a record (`id`, `user.id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    source: String,
}

impl FieldPath {
    /// Checks a dotted path: non-empty segments separated by dots.
    pub fn parse(source: &str) -> Result<FieldPath, String> {
        if source.is_empty() {
            return Err("expected a dotted field path, found an empty string".to_owned());
        }
        if source.split('.').any(str::is_empty) {
            return Err(format!(
                "\"{source}\" is not a dotted field path: it has an empty segment"
            ));
        }
        Ok(FieldPath {
            source: source.to_owned(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The path's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.source.split('.')
    }

    /// The value at this path in a record, if any.
    pub fn lookup<'a>(&self, record: &'a Value) -> Option<&'a Value> {
        self.segments()
            .try_fold(record, |value, segment| value.get(segment))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A date format setting (`updatedDateFormat`): as written, and compiled.
#[derive(Debug, Clone)]
pub struct DateFormatSetting {
    source: String,
    format: DateFormat,
}

impl DateFormatSetting {
    pub(crate) fn new(source: String, format: DateFormat) -> Self {
        DateFormatSetting { source, format }
    }

    /// The setting as written: a Java pattern, `milliseconds` or `seconds`.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled format, to parse record dates with.
    pub fn format(&self) -> &DateFormat {
        &self.format
    }
}

/// A time zone setting (`updatedDateTimezone`, `event.poller.timezone`): as written, and parsed.
#[derive(Debug, Clone)]
pub struct ZoneSetting {
    source: String,
    zone: Zone,
}

impl ZoneSetting {
    pub(crate) fn new(source: String, zone: Zone) -> Self {
        ZoneSetting { source, zone }
    }

    /// The zone as written (`GMT`, `Europe/Paris`, `-08:00`).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The zone.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }
}

/// A resource's `url`: a hub path and query with `${...}` templates and a CEQL `where` clause,
/// compiled at load time.
#[derive(Debug, Clone)]
pub struct PollUrl {
    template: Template,
    path_end: usize,
    where_range: Option<Range<usize>>,
    where_clause: Option<Where>,
}

impl PollUrl {
    pub(crate) fn new(
        template: Template,
        path_end: usize,
        where_range: Option<Range<usize>>,
        where_clause: Option<Where>,
    ) -> Self {
        PollUrl {
            template,
            path_end,
            where_range,
            where_clause,
        }
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        self.template.source()
    }

    /// The whole URL compiled as a template, in the poller's zone (`event.poller.timezone`):
    /// [`Template::expand`] gives the URL to fetch for a poll date.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The path before the query (`/hubs/finance/customers`).
    pub fn path(&self) -> &str {
        &self.as_str()[..self.path_end]
    }

    /// The query after `?`, as written (empty when there is none).
    pub fn query(&self) -> &str {
        self.as_str().get(self.path_end + 1..).unwrap_or_default()
    }

    /// The parsed `where=` clause (lenient mode: its warnings were reported at load time), its
    /// `${...}` placeholders unexpanded.
    pub fn where_clause(&self) -> Option<&Where> {
        self.where_clause.as_ref()
    }

    /// The value of the `where=` parameter as written, templates unexpanded.
    pub fn where_text(&self) -> Option<&str> {
        self.where_range.clone().map(|r| &self.as_str()[r])
    }

    /// The byte range of [`PollUrl::where_text`] in [`PollUrl::as_str`].
    pub fn where_range(&self) -> Option<Range<usize>> {
        self.where_range.clone()
    }
}
