//! Poll specs built from instance JSONs: the seed example, and the extensions it leaves out.

use chrono::{TimeDelta, TimeZone, Utc};
use pollen_config::InstanceConfig;
use pollen_core::{PollKey, PollSpec};
use serde_json::json;

fn instance(path: &str) -> InstanceConfig {
    let file = format!(
        "{}/../../fixtures/instances/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    InstanceConfig::from_json_str(&text)
        .unwrap_or_else(|errors| panic!("{path} does not load: {errors}"))
        .config
}

#[test]
fn the_seed_example_becomes_one_customers_spec() {
    let created = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let specs = PollSpec::from_config("42", &instance("seed-example.json"), created).unwrap();
    assert_eq!(specs.len(), 1);
    let spec = &specs[0];
    assert_eq!(spec.key, PollKey::new("42", "customers"));
    assert_eq!(spec.instance.element_key, "sageone");
    assert_eq!(spec.instance.hub_key, "finance");
    assert_eq!(spec.instance.instance_name, "API_Polling");
    assert_eq!(spec.instance.tags, ["Test"]);
    assert_eq!(spec.id_path.as_str(), "id");
    assert_eq!(spec.refresh_interval, TimeDelta::minutes(15));
    assert_eq!(spec.created_check_tolerance, TimeDelta::seconds(10));
    assert!(spec.filter_by_updated_date);
    assert!(!spec.filter_by_current_date);
    assert_eq!(
        spec.start, created,
        "without backfill_since the instance starts now"
    );
    assert_eq!(
        spec.request.expand(Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()),
        "/hubs/finance/customers?where=lastModifiedDate>='2026-11-27T10:00:00Z' and attributes='created_at,updated_at"
    );
    let updated = spec
        .updated
        .as_ref()
        .expect("updatedDateField is configured");
    assert_eq!(updated.path.as_str(), "updated_at");
    assert_eq!(
        updated
            .parser
            .parse(&json!("2019-07-18T10:27:15Z"))
            .unwrap(),
        Utc.with_ymd_and_hms(2019, 7, 18, 10, 27, 15).unwrap()
    );
    let created_field = spec
        .created
        .as_ref()
        .expect("createdDateField is configured");
    assert_eq!(created_field.path.as_str(), "created_at");
    assert!(updated.parser.parse(&json!("18/07/2019")).is_err());
}

#[test]
fn extensions_and_per_resource_settings_carry_over() {
    let config = json!({
        "element": {"key": "sageone"},
        "providerData": {"code": "c0de"},
        "name": "backfill",
        "configuration": {
            "oauth.api.key": "client",
            "oauth.api.secret": "secret",
            "oauth.callback.url": "https://example.com/cb",
            "event.notification.enabled": "true",
            "event.notification.callback.url": "https://example.com/hook",
            "event.poller.refresh_interval": "0.5",
            "event.poller.backfill_since": "2026-01-01T00:00:00Z",
            "event.poller.configuration": {
                "invoices": {
                    "url": "/hubs/finance/invoices?where=updated_at>'${epoch:s}'",
                    "idField": "invoice.id",
                    "pageSize": 50,
                    "pollDelay": 30,
                    "createdCheckTolerance": "5",
                    "filterByCurrentDate": true,
                    "datesConfiguration": {
                        "updatedDateField": "meta.changed",
                        "updatedDateFormat": "milliseconds"
                    }
                }
            }
        }
    });
    let config = InstanceConfig::from_json_value(&config)
        .unwrap_or_else(|errors| panic!("does not load: {errors}"))
        .config;
    let created = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let specs = PollSpec::from_config("7", &config, created).unwrap();
    let spec = &specs[0];
    assert_eq!(
        spec.start,
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    );
    assert_eq!(spec.refresh_interval, TimeDelta::seconds(30));
    assert_eq!(spec.page_size, Some(50));
    assert_eq!(spec.poll_delay, TimeDelta::seconds(30));
    assert_eq!(spec.created_check_tolerance, TimeDelta::seconds(5));
    assert!(spec.filter_by_current_date);
    assert_eq!(spec.id_path.as_str(), "invoice.id");
    assert!(spec.created.is_none());
    let updated = spec.updated.as_ref().unwrap();
    assert_eq!(
        updated.parser.parse(&json!(1_767_225_600_000_i64)).unwrap(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    );
}
