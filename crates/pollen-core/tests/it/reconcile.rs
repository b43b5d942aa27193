//! Reconciliation: DELETED for a source without a deletion feed, only for records a lookup
//! confirms gone; nothing from a walk that failed or shifted.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use pollen_core::testing::FakeSource;
use pollen_core::Store;
use serde_json::json;

use crate::common::{key, t0, Emitted, Harness};

/// A harness reconciling on every poll (interval 1 min, polls every 15), over a fake with
/// reconciliation on, 5 ids a page, and `pre` records that exist before the instance.
async fn harness(pre: &[&str]) -> Harness {
    let h = Harness::new(|spec| spec.reconcile_interval = Some(TimeDelta::minutes(1))).await;
    h.source.enable_reconcile();
    h.source.set_page_size(5);
    for id in pre {
        h.source
            .insert_at(id, t0() - TimeDelta::days(3), t0() - TimeDelta::days(2));
    }
    h
}

fn deleted(events: &[Emitted]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event_type == "DELETED")
        .map(|e| e.object_id.clone())
        .collect()
}

async fn known(h: &Harness) -> Vec<String> {
    h.store.known_ids(&key()).await.unwrap()
}

#[tokio::test]
async fn the_first_poll_learns_every_id_and_a_later_one_reports_a_confirmed_deletion_once() {
    let ids: Vec<String> = (0..12).map(|i| format!("pre-{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let h = harness(&refs).await;
    let report = h.poll().await;
    report.result.unwrap();
    assert!(
        h.emitted().await.is_empty(),
        "pre-existing records never fire"
    );
    assert_eq!(known(&h).await, ids, "the first walk learns every id");
    let first = h.state().await.reconciled_at.expect("reconciled");

    h.source.delete("pre-03");
    h.poll().await.result.unwrap();
    assert_eq!(deleted(&h.emitted().await), ["pre-03"]);
    assert_eq!(
        h.source.lookups(),
        ["pre-03"],
        "only the missing id is looked up"
    );
    assert!(!known(&h).await.contains(&"pre-03".to_owned()));
    assert!(h.state().await.reconciled_at.expect("reconciled") > first);

    h.poll().await.result.unwrap();
    assert_eq!(deleted(&h.emitted().await), ["pre-03"], "reported once");
    let m = h.scheduler.metrics();
    assert_eq!((m.reconciliations, m.reconciliations_aborted), (3, 0));
    assert_eq!(m.events_deleted, 1);
}

#[tokio::test]
async fn a_record_created_and_deleted_between_walks_is_reported() {
    let h = harness(&["pre-1"]).await;
    h.poll().await.result.unwrap();
    h.source.upsert("new-1", json!({}));
    h.poll().await.result.unwrap();
    assert!(known(&h).await.contains(&"new-1".to_owned()));
    h.source.delete("new-1");
    h.poll().await.result.unwrap();
    let kinds: Vec<(String, String)> = h
        .emitted()
        .await
        .into_iter()
        .map(|e| (e.event_type, e.object_id))
        .collect();
    assert_eq!(
        kinds,
        [
            ("CREATED".to_owned(), "new-1".to_owned()),
            ("DELETED".to_owned(), "new-1".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_walk_whose_total_changes_emits_nothing_and_the_next_poll_reconciles() {
    let pre: Vec<String> = (0..12).map(|i| format!("pre-{i:02}")).collect();
    let refs: Vec<&str> = pre.iter().map(String::as_str).collect();
    let h = harness(&refs).await;
    h.poll().await.result.unwrap();
    let before = h.state().await.reconciled_at;
    h.source.delete("pre-05");
    // While the walk is on page 2, the first record goes: the rest shift left by one, and
    // `pre-06` (moved onto page 1) would be missed by the walk.
    h.source.before_id_page(2, |fake| fake.delete("pre-00"));
    let report = h.poll().await;
    report.result.unwrap();
    assert!(
        deleted(&h.emitted().await).is_empty(),
        "a shifted walk proves nothing"
    );
    assert_eq!(h.state().await.reconciled_at, before, "not reconciled");
    assert_eq!(h.scheduler.metrics().reconciliations_aborted, 1);
    assert!(h.source.lookups().is_empty(), "nothing is looked up");

    h.poll().await.result.unwrap();
    let mut gone = deleted(&h.emitted().await);
    gone.sort();
    assert_eq!(gone, ["pre-00", "pre-05"]);
}

#[tokio::test]
async fn a_walk_that_fails_part_way_emits_nothing() {
    let h = harness(&["a", "b", "c", "d", "e", "f", "g"]).await;
    h.poll().await.result.unwrap();
    h.source.delete("c");
    // The changes page succeeds; the first id page fails.
    h.source.before_id_page(1, |fake| fake.fail_next(1));
    h.poll().await.result.unwrap();
    assert!(deleted(&h.emitted().await).is_empty());
    assert_eq!(h.scheduler.metrics().reconciliations_aborted, 1);
    h.poll().await.result.unwrap();
    assert_eq!(deleted(&h.emitted().await), ["c"]);
}

#[tokio::test]
async fn a_failed_lookup_keeps_the_id_until_a_lookup_answers() {
    let h = harness(&["a", "b", "c"]).await;
    h.poll().await.result.unwrap();
    h.source.delete("b");
    h.source.fail_next_lookups(1);
    h.poll().await.result.unwrap();
    assert!(deleted(&h.emitted().await).is_empty());
    assert!(known(&h).await.contains(&"b".to_owned()), "still known");
    h.poll().await.result.unwrap();
    assert_eq!(deleted(&h.emitted().await), ["b"]);
    assert_eq!(h.source.lookups(), ["b", "b"]);
}

#[tokio::test]
async fn a_resource_with_reconciliation_off_is_never_walked() {
    let h = Harness::new(|_| {}).await;
    h.source.enable_reconcile();
    h.source
        .insert_at("a", t0() - TimeDelta::days(1), t0() - TimeDelta::days(1));
    h.poll().await.result.unwrap();
    h.source.delete("a");
    h.poll().await.result.unwrap();
    assert!(h.source.fetches().iter().all(|f| !f.ids));
    assert!(known(&h).await.is_empty(), "nothing remembered");
    assert!(h.emitted().await.is_empty());
}

/// A small deterministic generator (xorshift64*), so that a failing run can be replayed from
/// its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One randomized run: records created, updated and deleted between polls and during the
/// id walk (page shifts, some with `$total` unchanged), pages and lookups failing. Returns
/// the run's events, the ids deleted from the vendor, and the ids pollen could know (records
/// that existed before the first poll, or that it emitted an event for).
async fn randomized_run(seed: u64) -> (Vec<Emitted>, HashSet<String>, HashSet<String>) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let pre: Vec<String> = (0..rng.below(30) + 5).map(|i| format!("p{i:03}")).collect();
    let refs: Vec<&str> = pre.iter().map(String::as_str).collect();
    let h = harness(&refs).await;
    h.source.set_page_size(rng.below(6) as usize + 2);
    // What the vendor holds and what it deleted, kept by whoever changes it (a hook runs when
    // its page is served).
    let world = Arc::new(Mutex::new(World {
        alive: pre.iter().cloned().collect(),
        gone: HashSet::new(),
    }));
    let mut next_id = 0u32;
    // The first poll is quiet: its walk is the baseline.
    h.poll().await.result.unwrap();
    let rounds = rng.below(6) + 2;
    for _ in 0..rounds {
        for _ in 0..rng.below(4) {
            let choice = rng.below(3);
            let pick = rng.below(1_000) as usize;
            next_id += 1;
            let fresh = format!("n{next_id:03}");
            world
                .lock()
                .unwrap()
                .change(&h.source, choice, pick, &fresh);
        }
        // During the walk: a deletion, a creation, or both (the total stays and one record
        // may be skipped).
        if rng.chance(40) {
            let page = rng.below(3) as u32 + 1;
            let pick = rng.below(1_000) as usize;
            let create = rng.chance(50);
            let delete = !create || rng.chance(50);
            next_id += 1;
            // Sorted after every other id: it lands on the last page, so that with a deletion
            // before the cursor the total stays while one record is skipped.
            let newcomer = format!("z{next_id:03}");
            let world = world.clone();
            h.source.before_id_page(page, move |fake| {
                let mut world = world.lock().unwrap();
                if delete {
                    world.change(fake, 2, pick, "");
                }
                if create {
                    world.change(fake, 0, 0, &newcomer);
                }
            });
        }
        if rng.chance(15) {
            let page = rng.below(3) as u32 + 1;
            h.source.before_id_page(page, |fake| fake.fail_next(1));
        }
        if rng.chance(15) {
            h.source.fail_next_lookups(rng.below(3) as u32 + 1);
        }
        // A failed poll is retried by the next round; the invariants hold either way.
        let _ = h.poll().await;
    }
    // Quiet polls: whatever was deleted and known must now be reported.
    h.source.clear_hooks();
    h.source.fail_next(0);
    h.source.fail_next_lookups(0);
    for _ in 0..2 {
        h.poll().await.result.unwrap();
    }
    let events = h.emitted().await;
    let mut could_know: HashSet<String> = pre.into_iter().collect();
    could_know.extend(
        events
            .iter()
            .filter(|e| e.event_type != "DELETED")
            .map(|e| e.object_id.clone()),
    );
    let gone = world.lock().unwrap().gone.clone();
    (events, gone, could_know)
}

/// The vendor's records as the randomized run tracks them.
struct World {
    alive: BTreeSet<String>,
    gone: HashSet<String>,
}

impl World {
    /// `choice` 0 creates `fresh`, 1 updates and 2 deletes the `pick`-th live record (modulo
    /// their count).
    fn change(&mut self, fake: &FakeSource, choice: u64, pick: usize, fresh: &str) {
        let picked = (!self.alive.is_empty())
            .then(|| self.alive.iter().nth(pick % self.alive.len()).cloned())
            .flatten();
        match (choice, picked) {
            (0, _) => {
                fake.upsert(fresh, json!({}));
                self.alive.insert(fresh.to_owned());
            }
            (1, Some(id)) => fake.upsert(&id, json!({ "touched": fresh })),
            (2, Some(id)) => {
                fake.delete(&id);
                self.alive.remove(&id);
                self.gone.insert(id);
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn no_false_deleted_in_1000_randomized_runs_and_every_known_deletion_arrives() {
    for seed in 0..1_000u64 {
        let (events, gone, could_know) = randomized_run(seed).await;
        let reported = deleted(&events);
        let unique: HashSet<&String> = reported.iter().collect();
        assert_eq!(unique.len(), reported.len(), "seed {seed}: a DELETED twice");
        for id in &reported {
            assert!(
                gone.contains(id),
                "seed {seed}: DELETED {id}, which was never deleted"
            );
        }
        // A record a walk found is known even without an event (created and deleted between
        // polls): its DELETED is true. Every deletion of a record pollen announced must come.
        for id in gone.iter().filter(|id| could_know.contains(*id)) {
            assert!(
                unique.contains(id),
                "seed {seed}: {id} was known and deleted, but no DELETED arrived"
            );
        }
    }
}
