//! From JSON text to [`InstanceConfig`]: every section read, every problem collected.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use url::Url;

use crate::model::{AbsoluteUrl, MAX_RATE_LIMIT};

use crate::model::{
    ApiVersion, BasicAuth, Configuration, Country, ElementKey, InstanceConfig, Notification, OAuth,
    Poller, ProviderData, Sage,
};
use crate::poller;
use crate::problem::{ConfigErrors, Problem, ProblemKind, Severity};
use crate::schema::{default_value, Section};
use crate::secret::Secret;
use crate::walk::{child, describe, quote, Ctx};

/// A configuration that loaded, and the warnings found on the way.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Loaded {
    /// The typed configuration.
    pub config: InstanceConfig,
    /// Every warning (unknown keys, leniently parsed where clauses, ...), sorted by pointer.
    pub warnings: Vec<Problem>,
}

/// What the element that polls an instance knows, for the checks only it can make: this crate
/// knows the shape of a hub URL, the element knows which resources exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Vocabulary {
    /// The hub resources the element serves (`customers`, `vendors`, ...): a poller URL naming
    /// another (`/hubs/finance/cusotmers`) is an error at its `url`, naming the closest known
    /// names. Empty: not checked.
    pub hub_resources: Vec<String>,
    /// The hub resources whose endpoint only Sage's v3.1 API has: a poller URL naming one in an
    /// instance whose `sage.api.version` is v3 is an error at its `url`.
    pub v31_only: Vec<String>,
}

impl Vocabulary {
    /// The vocabulary of an element serving `hub_resources`.
    pub fn new<S: Into<String>>(hub_resources: impl IntoIterator<Item = S>) -> Self {
        Vocabulary {
            hub_resources: hub_resources.into_iter().map(Into::into).collect(),
            v31_only: Vec::new(),
        }
    }

    /// The same, knowing that v3 does not serve `names`.
    #[must_use]
    pub fn with_v31_only<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.v31_only = names.into_iter().map(Into::into).collect();
        self
    }
}

/// The longest refresh interval accepted: a year, in minutes.
const MAX_REFRESH_MINUTES: f64 = 525_600.0;

/// The longest duration in seconds accepted for tolerances and delays: a day.
pub(crate) const MAX_SECONDS: f64 = 86_400.0;

impl InstanceConfig {
    /// Reads an instance JSON. On success the result carries every warning; on failure the
    /// error carries every problem (errors and warnings). Text that is not JSON yields one
    /// problem with a line and column.
    ///
    /// ```
    /// use pollen_config::InstanceConfig;
    ///
    /// let errors = InstanceConfig::from_json_str(r#"{"element": {"key": "sageone"},"#).unwrap_err();
    /// let problem = &errors.problems()[0];
    /// assert_eq!(problem.line_column(), Some((1, 31)));
    /// assert_eq!(problem.render("i.json"), "i.json:1:31: not valid JSON: EOF while parsing a value");
    /// ```
    pub fn from_json_str(text: &str) -> Result<Loaded, ConfigErrors> {
        if let Some(problem) = starts_with_bom(text.as_bytes()) {
            return Err(ConfigErrors::new(vec![problem]));
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Self::from_json_value(&value),
            Err(err) => Err(ConfigErrors::new(vec![not_json(&err)])),
        }
    }

    /// As [`InstanceConfig::from_json_str`], from bytes (input that is not UTF-8 is not JSON).
    pub fn from_json_slice(bytes: &[u8]) -> Result<Loaded, ConfigErrors> {
        if let Some(problem) = starts_with_bom(bytes) {
            return Err(ConfigErrors::new(vec![problem]));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => Self::from_json_value(&value),
            Err(err) => Err(ConfigErrors::new(vec![not_json(&err)])),
        }
    }

    /// As [`InstanceConfig::from_json_str`], from a parsed value.
    pub fn from_json_value(value: &Value) -> Result<Loaded, ConfigErrors> {
        Self::from_json_value_for(value, &Vocabulary::default())
    }

    /// As [`InstanceConfig::from_json_slice`], also checking what only the element that polls
    /// the instance knows (see [`Vocabulary`]).
    pub fn from_json_slice_for(
        bytes: &[u8],
        vocabulary: &Vocabulary,
    ) -> Result<Loaded, ConfigErrors> {
        if let Some(problem) = starts_with_bom(bytes) {
            return Err(ConfigErrors::new(vec![problem]));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => Self::from_json_value_for(&value, vocabulary),
            Err(err) => Err(ConfigErrors::new(vec![not_json(&err)])),
        }
    }

    /// As [`InstanceConfig::from_json_value`], also checking what only the element that polls
    /// the instance knows (see [`Vocabulary`]).
    ///
    /// ```
    /// use pollen_config::{InstanceConfig, Vocabulary};
    ///
    /// let json = serde_json::json!({
    ///     "element": {"key": "sageone"},
    ///     "providerData": {"code": "c"},
    ///     "configuration": {
    ///         "oauth.api.key": "k", "oauth.api.secret": "s",
    ///         "oauth.callback.url": "https://example.com/cb",
    ///         "event.notification.callback.url": "https://example.com/events",
    ///         "event.poller.configuration": {"customers": {"url": "/hubs/finance/cusotmers"}}
    ///     },
    ///     "name": "i"
    /// });
    /// let sage = Vocabulary::new(["customers", "vendors"]);
    /// let errors = InstanceConfig::from_json_value_for(&json, &sage).unwrap_err();
    /// let problem = errors.errors().next().unwrap();
    /// assert_eq!(problem.pointer(), "/configuration/event.poller.configuration/customers/url");
    /// assert_eq!(problem.message(), "unknown hub resource `cusotmers`: did you mean `customers`?");
    /// assert!(InstanceConfig::from_json_value(&json).is_ok(), "not checked without a vocabulary");
    /// ```
    pub fn from_json_value_for(
        value: &Value,
        vocabulary: &Vocabulary,
    ) -> Result<Loaded, ConfigErrors> {
        let mut ctx = Ctx {
            hub_resources: (!vocabulary.hub_resources.is_empty())
                .then(|| vocabulary.hub_resources.clone()),
            v31_only: vocabulary.v31_only.clone(),
            ..Ctx::default()
        };
        let config = read_instance(&mut ctx, value);
        match config {
            Some(config) if !ctx.has_errors() => Ok(Loaded {
                config,
                warnings: crate::problem::sorted(ctx.problems),
            }),
            _ => Err(ConfigErrors::new(ctx.problems)),
        }
    }
}

/// serde_json's message without its " at line L column C" suffix, which becomes the position.
pub(crate) fn json_error_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn not_json(err: &serde_json::Error) -> Problem {
    // serde_json says column 0 for the start of a line (after a newline, at the end of input);
    // columns here are 1-based.
    Problem::new(
        Severity::Error,
        ProblemKind::NotJson,
        "",
        format!("not valid JSON: {}", json_error_message(err)),
    )
    .with_line_column(err.line(), err.column().max(1))
}

/// The UTF-8 byte order mark some editors write first; JSON (RFC 8259) does not allow it.
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn starts_with_bom(bytes: &[u8]) -> Option<Problem> {
    bytes.starts_with(BOM).then(|| {
        Problem::new(
            Severity::Error,
            ProblemKind::NotJson,
            "",
            "not valid JSON: the text starts with a byte order mark (U+FEFF); save it as UTF-8 without one",
        )
        .with_line_column(1, 1)
    })
}

fn read_instance(ctx: &mut Ctx, value: &Value) -> Option<InstanceConfig> {
    let top = ctx.object(value, "")?;
    let extra = ctx.unknown_keys(top, "", Section::Instance, &[]);

    let element = ctx
        .required(top, "", "element", None)
        .and_then(|v| read_element(ctx, v));
    let provider_data = ctx
        .required(top, "", "providerData", None)
        .and_then(|v| read_provider_data(ctx, v));
    let configuration = ctx
        .required(top, "", "configuration", None)
        .and_then(|v| read_configuration(ctx, v, provider_data.as_ref()));
    let name = ctx
        .required(top, "", "name", None)
        .and_then(|v| ctx.string(v, "/name", "the instance name"));
    let tags = read_tags(ctx, top);

    Some(InstanceConfig {
        element: element?,
        provider_data: provider_data?,
        configuration: configuration?,
        tags: tags?,
        name: name?,
        extra,
    })
}

fn read_element(ctx: &mut Ctx, value: &Value) -> Option<ElementKey> {
    let map = ctx.object(value, "/element")?;
    ctx.unknown_keys(map, "/element", Section::Element, &[]);
    let key = ctx.required(map, "/element", "key", None)?;
    let key = ctx.string(key, "/element/key", "a connector key")?;
    let found = ElementKey::ALL
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(key.trim()));
    if found.is_none() {
        let known: Vec<&str> = ElementKey::ALL.iter().map(|k| k.as_str()).collect();
        ctx.error(
            ProblemKind::InvalidValue,
            "/element/key",
            format!(
                "unknown connector {}: known connectors are {}",
                quote(&key),
                known.join(", ")
            ),
        );
    }
    found
}

fn read_provider_data(ctx: &mut Ctx, value: &Value) -> Option<ProviderData> {
    const AT: &str = "/providerData";
    let map = ctx.object(value, AT)?;
    let extra = ctx.unknown_keys(map, AT, Section::ProviderData, &[]);
    let mut secret = |key: &str, what: &str| {
        Ctx::present(map, key).and_then(|v| ctx.secret(v, &child(AT, key), what))
    };
    let data = ProviderData {
        code: secret("code", "the authorization grant code"),
        access_token: secret("access_token", "an access token"),
        refresh_token: secret("refresh_token", "a refresh token"),
        extra,
    };
    let any_given = ["code", "access_token", "refresh_token"]
        .iter()
        .any(|key| Ctx::present(map, key).is_some());
    if !any_given {
        ctx.error(
            ProblemKind::Missing,
            &child(AT, "code"),
            "required key is missing: give the authorization grant code, or the access_token \
             and refresh_token you already hold",
        );
    } else if Ctx::present(map, "access_token").is_some()
        && Ctx::present(map, "refresh_token").is_none()
        && Ctx::present(map, "code").is_none()
    {
        ctx.warning(
            ProblemKind::Inconsistent,
            &child(AT, "refresh_token"),
            "an access_token without a refresh_token stops working when it expires \
             (after 5 minutes with Sage v3.1)",
        );
    }
    Some(data)
}

fn read_tags(ctx: &mut Ctx, top: &Map<String, Value>) -> Option<Vec<String>> {
    let Some(value) = Ctx::present(top, "tags") else {
        return Some(Vec::new());
    };
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => {
            let mut tags = Vec::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match ctx.string(item, &format!("/tags/{i}"), "a tag") {
                    Some(tag) => tags.push(tag),
                    None => ok = false,
                }
            }
            ok.then_some(tags)
        }
        other => {
            ctx.error(
                ProblemKind::WrongType,
                "/tags",
                format!("expected an array of strings, found {}", describe(other)),
            );
            None
        }
    }
}

const CONF: &str = "/configuration";

fn conf(key: &str) -> String {
    child(CONF, key)
}

fn read_configuration(
    ctx: &mut Ctx,
    value: &Value,
    provider_data: Option<&ProviderData>,
) -> Option<Configuration> {
    let map = ctx.object(value, CONF)?;
    let extra = ctx.unknown_keys(map, CONF, Section::Configuration, &[]);

    // OAuth client.
    let api_key = ctx
        .required(map, CONF, "oauth.api.key", None)
        .and_then(|v| ctx.string(v, &conf("oauth.api.key"), "the client id of your Sage app"));
    let api_secret = ctx
        .required(map, CONF, "oauth.api.secret", None)
        .and_then(|v| {
            ctx.secret(
                v,
                &conf("oauth.api.secret"),
                "the client secret of your Sage app",
            )
        });
    let has_code = provider_data.is_some_and(|p| p.code.is_some());
    let callback_url = if has_code {
        ctx.required(
            map,
            CONF,
            "oauth.callback.url",
            Some("providerData.code is set"),
        )
    } else {
        Ctx::present(map, "oauth.callback.url")
    }
    .and_then(|v| absolute_url(ctx, v, &conf("oauth.callback.url"), false));
    let token_url = Ctx::present(map, "oauth.token.url")
        .and_then(|v| absolute_url(ctx, v, &conf("oauth.token.url"), true));

    // Sage API.
    let api_version = read_with_default(ctx, map, "sage.api.version", |ctx, v, at| {
        let text = ctx.string(v, at, "v3.1 or v3")?;
        match text.trim().to_ascii_lowercase().as_str() {
            "v3.1" => Some(ApiVersion::V3_1),
            "v3" => Some(ApiVersion::V3),
            _ => {
                ctx.error(
                    ProblemKind::InvalidValue,
                    at,
                    format!(
                        "unknown Sage API version {}: expected v3.1 or v3",
                        quote(&text)
                    ),
                );
                None
            }
        }
    });
    let v3 = api_version == Some(ApiVersion::V3);
    ctx.v3 = v3;
    let v3_required = |ctx: &mut Ctx, key: &str| {
        if v3 {
            ctx.required(map, CONF, key, Some("sage.api.version is v3"))
        } else {
            Ctx::present(map, key)
        }
    };
    let country = v3_required(ctx, "country").and_then(|v| {
        let at = conf("country");
        let text = ctx.string(v, &at, "a country code")?;
        let country = Country::from_code(&text);
        if country.is_none() {
            ctx.error(
                ProblemKind::InvalidValue,
                &at,
                format!(
                    "unknown country {}: expected one of ca, de, es, fr, gb, ie, us (uk means gb)",
                    quote(&text)
                ),
            );
        }
        country
    });
    let signature_secret = v3_required(ctx, "signature.secret").and_then(|v| {
        ctx.secret(
            v,
            &conf("signature.secret"),
            "the signing secret of your Sage app",
        )
    });
    let apim_subscription_key = v3_required(ctx, "apim.subscription.key").and_then(|v| {
        ctx.secret(
            v,
            &conf("apim.subscription.key"),
            "your subscription primary key",
        )
    });
    let base_url =
        Ctx::present(map, "base.url").and_then(|v| absolute_url(ctx, v, &conf("base.url"), true));
    let business_id = Ctx::present(map, "sage.business.id").and_then(|v| {
        let at = conf("sage.business.id");
        let text = ctx.string(v, &at, "a business id")?;
        let text = text.trim().to_owned();
        if text.is_empty() {
            return None;
        }
        if v3 {
            ctx.error(
                ProblemKind::Inconsistent,
                &at,
                "sage.business.id applies to v3.1 only: v3 polls the business of the token's \
                 resource owner",
            );
            return None;
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            ctx.error(
                ProblemKind::InvalidValue,
                &at,
                format!(
                    "{} is not a Sage business id: expected letters, digits, - and _",
                    quote(&text)
                ),
            );
            return None;
        }
        Some(text)
    });

    let rate_limit = Ctx::present(map, "sage.rate_limit").and_then(|v| {
        let at = conf("sage.rate_limit");
        let calls = ctx.number(v, &at, "a number of calls a minute")?;
        if calls.fract() != 0.0 || !(1.0..=f64::from(MAX_RATE_LIMIT)).contains(&calls) {
            ctx.error(
                ProblemKind::InvalidValue,
                &at,
                format!(
                    "the rate limit must be a whole number of calls a minute from 1 to {MAX_RATE_LIMIT}, found {}",
                    crate::walk::number(calls)
                ),
            );
            return None;
        }
        // In range and whole: the conversion is exact.
        Some(calls as u32)
    });

    // Notifications.
    read_with_default(ctx, map, "event.vendor.type", |ctx, v, at| {
        let text = ctx.string(v, at, "polling")?;
        if text.trim().eq_ignore_ascii_case("polling") {
            Some(())
        } else {
            ctx.error(
                ProblemKind::InvalidValue,
                at,
                format!(
                    "unsupported event type {}: pollen only polls (expected polling)",
                    quote(&text)
                ),
            );
            None
        }
    });
    let enabled = read_with_default(ctx, map, "event.notification.enabled", |ctx, v, at| {
        ctx.boolean(v, at)
    });
    let checkpoints =
        read_with_default(ctx, map, "event.notification.checkpoints", |ctx, v, at| {
            ctx.boolean(v, at)
        });
    let notification_url = if enabled == Some(true) {
        ctx.required(
            map,
            CONF,
            "event.notification.callback.url",
            Some("event.notification.enabled is true"),
        )
    } else {
        Ctx::present(map, "event.notification.callback.url")
    }
    .and_then(|v| absolute_url(ctx, v, &conf("event.notification.callback.url"), true));
    let signature_key = Ctx::present(map, "event.notification.signature.key").and_then(|v| {
        ctx.secret(
            v,
            &conf("event.notification.signature.key"),
            "the signature key",
        )
    });
    let standard_webhooks_secret = read_whsec(ctx, map, STANDARD_WEBHOOKS_SECRET);
    let alerts_url =
        Ctx::present(map, ALERTS_URL).and_then(|v| absolute_url(ctx, v, &conf(ALERTS_URL), true));
    let alerts_secret = read_whsec(ctx, map, ALERTS_SECRET);
    let basic = read_basic(ctx, map);
    let headers = poller::read_headers(ctx, map);

    // Poller.
    let refresh_interval = read_with_default(
        ctx,
        map,
        "event.poller.refresh_interval",
        |ctx, v, at| {
            let minutes = ctx.number(v, at, "a number of minutes")?;
            if minutes <= 0.0 {
                ctx.error(
                    ProblemKind::InvalidValue,
                    at,
                    format!(
                        "the refresh interval must be more than 0 minutes, found {}",
                        crate::walk::number(minutes)
                    ),
                );
                return None;
            }
            if minutes > MAX_REFRESH_MINUTES {
                ctx.error(
                    ProblemKind::InvalidValue,
                    at,
                    format!("the refresh interval must be at most {MAX_REFRESH_MINUTES} minutes (a year), found {}", crate::walk::number(minutes)),
                );
                return None;
            }
            Some(Duration::from_secs_f64(minutes * 60.0))
        },
    );
    let reconcile_interval = read_with_default(
        ctx,
        map,
        "event.poller.reconcile_interval",
        |ctx, v, at| {
            let minutes = ctx.number(v, at, "a number of minutes")?;
            if !(0.0..=MAX_REFRESH_MINUTES).contains(&minutes) {
                ctx.error(
                    ProblemKind::InvalidValue,
                    at,
                    format!(
                        "the reconcile interval must be between 0 (off) and {MAX_REFRESH_MINUTES} minutes, found {}",
                        crate::walk::number(minutes)
                    ),
                );
                return None;
            }
            Some((minutes > 0.0).then(|| Duration::from_secs_f64(minutes * 60.0)))
        },
    );
    let timezone = read_with_default(ctx, map, "event.poller.timezone", |ctx, v, at| {
        poller::zone(ctx, v, at)
    });
    let backfill_since = Ctx::present(map, "event.poller.backfill_since").and_then(|v| {
        let at = conf("event.poller.backfill_since");
        let text = ctx.string(v, &at, "an RFC 3339 date-time")?;
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(instant) => Some(instant.with_timezone(&Utc)),
            Err(err) => {
                ctx.error(
                    ProblemKind::InvalidValue,
                    &at,
                    format!(
                        "expected an RFC 3339 date-time such as 2024-01-01T00:00:00Z, found {} ({err})",
                        quote(&text)
                    ),
                );
                None
            }
        }
    });
    // Templates are compiled in the poller's zone; with a broken zone, in UTC, to still report
    // their own problems.
    let template_zone = timezone
        .as_ref()
        .map_or(pollen_template::Zone::UTC, |z| z.zone().clone());
    let resources = poller::read_resources(ctx, map, &template_zone);
    let names: Option<BTreeSet<String>> = resources.as_ref().map(|r| r.keys().cloned().collect());
    let subscriptions = crate::subscription::read_subscriptions(ctx, map, names.as_ref());

    if let (Some(enabled), Some(resources)) = (enabled, &resources) {
        if !enabled && !resources.is_empty() {
            ctx.warning(
                ProblemKind::Inconsistent,
                &conf("event.notification.enabled"),
                "resources are configured but notifications are disabled: nothing is polled \
                 until event.notification.enabled is true",
            );
        }
        if enabled && resources.is_empty() {
            ctx.warning(
                ProblemKind::Inconsistent,
                &conf("event.poller.configuration"),
                "notifications are enabled but no resource is configured: nothing is polled",
            );
        }
    }

    Some(Configuration {
        oauth: OAuth {
            api_key: api_key?,
            api_secret: api_secret?,
            callback_url,
            token_url,
        },
        sage: Sage {
            api_version: api_version?,
            country,
            signature_secret,
            apim_subscription_key,
            base_url,
            business_id,
            rate_limit,
        },
        notification: Notification {
            enabled: enabled?,
            callback_url: notification_url,
            signature_key,
            standard_webhooks_secret,
            basic: basic?,
            headers: headers?,
            subscriptions: subscriptions?,
            checkpoints: checkpoints?,
            alerts_url,
            alerts_secret,
        },
        poller: Poller {
            refresh_interval: refresh_interval?,
            timezone: timezone?,
            backfill_since,
            reconcile_interval: reconcile_interval?,
            resources: resources?,
        },
        extra,
    })
}

/// Reads `map[key]` with `read`, or, when absent, the schema's default through the same `read`
/// (so the documented default and the applied one cannot differ).
pub(crate) fn read_with_default<T>(
    ctx: &mut Ctx,
    map: &Map<String, Value>,
    key: &str,
    read: impl FnOnce(&mut Ctx, &Value, &str) -> Option<T>,
) -> Option<T> {
    read_section_default(ctx, map, CONF, Section::Configuration, key, read)
}

/// As [`read_with_default`] for any section, the object being at `parent`.
pub(crate) fn read_section_default<T>(
    ctx: &mut Ctx,
    map: &Map<String, Value>,
    parent: &str,
    section: Section,
    key: &str,
    read: impl FnOnce(&mut Ctx, &Value, &str) -> Option<T>,
) -> Option<T> {
    let at = child(parent, key);
    match Ctx::present(map, key) {
        Some(value) => read(ctx, value, &at),
        None => {
            let default = Value::String(default_value(section, key).to_owned());
            let mut scratch = Ctx::default();
            let value = read(&mut scratch, &default, &at);
            debug_assert!(scratch.problems.is_empty(), "bad default for {key}");
            ctx.problems.extend(scratch.problems);
            value
        }
    }
}

fn read_basic(ctx: &mut Ctx, map: &Map<String, Value>) -> Option<Option<BasicAuth>> {
    let user_key = "event.notification.basic.username";
    let pass_key = "event.notification.basic.password";
    let username = Ctx::present(map, user_key)
        .map(|v| ctx.string(v, &conf(user_key), "the basic-auth user name"));
    let password = Ctx::present(map, pass_key)
        .map(|v| ctx.secret(v, &conf(pass_key), "the basic-auth password"));
    match (username, password) {
        (None, None) => Some(None),
        (Some(username), Some(password)) => Some(Some(BasicAuth {
            username: username?,
            password: password?,
        })),
        (Some(_), None) => {
            ctx.error(
                ProblemKind::Missing,
                &conf(pass_key),
                format!("required when {user_key} is set, but missing"),
            );
            None
        }
        (None, Some(_)) => {
            ctx.error(
                ProblemKind::Missing,
                &conf(user_key),
                format!("required when {pass_key} is set, but missing"),
            );
            None
        }
    }
}

/// An absolute URL; `http(s)` only when `web` is set.
pub(crate) fn absolute_url(
    ctx: &mut Ctx,
    value: &Value,
    at: &str,
    web: bool,
) -> Option<AbsoluteUrl> {
    let text = ctx.string(value, at, "an absolute URL")?;
    let url = match Url::parse(text.trim()) {
        Ok(url) => url,
        Err(err) => {
            ctx.error(
                ProblemKind::InvalidValue,
                at,
                format!(
                    "expected an absolute URL such as https://example.com/path, found {} ({err})",
                    quote(&text)
                ),
            );
            return None;
        }
    };
    if web && !matches!(url.scheme(), "http" | "https") {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!(
                "expected an http or https URL, found the scheme {}",
                quote(url.scheme())
            ),
        );
        return None;
    }
    if web && url.host_str().is_none_or(str::is_empty) {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!("expected a URL with a host, found {}", quote(&text)),
        );
        return None;
    }
    Some(AbsoluteUrl::new(text.trim().to_owned(), url))
}

const STANDARD_WEBHOOKS_SECRET: &str = "event.notification.standard_webhooks.secret";
const ALERTS_URL: &str = "event.notification.alerts.url";
const ALERTS_SECRET: &str = "event.notification.alerts.secret";

/// A `whsec_` secret at `key` (Standard Webhooks: base64 of 24 to 64 bytes), when present.
fn read_whsec(ctx: &mut Ctx, map: &Map<String, Value>, key: &str) -> Option<crate::Secret> {
    Ctx::present(map, key).and_then(|v| standard_webhooks_secret(ctx, v, &conf(key)))
}

/// A Standard Webhooks secret at `at`: `whsec_` and base64 of 24 to 64 bytes.
pub(crate) fn standard_webhooks_secret(ctx: &mut Ctx, value: &Value, at: &str) -> Option<Secret> {
    let secret = ctx.secret(value, at, "a Standard Webhooks secret `whsec_...`")?;
    match standard_webhooks_key_len(secret.expose()) {
        Some(len) if (24..=64).contains(&len) => Some(secret),
        Some(len) => {
            ctx.error(
                ProblemKind::InvalidValue,
                at,
                format!("the Standard Webhooks secret decodes to {len} bytes; expected 24 to 64"),
            );
            None
        }
        None => {
            ctx.error(
                ProblemKind::InvalidValue,
                at,
                "expected `whsec_` followed by standard base64 (the value is not shown)",
            );
            None
        }
    }
}

/// The number of bytes a `whsec_<base64>` secret decodes to (padded standard alphabet, as the
/// Standard Webhooks libraries write it), or `None` when it is not that shape. Only the length is
/// computed: the key itself is decoded by the sender.
fn standard_webhooks_key_len(text: &str) -> Option<usize> {
    let encoded = text.trim().strip_prefix("whsec_")?.as_bytes();
    if encoded.is_empty() || encoded.len() % 4 != 0 {
        return None;
    }
    let padding = encoded.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return None;
    }
    let body = &encoded[..encoded.len() - padding];
    if !body
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
    {
        return None;
    }
    Some(encoded.len() / 4 * 3 - padding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, DefaultValue};

    /// The smallest instance: every key with a default is absent, so every default is read
    /// (through the same code as a user's value) and must read without a problem.
    #[test]
    fn every_default_reads_cleanly() {
        let json = serde_json::json!({
            "element": {"key": "sageone"},
            "providerData": {"refresh_token": "r"},
            "configuration": {
                "oauth.api.key": "k",
                "oauth.api.secret": "s",
                "event.poller.configuration": {"customers": {"url": "/hubs/finance/customers"}}
            },
            "name": "n"
        });
        let loaded = InstanceConfig::from_json_value(&json).expect("loads");
        let warnings: Vec<&str> = loaded.warnings.iter().map(Problem::pointer).collect();
        // The one warning: notifications are off by default.
        assert_eq!(warnings, ["/configuration/event.notification.enabled"]);
        let c = &loaded.config.configuration;
        assert_eq!(c.sage.api_version, ApiVersion::V3_1);
        assert!(!c.notification.enabled);
        assert!(!c.notification.checkpoints);
        assert_eq!(c.poller.refresh_interval, Duration::from_secs(15 * 60));
        assert_eq!(c.poller.timezone.as_str(), "UTC");
        assert_eq!(
            c.poller.reconcile_interval,
            Some(Duration::from_secs(24 * 3600))
        );
        let customers = &c.poller.resources["customers"];
        assert_eq!(customers.id_field.as_str(), "id");
        assert!(customers.filter_by_updated_date);
        assert!(!customers.filter_by_current_date);
        assert_eq!(customers.created_check_tolerance, Duration::from_secs(10));
        assert_eq!(customers.poll_delay, Duration::ZERO);
        assert_eq!(customers.dates.updated.timezone.as_str(), "GMT");
        assert_eq!(customers.dates.created.timezone.as_str(), "GMT");
        // Every documented value default is one of those just checked, or a subscription's
        // `checkpoints` (fixture `subscriptions-valid`).
        let defaults = schema::KEYS
            .iter()
            .filter(|k| matches!(k.default, DefaultValue::Value(_)))
            .count();
        assert_eq!(defaults, 14);
    }
}
