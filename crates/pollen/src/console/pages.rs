//! The console's views: the instance list, an instance's status and events, a notification,
//! and the regions that server-sent events refresh. Reads only; every value escaped.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pollen_callback::{request_headers, Endpoint};
use pollen_config::Extra;
use pollen_core::{DeliveryAttempt, OutboxEntry, OutboxStatus, PollKey, PollState, Store};
use pollen_store::{Instance, InstanceStatus, OutboxHealth, SqlStore};
use serde_json::Value;

use super::chart;
use super::html::{csrf_field, esc};

/// A page's read failed; the message is safe to show.
pub(crate) type ViewResult<T> = std::result::Result<T, String>;

fn failed(context: &'static str) -> impl FnOnce(pollen_store::Error) -> String {
    move |error| {
        tracing::error!(%error, "console: {context}");
        format!("{context} failed; see the server log")
    }
}

fn core_failed(context: &'static str) -> impl FnOnce(pollen_core::Error) -> String {
    move |error| {
        tracing::error!(%error, "console: {context}");
        format!("{context} failed; see the server log")
    }
}

/// `2026-03-01 09:00:00 UTC` inside a `<time>`.
pub(crate) fn when(at: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// An instance with what the console shows about it.
#[derive(Debug)]
pub(crate) struct InstanceView {
    pub(crate) instance: Instance,
    /// Each configured resource and its poll state (none before registration).
    pub(crate) resources: Vec<(String, Option<PollState>)>,
    pub(crate) health: OutboxHealth,
    pub(crate) subscription_active: bool,
}

pub(crate) async fn instance_view(
    store: &SqlStore,
    instance: Instance,
) -> ViewResult<InstanceView> {
    let key = instance.key();
    let mut resources = Vec::new();
    for name in instance.config.configuration.poller.resources.keys() {
        let state = store
            .load(&PollKey::new(key.clone(), name.clone()))
            .await
            .map_err(core_failed("reading the poll state"))?;
        resources.push((name.clone(), state));
    }
    let health = store
        .outbox_health(&key)
        .await
        .map_err(failed("counting the outbox"))?;
    let subscription_active = store
        .subscription_active(&key)
        .await
        .map_err(core_failed("reading the subscription"))?;
    Ok(InstanceView {
        instance,
        resources,
        health,
        subscription_active,
    })
}

fn status_badge(status: InstanceStatus) -> String {
    let (class, text) = match status {
        InstanceStatus::Active => ("ok", "polling"),
        InstanceStatus::Disabled => ("muted", "paused"),
        InstanceStatus::NeedsReauthorization => ("bad", "needs re-authorization"),
        _ => ("muted", status.as_str()),
    };
    format!("<span class=\"badge {class}\">{text}</span>")
}

/// The per-resource table.
fn resources_table(view: &InstanceView) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"resources\"><caption>Resources</caption><thead><tr><th scope=\"col\">Resource</th>\
         <th scope=\"col\">Last successful poll</th><th scope=\"col\">Watermark</th>\
         <th scope=\"col\">Next due</th><th scope=\"col\">Last error</th></tr></thead><tbody>",
    );
    if view.resources.is_empty() {
        out.push_str("<tr><td colspan=\"5\">No resource is polled.</td></tr>");
    }
    for (name, state) in &view.resources {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(name));
        match state {
            None => out.push_str(
                "<td colspan=\"4\">not registered (the instance is paused or not polling)</td>",
            ),
            Some(state) => {
                // A successful poll started at S moves the watermark to S (docs/polling.md).
                let last = if state.completed_polls == 0 {
                    "none yet".to_owned()
                } else {
                    format!(
                        "{} <span class=\"muted\">({} polls)</span>",
                        when(state.watermark),
                        state.completed_polls
                    )
                };
                let error = match &state.last_error {
                    Some(error) if state.consecutive_failures > 0 => format!(
                        "<span class=\"bad\">{} (failed {} times in a row)</span>",
                        esc(error),
                        state.consecutive_failures
                    ),
                    _ => "—".to_owned(),
                };
                let _ = write!(
                    out,
                    "<td>{last}</td><td>{}</td><td>{}</td><td>{error}</td>",
                    when(state.watermark),
                    when(state.next_due)
                );
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// Queued, failing, deactivated: the delivery side at a glance.
fn health_list(view: &InstanceView) -> String {
    let h = &view.health;
    let subscription = if view.subscription_active {
        "<span class=\"badge ok\">subscription active</span>".to_owned()
    } else {
        "<span class=\"badge bad\">subscription deactivated</span> — new notifications are queued until re-delivered".to_owned()
    };
    format!(
        "<dl class=\"health\"><div><dt>Pending</dt><dd>{}</dd></div>\
         <div><dt>Failing</dt><dd class=\"{}\">{}</dd></div>\
         <div><dt>Queued</dt><dd class=\"{}\">{}</dd></div>\
         <div><dt>Delivered</dt><dd>{}</dd></div></dl><p>{subscription}</p>",
        h.pending,
        if h.failing > 0 { "bad" } else { "" },
        h.failing,
        if h.queued > 0 { "bad" } else { "" },
        h.queued,
        h.delivered
    )
}

/// The list page's live region: one card per instance.
pub(crate) async fn instances_region(store: &SqlStore) -> ViewResult<String> {
    let instances = store
        .list_instances()
        .await
        .map_err(failed("listing the instances"))?;
    if instances.is_empty() {
        return Ok("<p>No instance yet. <a href=\"/console/new\">Create one</a>.</p>".to_owned());
    }
    let mut out = String::new();
    for instance in instances {
        let view = instance_view(store, instance).await?;
        let i = &view.instance;
        let tags = if i.tags.is_empty() {
            "—".to_owned()
        } else {
            i.tags
                .iter()
                .map(|t| format!("<span class=\"tag\">{}</span>", esc(t)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = write!(
            out,
            "<section class=\"card\" aria-labelledby=\"instance-{id}\"><h2 id=\"instance-{id}\">\
             <a href=\"/console/instances/{id}\">{name}</a> {badge}</h2>\
             <dl class=\"facts\"><div><dt>Id</dt><dd>{id}</dd></div><div><dt>Element</dt><dd>{element}</dd></div>\
             <div><dt>Tags</dt><dd>{tags}</dd></div><div><dt>Events</dt><dd>{events}</dd></div></dl>{resources}{health}</section>",
            id = i.id,
            name = esc(&i.name),
            badge = status_badge(i.status),
            element = esc(&i.element_key),
            events = if i.config.configuration.notification.enabled { "on" } else { "off" },
            resources = resources_table(&view),
            health = health_list(&view),
        );
    }
    Ok(out)
}

/// The workers page: each process sharing the database, its heartbeat and what it holds.
pub(crate) async fn workers_region(store: &SqlStore, this: &str) -> ViewResult<String> {
    let now = Utc::now();
    let workers = store
        .list_workers(now)
        .await
        .map_err(core_failed("listing the workers"))?;
    if workers.is_empty() {
        return Ok("<p>No worker is registered: none is running.</p>".to_owned());
    }
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"workers\"><caption>Workers</caption><thead><tr>\
         <th scope=\"col\">Worker</th><th scope=\"col\">State</th><th scope=\"col\">Host and pid</th>\
         <th scope=\"col\">Heartbeat age</th><th scope=\"col\">Started</th>\
         <th scope=\"col\">Polls held</th><th scope=\"col\">Notifications held</th></tr></thead><tbody>",
    );
    for status in &workers {
        let w = &status.worker;
        let state = crate::workers::state(status, now);
        let badge = if state == "alive" { "ok" } else { "bad" };
        let polls = if status.polls.is_empty() {
            "—".to_owned()
        } else {
            status
                .polls
                .iter()
                .map(|key| match key.instance.parse::<i64>() {
                    Ok(id) => format!(
                        "<a href=\"/console/instances/{id}\">{}</a>",
                        esc(&key.to_string())
                    ),
                    Err(_) => esc(&key.to_string()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{id}{this}</th><td><span class=\"badge {badge}\">{state}</span></td>\
             <td>{host} · {pid}</td><td>{age:.1} s <span class=\"muted\">(ttl {ttl:.0} s)</span></td>\
             <td>{started}</td><td>{polls}</td><td>{notifications}</td></tr>",
            id = esc(&w.id),
            this = if w.id == this { " <span class=\"muted\">(this one)</span>" } else { "" },
            host = esc(&w.host),
            pid = w.pid,
            age = crate::workers::heartbeat_age_seconds(status, now),
            ttl = w.lease_ttl_ms as f64 / 1000.0,
            started = when(w.started_at),
            notifications = status.notifications,
        );
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}

/// The workers page's rate budgets: what this process spent of each Sage business's budget.
pub(crate) fn budgets_region(budgets: &[pollen_sage::BudgetUsage]) -> String {
    let mut out = String::from(
        "<h2>Sage rate budgets</h2><p>Every Sage call takes a token from its business's budget \
         first, incremental polls before back-fills and reconciliation; every process on the \
         database shares the bucket. The figures are this process's.</p>",
    );
    if budgets.is_empty() {
        out.push_str("<p>This process has made no Sage call yet.</p>");
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"budgets\"><caption>Rate budgets</caption><thead><tr>\
         <th scope=\"col\">Business</th><th scope=\"col\">Limit a minute</th>\
         <th scope=\"col\">Used in the last minute</th><th scope=\"col\">Waiting</th>\
         <th scope=\"col\">Calls: changes · backfill · reconcile</th>\
         <th scope=\"col\">Time waited</th></tr></thead><tbody>",
    );
    for b in budgets {
        let [changes, backfill, reconcile] = b.calls;
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{business}</th><td>{limit}</td><td>{used}</td><td>{waiting}</td>\
             <td>{changes} · {backfill} · {reconcile}</td><td>{waited:.1} s</td></tr>",
            business = esc(&b.business),
            limit = b.limit,
            used = b.used_last_minute,
            waiting = b.waiting,
            waited = b.waited.as_secs_f64(),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The detail page's status region.
pub(crate) fn status_region(view: &InstanceView) -> String {
    format!("{}{}", resources_table(view), health_list(view))
}

/// The events of the newest notifications, one row per event.
pub(crate) async fn events_region(
    store: &SqlStore,
    instance: &Instance,
    csrf: &str,
) -> ViewResult<String> {
    const SHOWN: usize = 50;
    let rows = store
        .recent_outbox(Some(&instance.key()), None, SHOWN)
        .await
        .map_err(failed("listing the events"))?;
    if rows.is_empty() {
        return Ok("<p>No event yet. Events appear here as the polls find changes.</p>".to_owned());
    }
    let mut out = format!(
        "<div class=\"scroll\"><table class=\"events\"><caption>The newest {SHOWN} notifications' events, newest first</caption><thead><tr>\
         <th scope=\"col\">Time</th><th scope=\"col\">Type</th><th scope=\"col\">Resource</th>\
         <th scope=\"col\">Object id</th><th scope=\"col\">Delivery</th><th scope=\"col\">Attempts (responses)</th>\
         <th scope=\"col\">Notification</th></tr></thead><tbody>"
    );
    for entry in &rows {
        let attempts = store
            .list_attempts(&entry.notification.id)
            .await
            .map_err(core_failed("reading the delivery log"))?;
        let payload = entry.notification.payload();
        let events: Vec<&Value> = payload["message"]["events"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let delivery = delivery_status(entry);
        let codes = attempt_codes(&attempts);
        let redeliverable = redeliverable(entry);
        for (n, event) in events.iter().enumerate() {
            let kind = event["eventType"].as_str().unwrap_or("?");
            let _ = write!(
                out,
                "<tr class=\"event\"><td>{}</td><td><span class=\"type {}\">{}</span></td><td>{}</td><td><code>{}</code></td>",
                when(entry.notification.created_at),
                esc(&kind.to_ascii_lowercase()),
                esc(kind),
                esc(event["objectType"].as_str().unwrap_or(&entry.notification.key.resource)),
                esc(event["objectId"].as_str().unwrap_or("?")),
            );
            if n == 0 {
                let span = events.len();
                let id = entry.notification.id.to_string();
                let button = if redeliverable {
                    format!(
                        "<form method=\"post\" action=\"/console/instances/{}/redeliver\">{}\
                         <input type=\"hidden\" name=\"id\" value=\"{}\">\
                         <button type=\"submit\" aria-label=\"Redeliver notification {}\">Redeliver</button></form>",
                        instance.id,
                        csrf_field(csrf),
                        esc(&id),
                        esc(&id)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    "<td rowspan=\"{span}\">{delivery}</td><td rowspan=\"{span}\">{codes}</td>\
                     <td rowspan=\"{span}\"><a href=\"/console/notifications/{}\">details</a>{button}</td>",
                    esc(&id)
                );
            }
            out.push_str("</tr>");
        }
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}

/// Queued ones, and pending ones that failed at least once, can be sent again now.
fn redeliverable(entry: &OutboxEntry) -> bool {
    entry.status == OutboxStatus::Queued
        || (entry.status == OutboxStatus::Pending && entry.attempts > 0)
}

fn delivery_status(entry: &OutboxEntry) -> String {
    match entry.status {
        OutboxStatus::Delivered => "<span class=\"badge ok\">delivered</span>".to_owned(),
        OutboxStatus::Queued => "<span class=\"badge bad\">queued</span>".to_owned(),
        OutboxStatus::Pending if entry.attempts > 0 => format!(
            "<span class=\"badge bad\">failing</span> next try {}",
            when(entry.next_attempt)
        ),
        _ => "<span class=\"badge muted\">pending</span>".to_owned(),
    }
}

fn attempt_codes(attempts: &[DeliveryAttempt]) -> String {
    if attempts.is_empty() {
        return "0".to_owned();
    }
    let codes: Vec<String> = attempts
        .iter()
        .map(|a| {
            a.status
                .map_or_else(|| "no response".to_owned(), |s| s.to_string())
        })
        .collect();
    format!("{} ({})", attempts.len(), esc(&codes.join(", ")))
}

/// The chart region: the last hour of `instance` (every instance when `None`).
pub(crate) async fn chart_region(
    store: &SqlStore,
    instance: Option<&Instance>,
) -> ViewResult<String> {
    /// At most this many notifications are charted (the newest).
    const LIMIT: usize = 20_000;
    const PAGE: usize = 1_000;
    let now = Utc::now();
    // Rows are read newest first, a page at a time, until one is older than the hour (less a
    // margin: workers commit close to, not exactly in, creation order).
    let oldest = now - TimeDelta::hours(1) - TimeDelta::minutes(5);
    let key = instance.map(Instance::key);
    let mut rows: Vec<OutboxEntry> = Vec::new();
    loop {
        let before = rows.last().map(|r| r.seq);
        let page = store
            .recent_outbox(key.as_deref(), before, PAGE)
            .await
            .map_err(failed("reading the last hour"))?;
        let done = page.len() < PAGE || page.iter().any(|r| r.notification.created_at < oldest);
        rows.extend(page);
        if done || rows.len() >= LIMIT {
            break;
        }
    }
    Ok(chart::render(&chart::tally(&rows, now)))
}

/// The notification page's content.
pub(crate) async fn notification_page(
    store: &SqlStore,
    entry: &OutboxEntry,
    instance: Option<&Instance>,
    csrf: &str,
) -> ViewResult<String> {
    let n = &entry.notification;
    let attempts = store
        .list_attempts(&n.id)
        .await
        .map_err(core_failed("reading the delivery log"))?;
    let id = n.id.to_string();
    let mut out = format!("<h1>Notification <code>{}</code></h1>", esc(&id));
    let instance_link = match instance {
        Some(i) => format!(
            "<a href=\"/console/instances/{}\">{}</a>",
            i.id,
            esc(&i.name)
        ),
        None => format!("{} (deleted)", esc(&n.key.instance)),
    };
    let _ = write!(
        out,
        "<dl class=\"facts\"><div><dt>Instance</dt><dd>{instance_link}</dd></div>\
         <div><dt>Resource</dt><dd>{}</dd></div><div><dt>Created</dt><dd>{}</dd></div>\
         <div><dt>Delivery</dt><dd>{}</dd></div><div><dt>Attempts</dt><dd>{}</dd></div>\
         <div><dt>Delivered</dt><dd>{}</dd></div></dl>",
        esc(&n.key.resource),
        when(n.created_at),
        delivery_status(entry),
        entry.attempts,
        entry.delivered_at.map_or_else(|| "—".to_owned(), when),
    );
    if let (true, Some(instance)) = (
        redeliverable(entry) || entry.status == OutboxStatus::Delivered,
        instance,
    ) {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/console/instances/{}/redeliver\">{}\
             <input type=\"hidden\" name=\"id\" value=\"{}\"><input type=\"hidden\" name=\"back\" value=\"notification\">\
             <button type=\"submit\">Redeliver this notification</button></form>",
            instance.id,
            csrf_field(csrf),
            esc(&id)
        );
    }
    out.push_str("<h2>Delivery attempts</h2>");
    if attempts.is_empty() {
        out.push_str("<p>No attempt yet.</p>");
    } else {
        out.push_str(
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Response</th>\
             <th scope=\"col\">Latency</th><th scope=\"col\">Error</th><th scope=\"col\">Response body (excerpt)</th></tr></thead><tbody>",
        );
        for a in &attempts {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td><code>{}</code></td></tr>",
                when(a.at),
                a.status
                    .map_or_else(|| "no response".to_owned(), |s| s.to_string()),
                a.latency_ms,
                esc(a.error.as_deref().unwrap_or("—")),
                esc(&a.response_excerpt)
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("<h2>Request headers</h2>");
    match instance.map(|i| Endpoint::from_config(&i.config)) {
        Some(Ok(Some(endpoint))) => {
            let headers =
                request_headers(&endpoint, &id, n.body.as_bytes(), Utc::now().timestamp());
            out.push_str(
                "<p class=\"help\">As every attempt sends them; <code>webhook-timestamp</code> and its \
                 signature change per attempt. Credentials are masked.</p><div class=\"scroll\"><table class=\"headers\"><tbody>",
            );
            for (name, value) in headers {
                let lower = name.as_str();
                let shown = if value.is_sensitive()
                    || Extra::looks_secret(lower)
                    || lower == "authorization"
                    || lower.contains("key")
                {
                    "***".to_owned()
                } else {
                    value.to_str().unwrap_or("(not text)").to_owned()
                };
                let _ = write!(
                    out,
                    "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>",
                    esc(name.as_str()),
                    esc(&shown)
                );
            }
            out.push_str("</tbody></table></div>");
        }
        _ => out.push_str("<p>The instance has no callback now, so no headers can be shown.</p>"),
    }
    let body = serde_json::to_string_pretty(&n.payload()).unwrap_or_else(|_| n.body.clone());
    let _ = write!(
        out,
        "<h2>Body</h2><p class=\"help\">Exactly these bytes are sent, compact: {} bytes.</p><pre class=\"body\" tabindex=\"0\">{}</pre>",
        n.body.len(),
        esc(&body)
    );
    Ok(out)
}

/// The alerts page's table: open ones first, then the resolved ones kept.
pub(crate) fn alerts_table(alerts: &[pollen_store::Alert]) -> String {
    if alerts.is_empty() {
        return "<p class=\"empty\">No alerts.</p>".into();
    }
    let mut sorted: Vec<&pollen_store::Alert> = alerts.iter().collect();
    sorted.sort_by_key(|a| (a.resolved_at.is_some(), std::cmp::Reverse(a.id)));
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"alerts\"><caption>Alerts</caption><thead><tr>\
         <th scope=\"col\">State</th><th scope=\"col\">Kind</th><th scope=\"col\">Instance</th>\
         <th scope=\"col\">Subject</th><th scope=\"col\">Opened</th>\
         <th scope=\"col\">Resolved</th><th scope=\"col\">Detail</th></tr></thead><tbody>",
    );
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for a in sorted {
        let (state, class) = match a.resolved_at {
            Some(_) => ("resolved", "resolved"),
            None => ("open", "open"),
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{state}</td><td>{}</td>\
             <td><a href=\"/console/instances/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(a.kind.as_str()),
            esc(&a.instance),
            esc(&a.instance),
            if a.subject.is_empty() {
                "&mdash;".to_owned()
            } else {
                esc(&a.subject)
            },
            esc(&at(a.opened_at)),
            a.resolved_at
                .map(|t| esc(&at(t)))
                .unwrap_or_else(|| "&mdash;".into()),
            esc(&a.detail),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The instance page's checkpoint chains: each one's latest checkpoint and open window.
pub(super) async fn checkpoints_section(
    store: &SqlStore,
    instance: &Instance,
) -> Result<String, String> {
    let chains = store
        .checkpoint_chains(instance.id)
        .await
        .map_err(|e| format!("reading checkpoint chains failed: {e}"))?;
    if chains.is_empty() {
        return Ok("<p class=\"muted\">No checkpoint yet. Turn them on with \
                   <code>event.notification.checkpoints</code> (or a subscription's \
                   <code>checkpoints</code>): after each poll the receiver is told how many \
                   events the window held, with a digest of their ids.</p>"
            .to_owned());
    }
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"checkpoints\"><caption>Checkpoint chains</caption>\
         <thead><tr><th scope=\"col\">Resource</th><th scope=\"col\">Receiver</th>\
         <th scope=\"col\">Sequence</th><th scope=\"col\">Window complete to</th>\
         <th scope=\"col\">Events waiting</th><th scope=\"col\">Latest checkpoint</th></tr></thead><tbody>",
    );
    for c in &chains {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&c.resource),
            esc(c.subscription.as_deref().unwrap_or(crate::checkpoints::CALLBACK)),
            c.sequence,
            esc(&c.to),
            c.open_events,
            c.checkpoint
        );
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}
