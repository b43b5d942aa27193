//! Operational alerts: conditions an operator must act on (a deactivated subscription,
//! notifications that failed their last retry, an instance waiting for re-authorization, a
//! resource whose polls keep failing or have stalled), derived from the stored state by
//! [`SqlStore::check_alerts`](crate::SqlStore::check_alerts), and the outbox of the POSTs
//! that announce each one opening and resolving.
//!
//! An alert is open at most once per (instance, kind, subject): a unique index on the open
//! rows, and checks serialized across processes (SQLite's single writer, a PostgreSQL
//! advisory lock), make every process sharing a database open it once and resolve it once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AlertKind {
    /// The instance's subscription is deactivated (410, or the last retry failed): new
    /// notifications are queued until re-delivered. Subject: the subscription (`""`, the
    /// Open Connectors callback). Resolved by a re-delivery, or by removing the subscription.
    SubscriptionDeactivated,
    /// Notifications failed their last retry and wait, queued, for a re-delivery. Subject:
    /// the subscription (`""`). Resolved by re-delivering them, or by removing the
    /// subscription.
    NotificationsDead,
    /// The Sage refresh token was refused: the instance is not polled until re-authorized.
    /// Subject: `""`.
    ReauthorizationNeeded,
    /// A resource's polls failed [`AlertSettings::failures`] times in a row. Subject: the
    /// resource.
    PollsFailing,
    /// A resource has not completed a poll for 3 × its refresh interval. Subject: the
    /// resource.
    PollsStalled,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 5] = [
        AlertKind::SubscriptionDeactivated,
        AlertKind::NotificationsDead,
        AlertKind::ReauthorizationNeeded,
        AlertKind::PollsFailing,
        AlertKind::PollsStalled,
    ];

    /// `subscription_deactivated`, `notifications_dead`, `reauthorization_needed`,
    /// `polls_failing` or `polls_stalled`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SubscriptionDeactivated => "subscription_deactivated",
            AlertKind::NotificationsDead => "notifications_dead",
            AlertKind::ReauthorizationNeeded => "reauthorization_needed",
            AlertKind::PollsFailing => "polls_failing",
            AlertKind::PollsStalled => "polls_stalled",
        }
    }

    /// The kind named `text` (as [`AlertKind::as_str`] writes it).
    pub fn parse(text: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub(crate) fn stored(text: &str) -> Result<AlertKind> {
        AlertKind::parse(text).ok_or_else(|| Error::corrupt(format!("unknown alert kind `{text}`")))
    }
}

/// An alert, open or resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Alert {
    /// Assigned by the store, increasing.
    pub id: i64,
    /// The instance key (its id in decimal).
    pub instance: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The resource, or the subscription name (`""`: the Open Connectors callback).
    pub subject: String,
    /// What was seen when it opened (no secrets).
    pub detail: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When its condition ended (`None`: open).
    pub resolved_at: Option<DateTime<Utc>>,
}

/// How [`SqlStore::check_alerts`](crate::SqlStore::check_alerts) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertSettings {
    /// Failed polls in a row that open [`AlertKind::PollsFailing`] (default 5).
    pub failures: u32,
}

impl AlertSettings {
    /// Defaults: 5 failures.
    pub fn new() -> Self {
        AlertSettings { failures: 5 }
    }

    /// With `failures` failed polls in a row opening an alert (at least 1).
    pub fn with_failures(mut self, failures: u32) -> Self {
        self.failures = failures.max(1);
        self
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings::new()
    }
}

/// What one check changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertChanges {
    /// Alerts it opened.
    pub opened: Vec<Alert>,
    /// Alerts it resolved.
    pub resolved: Vec<Alert>,
}

/// Which announcement a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertEvent {
    /// `alert.opened`.
    Opened,
    /// `alert.resolved`.
    Resolved,
}

impl AlertEvent {
    /// `opened` or `resolved`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Opened => "opened",
            AlertEvent::Resolved => "resolved",
        }
    }

    pub(crate) fn stored(text: &str) -> Result<AlertEvent> {
        match text {
            "opened" => Ok(AlertEvent::Opened),
            "resolved" => Ok(AlertEvent::Resolved),
            other => Err(Error::corrupt(format!("unknown alert event `{other}`"))),
        }
    }
}

/// Where an alert delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertTarget {
    /// The server-wide URL (`--alerts-url`).
    Server,
    /// The instance's `event.notification.alerts.url`.
    Instance,
}

impl AlertTarget {
    /// Both targets: every alert event gets a delivery to each (one without a URL is skipped).
    pub const ALL: [AlertTarget; 2] = [AlertTarget::Server, AlertTarget::Instance];

    /// `server` or `instance`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertTarget::Server => "server",
            AlertTarget::Instance => "instance",
        }
    }

    pub(crate) fn stored(text: &str) -> Result<AlertTarget> {
        match text {
            "server" => Ok(AlertTarget::Server),
            "instance" => Ok(AlertTarget::Instance),
            other => Err(Error::corrupt(format!("unknown alert target `{other}`"))),
        }
    }
}

/// A claimed alert delivery: one POST to make.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertDelivery {
    /// The delivery's row.
    pub id: i64,
    /// The alert, as it stands now.
    pub alert: Alert,
    /// Opened or resolved.
    pub event: AlertEvent,
    /// Where it goes.
    pub target: AlertTarget,
    /// Attempts made before this one.
    pub attempts: u32,
}

impl AlertDelivery {
    /// The message id (`webhook-id`): the same on every attempt and for both targets.
    pub fn message_id(&self) -> String {
        format!("alert_{}_{}", self.alert.id, self.event.as_str())
    }
}

/// How an alert delivery attempt ended, for
/// [`SqlStore::finish_alert_delivery`](crate::SqlStore::finish_alert_delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Failed; try again at `next_at`.
    Retry {
        /// When.
        next_at: DateTime<Utc>,
        /// Why it failed.
        error: String,
    },
    /// Failed for good (the retries are spent).
    Failed {
        /// Why the last attempt failed.
        error: String,
    },
    /// Not sent: the target has no URL.
    Skipped,
}

/// A condition as the state shows it now.
pub(crate) struct Condition {
    pub(crate) instance: String,
    pub(crate) kind: AlertKind,
    pub(crate) subject: String,
    pub(crate) detail: String,
}

/// The conditions to open (not open yet) and the open alerts to resolve (their condition
/// gone), from what the state shows and what is open.
pub(crate) fn diff(conditions: Vec<Condition>, open: Vec<Alert>) -> (Vec<Condition>, Vec<Alert>) {
    let mut open: HashMap<(String, AlertKind, String), Alert> = open
        .into_iter()
        .map(|a| ((a.instance.clone(), a.kind, a.subject.clone()), a))
        .collect();
    let mut to_open = Vec::new();
    for c in conditions {
        let key = (c.instance.clone(), c.kind, c.subject.clone());
        if open.remove(&key).is_none() {
            to_open.push(c);
        }
    }
    let mut to_resolve: Vec<Alert> = open.into_values().collect();
    to_resolve.sort_by_key(|a| a.id);
    (to_open, to_resolve)
}

/// Fail-count detail of [`AlertKind::PollsFailing`].
pub(crate) fn failing_detail(failures: i64, last_error: Option<String>) -> String {
    match last_error {
        Some(e) => format!("{failures} polls failed in a row; the last: {e}"),
        None => format!("{failures} polls failed in a row"),
    }
}

/// Detail of [`AlertKind::PollsStalled`].
pub(crate) fn stalled_detail(due: DateTime<Utc>) -> String {
    format!(
        "no poll completed since the one due at {}, 3 refresh intervals ago",
        due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// A condition of a delivery lane ([`pollen_core::lane`]): its instance, and as subject the
/// subscription's name (`""` for the Open Connectors callback).
pub(crate) fn lane_condition(lane: &str, kind: AlertKind, detail: &str) -> Condition {
    let (instance, subscription) = pollen_core::split_lane(lane);
    Condition {
        instance: instance.to_owned(),
        kind,
        subject: subscription.unwrap_or_default().to_owned(),
        detail: detail.to_owned(),
    }
}

/// Detail of [`AlertKind::NotificationsDead`].
pub(crate) fn dead_detail(count: i64) -> String {
    format!("{count} notifications failed their last retry and are queued until re-delivered")
}

/// The instances (keys) whose masked configuration [`only_configured`] needs: those with a
/// condition of one of their subscriptions' lanes.
pub(crate) fn lane_instances(found: &[Condition]) -> Vec<String> {
    let mut keys: Vec<String> = found
        .iter()
        .filter(|c| is_subscription_lane(c))
        .map(|c| c.instance.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn is_subscription_lane(c: &Condition) -> bool {
    matches!(
        c.kind,
        AlertKind::SubscriptionDeactivated | AlertKind::NotificationsDead
    ) && !c.subject.is_empty()
}

/// Drops the conditions of subscriptions their instance no longer lists: a removed
/// subscription's notifications stay in the outbox, no longer sent, and its lane stays
/// deactivated, but there is nothing left to act on, so its alerts resolve. `configs`: the
/// masked configuration JSON of each instance of [`lane_instances`] (missing: deleted).
pub(crate) fn only_configured(
    found: Vec<Condition>,
    configs: &HashMap<String, String>,
) -> Vec<Condition> {
    let names: HashMap<&str, Vec<String>> = configs
        .iter()
        .map(|(key, config)| (key.as_str(), subscription_names(config)))
        .collect();
    found
        .into_iter()
        .filter(|c| {
            !is_subscription_lane(c)
                || names
                    .get(c.instance.as_str())
                    .is_some_and(|n| n.contains(&c.subject))
        })
        .collect()
}

/// The names in `event.notification.subscriptions` of a masked configuration JSON (an array,
/// or the JSON text of one, as the configuration renders it).
fn subscription_names(config: &str) -> Vec<String> {
    let Ok(config) = serde_json::from_str::<serde_json::Value>(config) else {
        return Vec::new();
    };
    let list = &config["configuration"]["event.notification.subscriptions"];
    let list = match list {
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        other => other.clone(),
    };
    list.as_array()
        .map(|subs| {
            subs.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(instance: &str, kind: AlertKind, subject: &str) -> Condition {
        Condition {
            instance: instance.to_owned(),
            kind,
            subject: subject.to_owned(),
            detail: String::new(),
        }
    }

    #[test]
    fn conditions_of_removed_subscriptions_are_dropped() {
        let listed = r#"[{"name":"billing","url":"https://example.com/hook"}]"#;
        let configs = HashMap::from([
            (
                "1".to_owned(),
                serde_json::json!({"configuration": {"event.notification.subscriptions": listed}})
                    .to_string(),
            ),
            ("2".to_owned(), r#"{"configuration": {}}"#.to_owned()),
        ]);
        let found = vec![
            lane("1", AlertKind::SubscriptionDeactivated, "billing"),
            lane("1", AlertKind::NotificationsDead, "crm"),
            lane("1", AlertKind::NotificationsDead, ""),
            lane("2", AlertKind::SubscriptionDeactivated, "billing"),
            lane("3", AlertKind::NotificationsDead, "gone"),
            lane("2", AlertKind::PollsFailing, "customers"),
        ];
        assert_eq!(lane_instances(&found), ["1", "2", "3"]);
        let kept: Vec<(String, AlertKind, String)> = only_configured(found, &configs)
            .into_iter()
            .map(|c| (c.instance, c.kind, c.subject))
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "1".into(),
                    AlertKind::SubscriptionDeactivated,
                    "billing".into()
                ),
                ("1".into(), AlertKind::NotificationsDead, String::new()),
                ("2".into(), AlertKind::PollsFailing, "customers".into()),
            ]
        );
    }
}
