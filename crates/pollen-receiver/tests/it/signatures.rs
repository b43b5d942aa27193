//! `fixtures/callback/requests/*.json` (read-only: pollen-callback's signing fixtures) hold an
//! endpoint's keys, a body and the headers pollen sends; every key that signed must verify,
//! keys past their grace period must not, and a changed body never does.

use std::path::{Path, PathBuf};

use pollen_receiver::{digest, ErrorKind, Headers, Verifier, EMPTY_DIGEST};
use serde_json::Value;

fn requests() -> Vec<(PathBuf, Value, Headers)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/callback/requests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 4, "{paths:?}");
    paths
        .into_iter()
        .map(|expected| {
            let input = PathBuf::from(
                expected
                    .to_string_lossy()
                    .replace(".expected.json", ".json"),
            );
            let input: Value =
                serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
            let pairs: Vec<(String, String)> =
                serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
            (expected, input, pairs.into_iter().collect())
        })
        .collect()
}

fn body(input: &Value) -> &[u8] {
    input["body"].as_str().unwrap().as_bytes()
}

#[test]
fn every_signing_key_of_the_fixtures_verifies() {
    let mut checked = 0;
    for (path, input, headers) in requests() {
        let e = &input["endpoint"];
        let timestamp = input["timestamp"].as_i64().unwrap();
        let mut keys: Vec<(Verifier, bool)> = Vec::new();
        if let Some(key) = e["signatureKey"].as_str() {
            keys.push((Verifier::new().with_elements_key(key).unwrap(), true));
        }
        if let Some(secret) = e["standardWebhooksSecret"].as_str() {
            let v = Verifier::new()
                .with_standard_webhooks_secret(secret)
                .unwrap();
            keys.push((v, true));
        }
        for item in e["previousSignatureKeys"].as_array().into_iter().flatten() {
            let signs = timestamp < item["until"].as_i64().unwrap();
            let v = Verifier::new()
                .with_elements_key(item["key"].as_str().unwrap())
                .unwrap();
            keys.push((v, signs));
        }
        for item in e["previousStandardWebhooksSecrets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let signs = timestamp < item["until"].as_i64().unwrap();
            let v = Verifier::new()
                .with_standard_webhooks_secret(item["secret"].as_str().unwrap())
                .unwrap();
            keys.push((v, signs));
        }
        for (verifier, signs) in keys {
            let got = verifier.verify(&headers, body(&input), timestamp + 60);
            assert_eq!(
                got.is_ok(),
                signs,
                "{}: {verifier:?}: {got:?}",
                path.display()
            );
            if signs {
                checked += 1;
                let mut tampered = body(&input).to_vec();
                tampered.push(b' ');
                let err = verifier.verify(&headers, &tampered, timestamp).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::BadSignature, "{}", path.display());
            } else {
                assert_eq!(got.unwrap_err().kind(), ErrorKind::BadSignature);
            }
        }
    }
    // signed-both-schemes 2, rotation-grace 4, rotation-expired 2, vendor-signature-only 1.
    assert_eq!(checked, 9);
}

#[test]
fn both_schemes_together_and_no_downgrade() {
    let (_, input, headers) = requests()
        .into_iter()
        .find(|(p, _, _)| p.to_string_lossy().contains("signed-both-schemes"))
        .unwrap();
    let e = &input["endpoint"];
    let both = Verifier::new()
        .with_elements_key(e["signatureKey"].as_str().unwrap())
        .unwrap()
        .with_standard_webhooks_secret(e["standardWebhooksSecret"].as_str().unwrap())
        .unwrap();
    let verified = both.verify(&headers, body(&input), 1_649_367_553).unwrap();
    assert_eq!(verified.schemes.len(), 2);
    // The same request without its Standard Webhooks headers is refused.
    let stripped: Headers = [(
        "Elements-Webhook-Signature",
        headers.get("elements-webhook-signature").unwrap(),
    )]
    .into_iter()
    .collect();
    let err = both
        .verify(&stripped, body(&input), 1_649_367_553)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingHeader);
    assert_eq!(err.message(), "no webhook-id header");
}

#[test]
fn timestamps_outside_the_tolerance_are_refused() {
    let (_, input, headers) = requests()
        .into_iter()
        .find(|(p, _, _)| p.to_string_lossy().contains("signed-both-schemes"))
        .unwrap();
    let secret = input["endpoint"]["standardWebhooksSecret"]
        .as_str()
        .unwrap();
    let v = Verifier::new()
        .with_standard_webhooks_secret(secret)
        .unwrap();
    let t = 1_649_367_553;
    assert!(v.verify(&headers, body(&input), t + 300).is_ok());
    assert!(v.verify(&headers, body(&input), t - 300).is_ok());
    let err = v.verify(&headers, body(&input), t + 301).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StaleTimestamp);
    assert_eq!(
        err.message(),
        "webhook-timestamp 1649367553 is 301 s behind the clock (1649367854); the tolerance is 300 s"
    );
    let err = v.verify(&headers, body(&input), t - 301).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StaleTimestamp);
    let wide = v
        .clone()
        .with_tolerance(std::time::Duration::from_secs(3600));
    assert!(wide.verify(&headers, body(&input), t + 3000).is_ok());
    assert!(v.verify_at_any_time(&headers, body(&input)).is_ok());
}

#[test]
fn secrets_never_show() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let v = Verifier::new()
        .with_elements_key("vendor-key")
        .unwrap()
        .with_standard_webhooks_secret(secret)
        .unwrap();
    let shown = format!("{v:?}");
    assert!(
        !shown.contains("vendor-key") && !shown.contains("C2FVsBQ"),
        "{shown}"
    );
    let err = Verifier::new()
        .with_standard_webhooks_secret("whsec_not base64!")
        .unwrap_err();
    assert!(!err.to_string().contains("not base64!"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidSecret);
    let err = Verifier::new()
        .with_standard_webhooks_secret("whsec_c2hvcnQ=")
        .unwrap_err();
    assert_eq!(
        err.message(),
        "the Standard Webhooks secret decodes to 5 bytes; expected 24 to 64"
    );
    let err = Verifier::new()
        .verify(&Headers::new(), b"{}", 0)
        .unwrap_err();
    assert_eq!(err.message(), "no signature key or secret to verify with");
}

/// The worked example of docs/events.md ("The digest"): if this changes, change the doc.
#[test]
fn digest_matches_the_documented_example() {
    let ids = [
        "5d2c4f70-1b2a-8c3d-9e4f-a1b2c3d4e5f6",
        "0b6a3c1e-52f4-8d2a-9c11-6f0e2d7b4a90",
        "acba5938-1cdf-8379-875e-a64f2ea0ec08",
        "0b6a3c1e-52f4-8d2a-9c11-6f0e2d7b4a90",
    ];
    assert_eq!(
        digest(ids),
        "5579b66f2e3eedd40c3b2f5559724ad96103b2d7d97faf7466b8c265b1b178ed"
    );
    assert_eq!(digest([""; 0]), EMPTY_DIGEST);
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md"))
            .unwrap();
    for needle in [
        "5579b66f2e3eedd40c3b2f5559724ad96103b2d7d97faf7466b8c265b1b178ed",
        "0b6a3c1e-52f4-8d2a-9c11-6f0e2d7b4a90\\n5d2c4f70-1b2a-8c3d-9e4f-a1b2c3d4e5f6\\nacba5938-1cdf-8379-875e-a64f2ea0ec08\\n",
        EMPTY_DIGEST,
    ] {
        assert!(doc.contains(needle), "docs/events.md lacks {needle}");
    }
}
