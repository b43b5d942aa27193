//! CEQL → Sage translation cases, as data: `fixtures/sage/translate.cases` through
//! `pollen_sage::translate`, and `fixtures/sage/hub-requests.cases` through a configured source.

use std::sync::Arc;

use pollen_sage::{MemoryTokenStore, SageSource, SageSourceBuilder, Translation};
use serde_json::{json, Value};

use crate::{check, fixture_text, instance};

/// The non-comment lines of a cases file.
fn cases(name: &str) -> Vec<String> {
    fixture_text(name)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn outcome(result: Result<Translation, pollen_sage::Error>) -> Value {
    match result {
        Ok(translation) => json!({"translation": translation}),
        Err(error) => {
            json!({"error": {"kind": format!("{:?}", error.kind()), "message": error.message()}})
        }
    }
}

#[test]
fn where_clauses_translate_as_the_fixtures_say() {
    let actual: Vec<Value> = cases("translate.cases")
        .iter()
        .map(|line| {
            let (resource, clause) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("`{line}` is not RESOURCE<TAB>CLAUSE"));
            let mut case = outcome(pollen_sage::translate(resource, clause));
            case["resource"] = json!(resource);
            case["where"] = json!(clause);
            case
        })
        .collect();
    check("translate.expected.json", &Value::Array(actual));
}

#[test]
fn hub_requests_translate_as_the_fixtures_say() {
    let config = instance(
        "v3.1",
        "http://127.0.0.1:9/v3.1",
        "http://127.0.0.1:9/token",
        &[
            ("customers", "/hubs/finance/customers"),
            ("vendors", "/hubs/finance/vendors"),
            ("contacts", "/hubs/finance/contacts"),
            ("journal-entries", "/hubs/finance/journal-entries"),
        ],
    );
    let source = SageSource::from_instance(&config, Arc::new(MemoryTokenStore::new()))
        .expect("builder")
        .build()
        .expect("source");
    let actual: Vec<Value> = cases("hub-requests.cases")
        .iter()
        .map(|request| {
            let resource = request
                .split('?')
                .next()
                .and_then(|path| path.rsplit('/').next())
                .unwrap_or_default();
            let mut case = outcome(source.translation(resource, request));
            case["request"] = json!(request);
            case
        })
        .collect();
    check("hub-requests.expected.json", &Value::Array(actual));
}

#[test]
fn an_unknown_resource_in_an_instance_is_an_error_listing_the_known_ones() {
    let config = instance(
        "v3.1",
        "http://127.0.0.1:9/v3.1",
        "http://127.0.0.1:9/token",
        &[("widgets", "/hubs/finance/widgets")],
    );
    let error = SageSource::from_instance(&config, Arc::new(MemoryTokenStore::new()))
        .expect_err("widgets are unknown");
    assert_eq!(error.kind(), pollen_sage::ErrorKind::UnknownResource);
    assert!(
        error.message().starts_with(
            "resource widgets: unknown hub resource `widgets`: expected one of customers, vendors,"
        ),
        "{}",
        error.message()
    );
    for resource in pollen_sage::HUB_RESOURCES {
        assert!(error.message().contains(resource.name));
    }
}

#[test]
fn a_resource_only_v31_serves_is_refused_on_a_v3_instance() {
    let resources = [
        ("customers", "/hubs/finance/customers"),
        ("analysis", "/hubs/finance/analysis-types"),
    ];
    let v3 = instance(
        "v3",
        "http://127.0.0.1:9/uki/sageone/accounts/v3",
        "http://127.0.0.1:9/token",
        &resources,
    );
    let error = SageSource::from_instance(&v3, Arc::new(MemoryTokenStore::new()))
        .and_then(SageSourceBuilder::build)
        .expect_err("v3 has no /analysis_types");
    assert_eq!(error.kind(), pollen_sage::ErrorKind::UnknownResource);
    assert_eq!(
        error.message(),
        "resource analysis: `analysis-types` (/analysis_types) is served by Sage's v3.1 API \
         only, and this instance uses v3"
    );
    let v31 = instance(
        "v3.1",
        "http://127.0.0.1:9/v3.1",
        "http://127.0.0.1:9/token",
        &resources,
    );
    assert!(
        SageSource::from_instance(&v31, Arc::new(MemoryTokenStore::new()))
            .and_then(SageSourceBuilder::build)
            .is_ok()
    );
}
