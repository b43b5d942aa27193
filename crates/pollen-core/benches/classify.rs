//! Classification + de-duplication of already-parsed records (target: ≥ 1,000,000 records/s
//! on one core). Records look like Sage list results with `created_at` / `updated_at`; half of
//! each page was emitted before (the overlap), so both the new and the duplicate path are timed.

use std::collections::HashSet;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pollen_core::{
    Classifier, DateField, FieldPath, PollKey, PollSpec, RequestTemplate, Rfc3339Dates, StableId,
    Tally, Window,
};
use serde_json::{json, Value};

const RECORDS: usize = 10_000;

fn bench_classify(c: &mut Criterion) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
    let mut spec = PollSpec::new(
        PollKey::new("8948659", "customers"),
        RequestTemplate::literal("/hubs/finance/customers"),
        t0 - TimeDelta::days(30),
    );
    spec.updated = Some(DateField::new(
        FieldPath::parse("updated_at").unwrap(),
        Rfc3339Dates,
    ));
    spec.created = Some(DateField::new(
        FieldPath::parse("created_at").unwrap(),
        Rfc3339Dates,
    ));
    let window = Window {
        watermark: t0,
        since: t0 - TimeDelta::minutes(1),
        poll_start: t0 + TimeDelta::minutes(15),
        origin: spec.start,
    };
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            let created = t0 + TimeDelta::milliseconds(i as i64 * 50);
            let updated = created + TimeDelta::seconds((i % 30) as i64);
            json!({
                "id": format!("a8f3c1d2e4b5{i:020}"),
                "displayed_as": format!("Customer {i}"),
                "$path": format!("/contacts/a8f3c1d2e4b5{i:020}"),
                "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "updated_at": updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
        })
        .collect();
    // What earlier polls emitted: every other record.
    let classifier = Classifier::new(&spec, window);
    let mut seen: HashSet<StableId> = HashSet::new();
    classifier.classify(records.clone(), &mut Tally::default(), |change| {
        if change.object_id.ends_with(['0', '2', '4', '6', '8']) {
            seen.insert(change.id);
        }
    });

    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("classify_and_dedup_10k_sage_records", |b| {
        b.iter_batched(
            || records.clone(),
            |page| {
                let classifier = Classifier::new(&spec, window);
                let mut tally = Tally::default();
                let mut fresh = Vec::with_capacity(RECORDS);
                let mut in_walk: HashSet<StableId> = HashSet::with_capacity(RECORDS);
                classifier.classify(page, &mut tally, |change| {
                    if in_walk.insert(change.id) && !seen.contains(&change.id) {
                        fresh.push(change);
                    }
                });
                assert_eq!(fresh.len(), RECORDS / 2);
                fresh
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_classify);
criterion_main!(benches);
