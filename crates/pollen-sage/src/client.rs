//! One GET against Sage's API: the headers of each generation, v3 signing, a token refresh on
//! 401, bounded retries of 429 / 5xx / connection errors, a response size cap.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use pollen_config::ApiVersion;
use pollen_core::Purpose;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use tracing::Instrument;
use url::Url;

use crate::auth::{Auth, Credentials};
use crate::budget::RateBudget;
use crate::error::{ApiError, Error, ErrorKind, Result};
use crate::settings::SageSettings;
use crate::signing::{nonce, Signer};

/// A successful response.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    /// The `Date` header.
    pub(crate) date: Option<DateTime<Utc>>,
}

/// The HTTP side of one instance.
#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    settings: Arc<SageSettings>,
    auth: Arc<Auth>,
    budget: Option<Arc<Budgeted>>,
    /// The v3.1 business whose budget the calls spend (kept when `X-Business` is not sent).
    budget_business: Option<String>,
}

/// The rate budget an instance's calls draw from.
#[derive(Debug)]
pub(crate) struct Budgeted {
    pub(crate) budget: Arc<RateBudget>,
    /// Calls a minute.
    pub(crate) limit: u32,
    /// The key when the business is not known: a v3.1 instance without `sage.business.id`.
    pub(crate) fallback: String,
}

/// What a transport error was, without the URL (reqwest's `Display` names it, and the caller
/// already does).
pub(crate) fn describe_transport(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "the response body was cut off"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

/// `METHOD path?query`, for messages (the URL holds no credential).
pub(crate) fn describe(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("GET {}?{query}", url.path()),
        None => format!("GET {}", url.path()),
    }
}

/// Sage's error array (or v1's `{"$diagnoses": […]}`), if the body is one.
pub(crate) fn api_errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Shape {
        List(Vec<ApiError>),
        Wrapped {
            #[serde(rename = "$diagnoses")]
            diagnoses: Vec<ApiError>,
        },
        One(ApiError),
    }
    match serde_json::from_slice::<Shape>(body) {
        Ok(Shape::List(list) | Shape::Wrapped { diagnoses: list }) => list,
        Ok(Shape::One(one)) if !one.data_code.is_empty() => vec![one],
        _ => Vec::new(),
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

fn date_header(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let text = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    httpdate::parse_http_date(text)
        .ok()
        .map(DateTime::<Utc>::from)
}

/// `true` for Sage's "No active subscription" refusal, which a refresh cannot cure.
fn no_active_subscription(errors: &[ApiError]) -> bool {
    errors.iter().any(|e| {
        e.message
            .to_ascii_lowercase()
            .contains("no active subscription")
    })
}

fn summary(status: StatusCode, errors: &[ApiError]) -> String {
    let mut text = format!("HTTP {}", status.as_u16());
    for error in errors.iter().take(3) {
        text.push_str(", ");
        text.push_str(&error.to_string());
    }
    text
}

enum Outcome {
    Done(Fetched),
    Status(StatusCode, HeaderMap, Bytes),
}

impl Api {
    pub(crate) fn new(
        http: reqwest::Client,
        settings: Arc<SageSettings>,
        auth: Arc<Auth>,
        budget: Option<Arc<Budgeted>>,
    ) -> Api {
        Api {
            budget_business: settings.business_id.clone(),
            http,
            settings,
            auth,
            budget,
        }
    }

    /// The business whose budget a call spends: v3's `X-Site`, v3.1's `X-Business`, else the
    /// instance's own key.
    fn business_key<'a>(&'a self, credentials: &'a Credentials, budget: &'a Budgeted) -> &'a str {
        match self.settings.api_version {
            ApiVersion::V3 => credentials
                .resource_owner_id
                .as_deref()
                .or(self.settings.resource_owner_id.as_deref()),
            _ => self.budget_business.as_deref(),
        }
        .unwrap_or(&budget.fallback)
    }

    /// The same API without `X-Business`: for user-level requests (the businesses list).
    pub(crate) fn without_business(&self) -> Api {
        let mut settings = (*self.settings).clone();
        settings.business_id = None;
        // Its calls still spend the instance's budget: Sage counts them against a business.
        let mut api = Api::new(
            self.http.clone(),
            Arc::new(settings),
            Arc::clone(&self.auth),
            self.budget.clone(),
        );
        api.budget_business.clone_from(&self.budget_business);
        api
    }

    fn headers(&self, url: &Url, credentials: &Credentials) -> Result<HeaderMap> {
        let settings = &self.settings;
        let mut headers = HeaderMap::new();
        let value = |text: &str, what: &str| {
            HeaderValue::from_str(text).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("the {what} holds characters not allowed in an HTTP header"),
                )
            })
        };
        let mut bearer = value(
            &format!("Bearer {}", credentials.access_token.expose()),
            "access token",
        )?;
        bearer.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            reqwest::header::USER_AGENT,
            value(&settings.user_agent, "user agent")?,
        );
        match settings.api_version {
            ApiVersion::V3 => {
                let owner = credentials
                    .resource_owner_id
                    .as_deref()
                    .or(settings.resource_owner_id.as_deref())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidConfig,
                            "v3 requests need the business id (X-Site), but the token response \
                             carried no resource_owner_id",
                        )
                    })?;
                let secret = settings.signing_secret.as_ref().map_or("", |s| s.expose());
                let key = settings
                    .subscription_key
                    .as_ref()
                    .map_or("", |s| s.expose());
                let nonce = nonce();
                let signature = Signer {
                    signing_secret: secret,
                    access_token: credentials.access_token.expose(),
                    resource_owner_id: owner,
                }
                .signature("GET", url, b"", &nonce);
                let mut key = value(key, "subscription key")?;
                key.set_sensitive(true);
                headers.insert("ocp-apim-subscription-key", key);
                headers.insert("x-site", value(owner, "resource owner id")?);
                headers.insert("x-nonce", value(&nonce, "nonce")?);
                headers.insert("x-signature", value(&signature, "signature")?);
                headers.insert(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            _ => {
                if let Some(business) = &settings.business_id {
                    headers.insert("x-business", value(business, "business id")?);
                }
            }
        }
        Ok(headers)
    }

    /// Reads the body, refusing more than the cap.
    async fn body(&self, mut response: reqwest::Response, url: &Url) -> Result<Bytes> {
        let cap = self.settings.max_response_bytes;
        let too_large = |size: String| {
            Error::new(
                ErrorKind::ResponseTooLarge,
                format!(
                    "{}: the response body ({size}) is larger than the cap of {cap} bytes",
                    describe(url)
                ),
            )
        };
        if let Some(length) = response.content_length() {
            if length > cap as u64 {
                return Err(too_large(format!("{length} bytes")));
            }
        }
        let mut body = BytesMut::with_capacity(
            response
                .content_length()
                .map_or(64 << 10, |n| n as usize)
                .min(cap),
        );
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!("{}: {}", describe(url), describe_transport(&e)),
            )
        })? {
            if body.len() + chunk.len() > cap {
                return Err(too_large(format!("over {cap} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    async fn attempt(&self, url: &Url, credentials: &Credentials) -> Result<Outcome> {
        let headers = self.headers(url, credentials)?;
        let response = self
            .http
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Transport,
                    format!("{}: {}", describe(url), describe_transport(&e)),
                )
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.body(response, url).await?;
        if status.is_success() {
            return Ok(Outcome::Done(Fetched {
                status: status.as_u16(),
                body,
                date: date_header(&headers),
            }));
        }
        Ok(Outcome::Status(status, headers, body))
    }

    /// GETs `url`: refreshes the token once on a 401, retries 429, 5xx and connection errors
    /// within the [`RetryPolicy`](crate::RetryPolicy), fails at once on other statuses.
    /// Every attempt first takes a call from the rate budget, at `purpose`'s priority.
    pub(crate) async fn get(&self, url: &Url, purpose: Purpose) -> Result<Fetched> {
        self.get_page(url, purpose, None).await
    }

    /// [`Api::get`] of page `page` of a walk (1 first), for the request's span.
    pub(crate) async fn get_page(
        &self,
        url: &Url,
        purpose: Purpose,
        page: Option<u64>,
    ) -> Result<Fetched> {
        // The path only: the query holds the filter (record values), never needed to follow
        // a trace.
        let span = tracing::info_span!(
            "sage.request",
            method = "GET",
            path = url.path(),
            purpose = purpose.as_str(),
            // Signed: an OpenTelemetry layer exports u64 fields as strings.
            page = page.map(|p| p as i64),
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let result = self
            .get_with_retries(url, purpose, &span)
            .instrument(span.clone())
            .await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }

    async fn get_with_retries(
        &self,
        url: &Url,
        purpose: Purpose,
        span: &tracing::Span,
    ) -> Result<Fetched> {
        let policy = &self.settings.retry;
        let mut retry = 0u32;
        let mut refreshed = false;
        loop {
            let mut credentials = self.auth.access().await?;
            if let Some(budget) = &self.budget {
                let business = self.business_key(&credentials, budget).to_owned();
                budget
                    .budget
                    .acquire(&business, budget.limit, purpose)
                    .await?;
                // The wait may have outlived the access token: take the current one.
                credentials = self.auth.access().await?;
            }
            let started = std::time::Instant::now();
            let outcome = self.attempt(url, &credentials).await;
            span.record("attempts", i64::from(retry + 1));
            match &outcome {
                Ok(Outcome::Done(fetched)) => span.record("status", i64::from(fetched.status)),
                Ok(Outcome::Status(status, _, _)) => {
                    span.record("status", i64::from(status.as_u16()))
                }
                Err(_) => span,
            };
            let (error, wait) = match outcome {
                Ok(Outcome::Done(fetched)) => {
                    tracing::debug!(
                        request = %describe(url),
                        bytes = fetched.body.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "sage page fetched"
                    );
                    return Ok(fetched);
                }
                Err(error) if error.kind() == ErrorKind::Transport => {
                    let wait = policy.backoff(retry);
                    (error, wait)
                }
                Err(error) => return Err(error),
                Ok(Outcome::Status(status, headers, body)) => {
                    let errors = api_errors(&body);
                    let error = Error::new(
                        ErrorKind::Api,
                        format!("{}: {}", describe(url), summary(status, &errors)),
                    )
                    .with_status(status.as_u16())
                    .with_api_errors(errors.clone());
                    tracing::debug!(request = %describe(url), status = status.as_u16(), "sage error");
                    match status.as_u16() {
                        401 if no_active_subscription(&errors) => {
                            let reason =
                                format!("Sage refuses the business: {}", summary(status, &errors));
                            return Err(self.auth.require_reauthorization(&reason).await);
                        }
                        401 if !refreshed => {
                            refreshed = true;
                            self.auth.unauthorized(credentials.generation).await?;
                            continue;
                        }
                        401 => {
                            return Err(Error::new(
                                ErrorKind::Unauthorized,
                                format!(
                                    "{}: Sage refused a freshly refreshed token: {}",
                                    describe(url),
                                    summary(status, &errors)
                                ),
                            )
                            .with_status(401)
                            .with_api_errors(errors))
                        }
                        429 | 503 => {
                            let wait = retry_after(&headers);
                            if let Some(wait) = wait.filter(|w| *w > policy.max_retry_after) {
                                return Err(Error::new(
                                    ErrorKind::RateLimited,
                                    format!(
                                        "{}: Sage asks to retry after {} s, longer than the {} s allowed",
                                        describe(url),
                                        wait.as_secs(),
                                        policy.max_retry_after.as_secs()
                                    ),
                                )
                                .with_status(status.as_u16())
                                .with_api_errors(errors));
                            }
                            let kind = if status.as_u16() == 429 {
                                ErrorKind::RateLimited
                            } else {
                                ErrorKind::Api
                            };
                            let error = Error::new(kind, error.message().to_owned())
                                .with_status(status.as_u16())
                                .with_api_errors(errors);
                            (error, wait.unwrap_or_else(|| policy.backoff(retry)))
                        }
                        500..=599 => (error, policy.backoff(retry)),
                        _ => return Err(error),
                    }
                }
            };
            if retry >= policy.max_retries {
                let attempts = retry + 1;
                return Err(Error::new(
                    error.kind(),
                    format!("{} (gave up after {attempts} attempts)", error.message()),
                )
                .with_status_of(&error));
            }
            tracing::debug!(
                request = %describe(url),
                wait_ms = wait.as_millis() as u64,
                retry = retry + 1,
                "retrying sage request"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}
