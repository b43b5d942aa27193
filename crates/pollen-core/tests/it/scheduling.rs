//! The scheduler: spread, exclusivity, concurrency limit, isolation of slow and failing
//! sources, back-off.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::testing::FakeSource;
use pollen_core::{
    backoff, Clock, ManualClock, MemoryStore, PollKey, PollSpec, RequestTemplate, Scheduler,
    SchedulerConfig, Store,
};
use tokio::sync::oneshot;

use crate::common::{settle, t0, Harness};

fn plain_spec(instance: &str, interval: TimeDelta) -> PollSpec {
    let mut spec = PollSpec::new(
        PollKey::new(instance, "customers"),
        RequestTemplate::literal("/customers"),
        t0(),
    );
    spec.refresh_interval = interval;
    spec
}

/// Runs `scheduler.run` in a task while `drive` moves the clock; then shuts it down.
async fn with_running<F, Fut>(scheduler: &Scheduler, drive: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let running = scheduler.clone();
    let task = tokio::spawn(async move {
        running
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    settle().await;
    drive().await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

async fn step_clock(clock: &ManualClock, step: TimeDelta, until: DateTime<Utc>) {
    while clock.now() < until {
        clock.advance(step);
        settle().await;
    }
}

#[tokio::test]
async fn due_times_are_spread_with_a_deterministic_jitter() {
    let dues = |_: ()| async {
        let clock = ManualClock::new(t0());
        let store = Arc::new(MemoryStore::new());
        let scheduler = Scheduler::new(
            store.clone(),
            Arc::new(clock.clone()),
            SchedulerConfig::new("a"),
        );
        let source = Arc::new(FakeSource::new(clock));
        let mut dues = Vec::new();
        for i in 0..1500 {
            let state = scheduler
                .register(
                    plain_spec(&format!("i{i}"), TimeDelta::minutes(15)),
                    source.clone(),
                )
                .await
                .unwrap();
            dues.push(state.next_due);
        }
        dues
    };
    let first = dues(()).await;
    assert_eq!(first, dues(()).await, "the jitter is not deterministic");
    let mut per_minute: HashMap<i64, usize> = HashMap::new();
    for due in &first {
        assert!(*due > t0() && *due <= t0() + TimeDelta::minutes(15));
        *per_minute.entry((*due - t0()).num_minutes()).or_default() += 1;
    }
    assert_eq!(
        per_minute.len(),
        15,
        "some minutes get no polls: {per_minute:?}"
    );
    assert!(
        per_minute.values().all(|n| (50..=150).contains(n)),
        "uneven spread (100 per minute expected): {per_minute:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_never_runs_twice_at_once_even_across_processes() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStore::new());
    let source = FakeSource::new(clock.clone());
    // Each poll takes 5 minutes; the key is due every minute.
    source.set_latency(TimeDelta::minutes(5));
    let workers: Vec<Scheduler> = ["a", "b"]
        .into_iter()
        .map(|owner| {
            Scheduler::new(
                store.clone(),
                Arc::new(clock.clone()),
                SchedulerConfig::new(owner),
            )
        })
        .collect();
    for worker in &workers {
        worker
            .register(
                plain_spec("busy", TimeDelta::minutes(1)),
                Arc::new(source.clone()),
            )
            .await
            .unwrap();
    }
    let (a, b) = (&workers[0], &workers[1]);
    with_running(a, || {
        with_running(b, || {
            step_clock(&clock, TimeDelta::seconds(20), t0() + TimeDelta::hours(1))
        })
    })
    .await;
    let polls = a.metrics().polls_succeeded + b.metrics().polls_succeeded;
    assert!(polls >= 9, "only {polls} polls ran");
    assert_eq!(source.max_in_flight(), 1, "the key ran twice at once");
}

#[tokio::test(start_paused = true)]
async fn the_global_concurrency_limit_holds() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStore::new());
    let source = FakeSource::new(clock.clone());
    source.set_latency(TimeDelta::minutes(1));
    let mut config = SchedulerConfig::new("a");
    config.concurrency = 3;
    config.first_poll_within = Some(TimeDelta::seconds(1));
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config);
    for i in 0..10 {
        scheduler
            .register(
                plain_spec(&format!("i{i}"), TimeDelta::minutes(15)),
                Arc::new(source.clone()),
            )
            .await
            .unwrap();
    }
    with_running(&scheduler, || {
        step_clock(&clock, TimeDelta::seconds(5), t0() + TimeDelta::minutes(6))
    })
    .await;
    // All ten got their first poll (a few also their next slot) …
    let keys: std::collections::HashSet<String> =
        source.fetches().iter().map(|f| f.request.clone()).collect();
    assert_eq!(keys.len(), 1);
    assert!(scheduler.metrics().polls_succeeded >= 10);
    // … never more than three at once.
    assert_eq!(source.max_in_flight(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_slow_or_failing_instance_never_delays_the_others() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStore::new());
    let mut config = SchedulerConfig::new("a");
    config.concurrency = 2;
    config.poll_timeout = TimeDelta::minutes(2);
    let scheduler = Scheduler::new(store.clone(), Arc::new(clock.clone()), config);
    let slow = FakeSource::new(clock.clone());
    slow.set_latency(TimeDelta::hours(10));
    let failing = FakeSource::new(clock.clone());
    failing.fail_next(u32::MAX);
    let interval = TimeDelta::minutes(15);
    scheduler
        .register(plain_spec("slow", interval), Arc::new(slow.clone()))
        .await
        .unwrap();
    scheduler
        .register(plain_spec("failing", interval), Arc::new(failing.clone()))
        .await
        .unwrap();
    let mut healthy = Vec::new();
    for i in 0..6 {
        let source = FakeSource::new(clock.clone());
        scheduler
            .register(
                plain_spec(&format!("ok{i}"), interval),
                Arc::new(source.clone()),
            )
            .await
            .unwrap();
        healthy.push(source);
    }
    let step = TimeDelta::seconds(10);
    with_running(&scheduler, || {
        step_clock(&clock, step, t0() + TimeDelta::hours(2))
    })
    .await;
    for source in &healthy {
        let times: Vec<DateTime<Utc>> = source.fetches().iter().map(|f| f.at).collect();
        assert!(
            times.len() >= 7,
            "a healthy instance polled only {} times",
            times.len()
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (gap - interval).abs() <= step,
                "a healthy instance was delayed: polls {gap} apart"
            );
        }
    }
    let metrics = scheduler.metrics();
    assert!(metrics.dispatch_lag_micros_max <= step.num_microseconds().unwrap() as u64);
    let slow_state = store
        .load(&PollKey::new("slow", "customers"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        slow_state.consecutive_failures >= 1,
        "the slow poll never timed out"
    );
    assert!(slow_state.last_error.unwrap().contains("timed out"));
    let failing_state = store
        .load(&PollKey::new("failing", "customers"))
        .await
        .unwrap()
        .unwrap();
    assert!(failing_state.consecutive_failures >= 2);
    assert_eq!(failing_state.watermark, t0());
}

#[tokio::test]
async fn a_failing_poll_backs_off_exponentially_capped_at_four_intervals() {
    let h = Harness::new(|_| {}).await;
    h.source.fail_next(5);
    let interval = TimeDelta::minutes(15);
    let mut waits = Vec::new();
    for _ in 0..5 {
        let report = h.poll().await;
        assert!(report.result.is_err());
        let state = h.state().await;
        assert_eq!(state.watermark, t0(), "a failed poll moved the watermark");
        waits.push(state.next_due - h.clock.now());
    }
    assert_eq!(
        waits,
        [
            interval,
            interval * 2,
            interval * 4,
            interval * 4,
            interval * 4
        ]
    );
    assert_eq!(backoff(interval, 9), interval * 4);
    let recovered = h.poll().await.result.unwrap();
    assert!(recovered.watermark > t0());
    assert_eq!(h.state().await.consecutive_failures, 0);
    assert_eq!(h.scheduler.metrics().polls_failed, 5);
}

/// With `first_poll_within`, the first polls spread by 10 ms per registered key up to the
/// limit: the first key is due at once, a thousand keys spread over (nearly) the whole limit.
#[tokio::test]
async fn first_polls_spread_with_the_number_of_keys() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStore::new());
    let source = FakeSource::new(clock.clone());
    let mut config = SchedulerConfig::new("a");
    config.first_poll_within = Some(TimeDelta::seconds(5));
    let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config);
    let mut due = Vec::new();
    for i in 0..1000 {
        let state = scheduler
            .register(
                plain_spec(&format!("i{i}"), TimeDelta::minutes(15)),
                Arc::new(source.clone()),
            )
            .await
            .unwrap();
        due.push(state.next_due - t0());
    }
    assert!(
        due[0] < TimeDelta::milliseconds(10),
        "first key: {:?}",
        due[0]
    );
    assert!(
        due[1] < TimeDelta::milliseconds(20),
        "second key: {:?}",
        due[1]
    );
    let latest = due.iter().max().unwrap();
    assert!(
        *latest > TimeDelta::seconds(4) && *latest < TimeDelta::seconds(5),
        "latest first poll: {latest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_renewed_lease_outlives_its_ttl_and_a_paused_renewal_loses_it_changing_nothing() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStore::new());
    let source = FakeSource::new(clock.clone());
    source.upsert("c-1", serde_json::json!({ "name": "one" }));
    // A walk far longer than the lease.
    source.set_latency(TimeDelta::minutes(5));
    let worker = |owner: &str| {
        let mut config = SchedulerConfig::new(owner);
        config.lease_ttl = TimeDelta::seconds(30);
        Scheduler::new(store.clone(), Arc::new(clock.clone()), config)
    };
    let (a, b) = (worker("a"), worker("b"));
    let spec = plain_spec("long", TimeDelta::minutes(1));
    let key = spec.key.clone();
    a.register(spec.clone(), Arc::new(source.clone()))
        .await
        .unwrap();
    b.register(spec, Arc::new(source.clone())).await.unwrap();
    clock.set(t0() + TimeDelta::minutes(1));
    let polling_a = tokio::spawn({
        let a = a.clone();
        async move { a.run_due().await }
    });
    settle().await;
    assert_eq!(a.held_leases().len(), 1, "a did not start its poll");

    // Renewed within the ttl, a keeps the key past the first expiry.
    clock.advance(TimeDelta::seconds(20));
    let renewal = a.renew_leases().await.unwrap();
    assert_eq!((renewal.renewed, renewal.lost), (1, 0));
    clock.advance(TimeDelta::seconds(20));
    assert!(
        b.run_due().await.unwrap().is_empty(),
        "b took a key whose lease a renewed"
    );

    // a's renewal pauses (a stalled process): past the ttl, b takes the key.
    clock.advance(TimeDelta::seconds(20));
    let polling_b = tokio::spawn({
        let b = b.clone();
        async move { b.run_due().await }
    });
    settle().await;
    assert_eq!(
        b.held_leases().len(),
        1,
        "b did not take over the expired lease"
    );
    let renewal = a.renew_leases().await.unwrap();
    assert_eq!(
        (renewal.renewed, renewal.lost),
        (0, 1),
        "the paused holder renewed a lease b had taken"
    );
    // a's poll stops at once, uncommitted, and wrote nothing.
    let reports = polling_a.await.unwrap().unwrap();
    assert_eq!(reports.len(), 1);
    let err = reports[0].result.as_ref().unwrap_err();
    assert_eq!(err.kind(), pollen_core::ErrorKind::LeaseLost);
    assert_eq!(a.metrics().leases_lost, 1);
    assert_eq!(a.metrics().polls_succeeded, 0);
    let state = store.load(&key).await.unwrap().unwrap();
    assert_eq!(state.completed_polls, 0);
    assert_eq!(state.watermark, t0(), "a moved the watermark");
    assert_eq!(state.lease.as_ref().unwrap().owner, "b");
    assert!(
        store
            .list_outbox(&pollen_core::OutboxFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "a wrote notifications after losing its lease"
    );

    // b renews and finishes: the change arrives once, from b.
    for _ in 0..30 {
        clock.advance(TimeDelta::seconds(10));
        b.renew_leases().await.unwrap();
        settle().await;
    }
    let reports = polling_b.await.unwrap().unwrap();
    assert!(reports[0].result.is_ok(), "{:?}", reports[0].result);
    assert!(b.metrics().lease_renewals >= 29);
    assert_eq!(store.load(&key).await.unwrap().unwrap().completed_polls, 1);
    let outbox = store
        .list_outbox(&pollen_core::OutboxFilter::default())
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn run_renews_the_leases_of_polls_in_flight() {
    let clock = ManualClock::new(t0());
    let store = Arc::new(MemoryStore::new());
    let source = FakeSource::new(clock.clone());
    source.set_latency(TimeDelta::minutes(3));
    let mut config = SchedulerConfig::new("a");
    config.lease_ttl = TimeDelta::seconds(30);
    let a = Scheduler::new(store.clone(), Arc::new(clock.clone()), config);
    let spec = plain_spec("renewed", TimeDelta::minutes(10));
    let key = spec.key.clone();
    a.register(spec, Arc::new(source.clone())).await.unwrap();
    // Every five seconds of a's three-minute walks, the lease is live; counted once the walk
    // is older than the ttl.
    let mut checked_past_ttl = 0;
    with_running(&a, || async {
        let mut walk_started = None;
        while clock.now() < t0() + TimeDelta::minutes(25) {
            clock.advance(TimeDelta::seconds(5));
            settle().await;
            if a.held_leases().is_empty() {
                walk_started = None;
                continue;
            }
            let started = *walk_started.get_or_insert(clock.now());
            let state = store.load(&key).await.unwrap().unwrap();
            let lease = state.lease.expect("a poll in flight without a lease");
            assert!(
                lease.expires_at > clock.now(),
                "the lease of a poll in flight expired at {}",
                lease.expires_at
            );
            if clock.now() - started > TimeDelta::seconds(30) {
                checked_past_ttl += 1;
            }
        }
    })
    .await;
    assert!(a.metrics().polls_succeeded >= 2);
    assert!(checked_past_ttl >= 20, "checked {checked_past_ttl} times");
    assert!(a.metrics().lease_renewals >= 10);
    assert_eq!(a.metrics().leases_lost, 0);
}
