//! Checkpoints: after each poll that moves the watermark, every checkpointed subscription gets
//! one, counting exactly the events tagged with its window, chained to the one before; events
//! written by a poll that died after writing progress are counted by the next checkpoint.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{SecondsFormat, TimeDelta};
use pollen_core::{
    checkpoint_digest, Clock, EventType, ManualClock, MemoryStore, OutboxEntry, Scheduler,
    SchedulerConfig, StableId, Store, SubscriptionFilter,
};
use serde_json::{json, Value};

use crate::common::{key, spec, t0, CrashingStore, Harness};

/// The checkpoints of `subscription` (`"callback"` or a name), in outbox order.
fn checkpoints(outbox: &[OutboxEntry], subscription: &str) -> Vec<Value> {
    outbox
        .iter()
        .map(|e| e.notification.payload())
        .filter(|body| body["action"] == "checkpoint")
        .map(|body| body["message"]["checkpoint"].clone())
        .filter(|c| c["subscription"] == subscription)
        .collect()
}

/// The event ids of the notifications tagged with the window `checkpoint` closes.
fn window_of(outbox: &[OutboxEntry], checkpoint: &Value) -> BTreeSet<StableId> {
    outbox
        .iter()
        .map(|e| e.notification.payload())
        .filter(|body| body["action"] != "checkpoint")
        .filter(|body| {
            let tag = &body["message"]["checkpoint"];
            tag["chain"] == checkpoint["chain"]
                && tag["after"] == checkpoint["previous"]
                && tag["subscription"] == checkpoint["subscription"]
        })
        .flat_map(|body| {
            body["message"]["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventId"].as_str().unwrap().parse().unwrap())
                .collect::<Vec<StableId>>()
        })
        .collect()
}

/// Checks `checkpoint` against the events tagged with its window: their count and digest.
fn check(outbox: &[OutboxEntry], checkpoint: &Value, events: usize) {
    let ids = window_of(outbox, checkpoint);
    assert_eq!(ids.len(), events, "events tagged for {checkpoint}");
    assert_eq!(checkpoint["events"], events, "{checkpoint}");
    assert_eq!(
        checkpoint["digest"],
        checkpoint_digest(&ids),
        "{checkpoint}"
    );
}

fn millis(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn each_poll_closes_a_window_per_checkpointed_subscription_chained_to_the_last() {
    let h = Harness::new(|spec| {
        spec.checkpoints = true;
        spec.subscriptions = vec![
            SubscriptionFilter::new("created")
                .with_event_types(vec![EventType::Created])
                .with_checkpoints(),
            SubscriptionFilter::new("plain"),
        ];
    })
    .await;
    h.clock.advance(TimeDelta::minutes(2));
    for id in ["a", "b", "c"] {
        h.source.upsert(id, json!({"name": id}));
    }
    h.poll().await.result.unwrap();
    let first_watermark = h.state().await.watermark;
    h.clock.advance(TimeDelta::minutes(1));
    h.source.upsert("a", json!({"name": "A"}));
    h.poll().await.result.unwrap();
    let second_watermark = h.state().await.watermark;
    h.poll().await.result.unwrap();

    let outbox = h.outbox().await;
    for entry in &outbox {
        let body = entry.notification.payload();
        let tag = &body["message"]["checkpoint"];
        match entry.notification.subscription.as_deref() {
            Some("plain") => assert!(tag.is_null(), "an unchecked subscription is untagged"),
            Some(name) => assert_eq!(tag["subscription"], name),
            None => assert_eq!(tag["subscription"], "callback"),
        }
        if body["action"] == "checkpoint" {
            assert!(entry.notification.event_ids.is_empty());
            assert_eq!(body["message"]["events"], json!([]));
            assert_eq!(body["id"], body["message"]["checkpoint"]["id"]);
        }
    }

    let callback = checkpoints(&outbox, "callback");
    assert_eq!(callback.len(), 3, "one per poll: {callback:?}");
    for (i, (checkpoint, events)) in callback.iter().zip([3, 1, 0]).enumerate() {
        assert_eq!(checkpoint["sequence"], i as u64 + 1);
        assert_eq!(checkpoint["objectType"], "customers");
        check(&outbox, checkpoint, events);
    }
    assert_eq!(callback[0]["previous"], Value::Null);
    assert_eq!(callback[0]["from"], millis(t0()));
    assert_eq!(callback[0]["to"], millis(first_watermark));
    assert_eq!(callback[1]["previous"], callback[0]["id"]);
    assert_eq!(callback[1]["from"], callback[0]["to"]);
    assert_eq!(callback[1]["to"], millis(second_watermark));
    assert_eq!(callback[2]["previous"], callback[1]["id"]);
    assert_eq!(
        callback[2]["digest"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let chain = &callback[0]["chain"];
    assert!(callback.iter().all(|c| &c["chain"] == chain));

    // The subscription's windows hold only what its filter let through: the three creations,
    // then nothing (the update is not for it).
    let created = checkpoints(&outbox, "created");
    assert_eq!(created.len(), 3);
    for (checkpoint, events) in created.iter().zip([3, 0, 0]) {
        check(&outbox, checkpoint, events);
    }
    assert_ne!(created[0]["chain"], *chain, "a chain per subscription");
    assert!(checkpoints(&outbox, "plain").is_empty());
    let ids: BTreeSet<String> = callback
        .iter()
        .chain(&created)
        .map(|c| c["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 6, "checkpoint ids are distinct");
}

#[tokio::test]
async fn events_written_by_a_poll_that_died_count_in_the_next_checkpoint() {
    let clock = ManualClock::new(t0());
    let memory = Arc::new(MemoryStore::new());
    let crashing = Arc::new(CrashingStore {
        inner: memory.clone(),
        crash: AtomicBool::new(true),
        progress_survives: AtomicBool::new(true),
    });
    let source = pollen_core::testing::FakeSource::new(clock.clone());
    let mut spec = spec(t0());
    spec.checkpoints = true;
    let before = Scheduler::new(
        crashing.clone(),
        Arc::new(clock.clone()),
        SchedulerConfig::new("a"),
    );
    before
        .register(spec.clone(), Arc::new(source.clone()))
        .await
        .unwrap();
    clock.advance(TimeDelta::minutes(3));
    // More than one progress chunk (4,000 changes).
    for n in 0..4_500 {
        source.upsert(&format!("r{n}"), json!({}));
    }
    let due = memory.load(&key()).await.unwrap().unwrap().next_due;
    clock.set(due.max(clock.now()));
    assert!(before.run_due().await.unwrap()[0].result.is_err());
    let written = memory.window_events(&key()).await.unwrap().len();
    assert_eq!(
        written, 4_000,
        "the first chunk was written, then the process died"
    );
    assert!(checkpoints(&memory_outbox(&memory).await, "callback").is_empty());

    crashing.crash.store(false, Ordering::SeqCst);
    let after = Scheduler::new(
        memory.clone(),
        Arc::new(clock.clone()),
        SchedulerConfig::new("b"),
    );
    after
        .register(spec, Arc::new(source.clone()))
        .await
        .unwrap();
    clock.advance(TimeDelta::minutes(11));
    let reports = after.run_due().await.unwrap();
    reports[0].result.as_ref().unwrap();

    let outbox = memory_outbox(&memory).await;
    let callback = checkpoints(&outbox, "callback");
    assert_eq!(callback.len(), 1);
    check(&outbox, &callback[0], 4_500);
    assert!(
        memory.window_events(&key()).await.unwrap().is_empty(),
        "the checkpoint closed its window"
    );
}

async fn memory_outbox(store: &MemoryStore) -> Vec<OutboxEntry> {
    store
        .list_outbox(&pollen_core::OutboxFilter::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn turning_checkpoints_off_ends_the_chain_and_on_again_starts_a_new_one() {
    let h = Harness::new(|spec| spec.checkpoints = true).await;
    h.poll().await.result.unwrap();
    h.poll().await.result.unwrap();
    let source = Arc::new(h.source.clone());
    let mut off = spec(t0());
    off.checkpoints = false;
    h.scheduler.register(off, source.clone()).await.unwrap();
    h.poll().await.result.unwrap();
    assert!(h.store.checkpoint_heads(&key()).await.unwrap().is_empty());
    let mut on = spec(t0());
    on.checkpoints = true;
    h.scheduler.register(on, source).await.unwrap();
    h.source.upsert("late", json!({}));
    h.poll().await.result.unwrap();

    let outbox = h.outbox().await;
    let callback = checkpoints(&outbox, "callback");
    assert_eq!(callback.len(), 3, "none while off: {callback:?}");
    assert_eq!(callback[1]["sequence"], 2);
    assert_eq!(callback[2]["sequence"], 1, "a new chain");
    assert_eq!(callback[2]["previous"], Value::Null);
    assert_ne!(callback[2]["chain"], callback[0]["chain"]);
    check(&outbox, &callback[2], 1);
}
