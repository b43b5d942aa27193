//! [`crate::alert`] on SQLite: the check runs in one `BEGIN IMMEDIATE` transaction, which the
//! single writer serializes with every other process's.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::PollKey;
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};

use super::{begin, db, get, instant, micros, opt_instant, SqliteBackend};
use crate::alert::{
    dead_detail, diff, failing_detail, lane_condition, lane_instances, only_configured,
    stalled_detail, Alert, AlertChanges, AlertDelivery, AlertEvent, AlertKind, AlertOutcome,
    AlertSettings, AlertTarget, Condition,
};
use crate::error::Result;
use crate::shared::{db_count, db_u64};

const ALERT_COLUMNS: &str =
    "a.id, a.instance, a.kind, a.subject, a.detail, a.opened_at, a.resolved_at";

fn alert_from(row: &SqliteRow) -> Result<Alert> {
    Ok(Alert {
        id: get(row, "id")?,
        instance: get(row, "instance")?,
        kind: AlertKind::stored(&get::<String>(row, "kind")?)?,
        subject: get(row, "subject")?,
        detail: get(row, "detail")?,
        opened_at: instant(get(row, "opened_at")?)?,
        resolved_at: opt_instant(get(row, "resolved_at")?)?,
    })
}

async fn conditions(
    tx: &mut Transaction<'_, Sqlite>,
    now: DateTime<Utc>,
    settings: &AlertSettings,
) -> Result<Vec<Condition>> {
    let mut found = Vec::new();
    let plain = |instance: String, kind: AlertKind, detail: &str| Condition {
        instance,
        kind,
        subject: String::new(),
        detail: detail.to_owned(),
    };
    let inactive: Vec<String> = sqlx::query_scalar("SELECT instance FROM subscription_inactive")
        .fetch_all(&mut **tx)
        .await
        .map_err(db("reading deactivated subscriptions"))?;
    // Rows are delivery lanes: an instance id (its callback, subject "") or `id/name` (one
    // of its subscriptions, subject `name`).
    found.extend(inactive.into_iter().map(|lane| {
        lane_condition(
            &lane,
            AlertKind::SubscriptionDeactivated,
            "the subscription is deactivated: new notifications are queued until re-delivered",
        )
    }));
    let dead = sqlx::query(
        "SELECT lane, COUNT(*) AS n FROM outbox \
         WHERE status = 'queued' AND attempts > 0 GROUP BY lane",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(db("reading dead notifications"))?;
    for row in &dead {
        let n: i64 = get(row, "n")?;
        found.push(lane_condition(
            &get::<String>(row, "lane")?,
            AlertKind::NotificationsDead,
            &dead_detail(n),
        ));
    }
    let mut configs = HashMap::new();
    for key in lane_instances(&found) {
        let Ok(id) = key.parse::<i64>() else {
            continue;
        };
        let config: Option<String> =
            sqlx::query_scalar("SELECT config_masked FROM instance WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db("reading an instance's subscriptions"))?;
        if let Some(config) = config {
            configs.insert(key, config);
        }
    }
    let mut found = only_configured(found, &configs);
    let reauth: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM instance WHERE status = 'needs_reauthorization'")
            .fetch_all(&mut **tx)
            .await
            .map_err(db("reading instances to re-authorize"))?;
    found.extend(reauth.into_iter().map(|id| {
        plain(
            id.to_string(),
            AlertKind::ReauthorizationNeeded,
            "Sage refused the refresh token: authorize the instance again",
        )
    }));
    let failing = sqlx::query(
        "SELECT instance, resource, consecutive_failures, last_error FROM poll_state \
         WHERE consecutive_failures > 0 AND consecutive_failures >= ?",
    )
    .bind(i64::from(settings.failures))
    .fetch_all(&mut **tx)
    .await
    .map_err(db("reading failing polls"))?;
    for row in &failing {
        found.push(Condition {
            instance: get(row, "instance")?,
            kind: AlertKind::PollsFailing,
            subject: get(row, "resource")?,
            detail: failing_detail(get(row, "consecutive_failures")?, get(row, "last_error")?),
        });
    }
    let stalled = sqlx::query(
        "SELECT instance, resource, completed_due FROM poll_state \
         WHERE stall_at IS NOT NULL AND paused = 0 AND stall_at < ?",
    )
    .bind(micros(now))
    .fetch_all(&mut **tx)
    .await
    .map_err(db("reading stalled polls"))?;
    for row in &stalled {
        found.push(Condition {
            instance: get(row, "instance")?,
            kind: AlertKind::PollsStalled,
            subject: get(row, "resource")?,
            detail: stalled_detail(instant(get(row, "completed_due")?)?),
        });
    }
    Ok(found)
}

async fn add_deliveries(
    tx: &mut Transaction<'_, Sqlite>,
    alert: i64,
    event: AlertEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    for target in AlertTarget::ALL {
        sqlx::query(
            "INSERT INTO alert_delivery (alert_id, event, target, state, next_at) \
             VALUES (?, ?, ?, 'pending', ?)",
        )
        .bind(alert)
        .bind(event.as_str())
        .bind(target.as_str())
        .bind(micros(now))
        .execute(&mut **tx)
        .await
        .map_err(db("queueing an alert delivery"))?;
    }
    Ok(())
}

impl SqliteBackend {
    pub(crate) async fn set_poll_interval(&self, key: &PollKey, interval: TimeDelta) -> Result<()> {
        sqlx::query(
            "UPDATE poll_state SET interval_us = ?1, stall_at = completed_due + 3 * ?1 \
             WHERE instance = ?2 AND resource = ?3 AND interval_us IS NOT ?1",
        )
        .bind(interval.num_microseconds().unwrap_or(i64::MAX / 4))
        .bind(&key.instance)
        .bind(&key.resource)
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("setting a poll interval"))?;
        Ok(())
    }

    pub(crate) async fn check_alerts(
        &self,
        now: DateTime<Utc>,
        settings: &AlertSettings,
    ) -> Result<AlertChanges> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let found = conditions(&mut tx, now, settings).await?;
        let open = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alert a WHERE a.resolved_at IS NULL"
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading open alerts"))?
        .iter()
        .map(alert_from)
        .collect::<Result<Vec<_>>>()?;
        let (to_open, to_resolve) = diff(found, open);
        let mut changes = AlertChanges::default();
        for c in to_open {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO alert (instance, kind, subject, detail, opened_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(&c.instance)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .bind(&c.detail)
            .bind(micros(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("opening an alert"))?;
            if let Some(id) = id {
                add_deliveries(&mut tx, id, AlertEvent::Opened, now).await?;
                changes.opened.push(Alert {
                    id,
                    instance: c.instance,
                    kind: c.kind,
                    subject: c.subject,
                    detail: c.detail,
                    opened_at: now,
                    resolved_at: None,
                });
            }
        }
        for mut alert in to_resolve {
            let done = sqlx::query(
                "UPDATE alert SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
            )
            .bind(micros(now))
            .bind(alert.id)
            .execute(&mut *tx)
            .await
            .map_err(db("resolving an alert"))?;
            if done.rows_affected() == 1 {
                add_deliveries(&mut tx, alert.id, AlertEvent::Resolved, now).await?;
                alert.resolved_at = Some(now);
                changes.resolved.push(alert);
            }
        }
        tx.commit().await.map_err(db("committing an alert check"))?;
        Ok(changes)
    }

    pub(crate) async fn list_alerts(
        &self,
        open_only: bool,
        instance: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alert a \
             WHERE (?1 = 0 OR a.resolved_at IS NULL) AND (?2 IS NULL OR a.instance = ?2) \
             ORDER BY a.id DESC LIMIT ?3"
        );
        sqlx::query(&sql)
            .bind(i64::from(open_only))
            .bind(instance)
            .bind(db_u64(limit as u64))
            .fetch_all(&self.reader)
            .await
            .map_err(db("listing alerts"))?
            .iter()
            .map(alert_from)
            .collect()
    }

    pub(crate) async fn count_open_alerts(&self) -> Result<Vec<(AlertKind, u64)>> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n FROM alert WHERE resolved_at IS NULL GROUP BY kind",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("counting open alerts"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    AlertKind::stored(&get::<String>(row, "kind")?)?,
                    db_count(get(row, "n")?),
                ))
            })
            .collect()
    }

    pub(crate) async fn claim_alert_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> Result<Vec<AlertDelivery>> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE alert_delivery SET lease_owner = ?1, lease_expires = ?2 WHERE id IN \
             (SELECT id FROM alert_delivery WHERE state = 'pending' AND next_at <= ?3 \
              AND (lease_owner IS NULL OR lease_expires < ?3) ORDER BY next_at, id LIMIT ?4) \
             RETURNING id",
        )
        .bind(owner)
        .bind(micros(now + lease_for))
        .bind(micros(now))
        .bind(db_u64(limit as u64))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("claiming alert deliveries"))?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(&format!(
                "SELECT d.id AS delivery, d.event, d.target, d.attempts, {ALERT_COLUMNS} \
                 FROM alert_delivery d JOIN alert a ON a.id = d.alert_id WHERE d.id = ?"
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading an alert delivery"))?;
            claimed.push(AlertDelivery {
                id: get(&row, "delivery")?,
                alert: alert_from(&row)?,
                event: AlertEvent::stored(&get::<String>(&row, "event")?)?,
                target: AlertTarget::stored(&get::<String>(&row, "target")?)?,
                attempts: u32::try_from(get::<i64>(&row, "attempts")?).unwrap_or(0),
            });
        }
        tx.commit()
            .await
            .map_err(db("committing an alert delivery claim"))?;
        Ok(claimed)
    }

    pub(crate) async fn finish_alert_delivery(
        &self,
        id: i64,
        owner: &str,
        now: DateTime<Utc>,
        outcome: &AlertOutcome,
    ) -> Result<bool> {
        let (state, next_at, error, attempted) = match outcome {
            AlertOutcome::Delivered => ("delivered", None, None, 1i64),
            AlertOutcome::Retry { next_at, error } => ("pending", Some(*next_at), Some(error), 1),
            AlertOutcome::Failed { error } => ("failed", None, Some(error), 1),
            AlertOutcome::Skipped => ("skipped", None, None, 0),
        };
        let done = sqlx::query(
            "UPDATE alert_delivery SET state = ?1, next_at = coalesce(?2, next_at), \
             last_error = ?3, attempts = attempts + ?4, lease_owner = NULL, lease_expires = NULL, \
             finished_at = CASE WHEN ?1 = 'pending' THEN NULL ELSE ?5 END \
             WHERE id = ?6 AND lease_owner = ?7 AND state = 'pending'",
        )
        .bind(state)
        .bind(next_at.map(micros))
        .bind(error)
        .bind(attempted)
        .bind(micros(now))
        .bind(id)
        .bind(owner)
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("recording an alert delivery"))?;
        Ok(done.rows_affected() == 1)
    }
}
