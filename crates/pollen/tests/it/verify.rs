//! `pollen verify --log FILE` on logs the test writes, and pollen-callback's signatures
//! checked by pollen-receiver (both schemes, rotation grace, a tampered body).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::{TimeZone, Utc};
use pollen_callback::{request_headers, Endpoint, StandardWebhooksSecret};
use pollen_config::Secret;
use pollen_receiver::{digest, ErrorKind, Headers, Verifier};
use serde_json::{json, Value};

const KEY: &str = "vendor-key";
const SW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn events_body(id: &str, after: Option<&str>, event_ids: &[&str]) -> String {
    let events: Vec<Value> = event_ids
        .iter()
        .map(|e| {
            json!({"eventId": e, "eventType": "CREATED", "objectId": format!("c-{e}"),
                        "objectType": "contacts", "elementKey": "sageone"})
        })
        .collect();
    json!({"action": "create", "id": id, "message": {"instanceId": 42, "eventId": id,
        "checkpoint": {"after": after, "objectType": "contacts", "subscription": "callback"},
        "events": events}})
    .to_string()
}

fn checkpoint_body(id: &str, previous: Option<&str>, sequence: u64, ids: &[&str]) -> String {
    json!({"action": "checkpoint", "id": id, "message": {"instanceId": 42, "eventId": id,
        "events": [], "checkpoint": {"id": id, "previous": previous, "sequence": sequence,
        "events": ids.len(), "digest": digest(ids), "from": format!("2026-03-02T0{sequence}:00:00.000Z"),
        "to": format!("2026-03-02T0{}:00:00.000Z", sequence + 1),
        "objectType": "contacts", "subscription": "callback"}}})
    .to_string()
}

const E1: &str = "0b6a3c1e-52f4-8d2a-9c11-6f0e2d7b4a90";
const E2: &str = "5d2c4f70-1b2a-8c3d-9e4f-a1b2c3d4e5f6";
const E3: &str = "acba5938-1cdf-8379-875e-a64f2ea0ec08";
const CP1: &str = "c0000000-0000-8000-8000-000000000001";
const CP2: &str = "c0000000-0000-8000-8000-000000000002";

/// Two windows: {E1, E2} closed by CP1, {E3} closed by CP2.
fn log_lines(skip_e2: bool) -> Vec<String> {
    let mut lines = vec![
        events_body("n-1", None, &[E1]),
        checkpoint_body(CP1, None, 1, &[E1, E2]),
        events_body("n-3", Some(CP1), &[E3]),
        checkpoint_body(CP2, Some(CP1), 2, &[E3]),
        events_body("n-1", None, &[E1]), // a duplicate
    ];
    if !skip_e2 {
        lines.insert(3, events_body("n-2", None, &[E2]));
    }
    lines
}

fn run_verify(dir: &Path, lines: &[String], args: &[&str], stdin: Option<&str>) -> Output {
    let path = dir.join("log.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pollen"));
    command
        .args(["verify", "--log", path.to_str().unwrap()])
        .args(args)
        .env_remove("POLLEN_VERIFY_SIGNATURE_KEY")
        .env_remove("POLLEN_VERIFY_STANDARD_WEBHOOKS_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_complete_log_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_verify(dir.path(), &log_lines(false), &[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("6 notifications (1 duplicate ids)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("instance 42 contacts (callback): ok — 2 window(s) complete, 0 incomplete"),
        "{stdout}"
    );
}

#[test]
fn a_missing_event_exits_1_naming_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_verify(dir.path(), &log_lines(true), &[], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "incomplete window: checkpoint {CP1} (sequence 1, 2026-03-02T01:00:00.000Z .. \
             2026-03-02T02:00:00.000Z): 2 events expected, 1 received"
        )),
        "{stdout}"
    );

    let out = run_verify(dir.path(), &log_lines(true), &["--json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let chain = &report["chains"][0];
    assert_eq!(chain["incomplete"][0]["checkpoint"], CP1);
    assert_eq!(chain["incomplete"][0]["expected"], 2);
    assert_eq!(chain["incomplete"][0]["received"], 1);
    assert_eq!(chain["complete"][0]["checkpoint"], CP2);
}

#[test]
fn a_lost_checkpoint_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = log_lines(false);
    lines.retain(|l| !l.contains("\"sequence\":1"));
    let out = run_verify(dir.path(), &lines, &[], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "missing checkpoint {CP1} (sequence 1), the previous of {CP2}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 event(s) after the chain's start wait for their checkpoint (gap"),
        "{stdout}"
    );
}

#[test]
fn a_malformed_line_exits_2_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = log_lines(false);
    lines.insert(2, r#"{"id": "x", "message": }"#.to_owned());
    let out = run_verify(dir.path(), &lines, &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log.jsonl:3:24: not JSON: expected value"),
        "{stderr}"
    );

    let mut lines = log_lines(false);
    lines[1] = lines[1].replace("\"sequence\":1", "\"sequence\":\"one\"");
    let out = run_verify(dir.path(), &lines, &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log.jsonl:2:1: /message/checkpoint/sequence: expected a whole number"),
        "{stderr}"
    );
}

/// pollen-callback's headers for `body`, as a log line and as pollen-receiver `Headers`.
fn signed(endpoint: &Endpoint, id: &str, body: &str, timestamp: i64) -> (String, Headers) {
    let headers = request_headers(endpoint, id, body.as_bytes(), timestamp);
    let map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), Value::from(v.to_str().unwrap())))
        .collect();
    let line = json!({"headers": map, "body": body, "receivedAt": timestamp + 2}).to_string();
    let pairs = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()));
    (line, pairs.collect())
}

fn endpoint() -> Endpoint {
    Endpoint::new("https://hooks.example.com/pollen")
        .unwrap()
        .with_signature_key(Secret::new(KEY))
        .with_standard_webhooks(StandardWebhooksSecret::parse(SW).unwrap())
}

#[test]
fn pollen_callback_signatures_verify_with_pollen_receiver() {
    let t = 1_772_355_600;
    let body = events_body("n-1", None, &[E1]);
    let (_, headers) = signed(&endpoint(), "n-1", &body, t);
    for verifier in [
        Verifier::new().with_elements_key(KEY).unwrap(),
        Verifier::new().with_standard_webhooks_secret(SW).unwrap(),
        Verifier::new()
            .with_elements_key(KEY)
            .unwrap()
            .with_standard_webhooks_secret(SW)
            .unwrap(),
    ] {
        verifier.verify(&headers, body.as_bytes(), t + 1).unwrap();
        let tampered = body.replace(E1, E2);
        let err = verifier
            .verify(&headers, tampered.as_bytes(), t + 1)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadSignature, "{verifier:?}");
    }
    // During a rotation's grace period the replaced keys verify too; after it, they do not.
    let until = Utc.timestamp_opt(t + 3600, 0).unwrap();
    let rotated = Endpoint::new("https://hooks.example.com/pollen")
        .unwrap()
        .with_signature_key(Secret::new("new-key"))
        .with_standard_webhooks(
            StandardWebhooksSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        )
        .with_previous_signature_key(Secret::new(KEY), until)
        .with_previous_standard_webhooks(StandardWebhooksSecret::parse(SW).unwrap(), until);
    let old = Verifier::new()
        .with_elements_key(KEY)
        .unwrap()
        .with_standard_webhooks_secret(SW)
        .unwrap();
    let (_, during) = signed(&rotated, "n-1", &body, t);
    old.verify(&during, body.as_bytes(), t).unwrap();
    let (_, after) = signed(&rotated, "n-1", &body, t + 3600);
    let err = old.verify(&after, body.as_bytes(), t + 3600).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadSignature);
}

#[test]
fn pollen_verify_checks_signatures_from_the_environment_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let t = 1_772_355_600;
    let endpoint = endpoint();
    let mut lines: Vec<String> = log_lines(false)
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let id = serde_json::from_str::<Value>(body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            signed(&endpoint, &id, body, t + i64::try_from(i).unwrap()).0
        })
        .collect();
    let secrets =
        format!("POLLEN_VERIFY_SIGNATURE_KEY={KEY}\nPOLLEN_VERIFY_STANDARD_WEBHOOKS_SECRET={SW}\n");
    let out = run_verify(dir.path(), &lines, &["--secrets-stdin"], Some(&secrets));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signatures: 6 verified, 0 failed"),
        "{}",
        text(&out)
    );

    // Line 3's body changed after signing: reported with its line number, exit 1.
    lines[2] = lines[2].replace("n-3", "n-9");
    let out = run_verify(dir.path(), &lines, &["--secrets-stdin"], Some(&secrets));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("log.jsonl:3: bad signature: Elements-Webhook-Signature does not verify"),
        "{stdout}"
    );
    assert!(
        !text(&out).contains(KEY) && !text(&out).contains("C2FVsBQ"),
        "{}",
        text(&out)
    );

    // The same from the environment, as JSON.
    let path = dir.path().join("log.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(["verify", "--json", "--log", path.to_str().unwrap()])
        .env("POLLEN_VERIFY_SIGNATURE_KEY", KEY)
        .env_remove("POLLEN_VERIFY_STANDARD_WEBHOOKS_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["signatures"]["verified"], 5);
    assert_eq!(report["signatures"]["failed"][0]["line"], 3);

    // A secret that is not one is refused without being quoted.
    let out = run_verify(
        dir.path(),
        &lines,
        &["--secrets-stdin"],
        Some("POLLEN_VERIFY_STANDARD_WEBHOOKS_SECRET=whsec_not base64!\n"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains("not base64!"), "{}", text(&out));
}
