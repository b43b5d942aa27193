//! Secrets never reach `Debug` output, `Display` of problems, or a masked serialisation.

use pollen_config::schema::{self, Section};
use pollen_config::{Extra, InstanceConfig, Secrets, MASK};
use serde_json::Value;

use crate::support::{instances_dir, read_instance};

/// Every fixture that loads, with the values of its secret keys (those the schema marks secret,
/// and unknown keys whose names look like credentials).
fn loading_fixtures_with_secrets() -> Vec<(String, pollen_config::Loaded, Vec<String>)> {
    let mut found = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(instances_dir())
        .expect("listing fixtures/instances")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        let text = read_instance(&name);
        let Ok(loaded) = InstanceConfig::from_json_str(&text) else {
            continue;
        };
        let json: Value = serde_json::from_str(&text).expect("it loaded");
        let mut secrets = Vec::new();
        for (section, object) in [
            (Section::ProviderData, &json["providerData"]),
            (Section::Configuration, &json["configuration"]),
        ] {
            for (key, value) in object.as_object().into_iter().flatten() {
                let secret = match schema::keys(section).find(|k| k.key == key) {
                    Some(doc) => doc.secret,
                    None => Extra::looks_secret(key),
                };
                if let (true, Some(value)) = (secret, value.as_str()) {
                    secrets.push(value.to_owned());
                }
            }
        }
        found.push((name, loaded, secrets));
    }
    found
}

#[test]
fn no_secret_appears_in_debug_output() {
    let fixtures = loading_fixtures_with_secrets();
    let secret_count: usize = fixtures.iter().map(|(_, _, s)| s.len()).sum();
    assert!(
        fixtures.len() >= 10 && secret_count >= 40,
        "{} fixtures, {secret_count} secrets",
        fixtures.len()
    );
    for (name, loaded, secrets) in &fixtures {
        let debug = format!("{loaded:?}");
        let pretty = format!("{loaded:#?}");
        for secret in secrets {
            assert!(
                !debug.contains(secret.as_str()),
                "{name}: {secret} in {debug}"
            );
            assert!(
                !pretty.contains(secret.as_str()),
                "{name}: {secret} in pretty Debug"
            );
        }
        assert!(debug.contains(MASK), "{name}: no mask in {debug}");
    }
}

#[test]
fn no_secret_appears_in_the_masked_serialisation() {
    for (name, loaded, secrets) in loading_fixtures_with_secrets() {
        let masked = loaded.config.to_json(Secrets::Mask).to_string();
        let exposed = loaded.config.to_json(Secrets::Expose).to_string();
        for secret in &secrets {
            assert!(
                !masked.contains(secret.as_str()),
                "{name}: {secret} in {masked}"
            );
            // Kept for storage: the exposed form has every one.
            assert!(
                exposed.contains(secret.as_str()),
                "{name}: {secret} lost in {exposed}"
            );
        }
    }
}

#[test]
fn no_secret_appears_in_problems() {
    // Secrets of the wrong type, placeholders and otherwise broken configs: the messages name
    // the key and the type, never the value.
    let text = r#"{
      "element": {"key": "sageone"},
      "providerData": {"code": "grant-code-5566", "access_token": ["tok-in-array-8899"]},
      "configuration": {
        "oauth.api.key": "id",
        "oauth.api.secret": {"nested": "secret-in-object-1122"},
        "signature.secret": "<SIGNING_SECRET>",
        "event.notification.basic.password": "lonely-password-3344",
        "event.notification.signature.key": 998877
      },
      "name": "n"
    }"#;
    let errors = InstanceConfig::from_json_str(text).expect_err("broken on purpose");
    let shown = format!("{errors}\n{errors:?}\n{}", errors.render("f.json"));
    for secret in [
        "grant-code-5566",
        "tok-in-array-8899",
        "secret-in-object-1122",
        "lonely-password-3344",
        "998877",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(errors.errors().count() >= 4, "{shown}");
}
