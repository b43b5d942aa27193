//! `cargo bench -p pollen-template --bench template`
//!
//! - `expand_seed_url`: the seed instance's URL template expanded for one instant, against
//!   chrono formatting the same instant with pre-parsed `StrftimeItems` of the equivalent
//!   strftime string (`%Y-%m-%dT%H:%M:%SZ`) into the same URL. Both write into a reused buffer.
//! - `parse_record_date`: `2019-07-18T10:27:15Z` with `yyyy-MM-dd'T'HH:mm:ss'Z'`, against
//!   chrono's `NaiveDateTime::parse_from_str` with `%Y-%m-%dT%H:%M:%SZ`.

use std::fmt::Write as _;
use std::hint::black_box;

use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDateTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use pollen_template::{DatePattern, Template, Zone};

const SEED_URL: &str = "/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at";
const URL_PREFIX: &str = "/hubs/finance/customers?where=lastModifiedDate>='";
const URL_SUFFIX: &str = "' and attributes='created_at,updated_at";

fn expand_seed_url(c: &mut Criterion) {
    let template = Template::compile(SEED_URL).expect("the seed URL compiles");
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let items: Vec<Item<'static>> = StrftimeItems::new("%Y-%m-%dT%H:%M:%SZ").collect();
    let expected = template.expand(at);
    let mut check = String::new();
    write!(
        check,
        "{URL_PREFIX}{}{URL_SUFFIX}",
        at.format_with_items(items.iter())
    )
    .unwrap();
    assert_eq!(expected, check, "both sides produce the same URL");

    let mut group = c.benchmark_group("expand_seed_url");
    let mut out = String::with_capacity(256);
    group.bench_function("pollen_template", |b| {
        b.iter(|| {
            out.clear();
            black_box(&template).expand_into(black_box(at), &mut out);
            black_box(out.len())
        });
    });
    group.bench_function("chrono_strftime_items", |b| {
        b.iter(|| {
            out.clear();
            let at = black_box(at);
            out.push_str(URL_PREFIX);
            write!(out, "{}", at.format_with_items(black_box(&items).iter())).unwrap();
            out.push_str(URL_SUFFIX);
            black_box(out.len())
        });
    });
    group.finish();
}

fn parse_record_date(c: &mut Criterion) {
    let pattern = DatePattern::compile("yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap();
    let value = "2019-07-18T10:27:15Z";
    let zone = Zone::GMT;
    let ours = pattern.parse(value, &zone).unwrap();
    let theirs = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ").unwrap();
    assert_eq!(ours.naive_utc(), theirs, "both sides read the same instant");

    let mut group = c.benchmark_group("parse_record_date");
    group.bench_function("pollen_template", |b| {
        b.iter(|| black_box(&pattern).parse(black_box(value), &zone).unwrap());
    });
    group.bench_function("chrono_parse_from_str", |b| {
        b.iter(|| NaiveDateTime::parse_from_str(black_box(value), "%Y-%m-%dT%H:%M:%SZ").unwrap());
    });
    group.finish();
}

criterion_group!(benches, expand_seed_url, parse_record_date);
criterion_main!(benches);
