//! One signed POST outside the outbox: operational alerts. The caller keeps the state (which
//! message, how many attempts); a [`Poster`] makes one attempt with the same headers, SSRF
//! guard and timeout as a notification's, and says what came of it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::attempt::{attempt, AttemptContext};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::guard::{AddressPolicy, GuardedResolver};

/// What one [`Poster::post`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostOutcome {
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// Why it failed (`None`: a 2xx). Never holds the URL's credentials or a secret.
    pub error: Option<String>,
    /// How long the receiver asked to wait (`Retry-After`), when it did.
    pub retry_after: Option<Duration>,
}

impl PostOutcome {
    /// Whether the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Signed single POSTs (see [`Poster::post`]).
#[derive(Debug, Clone)]
pub struct Poster {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    timeout: Duration,
}

impl Poster {
    /// A poster connecting only where `policy` allows, each request bounded by `timeout`.
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Poster> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf, out of the guard's sight.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .build()
            .map_err(|e| Error::new(ErrorKind::Client, format!("http client: {e}")))?;
        Ok(Poster {
            client,
            policy,
            timeout,
        })
    }

    /// POSTs `body` to `endpoint` once, with the headers of [`crate::request_headers`]
    /// (`webhook-id` = `id`, the Standard Webhooks signature when the endpoint has a secret).
    /// Redirects are failures, as for notifications.
    pub async fn post(
        &self,
        endpoint: &Endpoint,
        id: &str,
        body: Vec<u8>,
        at: DateTime<Utc>,
    ) -> PostOutcome {
        let cx = AttemptContext {
            client: &self.client,
            policy: &self.policy,
            timeout: self.timeout,
        };
        let outcome = attempt(&cx, endpoint, id, &bytes::Bytes::from(body), at).await;
        PostOutcome {
            status: outcome.attempt.status,
            error: outcome.attempt.error,
            retry_after: outcome.failure.and_then(|f| f.retry_after),
        }
    }
}
