//! [`SageSource`]: pollen-core's [`Source`] over Sage's HTTP API.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use futures::future::BoxFuture;
use pollen_config::{ApiVersion, InstanceConfig, Secret};
use pollen_core::{
    Clock, DeletedPage, DeletedRecord, FetchRequest, IdPage, IdRequest, Lookup, Page, PollKey,
    Purpose, Source, SystemClock,
};
use pollen_template::{Mode, Where};
use serde_json::Value;
use url::Url;

use crate::auth::{Auth, AuthStats, AuthStatus, TokenStore, Tokens};
use crate::budget::RateBudget;
use crate::client::{describe, Api, Budgeted, Fetched};
use crate::error::{Error, ErrorKind, Result};
use crate::resources::HubResource;
use crate::settings::SageSettings;
use crate::translate::{encode_query, HubRequest, Translation};

mod businesses;
mod reconcile;

pub use businesses::Business;

/// Sage's largest page, and pollen's default page size.
pub const MAX_ITEMS_PER_PAGE: u32 = 200;

/// What the source knows about one configured resource.
#[derive(Debug, Clone)]
struct ResourcePlan {
    hub: &'static HubResource,
    /// `updatedDateField` and `createdDateField`: always requested in `attributes`.
    date_fields: Vec<String>,
}

/// Builds a [`SageSource`]: [`SageSource::from_instance`] or [`SageSource::builder`].
#[derive(Debug)]
#[must_use]
pub struct SageSourceBuilder {
    settings: SageSettings,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    code: Option<Secret>,
    tokens: Option<Tokens>,
    resources: BTreeMap<String, ResourcePlan>,
    http: Option<reqwest::Client>,
    budget: Option<(Arc<RateBudget>, u32, String)>,
}

impl SageSourceBuilder {
    /// Adjusts the settings (timeouts, retries, `X-Business` …).
    pub fn configure(mut self, adjust: impl FnOnce(&mut SageSettings)) -> Self {
        adjust(&mut self.settings);
        self
    }

    /// The clock that times token expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// An authorization code to exchange on first use when the store holds no tokens.
    pub fn authorization_code(mut self, code: Secret) -> Self {
        self.code = Some(code);
        self
    }

    /// Tokens to use (and save) on first use when the store holds none.
    pub fn initial_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The HTTP client to use (default: one built from the settings' timeout).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Spends `budget` before every Sage call: `sage.rate_limit` calls a minute
    /// ([`SageSettings::rate_limit`]), else `default_limit` (0: no budget), under the
    /// business's key — v3's resource owner, v3.1's `sage.business.id`, or `instance` for a
    /// v3.1 instance naming no business (Sage's lead business cannot be told from the token:
    /// such instances each get a budget of their own).
    pub fn rate_budget(
        mut self,
        budget: Arc<RateBudget>,
        default_limit: u32,
        instance: impl Into<String>,
    ) -> Self {
        self.budget = Some((budget, default_limit, instance.into()));
        self
    }

    /// Declares the poll resource `name` (the `event.poller.configuration` key, the core's
    /// `PollKey::resource`) reading hub path `hub_path`, with the record date fields to request.
    /// An unknown hub resource is an [`ErrorKind::UnknownResource`] error listing the known ones.
    pub fn resource(
        mut self,
        name: impl Into<String>,
        hub_path: &str,
        date_fields: Vec<String>,
    ) -> Result<Self> {
        let name = name.into();
        let hub = HubResource::for_path(hub_path)
            .map_err(|e| Error::new(e.kind(), format!("resource {name}: {}", e.message())))?;
        self.resources
            .insert(name, ResourcePlan { hub, date_fields });
        Ok(self)
    }

    /// The source.
    pub fn build(self) -> Result<SageSource> {
        self.settings.validate()?;
        if self.settings.api_version == ApiVersion::V3 {
            if let Some((name, plan)) = self.resources.iter().find(|(_, plan)| !plan.hub.v3) {
                return Err(Error::new(
                    ErrorKind::UnknownResource,
                    format!(
                        "resource {name}: `{}` ({}) is served by Sage's v3.1 API only, and this \
                         instance uses v3",
                        plan.hub.name, plan.hub.path
                    ),
                ));
            }
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.settings.request_timeout)
                .build()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidConfig,
                        format!("cannot build the HTTP client: {e}"),
                    )
                })?,
        };
        let settings = Arc::new(self.settings);
        let auth = Arc::new(Auth::new(
            http.clone(),
            Arc::clone(&settings),
            self.store,
            self.clock,
            self.code,
            self.tokens,
        ));
        let budget = self.budget.and_then(|(budget, default_limit, instance)| {
            let limit = settings.rate_limit.unwrap_or(default_limit);
            (limit > 0).then(|| {
                Arc::new(Budgeted {
                    budget,
                    limit,
                    fallback: format!("instance:{instance}"),
                })
            })
        });
        Ok(SageSource {
            api: Api::new(http, Arc::clone(&settings), Arc::clone(&auth), budget),
            auth,
            settings,
            resources: self.resources,
        })
    }
}

/// The Sage connector of one instance: turns hub requests into Sage requests, walks the pages,
/// keeps the tokens alive. Implements pollen-core's [`Source`].
///
/// Shared by all resources of the instance (one token pair, at most one refresh in flight).
pub struct SageSource {
    api: Api,
    auth: Arc<Auth>,
    settings: Arc<SageSettings>,
    resources: BTreeMap<String, ResourcePlan>,
}

impl fmt::Debug for SageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SageSource")
            .field("api_version", &self.settings.api_version)
            .field("base_url", &self.settings.base_url.as_str())
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A continuation: the page just returned (number and fingerprint), and Sage's `$next`.
struct Cursor<'a> {
    page: Option<u64>,
    fingerprint: u64,
    next: &'a str,
}

impl<'a> Cursor<'a> {
    fn encode(page: Option<u64>, fingerprint: u64, next: &str) -> String {
        let page = page.map_or_else(|| "-".to_owned(), |p| p.to_string());
        format!("{page}|{fingerprint:016x}|{next}")
    }

    fn decode(text: &'a str) -> Result<Cursor<'a>> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("`{text}` is not a cursor this source returned"),
            )
        };
        let mut parts = text.splitn(3, '|');
        let (Some(page), Some(fingerprint), Some(next)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Cursor {
            page: if page == "-" {
                None
            } else {
                Some(page.parse().map_err(|_| bad())?)
            },
            fingerprint: u64::from_str_radix(fingerprint, 16).map_err(|_| bad())?,
            next,
        })
    }
}

/// FNV-1a over the items' ids: tells a repeated page from a new one.
fn fingerprint(items: &[Value]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for item in items {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        for byte in id.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Sage's list envelope.
#[derive(Debug)]
struct Envelope {
    items: Vec<Value>,
    next: Option<String>,
    total: Option<u64>,
    page: Option<u64>,
    items_per_page: Option<u64>,
}

/// What a JSON value is, for messages (never its content: a body may be large).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The byte offset of serde_json's 1-based line and column (a column counts bytes).
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        body.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map_or(body.len(), |(i, _)| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(body.len())
}

/// Up to 40 bytes of `body` on each side of `offset`, with a caret under the offset; control
/// characters are shown as spaces and bytes that are not UTF-8 as U+FFFD.
fn body_excerpt(body: &[u8], offset: usize) -> String {
    const CONTEXT: usize = 40;
    let from = offset.saturating_sub(CONTEXT);
    let to = (offset + CONTEXT).min(body.len());
    let clean = |bytes: &[u8]| -> String {
        String::from_utf8_lossy(bytes)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let before = clean(&body[from..offset]);
    let after = clean(&body[offset..to]);
    let head = if from > 0 { "..." } else { "" };
    let tail = if to < body.len() { "..." } else { "" };
    let pad = " ".repeat(head.len() + before.chars().count());
    format!("  {head}{before}{after}{tail}\n  {pad}^")
}

/// Reads Sage's list envelope; what is wrong otherwise, with the byte offset and an excerpt for
/// a body that is not JSON, or the JSON Pointer of the field that is not what Sage sends.
fn read_envelope(body: &[u8]) -> std::result::Result<Envelope, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let offset = byte_offset(body, e.line(), e.column());
        let text = e.to_string();
        let message = text
            .rfind(" at line ")
            .map_or(text.as_str(), |at| &text[..at]);
        format!(
            "malformed JSON in a {}-byte response at byte {offset}: {message}\n{}",
            body.len(),
            body_excerpt(body, offset)
        )
    })?;
    let shape = |pointer: &str, expected: &str, found: &Value| {
        format!(
            "unexpected response shape at {pointer}: expected {expected}, found {}",
            json_type(found)
        )
    };
    let Value::Object(mut map) = value else {
        return Err(format!(
            "unexpected response shape: expected Sage's list envelope (an object with $items), found {}",
            json_type(&value)
        ));
    };
    let items = match map.remove("$items") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err("the response has no $items array".to_owned()),
        Some(other) => return Err(shape("/$items", "an array of records", &other)),
    };
    let next = match map.get("$next") {
        None | Some(Value::Null) => None,
        Some(Value::String(next)) => Some(next.clone()),
        Some(other) => return Err(shape("/$next", "a string or null", other)),
    };
    let number = |key: &str| match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| shape(&format!("/{key}"), "a whole number or null", value)),
    };
    Ok(Envelope {
        items,
        next,
        total: number("$total")?,
        page: number("$page")?,
        items_per_page: match number("$itemsPerPage")? {
            Some(n) => Some(n),
            None => number("$items_per_page")?,
        },
    })
}

/// A page as read, before filtering; `next` is the encoded cursor.
struct RawPage {
    items: Vec<Value>,
    next: Option<String>,
    total: Option<u64>,
    server_time: Option<DateTime<Utc>>,
}

fn whole_seconds(at: DateTime<Utc>) -> String {
    at.with_nanosecond(0)
        .unwrap_or(at)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SageSource {
    /// A builder for `settings`, with tokens kept in `store`.
    pub fn builder(settings: SageSettings, store: Arc<dyn TokenStore>) -> SageSourceBuilder {
        SageSourceBuilder {
            settings,
            store,
            clock: Arc::new(SystemClock),
            code: None,
            tokens: None,
            resources: BTreeMap::new(),
            http: None,
            budget: None,
        }
    }

    /// A builder for an instance: its settings ([`SageSettings::from_instance`]), every
    /// resource of `event.poller.configuration` (an unknown hub resource is an error listing
    /// the known ones), and `providerData` (tokens, or the code to exchange once).
    pub fn from_instance(
        instance: &InstanceConfig,
        store: Arc<dyn TokenStore>,
    ) -> Result<SageSourceBuilder> {
        let mut builder = SageSource::builder(SageSettings::from_instance(instance)?, store);
        for (name, resource) in &instance.configuration.poller.resources {
            let dates = &resource.dates;
            let date_fields = [&dates.updated.field, &dates.created.field]
                .into_iter()
                .flatten()
                .map(|f| f.as_str().to_owned())
                .collect();
            builder = builder.resource(name.clone(), resource.url.path(), date_fields)?;
        }
        let provider = &instance.provider_data;
        if let Some(access) = &provider.access_token {
            builder =
                builder.initial_tokens(Tokens::new(access.clone(), provider.refresh_token.clone()));
        }
        if let Some(code) = &provider.code {
            builder = builder.authorization_code(code.clone());
        }
        Ok(builder)
    }

    /// The settings in use.
    pub fn settings(&self) -> &SageSettings {
        &self.settings
    }

    /// Whether requests can go out, or the instance must be authorised again.
    pub fn auth_status(&self) -> AuthStatus {
        self.auth.status()
    }

    /// The token grants this source made.
    pub fn auth_stats(&self) -> AuthStats {
        self.auth.stats()
    }

    /// Exchanges an authorization code (single use) for tokens and saves them; clears a
    /// "needs re-authorisation" status.
    pub async fn exchange_code(&self, code: &Secret) -> Result<()> {
        self.auth.exchange_code(code).await
    }

    /// Replaces the tokens and saves them; clears a "needs re-authorisation" status.
    pub async fn set_tokens(&self, tokens: Tokens) -> Result<()> {
        self.auth.set_tokens(tokens).await
    }

    /// The translation of a hub request (`/hubs/finance/customers?where=…`, expanded) for the
    /// poll resource `resource`.
    pub fn translation(&self, resource: &str, request: &str) -> Result<Translation> {
        self.plan(resource, request)
            .map(|(translation, _)| translation)
    }

    fn plan(&self, resource: &str, request: &str) -> Result<(Translation, Option<u32>)> {
        let hub = HubRequest::parse(request)?;
        let date_fields = self
            .resources
            .get(resource)
            .map(|p| p.date_fields.as_slice())
            .unwrap_or_default();
        let clause = match &hub.where_clause {
            Some(text) => Some(Where::parse(text, Mode::Lenient).map_err(|e| {
                Error::new(ErrorKind::InvalidRequest, format!("where clause: {e}"))
            })?),
            None => None,
        };
        let mut translation =
            Translation::new(hub.resource, clause.as_ref().map(|w| &w.expr), date_fields)?;
        translation.add_url_params(hub.params)?;
        Ok((translation, hub.page_size))
    }

    fn url(&self, path_and_query: &str) -> Result<Url> {
        let base = &self.settings.base_url;
        let text = format!("{}{path_and_query}", base.as_str().trim_end_matches('/'));
        Url::parse(&text).map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("cannot build a request URL from `{path_and_query}`: {e}"),
            )
        })
    }

    /// Sage's `$next` as a URL: relative to the API base (or to the host when it already
    /// starts with the base path); an absolute one must point at the same origin.
    fn next_url(&self, next: &str) -> Result<Url> {
        let base = &self.settings.base_url;
        if next.starts_with("http://") || next.starts_with("https://") {
            let url = Url::parse(next).map_err(|e| {
                Error::new(ErrorKind::MalformedResponse, format!("$next `{next}`: {e}"))
            })?;
            if url.origin() != base.origin() {
                return Err(Error::new(
                    ErrorKind::MalformedResponse,
                    format!("$next `{next}` leaves the API's origin: not followed"),
                ));
            }
            return Ok(url);
        }
        let base_path = base.path().trim_end_matches('/');
        let relative = if next.starts_with('/') {
            next.to_owned()
        } else {
            format!("/{next}")
        };
        if !base_path.is_empty() && relative.starts_with(&format!("{base_path}/")) {
            let mut url = base.clone();
            url.set_path("");
            url.set_query(None);
            return Url::parse(&format!("{}{relative}", url.as_str().trim_end_matches('/')))
                .map_err(|e| {
                    Error::new(ErrorKind::MalformedResponse, format!("$next `{next}`: {e}"))
                });
        }
        self.url(&relative)
    }

    fn per_page(request: &FetchRequest<'_>, from_url: Option<u32>) -> u32 {
        request
            .page_size
            .or(from_url)
            .unwrap_or(MAX_ITEMS_PER_PAGE)
            .clamp(1, MAX_ITEMS_PER_PAGE)
    }

    /// Fetches and reads one page; a page that repeats the previous one (Sage answers a page
    /// past the end with the last page again) ends the walk with no records.
    async fn walk(
        &self,
        first: impl FnOnce() -> Result<Url>,
        cursor: Option<&str>,
        purpose: Purpose,
    ) -> Result<RawPage> {
        let (url, previous) = match cursor {
            None => (first()?, None),
            Some(text) => {
                let cursor = Cursor::decode(text)?;
                (self.next_url(cursor.next)?, Some(cursor))
            }
        };
        // Page 1 first, then the one after the page the cursor names (unknown without `$page`).
        let page = match &previous {
            None => Some(1),
            Some(cursor) => cursor.page.map(|p| p + 1),
        };
        let Fetched { body, date, .. } = self.api.get_page(&url, purpose, page).await?;
        let envelope = read_envelope(&body).map_err(|detail| {
            Error::new(
                ErrorKind::MalformedResponse,
                format!("{}: {detail}", describe(&url)),
            )
        })?;
        let items = envelope.items;
        let print = fingerprint(&items);
        if let Some(previous) = previous {
            let went_back = matches!((envelope.page, previous.page), (Some(now), Some(before)) if now <= before);
            let same = !items.is_empty() && print == previous.fingerprint;
            if went_back || same {
                tracing::warn!(
                    request = %describe(&url),
                    "sage repeated the previous page: the walk ends here"
                );
                return Ok(RawPage {
                    items: Vec::new(),
                    next: None,
                    total: envelope.total,
                    server_time: date,
                });
            }
        }
        tracing::trace!(
            page = envelope.page,
            items_per_page = envelope.items_per_page,
            items = items.len(),
            "sage page"
        );
        let next = envelope
            .next
            .filter(|n| !n.is_empty())
            .map(|n| Cursor::encode(envelope.page, print, &n));
        Ok(RawPage {
            items,
            next,
            total: envelope.total,
            server_time: date,
        })
    }

    /// One page of records of poll resource `resource` changed as the hub request says:
    /// Sage filters what it can, the residual clause the rest.
    pub async fn fetch(&self, resource: &str, request: &FetchRequest<'_>) -> Result<Page> {
        let (translation, url_page_size) = self.plan(resource, request.request)?;
        let per_page = Self::per_page(request, url_page_size).to_string();
        let first = || {
            let mut params = translation.params();
            params.push(("items_per_page", &per_page));
            self.url(&format!(
                "{}?{}",
                translation.resource.path,
                encode_query(params)
            ))
        };
        let raw = self.walk(first, request.cursor, request.purpose).await?;
        let mut records = raw.items;
        if let Some(residual) = &translation.residual {
            let mut kept = Vec::with_capacity(records.len());
            for record in records {
                let keep = residual.eval(&record).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidRequest,
                        format!("cannot filter records client-side: {e}"),
                    )
                })?;
                if keep {
                    kept.push(record);
                }
            }
            records = kept;
        }
        Ok(Page {
            records,
            next: raw.next,
            total: raw.total,
            server_time: raw.server_time,
        })
    }

    /// One page of records of `resource` deleted after `request.since` (`deleted_since`,
    /// exclusive, whole seconds). The clause's server-side filters apply (a customer poll sees
    /// deleted customers only); the residual does not, as deleted records carry few fields.
    pub async fn fetch_deleted(
        &self,
        resource: &str,
        request: &FetchRequest<'_>,
    ) -> Result<DeletedPage> {
        let (translation, url_page_size) = self.plan(resource, request.request)?;
        if !translation.resource.deleted_since {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "Sage's {} endpoint has no deleted_since: {} has no deletion feed",
                    translation.resource.path, translation.resource.name
                ),
            ));
        }
        let per_page = Self::per_page(request, url_page_size).to_string();
        let since = whole_seconds(request.since);
        let attributes = match translation.attributes.as_deref() {
            Some("all") => "all".to_owned(),
            Some(list) => format!("{list},deleted_at"),
            None => "deleted_at".to_owned(),
        };
        let first = || {
            let mut params: Vec<(&str, &str)> = translation
                .filters
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            params.push(("deleted_since", &since));
            params.push(("attributes", &attributes));
            params.push(("items_per_page", &per_page));
            self.url(&format!(
                "{}?{}",
                translation.resource.path,
                encode_query(params)
            ))
        };
        let raw = self.walk(first, request.cursor, request.purpose).await?;
        let mut records = Vec::with_capacity(raw.items.len());
        for record in raw.items {
            let Some(id) = record.get("id").and_then(Value::as_str).map(str::to_owned) else {
                tracing::warn!(resource, "a deleted record without an id was skipped");
                continue;
            };
            let deleted_at = record
                .get("deleted_at")
                .and_then(Value::as_str)
                .and_then(crate::translate::parse_instant);
            records.push(DeletedRecord {
                id,
                deleted_at,
                record,
            });
        }
        Ok(DeletedPage {
            records,
            next: raw.next,
            total: raw.total,
            server_time: raw.server_time,
        })
    }

    fn hub_of(&self, key: &PollKey) -> Option<&'static HubResource> {
        match self.resources.get(&key.resource) {
            Some(plan) => Some(plan.hub),
            None => HubResource::named(&key.resource).ok(),
        }
    }
}

impl Source for SageSource {
    fn fetch_page<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, pollen_core::Result<Page>> {
        Box::pin(async move {
            self.fetch(&request.key.resource, &request)
                .await
                .map_err(pollen_core::Error::from)
        })
    }

    fn supports_deletions(&self, key: &PollKey) -> bool {
        self.hub_of(key).is_some_and(|hub| hub.deleted_since)
    }

    fn fetch_deleted_page<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, pollen_core::Result<DeletedPage>> {
        Box::pin(async move {
            self.fetch_deleted(&request.key.resource, &request)
                .await
                .map_err(pollen_core::Error::from)
        })
    }

    /// Endpoints without `deleted_since` are reconciled: their ids walked, the missing ones
    /// looked up.
    fn supports_reconcile(&self, key: &PollKey) -> bool {
        self.hub_of(key).is_some_and(|hub| !hub.deleted_since)
    }

    fn fetch_id_page<'a>(
        &'a self,
        request: IdRequest<'a>,
    ) -> BoxFuture<'a, pollen_core::Result<IdPage>> {
        Box::pin(async move {
            self.fetch_ids(&request.key.resource, request.page_size, request.cursor)
                .await
                .map_err(pollen_core::Error::from)
        })
    }

    fn lookup<'a>(
        &'a self,
        key: &'a PollKey,
        id: &'a str,
    ) -> BoxFuture<'a, pollen_core::Result<Lookup>> {
        Box::pin(async move {
            self.lookup_record(&key.resource, id)
                .await
                .map_err(pollen_core::Error::from)
        })
    }
}
