//! Fixture-driven checks: address verdicts and request headers. Inputs and expected outputs
//! live in `fixtures/callback/`; `UPDATE_FIXTURES=1` rewrites the expected files (review the
//! diff before committing).

use std::path::{Path, PathBuf};

use pollen_callback::{request_headers, AddressPolicy, Endpoint, StandardWebhooksSecret};
use pollen_config::Secret;
use serde_json::Value;

fn dir(area: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/callback")
        .join(area)
}

/// Compares `actual` with the file `expected`, or writes it there under `UPDATE_FIXTURES=1`.
fn check(actual: &str, expected: &Path) {
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::write(expected, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_FIXTURES=1)", expected.display()));
    assert_eq!(actual, want, "{} differs", expected.display());
}

/// `addresses/addresses.txt`: one address per line (`#` comments); the default policy's
/// verdict for each.
#[test]
fn address_verdicts() {
    let dir = dir("addresses");
    let input = std::fs::read_to_string(dir.join("addresses.txt")).unwrap();
    let policy = AddressPolicy::new();
    let mut out = String::new();
    for line in input.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let addr = line
            .parse()
            .unwrap_or_else(|e| panic!("addresses.txt: `{line}`: {e}"));
        let verdict = match policy.check(addr) {
            Ok(()) => "allowed".to_owned(),
            Err(blocked) => format!("blocked: {}", blocked.range),
        };
        out.push_str(&format!("{line}\t{verdict}\n"));
    }
    check(&out, &dir.join("addresses.expected.txt"));
}

fn endpoint_from(input: &Value) -> Endpoint {
    let e = &input["endpoint"];
    let mut endpoint = Endpoint::new(e["url"].as_str().unwrap()).unwrap();
    if let Some(key) = e["signatureKey"].as_str() {
        endpoint = endpoint.with_signature_key(Secret::new(key));
    }
    if let Some(secret) = e["standardWebhooksSecret"].as_str() {
        endpoint = endpoint.with_standard_webhooks(StandardWebhooksSecret::parse(secret).unwrap());
    }
    // Keys a rotation replaced, signing until `until` (Unix seconds).
    let until = |item: &Value| {
        chrono::DateTime::from_timestamp(item["until"].as_i64().unwrap(), 0).unwrap()
    };
    for item in e["previousSignatureKeys"].as_array().into_iter().flatten() {
        endpoint = endpoint
            .with_previous_signature_key(Secret::new(item["key"].as_str().unwrap()), until(item));
    }
    for item in e["previousStandardWebhooksSecrets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let secret = StandardWebhooksSecret::parse(item["secret"].as_str().unwrap()).unwrap();
        endpoint = endpoint.with_previous_standard_webhooks(secret, until(item));
    }
    if let Some(basic) = e.get("basic") {
        endpoint = endpoint.with_basic_auth(
            basic["username"].as_str().unwrap(),
            Secret::new(basic["password"].as_str().unwrap()),
        );
    }
    if let Some(headers) = e["headers"].as_object() {
        for (name, value) in headers {
            endpoint = endpoint.with_header(name, value.as_str().unwrap()).unwrap();
        }
    }
    endpoint
}

/// `requests/*.json`: an endpoint, a notification id, a timestamp and a body; the expected
/// headers, in order, in `*.expected.json`.
#[test]
fn request_headers_fixtures() {
    let dir = dir("requests");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    for path in inputs {
        let input: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let endpoint = endpoint_from(&input);
        let body = input["body"].as_str().unwrap();
        let headers = request_headers(
            &endpoint,
            input["id"].as_str().unwrap(),
            body.as_bytes(),
            input["timestamp"].as_i64().unwrap(),
        );
        let lines: Vec<String> = headers
            .iter()
            .map(|(name, value)| {
                let pair = serde_json::json!([name.as_str(), value.to_str().unwrap()]);
                format!("  {pair}")
            })
            .collect();
        let text = format!("[\n{}\n]\n", lines.join(",\n"));
        check(&text, &path.with_extension("expected.json"));
    }
}
