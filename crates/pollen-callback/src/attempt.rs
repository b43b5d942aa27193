//! One delivery attempt: the request, its headers, and what the answer means.

use std::error::Error as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use pollen_core::{DeliveryAttempt, RESPONSE_EXCERPT_LIMIT};
use url::Host;

use crate::endpoint::Endpoint;
use crate::guard::{AddressPolicy, BlockedAddress};
use crate::retry::{parse_retry_after, Failure};
use crate::sign::elements_signature;

/// `User-Agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("pollen/", env!("CARGO_PKG_VERSION"));

/// The headers of one attempt, in the order they are set: extra headers first, then the
/// sender's own (which replace any extra header of the same name).
///
/// `timestamp` (Unix seconds) is the attempt's start: it goes into `webhook-timestamp` and the
/// Standard Webhooks signature.
pub fn request_headers(
    endpoint: &Endpoint,
    id: &str,
    body: &[u8],
    timestamp: i64,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut map = HeaderMap::new();
    for (name, value) in endpoint.headers() {
        map.append(name.clone(), value.clone());
    }
    let mut set = |name: HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    };
    set(CONTENT_TYPE, "application/json".into());
    set(USER_AGENT, USER_AGENT_VALUE.into());
    set(HeaderName::from_static("elements-webhook-id"), id.into());
    if let Some(key) = endpoint.signature_key() {
        set(
            HeaderName::from_static("elements-webhook-signature"),
            elements_signature(key.expose().as_bytes(), body),
        );
    }
    // During a rotation's grace period the replaced keys sign too.
    let previous: Vec<String> = endpoint
        .previous_signature_keys(timestamp)
        .map(|key| elements_signature(key.expose().as_bytes(), body))
        .collect();
    if !previous.is_empty() {
        set(
            HeaderName::from_static("elements-webhook-signature-previous"),
            previous.join(", "),
        );
    }
    if let Some(secret) = endpoint.standard_webhooks() {
        set(HeaderName::from_static("webhook-id"), id.into());
        set(
            HeaderName::from_static("webhook-timestamp"),
            timestamp.to_string(),
        );
        let signatures: Vec<String> = std::iter::once(secret)
            .chain(endpoint.previous_standard_webhooks(timestamp))
            .map(|s| s.sign(id, timestamp, body))
            .collect();
        set(
            HeaderName::from_static("webhook-signature"),
            signatures.join(" "),
        );
    }
    if let Some((user, password)) = endpoint.basic() {
        let token = BASE64.encode(format!("{user}:{}", password.expose()));
        if let Ok(mut value) = HeaderValue::from_str(&format!("Basic {token}")) {
            value.set_sensitive(true);
            map.insert(AUTHORIZATION, value);
        }
    }
    let mut headers = Vec::with_capacity(map.len());
    let mut last = None;
    for (name, value) in map {
        // `HeaderMap`'s owned iterator yields the name once per group of values.
        if let Some(name) = name {
            last = Some(name);
        }
        if let Some(name) = &last {
            headers.push((name.clone(), value));
        }
    }
    headers
}

/// What an attempt came to.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The delivery-log row.
    pub(crate) attempt: DeliveryAttempt,
    /// `None` on success.
    pub(crate) failure: Option<Failure>,
}

impl Outcome {
    pub(crate) fn failed(
        at: DateTime<Utc>,
        started: Instant,
        status: Option<u16>,
        error: String,
        failure: Failure,
    ) -> Outcome {
        Outcome {
            attempt: DeliveryAttempt {
                at,
                status,
                latency_ms: millis(started.elapsed()),
                error: Some(error),
                response_excerpt: String::new(),
            },
            failure: Some(failure),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Everything one attempt needs besides the notification.
pub(crate) struct AttemptContext<'a> {
    pub(crate) client: &'a reqwest::Client,
    pub(crate) policy: &'a AddressPolicy,
    pub(crate) timeout: Duration,
}

/// POSTs `body` to `endpoint` once, and reads what happened.
pub(crate) async fn attempt(
    cx: &AttemptContext<'_>,
    endpoint: &Endpoint,
    id: &str,
    body: &bytes::Bytes,
    at: DateTime<Utc>,
) -> Outcome {
    let started = Instant::now();
    // IP literals never reach the resolver: check them here.
    let literal = match endpoint.url().host() {
        Some(Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        _ => None,
    };
    if let Some(addr) = literal {
        if let Err(blocked) = cx.policy.check(addr) {
            return Outcome::failed(at, started, None, blocked.to_string(), Failure::default());
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in request_headers(endpoint, id, body, at.timestamp()) {
        headers.append(name, value);
    }
    let sent = cx
        .client
        .post(endpoint.url().clone())
        .headers(headers)
        .body(body.clone())
        .timeout(cx.timeout)
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => return transport_failure(cx, endpoint, at, started, &e),
    };
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, at));
    let location = header("location");
    let excerpt = read_excerpt(&mut response).await;
    let mut row = DeliveryAttempt {
        at,
        status: Some(status.as_u16()),
        latency_ms: millis(started.elapsed()),
        error: None,
        response_excerpt: excerpt,
    };
    if status.is_success() {
        return Outcome {
            attempt: row,
            failure: None,
        };
    }
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    let answered = format!("receiver answered {code} {reason}")
        .trim_end()
        .to_owned();
    row.error = Some(if status.is_redirection() {
        match location {
            Some(to) => format!("{answered} (to {to}); redirects are not followed"),
            None => format!("{answered}; redirects are not followed"),
        }
    } else if code == 410 {
        format!("{answered}: the subscription is deactivated")
    } else {
        answered
    });
    Outcome {
        attempt: row,
        failure: Some(Failure {
            gone: code == 410,
            throttled: code == 429,
            retry_after,
        }),
    }
}

/// Up to [`RESPONSE_EXCERPT_LIMIT`] bytes of the body, cut at a character boundary.
async fn read_excerpt(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < RESPONSE_EXCERPT_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            // A body that breaks off keeps what arrived; the status already decided.
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(RESPONSE_EXCERPT_LIMIT);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if text.len() > RESPONSE_EXCERPT_LIMIT {
        let mut cut = RESPONSE_EXCERPT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn transport_failure(
    cx: &AttemptContext<'_>,
    endpoint: &Endpoint,
    at: DateTime<Utc>,
    started: Instant,
    error: &reqwest::Error,
) -> Outcome {
    // The resolver's refusal, wherever the client wrapped it.
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedAddress>() {
            return Outcome::failed(at, started, None, blocked.to_string(), Failure::default());
        }
        source = e.source();
    }
    let host = endpoint.url().host_str().unwrap_or("?");
    if error.is_timeout() {
        let failure = Failure {
            throttled: true,
            ..Failure::default()
        };
        let message = format!("no response from {host} within {:?}", cx.timeout);
        return Outcome::failed(at, started, None, message, failure);
    }
    // The innermost cause says most ("connection refused", "dns error …"); no URL, so no
    // credentials or query tokens reach the log.
    let mut cause = error.without_url_ref();
    let mut source = error.source();
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    let what = if error.is_connect() {
        "could not connect to"
    } else {
        "request failed to"
    };
    Outcome::failed(
        at,
        started,
        None,
        format!("{what} {host}: {cause}"),
        Failure::default(),
    )
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<callback url>");
        }
        text
    }
}
