//! `/health`, `/metrics`, `/openapi.json` and the hub read.

use std::fmt::Write;

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::DateTime;
use pollen_core::{FetchRequest, OutboxFilter, OutboxStatus, PollKey, Store};
use serde_json::{json, Value};

use super::{auth, ApiError, ApiResult, Shared, OPENAPI_JSON};

pub(crate) async fn health(state: Shared) -> Response {
    match state.engine.store().next_due().await {
        Ok(_) => Json(json!({"status": "ok"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: the store is unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "message": "the store is unreachable"})),
            )
                .into_response()
        }
    }
}

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Borrowed samples of labelled rows, for [`metric`].
fn samples(rows: &[(String, u64)]) -> Vec<(&str, u64)> {
    rows.iter().map(|(l, v)| (l.as_str(), *v)).collect()
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The outbox rows of `status`, counted a page at a time.
async fn count_outbox(store: &dyn Store, status: OutboxStatus) -> pollen_core::Result<u64> {
    const PAGE: usize = 1000;
    let mut filter = OutboxFilter {
        status: Some(status),
        limit: Some(PAGE),
        ..OutboxFilter::default()
    };
    let mut count = 0;
    loop {
        let rows = store.list_outbox(&filter).await?;
        count += rows.len() as u64;
        match rows.last() {
            Some(last) if rows.len() == PAGE => filter.after_seq = Some(last.seq),
            _ => return Ok(count),
        }
    }
}

pub(crate) async fn metrics(state: Shared) -> Response {
    let polls = state.engine.poll_metrics();
    let sent = state.engine.delivery_stats();
    let store = state.engine.store();
    let mut out = String::new();
    metric(
        &mut out,
        "pollen_polls_total",
        "counter",
        "Polls by outcome.",
        &[
            ("outcome=\"started\"", polls.polls_started),
            ("outcome=\"succeeded\"", polls.polls_succeeded),
            ("outcome=\"failed\"", polls.polls_failed),
        ],
    );
    metric(
        &mut out,
        "pollen_pages_fetched_total",
        "counter",
        "Pages fetched from the vendor.",
        &[("", polls.pages_fetched)],
    );
    metric(
        &mut out,
        "pollen_records_seen_total",
        "counter",
        "Records looked at.",
        &[("", polls.records_seen)],
    );
    metric(
        &mut out,
        "pollen_events_emitted_total",
        "counter",
        "Events committed to the outbox, by type.",
        &[
            ("type=\"CREATED\"", polls.events_created),
            ("type=\"UPDATED\"", polls.events_updated),
            ("type=\"DELETED\"", polls.events_deleted),
        ],
    );
    let by_resource: Vec<(String, u64)> = state
        .engine
        .events_by_resource()
        .iter()
        .map(|c| {
            (
                format!(
                    "resource=\"{}\",type=\"{}\"",
                    label_value(&c.resource),
                    c.event_type.as_str()
                ),
                c.count,
            )
        })
        .collect();
    metric(
        &mut out,
        "pollen_events_total",
        "counter",
        "Events committed to the outbox by this process, by resource and type.",
        &samples(&by_resource),
    );
    let auth = state.engine.auth_stats();
    metric(
        &mut out,
        "pollen_token_grants_total",
        "counter",
        "OAuth token grants that succeeded: authorization codes exchanged, refresh tokens used.",
        &[
            ("grant=\"authorization_code\"", auth.code_exchanges),
            ("grant=\"refresh_token\"", auth.refreshes),
        ],
    );
    metric(
        &mut out,
        "pollen_token_refreshes_total",
        "counter",
        "Access token refreshes by outcome: succeeded, refused by Sage (the instance needs \
         re-authorization), failed on what may pass (5xx, 429, the network).",
        &[
            ("outcome=\"succeeded\"", auth.refreshes),
            ("outcome=\"refused\"", auth.refreshes_refused),
            ("outcome=\"failed\"", auth.refreshes_failed),
        ],
    );
    metric(
        &mut out,
        "pollen_duplicates_suppressed_total",
        "counter",
        "Changes not emitted again because they were emitted before.",
        &[("", polls.duplicates_suppressed)],
    );
    metric(
        &mut out,
        "pollen_notifications_enqueued_total",
        "counter",
        "Notifications appended to the outbox.",
        &[("", polls.notifications_enqueued)],
    );
    metric(
        &mut out,
        "pollen_leases_lost_total",
        "counter",
        "Polls stopped uncommitted because another worker took their lease over.",
        &[("", polls.leases_lost)],
    );
    metric(
        &mut out,
        "pollen_lease_renewals_total",
        "counter",
        "Poll leases renewed by this worker while their polls ran.",
        &[("", polls.lease_renewals)],
    );
    metric(
        &mut out,
        "pollen_reconciliations_total",
        "counter",
        "Reconciliations of resources without a deletion feed: completed (their DELETED events \
         are in pollen_events_total) or given up, emitting nothing (a failed or shifted id walk, \
         lookups that contradicted it, no time left in the poll).",
        &[
            ("outcome=\"completed\"", polls.reconciliations),
            ("outcome=\"aborted\"", polls.reconciliations_aborted),
        ],
    );
    metric(
        &mut out,
        "pollen_checkpoints_total",
        "counter",
        "Checkpoints written to the outbox: one per checkpointed subscription (or callback) per \
         poll that completed a window (see docs/events.md, Checkpoints).",
        &[("", polls.checkpoints)],
    );
    metric(
        &mut out,
        "pollen_reconcile_requests_total",
        "counter",
        "Requests made by reconciliations: id pages walked, and records looked up by id.",
        &[
            ("kind=\"id_page\"", polls.reconcile_pages),
            ("kind=\"lookup\"", polls.reconcile_lookups),
        ],
    );
    metric(
        &mut out,
        "pollen_leases_taken_over_total",
        "counter",
        "Poll and delivery leases of stopped workers released by this one, to be taken up at once.",
        &[("", state.engine.leases_taken_over())],
    );
    // A gauge in seconds, fractional: written by hand (`metric` takes counts).
    let _ = writeln!(
        out,
        "# HELP pollen_worker_heartbeat_age_seconds Time since this worker last wrote its heartbeat \
         (others take its work over once it passes the lease ttl).\n\
         # TYPE pollen_worker_heartbeat_age_seconds gauge\n\
         pollen_worker_heartbeat_age_seconds {}",
        state
            .engine
            .heartbeat_age()
            .map_or(0.0, |age| age.num_milliseconds() as f64 / 1000.0)
    );
    let budgets = state.engine.budget_usage();
    let labelled = |value: fn(&pollen_sage::BudgetUsage) -> u64| -> Vec<(String, u64)> {
        budgets
            .iter()
            .map(|b| {
                (
                    format!("business=\"{}\"", label_value(&b.business)),
                    value(b),
                )
            })
            .collect()
    };
    let used = labelled(|b| b.used_last_minute);
    metric(
        &mut out,
        "pollen_sage_budget_used",
        "gauge",
        "Sage calls this process made for each business in the last 60 seconds.",
        &samples(&used),
    );
    let limit = labelled(|b| u64::from(b.limit));
    metric(
        &mut out,
        "pollen_sage_budget_limit",
        "gauge",
        "Each business's rate budget, in calls a minute, shared by every process on the database.",
        &samples(&limit),
    );
    let waiting = labelled(|b| b.waiting as u64);
    metric(
        &mut out,
        "pollen_sage_budget_waiting",
        "gauge",
        "Sage calls of this process waiting for the business's budget.",
        &samples(&waiting),
    );
    let calls: Vec<(String, u64)> = budgets
        .iter()
        .flat_map(|b| {
            ["changes", "backfill", "reconcile"]
                .into_iter()
                .zip(b.calls)
                .map(|(purpose, n)| {
                    (
                        format!(
                            "business=\"{}\",purpose=\"{purpose}\"",
                            label_value(&b.business)
                        ),
                        n,
                    )
                })
        })
        .collect();
    metric(
        &mut out,
        "pollen_sage_budget_calls_total",
        "counter",
        "Sage calls this process made, by business and purpose (changes, backfill, reconcile).",
        &samples(&calls),
    );
    let _ = writeln!(
        out,
        "# HELP pollen_sage_budget_wait_seconds_total Time Sage calls spent waiting for their business's budget.\n\
         # TYPE pollen_sage_budget_wait_seconds_total counter"
    );
    for b in &budgets {
        let _ = writeln!(
            out,
            "pollen_sage_budget_wait_seconds_total{{business=\"{}\"}} {}",
            label_value(&b.business),
            b.waited.as_secs_f64()
        );
    }
    metric(
        &mut out,
        "pollen_deliveries_total",
        "counter",
        "Delivery outcomes.",
        &[
            ("outcome=\"attempted\"", sent.attempts),
            ("outcome=\"delivered\"", sent.delivered),
            ("outcome=\"retried\"", sent.retried),
            ("outcome=\"queued\"", sent.queued),
        ],
    );
    metric(
        &mut out,
        "pollen_subscription_deactivations_total",
        "counter",
        "Subscriptions deactivated (410 Gone or retries exhausted).",
        &[("", sent.deactivations)],
    );
    metric(
        &mut out,
        "pollen_replayed_notifications_total",
        "counter",
        "Notifications this process re-queued for replays.",
        &[("", state.engine.replayed())],
    );
    let running = match store.list_replays(None, true).await {
        Ok(running) => running.len() as u64,
        Err(error) => {
            tracing::warn!(%error, "metrics: listing the replays failed");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable")
                .into_response();
        }
    };
    metric(
        &mut out,
        "pollen_replays_running",
        "gauge",
        "Replays not yet finished nor cancelled, in the whole database.",
        &[("", running)],
    );
    let in_grace = match store.count_retired_signing_keys(chrono::Utc::now()).await {
        Ok(n) => n,
        Err(error) => {
            tracing::warn!(%error, "metrics: counting retired signing keys failed");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable")
                .into_response();
        }
    };
    metric(
        &mut out,
        "pollen_signing_keys_in_grace",
        "gauge",
        "Signing keys a rotation replaced that still sign (their grace period runs), in the whole database.",
        &[("", in_grace)],
    );
    let open_alerts = match store.count_open_alerts().await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "metrics: counting open alerts failed");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable")
                .into_response();
        }
    };
    // Every kind, zeros included, so a resolved alert's series drops to 0 instead of vanishing.
    let by_kind: Vec<(String, u64)> = pollen_store::AlertKind::ALL
        .into_iter()
        .map(|kind| {
            let n = open_alerts
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n);
            (format!("kind=\"{}\"", kind.as_str()), n)
        })
        .collect();
    metric(
        &mut out,
        "pollen_alerts_open",
        "gauge",
        "Operational alerts open, by kind, in the whole database.",
        &samples(&by_kind),
    );
    let deliveries: Vec<(String, u64)> = state
        .engine
        .alert_deliveries()
        .iter()
        .map(|(outcome, n)| (format!("outcome=\"{outcome}\""), *n))
        .collect();
    metric(
        &mut out,
        "pollen_alert_deliveries_total",
        "counter",
        "Alert deliveries this process attempted or skipped, by outcome: delivered, failed (retried), given_up, skipped (the target has no URL).",
        &samples(&deliveries),
    );
    let mut depth = Vec::new();
    for status in [OutboxStatus::Pending, OutboxStatus::Queued] {
        match count_outbox(store.as_ref(), status).await {
            Ok(n) => depth.push((status, n)),
            Err(error) => {
                tracing::warn!(%error, "metrics: counting the outbox failed");
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable")
                    .into_response();
            }
        }
    }
    let labels: Vec<String> = depth
        .iter()
        .map(|(s, _)| format!("status=\"{}\"", s.as_str()))
        .collect();
    let samples: Vec<(&str, u64)> = labels
        .iter()
        .zip(&depth)
        .map(|(l, (_, n))| (l.as_str(), *n))
        .collect();
    metric(
        &mut out,
        "pollen_outbox_depth",
        "gauge",
        "Notifications waiting in the outbox, by status.",
        &samples,
    );
    if let Err(error) = subscription_metrics(store, &mut out).await {
        tracing::warn!(%error, "metrics: counting subscriptions' notifications failed");
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable")
            .into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// `pollen_subscription_notifications` and `pollen_subscription_active`, per subscription of
/// `event.notification.subscriptions` (the callbacks are the other metrics' subject): one
/// grouped count per instance that has subscriptions.
async fn subscription_metrics(
    store: &pollen_store::SqlStore,
    out: &mut String,
) -> Result<(), crate::refused::Refused> {
    let instances = store
        .list_instances()
        .await
        .map_err(crate::refused::Refused::store("listing instances"))?;
    let mut counts: Vec<(String, u64)> = Vec::new();
    let mut active: Vec<(String, u64)> = Vec::new();
    for instance in instances
        .iter()
        .filter(|i| !i.config.configuration.notification.subscriptions.is_empty())
    {
        for lane in crate::subscriptions::lanes(store, instance).await? {
            let Some(name) = &lane.name else { continue };
            let labels = format!("instance=\"{}\",subscription=\"{name}\"", instance.id);
            let h = lane.health;
            for (status, n) in [
                ("pending", h.pending),
                ("failing", h.failing),
                ("queued", h.queued),
                ("delivered", h.delivered),
            ] {
                counts.push((format!("{labels},status=\"{status}\""), n));
            }
            active.push((labels, u64::from(lane.active)));
        }
    }
    metric(
        out,
        "pollen_subscription_notifications",
        "gauge",
        "Notifications of each subscription besides the callback, by status (failing: pending after a failed attempt).",
        &samples(&counts),
    );
    metric(
        out,
        "pollen_subscription_active",
        "gauge",
        "1 while a subscription besides the callback delivers, 0 once deactivated after its last retry.",
        &samples(&active),
    );
    Ok(())
}

/// `GET /hubs/finance/{resource}?where=&pageSize=&page=`: one page of the normalized resource
/// read through the instance's Sage source, as the instance's poller sees it.
pub(crate) async fn hub(
    state: Shared,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(token) = auth::parse(header).element else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "hub calls need `Element <instance token>` in Authorization",
        ));
    };
    let instance = state
        .engine
        .store()
        .instance_by_token(token)
        .await
        .map_err(|e| ApiError::internal("finding the instance", e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Authorization must carry a valid `Element <instance token>`",
            )
        })?;
    let source = state.engine.source(&instance.key()).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "instance {} is not polling (status {})",
                instance.id, instance.status
            ),
        )
    })?;
    let query = query.unwrap_or_default();
    let mut page: u32 = 1;
    let mut kept = Vec::new();
    for part in query.split('&') {
        if let Some(text) = part.strip_prefix("page=") {
            page = text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "query parameter page: `{text}` is not a whole number from 1 to 1000"
                    ))
                })?;
        } else if !part.is_empty() {
            kept.push(part);
        }
    }
    let request = if kept.is_empty() {
        format!("/hubs/finance/{resource}")
    } else {
        format!("/hubs/finance/{resource}?{}", kept.join("&"))
    };
    let key = PollKey::new(instance.key(), resource.clone());
    let mut cursor: Option<String> = None;
    let mut current = 1;
    loop {
        let fetched = source
            .fetch(
                &resource,
                &FetchRequest {
                    key: &key,
                    request: &request,
                    since: DateTime::UNIX_EPOCH,
                    page_size: None,
                    cursor: cursor.as_deref(),
                    purpose: pollen_core::Purpose::Changes,
                },
            )
            .await
            .map_err(|error| match error.kind() {
                pollen_sage::ErrorKind::InvalidRequest
                | pollen_sage::ErrorKind::UnknownResource => {
                    ApiError::bad_request(error.to_string())
                }
                _ => ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()),
            })?;
        if current == page {
            return Ok(Json(json!({
                "records": fetched.records,
                "page": page,
                "hasMore": fetched.next.is_some(),
                "total": fetched.total,
            })));
        }
        match fetched.next {
            Some(next) => cursor = Some(next),
            None => {
                return Ok(Json(json!({
                    "records": [],
                    "page": page,
                    "hasMore": false,
                    "total": fetched.total,
                })))
            }
        }
        current += 1;
    }
}
