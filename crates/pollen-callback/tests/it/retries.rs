//! Retry timing on a manual clock, `Retry-After`, throttling, 410, exhaustion, redelivery.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_callback::{Endpoint, Redelivery, RetryPolicy};
use pollen_core::{Clock, OutboxStatus, Store};

use crate::common::{t0, Harness};
use crate::receiver::Answer;

fn exact() -> RetryPolicy {
    RetryPolicy::vendor().with_jitter(0.0).unwrap()
}

async fn failing(path: &str, answer: Answer, policy: RetryPolicy) -> Harness {
    let h = Harness::new(|c| c.retry = policy).await;
    h.receiver.answer(path, answer);
    h.endpoints
        .insert("42", Endpoint::new(&h.receiver.url(path)).unwrap());
    h
}

/// Attempts the one notification every time it is due, until it is queued; returns the
/// instants of the attempts.
async fn attempt_until_queued(h: &Harness, id: pollen_core::StableId) -> Vec<DateTime<Utc>> {
    let mut times = Vec::new();
    loop {
        times.push(h.clock.now());
        assert_eq!(h.sender.deliver_due().await.unwrap(), 1);
        let entry = h.entry(id).await;
        if entry.status == OutboxStatus::Queued {
            return times;
        }
        assert_eq!(entry.status, OutboxStatus::Pending);
        // Nothing happens before it is due.
        h.clock.set(entry.next_attempt - TimeDelta::milliseconds(1));
        assert_eq!(h.sender.deliver_due().await.unwrap(), 0, "attempted early");
        h.clock.set(entry.next_attempt);
    }
}

#[tokio::test]
async fn retries_land_on_the_vendor_schedule_then_the_subscription_is_deactivated() {
    let h = failing("/down", Answer::status(503), exact()).await;
    let id = h.enqueue("42", 1).await[0];
    let times = attempt_until_queued(&h, id).await;

    let offsets: Vec<i64> = times.iter().map(|t| (*t - t0()).num_seconds()).collect();
    assert_eq!(
        offsets,
        [0, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144],
        "the first attempt, then 9 retries at 4^n s"
    );
    let log = h.store.list_attempts(&id).await.unwrap();
    assert_eq!(log.len(), 10);
    assert!(log.iter().all(|a| a.status == Some(503)));
    assert_eq!(
        log[9].error.as_deref(),
        Some(
            "receiver answered 503 Service Unavailable (attempt 10, the last retry: the \
             subscription is deactivated)"
        )
    );
    assert!(!h.store.subscription_active("42").await.unwrap());
    let entry = h.entry(id).await;
    assert_eq!(entry.status, OutboxStatus::Queued);
    assert_eq!(entry.attempts, 10);

    // While deactivated, new notifications are kept, queued, and not sent.
    let later = h.enqueue("42", 2).await;
    for id in &later {
        assert_eq!(h.entry(*id).await.status, OutboxStatus::Queued);
    }
    h.clock.advance(TimeDelta::days(30));
    assert_eq!(h.sender.deliver_due().await.unwrap(), 0);

    // Redelivery re-activates and sends all three.
    h.receiver.answer("/down", Answer::status(200));
    let requeued = h
        .sender
        .redeliver(&Redelivery::Instance("42".into()))
        .await
        .unwrap();
    assert_eq!(requeued, 3);
    assert!(h.store.subscription_active("42").await.unwrap());
    assert_eq!(h.sender.deliver_due().await.unwrap(), 3);
    for id in later.iter().chain([&id]) {
        assert_eq!(h.entry(*id).await.status, OutboxStatus::Delivered);
    }
    assert_eq!(h.receiver.received_on("/down").len(), 13);
}

#[tokio::test]
async fn jitter_stays_within_20_percent_of_each_offset() {
    let h = failing("/down", Answer::status(500), RetryPolicy::vendor()).await;
    let ids = h.enqueue("42", 40).await;
    // Every notification: first failure at t0; its first retry due within 4 s ± 20 %.
    h.sender.deliver_due().await.unwrap();
    let mut waits = Vec::new();
    for id in &ids {
        let entry = h.entry(*id).await;
        let wait = (entry.next_attempt - t0()).num_milliseconds();
        assert!((3200..=4800).contains(&wait), "first retry after {wait} ms");
        waits.push(wait);
    }
    waits.sort_unstable();
    waits.dedup();
    assert!(waits.len() > 10, "no jitter: {waits:?}");

    // One notification through the whole schedule: retry n within ±20 % of 4^n s.
    let h = failing("/down", Answer::status(500), RetryPolicy::vendor()).await;
    let id = h.enqueue("42", 1).await[0];
    let times = attempt_until_queued(&h, id).await;
    assert_eq!(times.len(), 10);
    for (n, at) in times.iter().enumerate().skip(1) {
        let nominal = 4f64.powi(n as i32);
        let actual = (*at - t0()).num_milliseconds() as f64 / 1000.0;
        assert!(
            (nominal * 0.8..=nominal * 1.2).contains(&actual),
            "retry {n} at {actual} s, nominal {nominal} s"
        );
    }
}

#[tokio::test]
async fn a_configured_schedule_is_followed() {
    let policy = exact()
        .with_offsets(vec![Duration::from_secs(10), Duration::from_secs(70)])
        .unwrap();
    let h = failing("/down", Answer::status(500), policy).await;
    let id = h.enqueue("42", 1).await[0];
    let times = attempt_until_queued(&h, id).await;
    let offsets: Vec<i64> = times.iter().map(|t| (*t - t0()).num_seconds()).collect();
    assert_eq!(offsets, [0, 10, 70]);
}

async fn first_wait(answer: Answer, policy: RetryPolicy) -> (i64, Option<String>) {
    let h = failing("/busy", answer, policy).await;
    let id = h.enqueue("42", 1).await[0];
    h.sender.deliver_due().await.unwrap();
    let entry = h.entry(id).await;
    let log = h.store.list_attempts(&id).await.unwrap();
    (
        (entry.next_attempt - t0()).num_seconds(),
        log[0].error.clone(),
    )
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_cap() {
    let (wait, error) = first_wait(Answer::status(503).header("retry-after", "120"), exact()).await;
    assert_eq!(wait, 120);
    assert_eq!(
        error.as_deref(),
        Some("receiver answered 503 Service Unavailable")
    );

    let (wait, _) = first_wait(
        Answer::status(503).header("retry-after", "Sun, 01 Mar 2026 09:10:00 GMT"),
        exact(),
    )
    .await;
    assert_eq!(wait, 600, "an HTTP date is a wait until then");

    let mut capped = exact();
    capped.retry_after_cap = Duration::from_secs(900);
    let (wait, _) = first_wait(Answer::status(503).header("retry-after", "86400"), capped).await;
    assert_eq!(wait, 900);

    // A Retry-After shorter than the schedule does not hurry it.
    let (wait, _) = first_wait(Answer::status(503).header("retry-after", "1"), exact()).await;
    assert_eq!(wait, 4);
}

#[tokio::test]
async fn a_429_waits_at_least_the_throttle_minimum() {
    let (wait, error) = first_wait(Answer::status(429), exact()).await;
    assert_eq!(wait, 60);
    assert_eq!(
        error.as_deref(),
        Some("receiver answered 429 Too Many Requests")
    );
}

#[tokio::test]
async fn a_410_deactivates_at_once_and_redelivery_by_id_sends_it() {
    let h = failing("/gone", Answer::status(410).body("unsubscribed"), exact()).await;
    let ids = h.enqueue("42", 1).await;
    h.sender.deliver_due().await.unwrap();

    assert!(!h.store.subscription_active("42").await.unwrap());
    let entry = h.entry(ids[0]).await;
    assert_eq!(entry.status, OutboxStatus::Queued);
    assert_eq!(entry.attempts, 1);
    let log = h.store.list_attempts(&ids[0]).await.unwrap();
    assert_eq!(log[0].status, Some(410));
    assert_eq!(
        log[0].error.as_deref(),
        Some("receiver answered 410 Gone: the subscription is deactivated")
    );
    assert_eq!(log[0].response_excerpt, "unsubscribed");
    assert_eq!(h.sender.stats().deactivations, 1);

    let queued = h.enqueue("42", 1).await;
    assert_eq!(h.entry(queued[0]).await.status, OutboxStatus::Queued);

    h.receiver.answer("/gone", Answer::status(204));
    let requeued = h
        .sender
        .redeliver(&Redelivery::Ids(ids.clone()))
        .await
        .unwrap();
    assert_eq!(requeued, 1);
    assert!(h.store.subscription_active("42").await.unwrap());
    h.sender.deliver_due().await.unwrap();
    assert_eq!(h.entry(ids[0]).await.status, OutboxStatus::Delivered);
    // The other one was not named: it stays queued.
    assert_eq!(h.entry(queued[0]).await.status, OutboxStatus::Queued);
}
