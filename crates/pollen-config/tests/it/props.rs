//! Property tests mirroring the `config` cargo-fuzz target in `fuzz/`, bounded so they run in
//! the normal test suite: any bytes and any JSON value load or fail with problems, never a
//! panic; every problem's pointer is an RFC 6901 pointer whose parent exists in the input (a
//! missing key is pointed at where it should be); text that is not JSON gets a line and column
//! inside the text; a configuration that loads serialises and loads again.

use pollen_config::{InstanceConfig, ProblemKind, Secrets};
use proptest::prelude::*;
use serde_json::{json, Value};

const SEED: &str = include_str!("../../../../fixtures/instances/seed-example.json");

/// Any JSON value, a few levels deep, with keys the loader knows among random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "sageone",
            "v3",
            "v3.1",
            "gb",
            "true",
            "15",
            "0",
            "-1",
            "<minutes>",
            "https://x.example",
            "/hubs/finance/customers?where=a='${date:yyyy}'",
            "yyyy-MM-dd",
            "GMT",
            "milliseconds",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "element",
            "key",
            "providerData",
            "code",
            "access_token",
            "configuration",
            "name",
            "tags",
            "oauth.api.key",
            "oauth.api.secret",
            "sage.api.version",
            "country",
            "event.poller.configuration",
            "event.poller.refresh_interval",
            "url",
            "datesConfiguration",
            "updatedDateField",
            "updatedDateFormat",
            "idField",
            "a/b",
            "~",
        ])
        .prop_map(str::to_owned),
        "[a-z~/.]{0,6}",
    ]
}

/// Resolves an RFC 6901 pointer.
fn resolve<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    value.pointer(pointer)
}

/// The input as the loader reads it: a poller configuration given as a JSON string counts as
/// the object it encodes.
fn as_read(mut value: Value) -> Value {
    let poller = value
        .get("configuration")
        .and_then(|c| c.get("event.poller.configuration"))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    if let Some(poller) = poller {
        value["configuration"]["event.poller.configuration"] = poller;
    }
    value
}

fn check_value(value: &Value) -> Result<(), TestCaseError> {
    match InstanceConfig::from_json_value(value) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                prop_assert!(!warning.is_error());
            }
            // What loads serialises (secrets exposed) and loads again to the same thing.
            let again = InstanceConfig::from_json_value(&loaded.config.to_json(Secrets::Expose))
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(
                again.config.to_json(Secrets::Expose),
                loaded.config.to_json(Secrets::Expose)
            );
        }
        Err(errors) => {
            prop_assert!(errors.problems().iter().any(|p| p.is_error()));
            let read = as_read(value.clone());
            for problem in errors.problems() {
                let pointer = problem.pointer();
                prop_assert!(
                    pointer.is_empty() || pointer.starts_with('/'),
                    "{}",
                    pointer
                );
                if pointer.is_empty() {
                    continue;
                }
                let parent = &pointer[..pointer.rfind('/').unwrap_or(0)];
                prop_assert!(
                    resolve(&read, parent).is_some(),
                    "the parent {:?} of {:?} is not in {}",
                    parent,
                    pointer,
                    read
                );
                prop_assert!(!problem.message().is_empty());
                prop_assert!(!problem.message().ends_with('.'), "{}", problem.message());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Err(errors) = InstanceConfig::from_json_slice(&bytes) {
            for problem in errors.problems() {
                if problem.kind() == ProblemKind::NotJson {
                    let (line, column) = problem.line_column().expect("a position");
                    prop_assert!(line >= 1 && line <= bytes.iter().filter(|b| **b == b'\n').count() + 1);
                    prop_assert!(column <= bytes.len() + 1);
                }
                let _ = problem.render("props.json");
            }
        }
    }

    #[test]
    fn any_json_value(value in json_value()) {
        check_value(&value)?;
    }

    /// The seed instance with one value replaced (or added) at a random place.
    #[test]
    fn the_seed_with_one_value_changed(
        section in prop::sample::select(vec!["", "/configuration", "/providerData", "/element",
            "/configuration/event.poller.configuration",
            "/configuration/event.poller.configuration/customers",
            "/configuration/event.poller.configuration/customers/datesConfiguration"]),
        key in key(),
        replacement in json_value(),
    ) {
        let mut value: Value = serde_json::from_str(SEED).expect("the seed parses");
        if let Some(Value::Object(map)) = value.pointer_mut(section) {
            map.insert(key, replacement);
        }
        check_value(&value)?;
    }
}

/// Found by `the_seed_with_one_value_changed`: an unknown key's float drifted by an ulp on each
/// save and load until serde_json's `float_roundtrip` was enabled.
#[test]
fn a_kept_float_survives_save_and_load() {
    let mut value: Value = serde_json::from_str(SEED).expect("the seed parses");
    value["configuration"]["event.poller.configuration"]["customers"]["element"] =
        serde_json::from_str("[[4.5464559802194836e+18]]").expect("JSON");
    let loaded = InstanceConfig::from_json_value(&value).expect("loads");
    let saved = loaded.config.to_json(Secrets::Expose);
    let again = InstanceConfig::from_json_value(&saved).expect("loads again");
    assert_eq!(again.config.to_json(Secrets::Expose), saved);
}
