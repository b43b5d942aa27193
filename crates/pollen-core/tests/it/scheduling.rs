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
