//! Reconciliation against the simulator: ids walked page by page while records are created and
//! deleted under the walk and requests fail, then the missing ids looked up. A DELETED only for
//! records Sage deleted, in 1,000 randomized runs; every deletion of a known record arrives.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use pollen_core::{
    DateField, FieldPath, ManualClock, MemoryStore, PollKey, PollSpec, RequestTemplate,
    Rfc3339Dates, Scheduler, SchedulerConfig,
};
use pollen_sage::RetryPolicy;
use pollen_sage_sim::{ApiVersion, Fault, FaultKind, Resource, SimHandle};
use pollen_template::Template;
use serde_json::{json, Value};

use crate::coverage::events;
use crate::{issued, sim_config, start, v31_source};

const URL: &str =
    "/hubs/finance/ledger-accounts?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'";

/// A small deterministic generator (xorshift64*): a failing run replays from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The ledger accounts alive in the simulator and those deleted, kept by whoever changes them.
#[derive(Default)]
struct World {
    alive: Vec<String>,
    gone: HashSet<String>,
}

impl World {
    /// 0 creates, 1 updates, 2 deletes (the `pick`-th live record).
    fn change(&mut self, sim: &SimHandle, choice: u64, pick: usize) {
        match choice {
            0 => {
                let record = sim
                    .create(Resource::LedgerAccounts, &Value::Null)
                    .expect("create");
                self.alive.push(record.id().to_owned());
            }
            1 if !self.alive.is_empty() => {
                let id = &self.alive[pick % self.alive.len()];
                sim.update(
                    Resource::LedgerAccounts,
                    id,
                    &json!({"name": format!("n{pick}")}),
                )
                .expect("update");
            }
            2 if !self.alive.is_empty() => {
                let id = self.alive.remove(pick % self.alive.len());
                sim.delete(Resource::LedgerAccounts, &id).expect("delete");
                self.gone.insert(id);
            }
            _ => {}
        }
    }
}

/// One run: returns the events, the ids deleted in Sage, the ids pollen could know.
async fn run(
    sim: &SimHandle,
    seed: u64,
) -> (Vec<(String, String)>, HashSet<String>, HashSet<String>) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    sim.clear_faults();
    sim.reseed(seed, 0);
    let world = Arc::new(Mutex::new(World::default()));
    for _ in 0..rng.below(25) + 5 {
        world.lock().unwrap().change(sim, 0, 0);
    }
    let pre: HashSet<String> = world.lock().unwrap().alive.iter().cloned().collect();
    let clock = ManualClock::new(sim.now());
    let source = v31_source(
        sim,
        &[("ledger-accounts", URL)],
        issued(sim, ApiVersion::V31),
    )
    .configure(|s| {
        s.retry = RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(1),
        }
    })
    .build()
    .expect("source");
    let mut spec = PollSpec::new(
        PollKey::new(format!("run-{seed}"), "ledger-accounts"),
        RequestTemplate::from(Template::compile(URL).expect("template")),
        sim.now() + TimeDelta::seconds(1),
    );
    spec.updated = Some(DateField::new(
        FieldPath::parse("updated_at").unwrap(),
        Rfc3339Dates,
    ));
    spec.created = Some(DateField::new(
        FieldPath::parse("created_at").unwrap(),
        Rfc3339Dates,
    ));
    spec.refresh_interval = TimeDelta::minutes(1);
    spec.reconcile_interval = Some(TimeDelta::minutes(1));
    spec.page_size = Some(rng.below(5) as u32 + 2);
    let store = Arc::new(MemoryStore::new());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        SchedulerConfig::new("r"),
    );
    scheduler
        .register(spec, Arc::new(source))
        .await
        .expect("register");
    let tick = || {
        clock.advance(TimeDelta::minutes(2));
        sim.advance_clock(Duration::from_secs(120));
    };
    // The first poll is quiet: its walk is the baseline.
    tick();
    for report in scheduler.run_due().await.expect("run") {
        report.result.expect("the first poll");
    }
    for round in 0..rng.below(4) + 2 {
        for _ in 0..rng.below(4) {
            let (choice, pick) = (rng.below(3), rng.below(1_000) as usize);
            world.lock().unwrap().change(sim, choice, pick);
        }
        // Faults on the endpoint for this round (never 404: Sage's `RecordNotFound` on a
        // record's own URL is its word that the record is gone).
        let kinds = [
            FaultKind::InternalServerError,
            FaultKind::TooManyRequests { retry_after: None },
            FaultKind::DropConnection,
            FaultKind::MalformedJson,
            FaultKind::Slow {
                delay: Duration::from_millis(2),
            },
        ];
        let kind = kinds[rng.below(kinds.len() as u64) as usize].clone();
        let p = [0.0, 0.05, 0.15][rng.below(3) as usize];
        sim.inject(
            Fault::probability(kind, p, seed * 31 + round).on_path_prefix("/v3.1/ledger_accounts"),
        )
        .expect("fault");
        // Changes under the walk: the mutator works while the poll runs.
        let ops: Vec<(u64, usize)> = (0..rng.below(4))
            .map(|_| (rng.below(3), rng.below(1_000) as usize))
            .collect();
        let mutator = {
            let (world, sim) = (world.clone(), sim.clone());
            tokio::spawn(async move {
                for (choice, pick) in ops {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    world.lock().unwrap().change(&sim, choice, pick);
                }
            })
        };
        tick();
        // A failed poll is retried at the next round; the invariants hold either way.
        let _ = scheduler.run_due().await.expect("run");
        mutator.await.expect("mutator");
        sim.clear_faults();
    }
    // Quiet polls: every deletion of a known record must now arrive.
    for _ in 0..2 {
        tick();
        tokio::time::sleep(Duration::from_millis(1)).await;
        for report in scheduler.run_due().await.expect("run") {
            report.result.expect("a quiet poll");
        }
    }
    let events = events(&store).await;
    let mut could_know = pre;
    could_know.extend(
        events
            .iter()
            .filter(|(kind, _)| kind != "DELETED")
            .map(|(_, id)| id.clone()),
    );
    let gone = world.lock().unwrap().gone.clone();
    (events, gone, could_know)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_false_deleted_in_1000_randomized_runs_with_page_shifts_and_faults() {
    let sim = start(sim_config(0)).await;
    let mut deleted_total = 0usize;
    for seed in 0..1_000u64 {
        let (events, gone, could_know) = run(&sim, seed).await;
        let reported: Vec<&String> = events
            .iter()
            .filter(|(kind, _)| kind == "DELETED")
            .map(|(_, id)| id)
            .collect();
        let unique: HashSet<&String> = reported.iter().copied().collect();
        assert_eq!(unique.len(), reported.len(), "seed {seed}: a DELETED twice");
        for id in &unique {
            assert!(
                gone.contains(*id),
                "seed {seed}: DELETED {id}, which Sage still has"
            );
        }
        for id in gone.iter().filter(|id| could_know.contains(*id)) {
            assert!(
                unique.contains(id),
                "seed {seed}: {id} was known and deleted, no DELETED arrived"
            );
        }
        deleted_total += unique.len();
    }
    assert!(
        deleted_total > 500,
        "the runs delete records: {deleted_total} DELETED"
    );
}
