//! The control API over HTTP, under `/_sim`: the same operations as the Rust API, for
//! `pollen sage-sim` and for tests in other languages. See `docs/sage-sim.md`.

// Handlers answer early with a ready HTTP reply as the `Err` of their helpers; it is built
// only on the error path and moved once, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as Extract};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use http::{Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::activity::ActivityConfig;
use crate::api::json_response;
use crate::auth::ApiVersion;
use crate::businesses::BusinessData;
use crate::clock::{format_timestamp, ClockMode};
use crate::error::SimError;
use crate::faults::{Fault, FaultKind, FaultTrigger};
use crate::resource::Resource;
use crate::server::State;
use crate::store::Record;

type Shared = Extract<Arc<State>>;
type Reply = Response<Body>;

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/health", get(|| async { ok(&json!({"ok": true})) }))
        .route("/seed", post(seed))
        .route("/businesses", get(list_businesses))
        .route("/records/{resource}", get(list_records).post(create))
        .route(
            "/records/{resource}/{id}",
            get(get_record).put(update).delete(delete),
        )
        .route("/changes", get(changes))
        .route("/clock", get(clock).put(set_clock))
        .route("/clock/advance", post(advance_clock))
        .route("/clock/real", post(real_clock))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/activity",
            get(activity_status)
                .post(start_activity)
                .delete(stop_activity),
        )
        .route("/counters", get(counters).delete(reset_counters))
        .route("/requests", get(requests).delete(clear_requests))
        .route(
            "/business-calls",
            get(business_calls).delete(reset_business_calls),
        )
        .route("/rate-limit", get(rate_limit).put(set_rate_limit))
        .route("/auth/code", post(new_code))
        .route("/auth/tokens", post(new_tokens))
        .route("/auth/revoke-all", post(revoke_all))
}

fn ok(body: &Value) -> Reply {
    json_response(StatusCode::OK, body.to_string())
}

fn bad(status: StatusCode, message: impl Into<String>) -> Reply {
    json_response(status, json!({"error": message.into()}).to_string())
}

fn sim_error(err: &SimError) -> Reply {
    let status = match err.kind() {
        crate::SimErrorKind::NotFound | crate::SimErrorKind::UnknownResource => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::BAD_REQUEST,
    };
    bad(status, err.to_string())
}

/// The request body as JSON; an empty body is `null`.
fn body_json(body: &Bytes) -> Result<Value, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|err| {
        bad(
            StatusCode::BAD_REQUEST,
            format!(
                "request body is not JSON: {err} (line {}, column {})",
                err.line(),
                err.column()
            ),
        )
    })
}

fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|value| !value.is_null())
}

fn u64_field(body: &Value, name: &str) -> Result<Option<u64>, Reply> {
    match field(body, name) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                format!("`{name}` must be a non-negative integer, not `{value}`"),
            )
        }),
    }
}

fn resource(name: &str) -> Result<Resource, Reply> {
    name.parse().map_err(|err: SimError| sim_error(&err))
}

fn version(body: &Value) -> Result<ApiVersion, Reply> {
    match field(body, "version")
        .and_then(Value::as_str)
        .unwrap_or("v3.1")
    {
        "v3.1" => Ok(ApiVersion::V31),
        "v3" => Ok(ApiVersion::V3),
        other => Err(bad(
            StatusCode::BAD_REQUEST,
            format!("`version` must be \"v3\" or \"v3.1\", not `{other}`"),
        )),
    }
}

fn record_json(record: &Record) -> Value {
    let mut value = record.to_json();
    if let Value::Object(map) = &mut value {
        map.insert("$resource".into(), json!(record.resource().name()));
    }
    value
}

macro_rules! attempt {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(reply) => return reply,
        }
    };
}

async fn seed(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let seed = attempt!(u64_field(&body, "seed")).unwrap_or(state.config.seed);
    let records = attempt!(u64_field(&body, "records")).map_or(state.config.records, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    });
    if records > 1_000_000 {
        return bad(StatusCode::BAD_REQUEST, "`records` must be at most 1000000");
    }
    state.reseed(seed, records);
    ok(&json!({"seed": seed, "records": records}))
}

/// `?business=ID`: which business a records or changes call is for (the lead without it).
#[derive(Debug, serde::Deserialize)]
struct BusinessQuery {
    business: Option<String>,
}

/// The business `query` names, or 404 naming it.
fn business<'a>(state: &'a State, query: &BusinessQuery) -> Result<&'a BusinessData, Reply> {
    match query.business.as_deref().filter(|id| !id.is_empty()) {
        None => Ok(state.lead()),
        Some(id) => state.business(id).ok_or_else(|| {
            bad(
                StatusCode::NOT_FOUND,
                format!("`business`: the user has no business `{id}`"),
            )
        }),
    }
}

async fn list_businesses(Extract(state): Shared) -> Reply {
    let businesses: Vec<Value> = state
        .businesses
        .iter()
        .map(|b| json!({"id": b.id, "name": b.name, "lead": b.is_lead()}))
        .collect();
    ok(&Value::Array(businesses))
}

async fn list_records(
    Extract(state): Shared,
    Path(name): Path<String>,
    Query(query): Query<BusinessQuery>,
) -> Reply {
    let resource = attempt!(resource(&name));
    let business = attempt!(business(&state, &query));
    let records: Vec<Value> = business
        .store
        .all(resource)
        .iter()
        .map(record_json)
        .collect();
    ok(&Value::Array(records))
}

async fn create(
    Extract(state): Shared,
    Path(name): Path<String>,
    Query(query): Query<BusinessQuery>,
    body: Bytes,
) -> Reply {
    let resource = attempt!(resource(&name));
    let business = attempt!(business(&state, &query));
    let body = attempt!(body_json(&body));
    match business.store.create(resource, &body, state.now()) {
        Ok(record) => json_response(StatusCode::CREATED, record_json(&record).to_string()),
        Err(err) => sim_error(&err),
    }
}

async fn get_record(
    Extract(state): Shared,
    Path((name, id)): Path<(String, String)>,
    Query(query): Query<BusinessQuery>,
) -> Reply {
    let resource = attempt!(resource(&name));
    let business = attempt!(business(&state, &query));
    match business.store.get(resource, &id) {
        Some(record) => ok(&record_json(&record)),
        None => bad(
            StatusCode::NOT_FOUND,
            format!("no {name} record with id `{id}`"),
        ),
    }
}

async fn update(
    Extract(state): Shared,
    Path((name, id)): Path<(String, String)>,
    Query(query): Query<BusinessQuery>,
    body: Bytes,
) -> Reply {
    let resource = attempt!(resource(&name));
    let business = attempt!(business(&state, &query));
    let body = attempt!(body_json(&body));
    match business.store.update(resource, &id, &body, state.now()) {
        Ok(record) => ok(&record_json(&record)),
        Err(err) => sim_error(&err),
    }
}

async fn delete(
    Extract(state): Shared,
    Path((name, id)): Path<(String, String)>,
    Query(query): Query<BusinessQuery>,
) -> Reply {
    let resource = attempt!(resource(&name));
    let business = attempt!(business(&state, &query));
    match business.store.delete(resource, &id, state.now()) {
        Ok(record) => ok(&record_json(&record)),
        Err(err) => sim_error(&err),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ChangesQuery {
    since: Option<u64>,
    business: Option<String>,
}

async fn changes(Extract(state): Shared, Query(query): Query<ChangesQuery>) -> Reply {
    let business = attempt!(business(
        &state,
        &BusinessQuery {
            business: query.business
        }
    ));
    let changes = business.store.changes_since(query.since.unwrap_or(0));
    ok(&serde_json::to_value(changes).unwrap_or(Value::Null))
}

fn clock_json(state: &State) -> Value {
    let mode = match state.clock.mode() {
        ClockMode::Real => "real",
        ClockMode::Manual(_) => "manual",
    };
    json!({"now": format_timestamp(state.now()), "mode": mode})
}

async fn clock(Extract(state): Shared) -> Reply {
    ok(&clock_json(&state))
}

async fn set_clock(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let Some(text) = field(&body, "now").and_then(Value::as_str) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "`now` must be an RFC 3339 date-time string",
        );
    };
    let Ok(at) = DateTime::parse_from_rfc3339(text) else {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("`now` is not an RFC 3339 date-time: `{text}`"),
        );
    };
    state
        .clock
        .set_mode(ClockMode::Manual(at.with_timezone(&Utc)));
    ok(&clock_json(&state))
}

async fn advance_clock(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let Some(seconds) = field(&body, "seconds").and_then(Value::as_i64) else {
        return bad(StatusCode::BAD_REQUEST, "`seconds` must be an integer");
    };
    state.clock.advance(seconds);
    ok(&clock_json(&state))
}

async fn real_clock(Extract(state): Shared) -> Reply {
    state.clock.set_mode(ClockMode::Real);
    ok(&clock_json(&state))
}

/// A fault from its JSON form (see `docs/sage-sim.md`).
fn fault_from_json(body: &Value) -> Result<Fault, String> {
    let kind_name = field(body, "kind")
        .and_then(Value::as_str)
        .ok_or("`kind` is required")?;
    let kind = match kind_name {
        "too_many_requests" => FaultKind::TooManyRequests {
            retry_after: match field(body, "retry_after") {
                None => None,
                Some(value) => Some(
                    value
                        .as_u64()
                        .ok_or("`retry_after` must be a non-negative integer")?,
                ),
            },
        },
        "internal_server_error" => FaultKind::InternalServerError,
        "service_unavailable" => FaultKind::ServiceUnavailable,
        "not_found" => FaultKind::NotFound,
        "slow" => FaultKind::Slow {
            delay: Duration::from_millis(
                field(body, "delay_ms")
                    .and_then(Value::as_u64)
                    .ok_or("`delay_ms` (a non-negative integer) is required for `slow`")?,
            ),
        },
        "malformed_json" => FaultKind::MalformedJson,
        "drop_connection" => FaultKind::DropConnection,
        "revoke_token" => FaultKind::RevokeToken,
        other => return Err(format!("unknown fault kind `{other}`")),
    };
    let trigger = match (field(body, "next"), field(body, "probability")) {
        (Some(next), None) => FaultTrigger::Next(
            next.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or("`next` must be a non-negative integer")?,
        ),
        (None, Some(p)) => FaultTrigger::Probability {
            p: p.as_f64().ok_or("`probability` must be a number")?,
            seed: field(body, "seed").and_then(Value::as_u64).unwrap_or(0),
        },
        _ => return Err("give exactly one of `next` and `probability`".into()),
    };
    let path_prefix = field(body, "path_prefix")
        .map(|value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or("`path_prefix` must be a string")
        })
        .transpose()?;
    Ok(Fault {
        kind,
        trigger,
        path_prefix,
    })
}

fn fault_to_json(fault: &Fault) -> Value {
    let mut map = Map::new();
    let kind = match &fault.kind {
        FaultKind::TooManyRequests { retry_after } => {
            map.insert("retry_after".into(), json!(retry_after));
            "too_many_requests"
        }
        FaultKind::InternalServerError => "internal_server_error",
        FaultKind::ServiceUnavailable => "service_unavailable",
        FaultKind::NotFound => "not_found",
        FaultKind::Slow { delay } => {
            map.insert("delay_ms".into(), json!(delay.as_millis() as u64));
            "slow"
        }
        FaultKind::MalformedJson => "malformed_json",
        FaultKind::DropConnection => "drop_connection",
        FaultKind::RevokeToken => "revoke_token",
    };
    map.insert("kind".into(), json!(kind));
    match fault.trigger {
        FaultTrigger::Next(n) => {
            map.insert("next".into(), json!(n));
        }
        FaultTrigger::Probability { p, seed } => {
            map.insert("probability".into(), json!(p));
            map.insert("seed".into(), json!(seed));
        }
    }
    map.insert("path_prefix".into(), json!(fault.path_prefix));
    Value::Object(map)
}

async fn list_faults(Extract(state): Shared) -> Reply {
    ok(&Value::Array(
        state.faults.list().iter().map(fault_to_json).collect(),
    ))
}

async fn add_fault(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let fault = match fault_from_json(&body) {
        Ok(fault) => fault,
        Err(message) => return bad(StatusCode::BAD_REQUEST, format!("bad fault: {message}")),
    };
    match state.faults.add(fault.clone()) {
        Ok(()) => json_response(StatusCode::CREATED, fault_to_json(&fault).to_string()),
        Err(err) => sim_error(&err),
    }
}

async fn clear_faults(Extract(state): Shared) -> Reply {
    state.faults.clear();
    ok(&json!([]))
}

fn activity_from_json(body: &Value) -> Result<ActivityConfig, Reply> {
    let mut config = ActivityConfig::default();
    if let Some(rate) = field(body, "rate_per_sec") {
        config.rate_per_sec = rate
            .as_f64()
            .ok_or_else(|| bad(StatusCode::BAD_REQUEST, "`rate_per_sec` must be a number"))?;
    }
    if let Some(seed) = u64_field(body, "seed")? {
        config.seed = seed;
    }
    if let Some(max) = field(body, "max_changes") {
        config.max_changes = Some(max.as_u64().ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                "`max_changes` must be a non-negative integer",
            )
        })?);
    }
    if let Some(resources) = field(body, "resources") {
        let names = resources.as_array().ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                "`resources` must be an array of resource names",
            )
        })?;
        config.resources = names
            .iter()
            .map(|name| resource(name.as_str().unwrap_or_default()))
            .collect::<Result<_, _>>()?;
    }
    for (name, slot) in [
        ("create_weight", &mut config.create_weight),
        ("update_weight", &mut config.update_weight),
        ("delete_weight", &mut config.delete_weight),
    ] {
        if let Some(weight) = u64_field(body, name)? {
            *slot = u32::try_from(weight).unwrap_or(u32::MAX);
        }
    }
    Ok(config)
}

async fn start_activity(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let config = attempt!(activity_from_json(&body));
    match crate::activity::start(&state, config) {
        Ok(()) => activity_status(Extract(state)).await,
        Err(err) => sim_error(&err),
    }
}

async fn activity_status(Extract(state): Shared) -> Reply {
    ok(&json!({
        "running": crate::activity::running(&state),
        "changes": crate::activity::made(&state),
    }))
}

async fn stop_activity(Extract(state): Shared) -> Reply {
    let changes = crate::activity::stop(&state);
    ok(&json!({"running": false, "changes": changes}))
}

async fn counters(Extract(state): Shared) -> Reply {
    let snapshot = state.counters.snapshot();
    let rows: Vec<Value> = snapshot
        .iter()
        .map(|(endpoint, status, count)| json!({"endpoint": endpoint, "status": status, "count": count}))
        .collect();
    ok(&Value::Array(rows))
}

async fn reset_counters(Extract(state): Shared) -> Reply {
    state.counters.reset();
    ok(&json!([]))
}

#[derive(Debug, serde::Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

async fn requests(Extract(state): Shared, Query(query): Query<SinceQuery>) -> Reply {
    let requests = state.requests.since(query.since.unwrap_or(0));
    ok(&json!({
        "dropped": state.requests.dropped(),
        "requests": serde_json::to_value(requests).unwrap_or(Value::Null),
    }))
}

async fn clear_requests(Extract(state): Shared) -> Reply {
    state.requests.clear();
    ok(&json!({"dropped": 0, "requests": []}))
}

fn business_calls_json(state: &State) -> Value {
    let calls: Vec<Value> = state
        .businesses
        .iter()
        .map(|b| serde_json::to_value(state.limits.snapshot(b.index, &b.id)).unwrap_or(Value::Null))
        .collect();
    Value::Array(calls)
}

async fn business_calls(Extract(state): Shared) -> Reply {
    ok(&business_calls_json(&state))
}

async fn reset_business_calls(Extract(state): Shared) -> Reply {
    state.limits.reset();
    ok(&business_calls_json(&state))
}

fn rate_limit_json(state: &State) -> Value {
    json!({"limit": state.limits.limit()})
}

async fn rate_limit(Extract(state): Shared) -> Reply {
    ok(&rate_limit_json(&state))
}

async fn set_rate_limit(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let limit = match body.get("limit") {
        None => {
            return bad(
                StatusCode::BAD_REQUEST,
                "`limit` is required: calls per business a minute, or null for none",
            )
        }
        Some(Value::Null) => None,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(limit) => Some(limit),
            None => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "`limit` must be an integer from 0 to {} or null, not `{value}`",
                        u32::MAX
                    ),
                )
            }
        },
    };
    state.limits.set_limit(limit);
    ok(&rate_limit_json(&state))
}

async fn new_code(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let version = attempt!(version(&body));
    ok(&json!({"code": state.auth.new_code(version, state.now())}))
}

async fn new_tokens(Extract(state): Shared, body: Bytes) -> Reply {
    let body = attempt!(body_json(&body));
    let version = attempt!(version(&body));
    ok(&state.auth.issue(version, state.now()).to_json())
}

async fn revoke_all(Extract(state): Shared) -> Reply {
    state.auth.revoke_all();
    ok(&json!({"revoked": true}))
}
