//! Operational alerts in the binary: the engine's loop that checks the stored state for alert
//! conditions ([`SqlStore::check_alerts`]) and POSTs each opening and resolution, signed in
//! the Standard Webhooks format, to the server-wide `--alerts-url` and to the instance's
//! `event.notification.alerts.url`. The body is documented in docs/events.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pollen_callback::{Endpoint, Poster, StandardWebhooksSecret};
use pollen_config::Secret;
use pollen_store::{Alert, AlertDelivery, AlertOutcome, AlertSettings, AlertTarget, SqlStore};
use serde_json::json;

use crate::error::{Error, ErrorKind, Result};

/// How often the engine checks for alert conditions and sends due alert deliveries.
pub(crate) const ALERT_INTERVAL: Duration = Duration::from_secs(2);

/// Attempts at one alert delivery before it is given up (about 80 minutes of waits with the
/// back-off below).
const MAX_ATTEMPTS: u32 = 12;

/// A claimed delivery stays with its claimer this long (well over one attempt's timeout).
const CLAIM_FOR: TimeDelta = TimeDelta::seconds(30);

/// Deliveries claimed per round at most.
const CLAIM_BATCH: usize = 32;

/// Where and how alerts go, besides each instance's own URL.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct AlertOptions {
    /// The server-wide URL (`--alerts-url`).
    pub url: Option<String>,
    /// Its Standard Webhooks secret (`POLLEN_ALERTS_SECRET`); never logged or shown.
    pub secret: Option<Secret>,
    /// Failed polls in a row that open an alert (`--alert-after-failures`, default 5).
    pub after_failures: u32,
}

impl AlertOptions {
    /// No server-wide URL, 5 failures.
    pub fn new() -> Self {
        AlertOptions {
            url: None,
            secret: None,
            after_failures: 5,
        }
    }
}

impl std::fmt::Debug for AlertOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertOptions")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("after_failures", &self.after_failures)
            .finish()
    }
}

/// Alert deliveries by outcome, since the process started.
#[derive(Debug, Default)]
pub(crate) struct AlertCounters {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) given_up: AtomicU64,
    pub(crate) skipped: AtomicU64,
    /// The alerts open in the whole database at the last check (the console's bell).
    pub(crate) open: AtomicU64,
}

impl AlertCounters {
    /// `(outcome, count)` for `pollen_alert_deliveries_total{outcome}`.
    pub(crate) fn snapshot(&self) -> [(&'static str, u64); 4] {
        [
            ("delivered", self.delivered.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
            ("given_up", self.given_up.load(Ordering::Relaxed)),
            ("skipped", self.skipped.load(Ordering::Relaxed)),
        ]
    }
}

/// An alert as JSON: the `data` of an announcement (docs/events.md), an item of `GET /alerts`.
pub fn alert_json(alert: &Alert) -> serde_json::Value {
    json!({
        "id": alert.id,
        "kind": alert.kind.as_str(),
        "instanceId": alert.instance.parse::<i64>().ok(),
        "subject": alert.subject,
        "detail": alert.detail,
        "openedAt": alert.opened_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "resolvedAt": alert.resolved_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        "state": if alert.resolved_at.is_some() { "resolved" } else { "open" },
    })
}

fn body(delivery: &AlertDelivery, at: DateTime<Utc>) -> Vec<u8> {
    let value = json!({
        "type": format!("alert.{}", delivery.event.as_str()),
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": alert_json(&delivery.alert),
    });
    value.to_string().into_bytes()
}

/// The wait after the `attempts`-th failure: 5 s doubling, at most 20 min.
fn backoff(attempts: u32) -> TimeDelta {
    TimeDelta::seconds(5 * (1i64 << attempts.min(8))).min(TimeDelta::minutes(20))
}

/// One round: the check, then the due deliveries.
pub(crate) async fn round(
    store: &SqlStore,
    poster: &Poster,
    owner: &str,
    options: &AlertOptions,
    counters: &AlertCounters,
) -> Result<()> {
    let now = Utc::now();
    let settings = AlertSettings::new().with_failures(options.after_failures);
    let changes = store
        .check_alerts(now, &settings)
        .await
        .map_err(Error::wrap(ErrorKind::Store, "checking alerts"))?;
    for a in &changes.opened {
        tracing::warn!(alert = a.id, kind = a.kind.as_str(), instance = %a.instance, subject = %a.subject, detail = %a.detail, "alert opened");
    }
    for a in &changes.resolved {
        tracing::info!(alert = a.id, kind = a.kind.as_str(), instance = %a.instance, subject = %a.subject, "alert resolved");
    }
    let open = store
        .count_open_alerts()
        .await
        .map_err(Error::wrap(ErrorKind::Store, "counting open alerts"))?;
    counters
        .open
        .store(open.iter().map(|(_, n)| n).sum(), Ordering::Relaxed);
    let claimed = store
        .claim_alert_deliveries(owner, now, CLAIM_FOR, CLAIM_BATCH)
        .await
        .map_err(Error::wrap(ErrorKind::Store, "claiming alert deliveries"))?;
    for delivery in claimed {
        let outcome = deliver(store, poster, options, &delivery).await;
        let counter = match &outcome {
            AlertOutcome::Delivered => &counters.delivered,
            AlertOutcome::Retry { .. } => &counters.failed,
            AlertOutcome::Skipped => &counters.skipped,
            _ => &counters.given_up,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        store
            .finish_alert_delivery(delivery.id, owner, Utc::now(), &outcome)
            .await
            .map_err(Error::wrap(ErrorKind::Store, "recording an alert delivery"))?;
    }
    Ok(())
}

async fn deliver(
    store: &SqlStore,
    poster: &Poster,
    options: &AlertOptions,
    delivery: &AlertDelivery,
) -> AlertOutcome {
    let (url, secret) = match delivery.target {
        AlertTarget::Server => (options.url.clone(), options.secret.clone()),
        _ => {
            let id = delivery.alert.instance.parse::<i64>().ok();
            let instance = match id {
                Some(id) => store.instance(id).await.ok().flatten(),
                None => None,
            };
            match instance {
                Some(i) => {
                    let n = &i.config.configuration.notification;
                    (
                        n.alerts_url.as_ref().map(|u| u.as_str().to_owned()),
                        n.alerts_secret.clone(),
                    )
                }
                None => (None, None),
            }
        }
    };
    let Some(url) = url else {
        return AlertOutcome::Skipped;
    };
    let mut endpoint = match Endpoint::new(&url) {
        Ok(e) => e,
        Err(e) => {
            return AlertOutcome::Failed {
                error: e.to_string(),
            }
        }
    };
    if let Some(secret) = secret {
        match StandardWebhooksSecret::parse(secret.expose()) {
            Ok(s) => endpoint = endpoint.with_standard_webhooks(s),
            Err(e) => {
                return AlertOutcome::Failed {
                    error: e.to_string(),
                }
            }
        }
    }
    let at = Utc::now();
    let result = poster
        .post(&endpoint, &delivery.message_id(), body(delivery, at), at)
        .await;
    match result.error {
        None => AlertOutcome::Delivered,
        Some(error) if delivery.attempts + 1 >= MAX_ATTEMPTS => AlertOutcome::Failed { error },
        Some(error) => {
            let wait = result
                .retry_after
                .and_then(|d| TimeDelta::from_std(d).ok())
                .unwrap_or_default()
                .max(backoff(delivery.attempts));
            tracing::warn!(alert = delivery.alert.id, target = delivery.target.as_str(), %error, "alert delivery failed; retried");
            AlertOutcome::Retry {
                next_at: at + wait,
                error,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_5_s_up_to_20_minutes() {
        let seconds: Vec<i64> = (0..12).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(
            seconds,
            [5, 10, 20, 40, 80, 160, 320, 640, 1200, 1200, 1200, 1200]
        );
        assert_eq!(backoff(u32::MAX), TimeDelta::minutes(20));
        // The waits between the attempts of one delivery: 4,875 s, about 80 minutes.
        let total: i64 = (0..MAX_ATTEMPTS - 1)
            .map(|n| backoff(n).num_seconds())
            .sum();
        assert_eq!(total, 4875);
    }
}
