//! The worker registry as people see it: `GET /workers`, `pollen workers` and the console's
//! workers page show the same facts — each process, its heartbeat age, whether it is alive,
//! and the poll keys and notifications it holds.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use pollen_core::WorkerStatus;
use serde_json::{json, Value};

/// `alive` while the heartbeat is younger than the worker's ttl, else `dead` (its work is
/// released by the next live worker's heartbeat, or at the next start on SQLite).
pub fn state(status: &WorkerStatus, now: DateTime<Utc>) -> &'static str {
    if status.worker.is_dead(now) {
        "dead"
    } else {
        "alive"
    }
}

/// The heartbeat age in seconds, to the millisecond.
pub fn heartbeat_age_seconds(status: &WorkerStatus, now: DateTime<Utc>) -> f64 {
    status.worker.heartbeat_age(now).num_milliseconds() as f64 / 1000.0
}

/// One worker as the API shows it.
pub fn worker_json(status: &WorkerStatus, now: DateTime<Utc>) -> Value {
    let w = &status.worker;
    let date = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "id": w.id,
        "host": w.host,
        "pid": w.pid,
        "startedDate": date(w.started_at),
        "heartbeatDate": date(w.heartbeat_at),
        "heartbeatAgeSeconds": heartbeat_age_seconds(status, now),
        "leaseTtlSeconds": w.lease_ttl_ms as f64 / 1000.0,
        "state": state(status, now),
        "polls": status
            .polls
            .iter()
            .map(|k| json!({ "instanceId": k.instance, "objectType": k.resource }))
            .collect::<Vec<_>>(),
        "notifications": status.notifications,
    })
}

/// The `pollen workers` table: one line per worker, its keys below it.
pub fn table(workers: &[WorkerStatus], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if workers.is_empty() {
        out.push_str("no registered workers\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<28} {:<6} {:<16} {:>8} {:>11} {:>6} {:>13}  STARTED",
        "WORKER", "STATE", "HOST", "PID", "HEARTBEAT", "POLLS", "NOTIFICATIONS"
    );
    for status in workers {
        let w = &status.worker;
        let _ = writeln!(
            out,
            "{:<28} {:<6} {:<16} {:>8} {:>10.1}s {:>6} {:>13}  {}",
            w.id,
            state(status, now),
            w.host,
            w.pid,
            heartbeat_age_seconds(status, now),
            status.polls.len(),
            status.notifications,
            w.started_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        for key in &status.polls {
            let _ = writeln!(out, "    polling {key}");
        }
    }
    out
}

/// One business's rate budget as this process used it, as the API shows it.
pub fn budget_json(usage: &pollen_sage::BudgetUsage) -> Value {
    let [changes, backfill, reconcile] = usage.calls;
    json!({
        "business": usage.business,
        "limit": usage.limit,
        "usedLastMinute": usage.used_last_minute,
        "waiting": usage.waiting,
        "calls": {"changes": changes, "backfill": backfill, "reconcile": reconcile},
        "waitedSeconds": usage.waited.as_secs_f64(),
    })
}
