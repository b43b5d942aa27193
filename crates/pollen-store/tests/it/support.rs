//! Shared test data: instants, keys, ids, notifications, fixtures.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use pollen_config::InstanceConfig;
use pollen_core::{DeliveryAttempt, Notification, PollCommit, PollKey, StableId, Store};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

pub(crate) fn key(instance: &str, resource: &str) -> PollKey {
    PollKey::new(instance, resource)
}

/// A distinct id per `n` (and per `salt`, for ids that must not collide across uses).
pub(crate) fn id(salt: u8, n: u32) -> StableId {
    let mut bytes = [salt; 16];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    StableId(bytes)
}

pub(crate) fn notification(key: &PollKey, n: u32, at: DateTime<Utc>, body: &str) -> Notification {
    Notification {
        id: id(1, n),
        key: key.clone(),
        created_at: at,
        event_ids: vec![id(2, n), id(3, n)],
        body: body.to_owned(),
        subscription: None,
    }
}

pub(crate) fn commit(key: &PollKey, token: u64, watermark: DateTime<Utc>) -> PollCommit {
    PollCommit {
        window: Vec::new(),
        checkpoints: Vec::new(),
        ended_chains: Vec::new(),
        known: Vec::new(),
        reconciled: None,
        key: key.clone(),
        lease_token: token,
        watermark,
        next_due: watermark + TimeDelta::minutes(15),
        seen: Vec::new(),
        notifications: Vec::new(),
        prune_before: None,
    }
}

pub(crate) fn attempt(at: DateTime<Utc>, status: u16, error: Option<&str>) -> DeliveryAttempt {
    DeliveryAttempt {
        at,
        status: Some(status),
        latency_ms: 7,
        error: error.map(str::to_owned),
        response_excerpt: format!("status {status}"),
    }
}

/// Claims the one due poll of `store` at `now` for `owner`; its token.
pub(crate) async fn claim_one(store: &dyn Store, owner: &str, now: DateTime<Utc>) -> u64 {
    let claimed = store
        .claim_due(owner, now, TimeDelta::minutes(5), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "expected one due poll at {now}");
    claimed[0].lease.as_ref().unwrap().token
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/store")
        .join(name)
}

/// The instance configuration of `fixtures/store/secrets.json` and its `SEKRIT-` values.
pub(crate) fn secrets_fixture() -> (InstanceConfig, Vec<String>) {
    let text = std::fs::read_to_string(fixture("secrets.json")).unwrap();
    let config = InstanceConfig::from_json_str(&text).unwrap().config;
    let mut secrets = Vec::new();
    collect_secrets(&serde_json::from_str(&text).unwrap(), &mut secrets);
    assert_eq!(secrets.len(), 9, "the fixture's secrets: {secrets:?}");
    (config, secrets)
}

fn collect_secrets(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.starts_with("SEKRIT-") => into.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_secrets(v, into)),
        _ => {}
    }
}

/// Compares `actual` with `fixtures/store/NAME`; with `UPDATE_FIXTURES=1`, writes it instead.
pub(crate) fn check(actual: &str, expected: &str) {
    let path = fixture(expected);
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_FIXTURES=1 to create it)",
            path.display()
        )
    });
    assert_eq!(actual, want, "{} differs", path.display());
}
