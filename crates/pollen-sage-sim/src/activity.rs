//! The activity generator: creates, updates and deletes records at a steady rate, for the demo
//! and soak tests. Bounded by `max_changes`, and stopped with the simulator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tokio::sync::watch;

use crate::error::{SimError, SimErrorKind};
use crate::resource::Resource;
use crate::server::State;
use crate::store::lock;

/// What the activity generator does.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityConfig {
    /// Changes per second (more than 0, at most 10,000).
    pub rate_per_sec: f64,
    /// Seed of the choice of operation, resource and record.
    pub seed: u64,
    /// Resources to change (at least one).
    pub resources: Vec<Resource>,
    /// Stop after this many changes; `None` runs until stopped.
    pub max_changes: Option<u64>,
    /// Relative weight of creates.
    pub create_weight: u32,
    /// Relative weight of updates.
    pub update_weight: u32,
    /// Relative weight of deletes.
    pub delete_weight: u32,
}

impl Default for ActivityConfig {
    /// Two changes a second on contacts, mostly updates, at most 10,000 changes.
    fn default() -> Self {
        ActivityConfig {
            rate_per_sec: 2.0,
            seed: 0,
            resources: vec![Resource::Contacts],
            max_changes: Some(10_000),
            create_weight: 2,
            update_weight: 6,
            delete_weight: 1,
        }
    }
}

impl ActivityConfig {
    fn validate(&self) -> Result<(), SimError> {
        let invalid = |message: String| Err(SimError::new(SimErrorKind::InvalidConfig, message));
        if !(self.rate_per_sec > 0.0 && self.rate_per_sec <= 10_000.0) {
            return invalid(format!(
                "activity rate_per_sec must be above 0 and at most 10000, not {}",
                self.rate_per_sec
            ));
        }
        if self.resources.is_empty() {
            return invalid("activity resources must name at least one resource".into());
        }
        if self.create_weight + self.update_weight + self.delete_weight == 0 {
            return invalid("activity weights must not all be 0".into());
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct ActivityTask {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    made: Arc<AtomicU64>,
}

pub(crate) fn start(state: &Arc<State>, config: ActivityConfig) -> Result<(), SimError> {
    config.validate()?;
    stop(state);
    let (stop_tx, stop_rx) = watch::channel(false);
    let made = Arc::new(AtomicU64::new(0));
    let task = state
        .runtime
        .spawn(run(Arc::clone(state), config, stop_rx, Arc::clone(&made)));
    *lock(&state.activity) = Some(ActivityTask {
        stop: stop_tx,
        task,
        made,
    });
    Ok(())
}

pub(crate) fn stop(state: &State) -> u64 {
    match lock(&state.activity).take() {
        Some(activity) => {
            let _ = activity.stop.send(true);
            activity.task.abort();
            activity.made.load(Ordering::Relaxed)
        }
        None => 0,
    }
}

pub(crate) fn running(state: &State) -> bool {
    lock(&state.activity)
        .as_ref()
        .is_some_and(|activity| !activity.task.is_finished())
}

/// Changes made so far by the current (or finished) generator.
pub(crate) fn made(state: &State) -> u64 {
    lock(&state.activity)
        .as_ref()
        .map_or(0, |activity| activity.made.load(Ordering::Relaxed))
}

async fn run(
    state: Arc<State>,
    config: ActivityConfig,
    mut stop: watch::Receiver<bool>,
    made: Arc<AtomicU64>,
) {
    // Timers tick at most every millisecond: faster rates make several changes per tick.
    let tick = Duration::from_secs_f64((1.0 / config.rate_per_sec).max(0.001));
    let per_tick = (config.rate_per_sec * tick.as_secs_f64()).round().max(1.0) as u64;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        for _ in 0..per_tick {
            if config
                .max_changes
                .is_some_and(|max| made.load(Ordering::Relaxed) >= max)
            {
                return;
            }
            step(&state, &config, &mut rng);
            made.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn step(state: &State, config: &ActivityConfig, rng: &mut ChaCha8Rng) {
    let resource = *config.resources.choose(rng).unwrap_or(&Resource::Contacts);
    let total = config.create_weight + config.update_weight + config.delete_weight;
    let roll = rng.gen_range(0..total);
    let now = state.now();
    let store = &state.lead().store;
    let target = if roll < config.create_weight {
        None
    } else {
        store.random_live(resource, rng)
    };
    let result = match target {
        None => store.create(resource, &serde_json::Value::Null, now),
        Some(id) if roll < config.create_weight + config.update_weight => {
            let has_notes = store
                .get(resource, &id)
                .is_some_and(|record| record.field("notes").is_some());
            let changes = if has_notes {
                json!({"notes": format!("edited at {}", crate::clock::format_timestamp(now))})
            } else {
                serde_json::Value::Null
            };
            store.update(resource, &id, &changes, now)
        }
        Some(id) => store.delete(resource, &id, now),
    };
    if let Err(err) = result {
        tracing::debug!(%err, "activity step skipped");
    }
}
