//! CEQL speed: parsing the seed's where clause (target: median ≤ 2 µs) and evaluating a
//! three-condition clause against a 30-field record (target: ≤ 1 µs).
//!
//! `cargo bench -p pollen-template --bench ceql`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pollen_template::{Mode, Where};
use serde_json::json;

/// The vendor's own example, verbatim (its last string is never closed).
const SEED: &str =
    "lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at";

/// Three conditions of the three kinds evaluation distinguishes: text, number, instant.
const FILTER: &str =
    "status = 'active' AND balance >= 100 AND updated_at >= '2017-05-05T00:00:00Z'";

/// A Sage-like contact with 30 fields.
fn record() -> serde_json::Value {
    json!({
        "id": "a1b2c3d4e5f6", "displayed_as": "Acme Ltd (ACME001)", "$path": "/contacts/a1b2c3d4e5f6",
        "name": "Acme Ltd", "reference": "ACME001", "status": "active",
        "contact_types": [{"id": "CUSTOMER"}], "email": "accounts@acme.example",
        "telephone": "+44 20 7946 0000", "mobile": null, "website": "https://acme.example",
        "balance": 1250.75, "credit_limit": 5000, "credit_days": 30, "currency": {"id": "GBP"},
        "tax_number": "GB123456789", "notes": "", "locale": "en-GB", "is_active": true,
        "created_at": "2016-11-02T08:15:00Z", "updated_at": "2017-05-05T10:30:00Z",
        "main_address": {"address_line_1": "1 High St", "city": "London", "postal_code": "EC1A 1BB"},
        "delivery_address": null, "aux_reference": "X-1", "source_guid": null,
        "system": false, "has_unfinished_recurring_invoices": false, "gdpr_obfuscated": false,
        "deletable": true, "default_sales_ledger_account": {"id": "4000"}
    })
}

fn bench(c: &mut Criterion) {
    assert_eq!(record().as_object().map(serde_json::Map::len), Some(30));

    c.bench_function("ceql/parse_seed_lenient", |b| {
        b.iter(|| Where::parse(black_box(SEED), Mode::Lenient));
    });

    let seed = Where::parse(SEED, Mode::Lenient).expect("the seed parses");
    c.bench_function("ceql/print_seed", |b| {
        b.iter(|| black_box(&seed.expr).to_string());
    });

    let filter = Where::parse(FILTER, Mode::Strict)
        .expect("the filter parses")
        .expr;
    let record = record();
    assert!(
        filter.eval(&record).expect("no placeholders"),
        "the record matches"
    );
    c.bench_function("ceql/eval_3_conditions_30_fields", |b| {
        b.iter(|| filter.eval(black_box(&record)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
