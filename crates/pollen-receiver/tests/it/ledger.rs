//! The ledger under random loss, duplication and reordering of synthetic chains built per
//! the wire format (docs/events.md, "Checkpoints").
//!
//! Each case builds several chains of windows with random event counts (empty ones
//! included), their events in notifications of at most 10 (some ids in two notifications),
//! each window closed by a checkpoint, and a trailing window whose checkpoint has not been
//! written yet. A seed picks what is lost, duplicated and how everything is reordered.

use std::collections::{BTreeMap, BTreeSet};

use pollen_receiver::{digest, ChainKey, Ledger, Report, WaitingCause};
use proptest::prelude::*;
use serde_json::json;

/// SplitMix64: the case's own randomness, from the proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn uuid(kind: u32, n: u64) -> String {
    format!("{kind:08x}-0000-8000-8000-{n:012x}")
}

/// One notification to deliver.
#[derive(Debug, Clone)]
struct Item {
    body: Vec<u8>,
    chain: usize,
    /// The window (index from 0; `windows.len()` for the trailing one).
    window: usize,
    /// The event ids it carries, or empty for a checkpoint.
    ids: Vec<String>,
    checkpoint: bool,
}

#[derive(Debug)]
struct Chain {
    key: ChainKey,
    /// Per window: its distinct ids.
    windows: Vec<Vec<String>>,
    checkpoint_ids: Vec<String>,
}

fn build(shape: &[(Vec<usize>, usize)], rng: &mut Rng) -> (Vec<Chain>, Vec<Item>) {
    let mut chains = Vec::new();
    let mut items = Vec::new();
    let mut next_id = 0;
    for (c, (counts, trailing)) in shape.iter().enumerate() {
        let key = ChainKey {
            instance_id: (40 + c % 2).to_string(),
            object_type: ["contacts", "invoices"][c % 2].to_owned(),
            subscription: if c >= 2 {
                format!("sub-{c}")
            } else {
                "callback".to_owned()
            },
        };
        let mut windows = Vec::new();
        let mut checkpoint_ids = Vec::new();
        let mut previous: Option<String> = None;
        let mut from = "2026-03-02T09:00:00.000Z".to_owned();
        for (w, &count) in counts.iter().chain(std::iter::once(trailing)).enumerate() {
            let ids: Vec<String> = (0..count)
                .map(|_| {
                    next_id += 1;
                    uuid(0xe0, next_id)
                })
                .collect();
            // Notifications of at most 10 events; now and then an id sent twice.
            let mut chunks: Vec<Vec<String>> = ids.chunks(10).map(<[String]>::to_vec).collect();
            if ids.len() > 1 && rng.below(3) == 0 {
                let again = ids[rng.below(ids.len())].clone();
                chunks.push(vec![again]);
            }
            for chunk in chunks {
                next_id += 1;
                let events: Vec<_> = chunk
                    .iter()
                    .map(|id| {
                        json!({"date": "2026-03-02T09:01:00Z", "elementKey": "sageone",
                               "eventId": id, "eventType": "UPDATED", "hubKey": "finance",
                               "objectId": format!("o-{id}"), "objectType": key.object_type})
                    })
                    .collect();
                let body = json!({
                    "action": "update", "createdDate": "Mon Mar 02 09:15:00 UTC 2026",
                    "id": uuid(0xa0, next_id),
                    "message": {"elementKey": "sageone", "eventId": uuid(0xa0, next_id),
                        "checkpoint": {"after": previous, "objectType": key.object_type,
                                       "subscription": key.subscription},
                        "events": events, "instanceId": key.instance_id.parse::<i64>().unwrap(),
                        "instanceName": "x", "instanceTags": [],
                        "instance_id": key.instance_id.parse::<i64>().unwrap()},
                    "severity": "medium", "topic": "t", "user": "u"});
                items.push(Item {
                    body: serde_json::to_vec(&body).unwrap(),
                    chain: c,
                    window: w,
                    ids: chunk,
                    checkpoint: false,
                });
            }
            if w == counts.len() {
                break; // the trailing window: no checkpoint yet
            }
            next_id += 1;
            let id = uuid(0xc0, next_id);
            let to = format!("2026-03-02T{:02}:00:00.000Z", 10 + w);
            let body = json!({
                "action": "checkpoint", "createdDate": "Mon Mar 02 09:20:00 UTC 2026",
                "id": id,
                "message": {
                    "checkpoint": {"digest": digest(&ids), "events": ids.len(), "from": from,
                        "id": id, "objectType": key.object_type, "previous": previous,
                        "sequence": w + 1, "subscription": key.subscription, "to": to},
                    "elementKey": "sageone", "eventId": id, "events": [],
                    "instanceId": key.instance_id.parse::<i64>().unwrap(), "instanceName": "x",
                    "instanceTags": [], "instance_id": key.instance_id.parse::<i64>().unwrap()},
                "severity": "low", "topic": "t", "user": "u"});
            items.push(Item {
                body: serde_json::to_vec(&body).unwrap(),
                chain: c,
                window: w,
                ids: Vec::new(),
                checkpoint: true,
            });
            from = to;
            previous = Some(id.clone());
            checkpoint_ids.push(id);
            windows.push(ids);
        }
        chains.push(Chain {
            key,
            windows,
            checkpoint_ids,
        });
    }
    (chains, items)
}

/// Shuffles `items` with up to two extra copies of some, and feeds them all.
fn deliver(ledger: &mut Ledger, items: &[&Item], rng: &mut Rng) {
    let mut order: Vec<&Item> = Vec::new();
    for item in items {
        for _ in 0..=rng.below(4).saturating_sub(2) {
            order.push(item);
        }
    }
    rng.shuffle(&mut order);
    for item in order {
        ledger.observe(&item.body).unwrap();
    }
}

type Findings = BTreeSet<String>;

/// Everything the report says, as comparable lines.
fn findings(report: &Report) -> Findings {
    let mut out = BTreeSet::new();
    for c in &report.chains {
        let k = format!(
            "{}/{}/{}",
            c.chain.instance_id, c.chain.object_type, c.chain.subscription
        );
        for w in &c.complete {
            out.insert(format!(
                "{k} complete {} received {}",
                w.sequence, w.received
            ));
        }
        for w in &c.incomplete {
            out.insert(format!(
                "{k} incomplete {} expected {} received {}",
                w.sequence, w.expected, w.received
            ));
        }
        for m in &c.missing_checkpoints {
            out.insert(format!("{k} missing checkpoint {} {}", m.sequence, m.id));
        }
        for w in &c.waiting {
            out.insert(format!(
                "{k} waiting after {:?} received {} {:?}",
                w.after, w.received, w.cause
            ));
        }
        for x in &c.conflicts {
            out.insert(format!("{k} conflict {x:?}"));
        }
    }
    out
}

/// What the report must say when `delivered` (item indices) arrived.
fn expected(chains: &[Chain], items: &[Item], delivered: &BTreeSet<usize>) -> Findings {
    let mut out = BTreeSet::new();
    for (c, chain) in chains.iter().enumerate() {
        let k = format!(
            "{}/{}/{}",
            chain.key.instance_id, chain.key.object_type, chain.key.subscription
        );
        let got = |w: usize| -> BTreeSet<&String> {
            delivered
                .iter()
                .map(|&i| &items[i])
                .filter(|it| it.chain == c && it.window == w)
                .flat_map(|it| &it.ids)
                .collect()
        };
        let has_cp = |w: usize| {
            delivered
                .iter()
                .any(|&i| items[i].chain == c && items[i].window == w && items[i].checkpoint)
        };
        let max_seq = (0..chain.windows.len())
            .filter(|&w| has_cp(w))
            .map(|w| w + 1)
            .max();
        for w in 0..=chain.windows.len() {
            let received = got(w).len();
            let closed = w < chain.windows.len() && has_cp(w);
            if closed {
                let expected = chain.windows[w].len();
                if received == expected {
                    out.insert(format!("{k} complete {} received {received}", w + 1));
                } else {
                    out.insert(format!(
                        "{k} incomplete {} expected {expected} received {received}",
                        w + 1
                    ));
                }
                if w > 0 && !has_cp(w - 1) {
                    out.insert(format!(
                        "{k} missing checkpoint {w} {}",
                        chain.checkpoint_ids[w - 1]
                    ));
                }
            } else if received > 0 {
                let after = (w > 0).then(|| chain.checkpoint_ids[w - 1].clone());
                // The after-checkpoint's sequence is known when it, or its successor, arrived.
                let known = w == 0 || has_cp(w - 1);
                let cause = if !known {
                    WaitingCause::Unknown
                } else if max_seq.is_some_and(|m| m > w) {
                    WaitingCause::Gap
                } else {
                    WaitingCause::Pending
                };
                out.insert(format!(
                    "{k} waiting after {after:?} received {received} {cause:?}"
                ));
            }
        }
    }
    out
}

/// Random shapes: 1 to 4 chains of 1 to 6 closed windows of 0 to 25 events, and a trailing
/// open window of 0 to 5.
fn shapes() -> impl Strategy<Value = Vec<(Vec<usize>, usize)>> {
    prop::collection::vec((prop::collection::vec(0..26usize, 1..7), 0..6usize), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Losses are reported exactly; redelivered, the lost ids are exactly the late ones.
    #[test]
    fn losses_are_reported_exactly(shape in shapes(), seed in any::<u64>(), loss in 1..5usize) {
        let mut rng = Rng(seed);
        let (chains, items) = build(&shape, &mut rng);
        let dropped: BTreeSet<usize> =
            (0..items.len()).filter(|_| rng.below(10) < loss).collect();
        let delivered: BTreeSet<usize> =
            (0..items.len()).filter(|i| !dropped.contains(i)).collect();

        let mut ledger = Ledger::new();
        let first: Vec<&Item> = delivered.iter().map(|&i| &items[i]).collect();
        deliver(&mut ledger, &first, &mut rng);
        let report = ledger.report();
        prop_assert_eq!(findings(&report), expected(&chains, &items, &delivered));

        // The ids each window found incomplete lacked: those are the late ones.
        let mut want_late: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (c, chain) in chains.iter().enumerate() {
            for (w, ids) in chain.windows.iter().enumerate() {
                let cp = items.iter().position(|it| it.chain == c && it.window == w && it.checkpoint).unwrap();
                if !delivered.contains(&cp) {
                    continue;
                }
                let got: BTreeSet<&String> = delivered.iter().map(|&i| &items[i])
                    .filter(|it| it.chain == c && it.window == w).flat_map(|it| &it.ids).collect();
                let lost: BTreeSet<String> = ids.iter().filter(|id| !got.contains(id)).cloned().collect();
                if !lost.is_empty() {
                    want_late.insert(chain.checkpoint_ids[w].clone(), lost);
                }
            }
        }

        let second: Vec<&Item> = dropped.iter().map(|&i| &items[i]).collect();
        deliver(&mut ledger, &second, &mut rng);
        let report = ledger.report();
        let all: BTreeSet<usize> = (0..items.len()).collect();
        prop_assert_eq!(findings(&report), expected(&chains, &items, &all));
        prop_assert!(report.is_complete(), "{:?}", report);
        let mut late: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in &report.chains {
            prop_assert!(c.incomplete.is_empty());
            for w in &c.complete {
                if !w.late.is_empty() {
                    late.insert(w.checkpoint.clone(), w.late.iter().cloned().collect());
                }
            }
        }
        prop_assert_eq!(late, want_late);
    }

    /// Everything delivered, duplicated and reordered: nothing to report.
    #[test]
    fn nothing_is_reported_when_everything_arrived(shape in shapes(), seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let (chains, items) = build(&shape, &mut rng);
        let mut ledger = Ledger::new();
        let all: Vec<&Item> = items.iter().collect();
        deliver(&mut ledger, &all, &mut rng);
        let first = ledger.report();
        // Again, in another order: still nothing, and nothing late.
        deliver(&mut ledger, &all, &mut rng);
        let report = ledger.report();
        prop_assert_eq!(&first, &report);
        prop_assert!(report.is_complete(), "{:?}", report);
        prop_assert!(report.late_ids().is_empty());
        let windows: usize = report.chains.iter().map(|c| c.complete.len()).sum();
        prop_assert_eq!(windows, chains.iter().map(|c| c.windows.len()).sum::<usize>());
        for c in &report.chains {
            prop_assert!(c.incomplete.is_empty() && c.missing_checkpoints.is_empty());
            prop_assert!(c.waiting.iter().all(|w| w.cause == WaitingCause::Pending));
        }
    }
}

#[test]
fn a_digest_mismatch_with_the_right_count_is_incomplete() {
    let mut rng = Rng(7);
    let (chains, items) = build(&[(vec![3], 0)], &mut rng);
    let mut ledger = Ledger::new();
    for item in &items {
        // Replace one event id by a stranger: same count, other digest.
        let body = String::from_utf8(item.body.clone())
            .unwrap()
            .replace(&chains[0].windows[0][1], &uuid(0xff, 1));
        ledger.observe(body.as_bytes()).unwrap();
    }
    let report = ledger.report();
    let w = &report.chains[0].incomplete[0];
    assert_eq!((w.expected, w.received, w.digest_matches), (3, 3, false));
    assert!(!report.is_complete());
}
