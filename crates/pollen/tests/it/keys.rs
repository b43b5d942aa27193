//! Signing-key rotation end to end: during the grace period a receiver verifying with either
//! the old or the new key accepts every delivery; after it, only the new key verifies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use pollen::demo::demo_instance;
use pollen_callback::{elements_signature, StandardWebhooksSecret};
use pollen_sage_sim::Resource;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::serve::{sim_receiver_service, AUTH};

const OLD_SW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Captured {
    headers: HeaderMap,
    body: Bytes,
}

impl Captured {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn timestamp(&self) -> i64 {
        self.header("webhook-timestamp")
            .parse()
            .expect("a timestamp")
    }

    /// What a receiver holding `key` checks: any of the Elements signatures is its own.
    fn elements_verifies(&self, key: &str) -> bool {
        let want = elements_signature(key.as_bytes(), &self.body);
        std::iter::once(self.header("elements-webhook-signature"))
            .chain(
                self.header("elements-webhook-signature-previous")
                    .split(", "),
            )
            .any(|got| got == want)
    }

    /// What a Standard Webhooks receiver holding `secret` checks: any listed signature.
    fn standard_webhooks_verifies(&self, secret: &str) -> bool {
        let secret = StandardWebhooksSecret::parse(secret).expect("a secret");
        let want = secret.sign(self.header("webhook-id"), self.timestamp(), &self.body);
        self.header("webhook-signature")
            .split(' ')
            .any(|got| got == want)
    }
}

async fn capture_receiver() -> (String, mpsc::UnboundedReceiver<Captured>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = Arc::new(Mutex::new(tx));
    let app = Router::new()
        .route(
            "/events",
            post(
                |State(tx): State<Arc<Mutex<mpsc::UnboundedSender<Captured>>>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let _ = tx
                        .lock()
                        .expect("the channel")
                        .send(Captured { headers, body });
                    "ok"
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the receiver");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

/// Creates a customer and returns the next delivery (within 20 s).
async fn next_delivery(
    sim: &pollen_sage_sim::RunningSim,
    deliveries: &mut mpsc::UnboundedReceiver<Captured>,
    name: &str,
) -> Captured {
    sim.create(
        Resource::Contacts,
        &json!({"contact_types": [{"id": "CUSTOMER"}], "name": name}),
    )
    .expect("creating a customer");
    tokio::time::timeout(Duration::from_secs(20), deliveries.recv())
        .await
        .unwrap_or_else(|_| panic!("no delivery for {name} within 20 s"))
        .expect("the receiver runs")
}

/// `pollen keys ARGS --db DB --instance ID`.
fn keys_cli(db: &str, id: i64, args: &[&str]) -> std::process::Output {
    let id = id.to_string();
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--db", db, "--instance", &id]);
    crate::support::pollen_command(&all, &[])
}

fn unix_seconds(text: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text.as_str().expect("a date"))
        .expect("RFC 3339")
        .timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_either_key_verifies_and_after_it_only_the_new_one() {
    // The serve tests' simulator and service; this test's own receiver records raw requests.
    let (sim, _receiver, _events, mut service) = sim_receiver_service(b"unused").await;
    let (url, mut deliveries) = capture_receiver().await;
    let mut instance = demo_instance(&sim.handle(), &url, "old-key").expect("json");
    instance["configuration"]["event.notification.standard_webhooks.secret"] = json!(OLD_SW);
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");

    // The initial records, then one more: signed with the old keys only.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = next_delivery(&sim, &mut deliveries, "Before").await;
    assert!(before.elements_verifies("old-key"));
    assert!(before.standard_webhooks_verifies(OLD_SW));
    assert_eq!(before.header("elements-webhook-signature-previous"), "");
    while deliveries.try_recv().is_ok() {}

    // Rotate both: a given Elements key, a generated Standard Webhooks secret; 6 s of grace.
    let rotate = format!("/instances/{id}/signing-keys/rotate");
    let (status, elements) = service
        .call(
            reqwest::Method::POST,
            &rotate,
            AUTH,
            Some(&json!({"scheme": "elements", "key": "new-key", "grace": "6s"})),
        )
        .await;
    assert_eq!(status, 200, "{elements}");
    assert_eq!(elements["key"], Value::Null, "a given key is not echoed");
    let (status, standard) = service
        .call(
            reqwest::Method::POST,
            &rotate,
            AUTH,
            Some(&json!({"scheme": "standard-webhooks", "grace": "6s"})),
        )
        .await;
    assert_eq!(status, 200, "{standard}");
    let new_sw = standard["key"]
        .as_str()
        .expect("the generated secret, once")
        .to_owned();
    assert!(new_sw.starts_with("whsec_"), "{new_sw}");
    let until = unix_seconds(&elements["previousKeyValidUntil"])
        .min(unix_seconds(&standard["previousKeyValidUntil"]));

    // Saved keys are never shown again.
    let (status, listed) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}/signing-keys"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let text = listed.to_string();
    for secret in ["old-key", "new-key", OLD_SW, &new_sw] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert_eq!(
        listed[0]["retired"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let (_, shown) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}"),
            AUTH,
            None,
        )
        .await;
    assert!(!shown.to_string().contains("new-key"), "{shown}");

    let metrics = reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("pollen_signing_keys_in_grace 2"),
        "{metrics}"
    );

    // Every delivery until the grace ends verifies with either key; from then on with the
    // new one only. Customers keep coming until both sides were seen (at most 40).
    let (mut during, mut after) = (0, 0);
    for n in 0..40 {
        let d = next_delivery(&sim, &mut deliveries, &format!("Rotating {n}")).await;
        assert!(d.elements_verifies("new-key"), "{d:?}");
        assert!(d.standard_webhooks_verifies(&new_sw), "{d:?}");
        if d.timestamp() < until {
            assert!(d.elements_verifies("old-key"), "in the grace period: {d:?}");
            assert!(
                d.standard_webhooks_verifies(OLD_SW),
                "in the grace period: {d:?}"
            );
            during += 1;
        } else {
            assert!(
                !d.elements_verifies("old-key"),
                "after the grace period: {d:?}"
            );
            assert!(
                !d.standard_webhooks_verifies(OLD_SW),
                "after the grace period: {d:?}"
            );
            after += 1;
        }
        if during > 0 && after > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(during > 0 && after > 0, "during {during}, after {after}");

    // The command line: a generated key, a day of grace, then the grace ended at once.
    let db = service.db_url();
    let cli = |args: &[&str]| keys_cli(&db, id, args);
    let rotated = cli(&["rotate", "--scheme", "elements", "--json"]);
    assert_eq!(
        rotated.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let printed: Value = serde_json::from_slice(&rotated.stdout).expect("JSON");
    let cli_key = printed["key"]
        .as_str()
        .expect("the generated key")
        .to_owned();
    // Running processes pick the stored key up at their next instance sync.
    let mut switched = false;
    for n in 0..20 {
        let d = next_delivery(&sim, &mut deliveries, &format!("Cli {n}")).await;
        if d.elements_verifies(&cli_key) {
            assert!(
                d.elements_verifies("new-key"),
                "the replaced key signs for a day"
            );
            switched = true;
            break;
        }
    }
    assert!(
        switched,
        "the key rotated by the command line was never used"
    );
    let refused = cli(&["rotate", "--scheme", "standard-webhooks", "--grace", "90d"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("longer than the longest grace period"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (status, dropped) = service
        .call(
            reqwest::Method::DELETE,
            &format!("/instances/{id}/signing-keys/retired?scheme=elements"),
            AUTH,
            None,
        )
        .await;
    assert_eq!((status, &dropped["dropped"]), (200, &json!(1)), "{dropped}");
    while deliveries.try_recv().is_ok() {}
    let d = next_delivery(&sim, &mut deliveries, "Dropped").await;
    assert!(d.elements_verifies(&cli_key));
    assert!(
        !d.elements_verifies("new-key"),
        "a dropped key still signs: {d:?}"
    );
    let listed = cli(&["list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("elements") && text.contains("no replaced key signing"),
        "{text}"
    );
    assert!(!text.contains(&cli_key), "{text}");

    // Refusals name the field.
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &rotate,
            AUTH,
            Some(&json!({"scheme": "standard-webhooks", "key": "not-a-secret"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("/key"), "{refused}");
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &rotate,
            AUTH,
            Some(&json!({"scheme": "rsa"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("/scheme"), "{refused}");
    service.stop().await;
}

/// Creates a customer and returns the next delivery to each receiver (within 20 s).
async fn next_deliveries(
    sim: &pollen_sage_sim::RunningSim,
    callback: &mut mpsc::UnboundedReceiver<Captured>,
    subscription: &mut mpsc::UnboundedReceiver<Captured>,
    name: &str,
) -> (Captured, Captured) {
    let to_callback = next_delivery(sim, callback, name).await;
    let to_subscription = tokio::time::timeout(Duration::from_secs(20), subscription.recv())
        .await
        .unwrap_or_else(|_| panic!("no subscription delivery for {name} within 20 s"))
        .expect("the receiver runs");
    (to_callback, to_subscription)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriptions_key_rotates_on_its_own_and_its_replaced_key_goes_with_it() {
    let (sim, _receiver, _events, mut service) = sim_receiver_service(b"unused").await;
    let (callback_url, mut callback) = capture_receiver().await;
    let (audit_url, mut audit) = capture_receiver().await;
    let mut instance = demo_instance(&sim.handle(), &callback_url, "callback-key").expect("json");
    instance["configuration"]["event.notification.subscriptions"] = json!([{
        "name": "audit",
        "url": audit_url,
        "signatureKey": "audit-old",
        "standardWebhooksSecret": OLD_SW,
    }]);
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, before) = next_deliveries(&sim, &mut callback, &mut audit, "Before").await;
    assert!(before.standard_webhooks_verifies(OLD_SW));
    while callback.try_recv().is_ok() || audit.try_recv().is_ok() {}

    // The subscription's Standard Webhooks secret, generated, with 6 s of grace.
    let rotate = format!("/instances/{id}/signing-keys/rotate");
    let (status, rotated) = service
        .call(
            reqwest::Method::POST,
            &rotate,
            AUTH,
            Some(&json!({"scheme": "standard-webhooks", "subscription": "audit", "grace": "6s"})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["subscription"], "audit", "{rotated}");
    let new_sw = rotated["key"]
        .as_str()
        .expect("the generated secret")
        .to_owned();
    let until = unix_seconds(&rotated["previousKeyValidUntil"]);
    let (status, listed) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}/signing-keys"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let retired_of = |listed: &Value, subscription: Value, scheme: &str| {
        listed
            .as_array()
            .expect("a list")
            .iter()
            .find(|e| e["subscription"] == subscription && e["scheme"] == scheme)
            .map(|e| e["retired"].as_array().map_or(0, Vec::len))
    };
    assert_eq!(
        retired_of(&listed, json!("audit"), "standard-webhooks"),
        Some(1),
        "{listed}"
    );
    assert_eq!(
        retired_of(&listed, Value::Null, "standard-webhooks"),
        Some(0),
        "the callback's keys are untouched: {listed}"
    );
    for secret in [OLD_SW, new_sw.as_str(), "audit-old", "callback-key"] {
        assert!(!listed.to_string().contains(secret), "{secret} shown");
    }

    // The subscription's deliveries carry both signatures until the grace ends, then the new
    // one only; the callback's are signed as before throughout.
    let (mut during, mut after) = (0, 0);
    for n in 0..40 {
        let (to_callback, d) =
            next_deliveries(&sim, &mut callback, &mut audit, &format!("Rotating {n}")).await;
        assert!(
            to_callback.elements_verifies("callback-key"),
            "{to_callback:?}"
        );
        assert_eq!(
            to_callback.header("elements-webhook-signature-previous"),
            ""
        );
        assert!(d.standard_webhooks_verifies(&new_sw), "{d:?}");
        assert!(d.elements_verifies("audit-old"), "{d:?}");
        if d.timestamp() < until {
            assert!(
                d.standard_webhooks_verifies(OLD_SW),
                "in the grace period: {d:?}"
            );
            during += 1;
        } else {
            assert!(
                !d.standard_webhooks_verifies(OLD_SW),
                "after the grace period: {d:?}"
            );
            after += 1;
        }
        if during > 0 && after > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(during > 0 && after > 0, "during {during}, after {after}");

    // The command line rotates the subscription's Elements key with a day of grace.
    let db = service.db_url();
    let cli = |args: &[&str]| keys_cli(&db, id, args);
    let out = cli(&[
        "rotate",
        "--scheme",
        "elements",
        "--subscription",
        "audit",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let cli_key = printed["key"]
        .as_str()
        .expect("the generated key")
        .to_owned();
    let mut switched = false;
    for n in 0..20 {
        let (to_callback, d) =
            next_deliveries(&sim, &mut callback, &mut audit, &format!("Cli {n}")).await;
        assert!(to_callback.elements_verifies("callback-key"));
        if d.elements_verifies(&cli_key) {
            assert!(
                d.elements_verifies("audit-old"),
                "the replaced key signs for a day"
            );
            switched = true;
            break;
        }
    }
    assert!(switched, "the subscription's rotated key was never used");
    let listed = cli(&["list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("audit") && l.contains("replaced key(s) signing until")),
        "{text}"
    );
    assert!(!text.contains(&cli_key), "{text}");
    let unknown = cli(&["rotate", "--scheme", "elements", "--subscription", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no subscription named `nobody`"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let (status, refused) = service
        .call(
            reqwest::Method::DELETE,
            &format!("/instances/{id}/signing-keys/retired?scheme=elements&subscription=nobody"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 404, "{refused}");

    // Removing the subscription drops its replaced keys: none is left in its grace period.
    let (status, removed) = service
        .call(
            reqwest::Method::DELETE,
            &format!("/instances/{id}/subscriptions/audit"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{removed}");
    let metrics = reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("pollen_signing_keys_in_grace 0"),
        "{metrics}"
    );
    service.stop().await;
}
