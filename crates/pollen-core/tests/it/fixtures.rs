//! Fixture-driven classification and golden notifications: `fixtures/core/classify/*.json` in,
//! `*.expected.json` out (regenerate with `UPDATE_FIXTURES=1`, then review the diff).

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::{
    build_notifications, Classifier, DateField, EpochMillis, FieldPath, InstanceInfo, PollKey,
    PollSpec, RequestTemplate, Rfc3339Dates, Tally, Window,
};
use serde_json::{json, Value};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/core/classify")
}

fn instant(value: &Value, what: &str) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a date-time string"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .with_timezone(&Utc)
}

fn date_field(path: &Value, format: &str) -> Option<DateField> {
    let path = FieldPath::parse(path.as_str()?).unwrap();
    Some(match format {
        "milliseconds" => DateField::new(path, EpochMillis),
        _ => DateField::new(path, Rfc3339Dates),
    })
}

fn spec_from(input: &Value) -> PollSpec {
    let s = &input["spec"];
    let mut spec = PollSpec::new(
        PollKey::new(
            s["instance"].as_str().unwrap(),
            s["resource"].as_str().unwrap(),
        ),
        RequestTemplate::literal("/fixture"),
        instant(&s["start"], "spec.start"),
    );
    let mut info = InstanceInfo::new(
        s["elementKey"].as_str().unwrap_or("sageaccounting"),
        s["hubKey"].as_str().unwrap_or("finance"),
    );
    info.instance_name = s["instanceName"].as_str().unwrap_or_default().to_owned();
    info.tags = serde_json::from_value(s["tags"].clone()).unwrap_or_default();
    spec.instance = info;
    if let Some(id) = s["idField"].as_str() {
        spec.id_path = FieldPath::parse(id).unwrap();
    }
    let format = s["dateFormat"].as_str().unwrap_or("rfc3339");
    spec.updated = date_field(&s["updatedDateField"], format);
    spec.created = date_field(&s["createdDateField"], format);
    if let Some(seconds) = s["createdCheckTolerance"].as_i64() {
        spec.created_check_tolerance = TimeDelta::seconds(seconds);
    }
    if let Some(on) = s["filterByUpdatedDate"].as_bool() {
        spec.filter_by_updated_date = on;
    }
    if let Some(on) = s["filterByCurrentDate"].as_bool() {
        spec.filter_by_current_date = on;
    }
    spec
}

/// Classifies the fixture's records and renders its notifications.
fn run(input: &Value) -> Value {
    let spec = spec_from(input);
    let w = &input["window"];
    let window = Window {
        watermark: instant(&w["watermark"], "window.watermark"),
        since: instant(&w["since"], "window.since"),
        poll_start: instant(&w["pollStart"], "window.pollStart"),
        origin: instant(&w["origin"], "window.origin"),
    };
    let records: Vec<Value> = input["records"].as_array().cloned().unwrap_or_default();
    let mut tally = Tally::default();
    let mut changes = Vec::new();
    Classifier::new(&spec, window).classify(records, &mut tally, |c| changes.push(c));
    let now = instant(&input["now"], "now");
    let notifications: Vec<Value> = build_notifications(&spec, &changes, window.poll_start, now)
        .iter()
        .map(|n| n.payload())
        .collect();
    json!({
        "tally": {
            "records": tally.records,
            "withoutId": tally.without_id,
            "dateWarnings": tally.date_warnings,
            "filtered": tally.filtered,
            "newerThanStart": tally.newer_than_start,
        },
        "changes": changes.iter().map(|c| json!({
            "objectId": c.object_id,
            "eventType": c.event_type,
            "id": c.id,
            "changedAt": c.changed_at,
        })).collect::<Vec<_>>(),
        "notifications": notifications,
    })
}

/// Compares `run(input)` with the expected file, or rewrites it under `UPDATE_FIXTURES=1`.
fn check(input: &Path, expected: &Path) {
    let text =
        std::fs::read_to_string(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let parsed: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let actual = serde_json::to_string_pretty(&run(&parsed)).unwrap() + "\n";
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::write(expected, &actual).unwrap();
        return;
    }
    let wanted = std::fs::read_to_string(expected).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_FIXTURES=1 to create it)",
            expected.display()
        )
    });
    assert_eq!(
        actual,
        wanted,
        "{} differs from {}",
        input.display(),
        expected.display()
    );
}

#[test]
fn classification_and_notification_fixtures() {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 2,
        "fixtures missing in {}",
        fixtures_dir().display()
    );
    for input in inputs {
        let expected = input.with_extension("expected.json");
        check(&input, &expected);
    }
}
