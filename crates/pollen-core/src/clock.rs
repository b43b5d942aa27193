//! Time, behind a trait so that tests run hours of polling in milliseconds.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use tokio::sync::watch;

/// The poller's source of time.
///
/// Every instant the core computes with — poll starts, due times, lease expiries, timeouts —
/// comes from here, never from `Utc::now()` directly.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Completes once [`Clock::now`] has reached `deadline` (at once if it already has).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'_, ()>;
}

/// The wall clock, with tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Re-check after waking: the wall clock may have been adjusted while we slept.
            loop {
                let left = deadline - Utc::now();
                match left.to_std() {
                    Ok(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
                    _ => return,
                }
            }
        })
    }
}

/// A clock that moves only when told to; sleepers wake as soon as it passes their deadline.
///
/// Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock to `instant` (backwards too, to simulate a clock step) and wakes the
    /// sleepers whose deadline has come.
    pub fn set(&self, instant: DateTime<Utc>) {
        self.now.send_replace(instant);
    }

    /// Moves the clock forward by `delta`.
    pub fn advance(&self, delta: TimeDelta) {
        self.now.send_modify(|now| *now += delta);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'_, ()> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() >= deadline {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
