//! What arrives: the body byte for byte, both signature schemes (checked by an independent
//! HMAC), basic auth, extra headers; redirects; the delivery log.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::TimeDelta;
use pollen_callback::{Endpoint, StandardWebhooksSecret, STANDARD_WEBHOOKS_SECRET_KEY};
use pollen_config::{InstanceConfig, Secret};
use pollen_core::{OutboxStatus, Store};
use sha2::{Digest, Sha256};

use crate::common::{t0, Harness};
use crate::receiver::Answer;

/// HMAC-SHA256 written out from RFC 2104, to check the sender's without sharing its code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn signatures_verify_independently_on_the_received_bytes() {
    let h = Harness::new(|_| {}).await;
    let endpoint = Endpoint::new(&h.receiver.url("/events"))
        .unwrap()
        .with_signature_key(Secret::new("vendor-key"))
        .with_standard_webhooks(StandardWebhooksSecret::parse(WHSEC).unwrap());
    h.endpoints.insert("42", endpoint);
    let ids = h.enqueue("42", 3).await;
    assert_eq!(h.sender.deliver_due().await.unwrap(), 3);

    let received = h.receiver.received_on("/events");
    assert_eq!(received.len(), 3);
    let whsec_key = BASE64.decode(WHSEC.trim_start_matches("whsec_")).unwrap();
    for request in &received {
        let id = request.header("elements-webhook-id").unwrap();
        let entry = h.entry(id.parse().unwrap()).await;
        assert_eq!(entry.status, OutboxStatus::Delivered);
        assert_eq!(
            &request.body[..],
            entry.notification.body.as_bytes(),
            "the body is not the outbox body byte for byte"
        );
        let expected = hmac_sha256(b"vendor-key", &request.body);
        assert_eq!(
            request.header("elements-webhook-signature").unwrap(),
            format!("sha256={}", BASE64.encode(expected))
        );
        assert_eq!(request.header("webhook-id"), Some(id));
        let timestamp = request.header("webhook-timestamp").unwrap();
        assert_eq!(timestamp, t0().timestamp().to_string());
        let mut signed = format!("{id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(&request.body);
        assert_eq!(
            request.header("webhook-signature").unwrap(),
            format!("v1,{}", BASE64.encode(hmac_sha256(&whsec_key, &signed)))
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.header("user-agent"),
            Some(concat!("pollen/", env!("CARGO_PKG_VERSION")))
        );
    }
    let mut got: Vec<String> = received
        .iter()
        .map(|r| r.header("elements-webhook-id").unwrap().to_owned())
        .collect();
    let mut want: Vec<String> = ids.iter().map(ToString::to_string).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn unsigned_endpoints_send_the_id_and_no_signature() {
    let h = Harness::new(|_| {}).await;
    h.endpoints
        .insert("42", Endpoint::new(&h.receiver.url("/plain")).unwrap());
    let ids = h.enqueue("42", 1).await;
    h.sender.deliver_due().await.unwrap();
    let request = &h.receiver.received_on("/plain")[0];
    assert_eq!(
        request.header("elements-webhook-id"),
        Some(ids[0].to_string().as_str())
    );
    for absent in [
        "elements-webhook-signature",
        "webhook-id",
        "webhook-signature",
        "authorization",
    ] {
        assert_eq!(request.header(absent), None, "{absent} was sent");
    }
}

fn instance_json(url: &str) -> String {
    serde_json::json!({
        "element": {"key": "sageone"},
        "providerData": {"code": "c"},
        "configuration": {
            "oauth.api.key": "k", "oauth.api.secret": "s",
            "oauth.callback.url": "https://example.com", "country": "UK",
            "event.notification.enabled": "true",
            "event.notification.callback.url": url,
            "event.notification.signature.key": "vendor-key",
            "event.notification.basic.username": "pollen",
            "event.notification.basic.password": "hunter2",
            "event.notification.callback.headers":
                {"X-Tenant": "acme", "X-Api-Key": "k-123", "Elements-Webhook-Id": "forged"},
            STANDARD_WEBHOOKS_SECRET_KEY: WHSEC,
            "event.poller.refresh_interval": "15",
            "event.poller.configuration": {"customers": {"url": "/hubs/finance/customers"}}
        },
        "name": "API_Polling"
    })
    .to_string()
}

#[tokio::test]
async fn the_instance_config_gives_basic_auth_and_extra_headers_that_cannot_override() {
    let h = Harness::new(|_| {}).await;
    let loaded = InstanceConfig::from_json_str(&instance_json(&h.receiver.url("/cfg"))).unwrap();
    let endpoint = Endpoint::from_config(&loaded.config).unwrap().unwrap();
    let debug = format!("{endpoint:?}");
    for secret in ["hunter2", "vendor-key", "k-123", "MfKQ9r8"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    h.endpoints.insert("42", endpoint);
    let ids = h.enqueue("42", 1).await;
    h.sender.deliver_due().await.unwrap();

    let request = &h.receiver.received_on("/cfg")[0];
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {}", BASE64.encode("pollen:hunter2")).as_str())
    );
    assert_eq!(request.header("x-tenant"), Some("acme"));
    assert_eq!(request.header("x-api-key"), Some("k-123"));
    let sent_ids: Vec<_> = request
        .headers
        .get_all("elements-webhook-id")
        .iter()
        .collect();
    assert_eq!(sent_ids.len(), 1, "the forged id header was sent too");
    assert_eq!(sent_ids[0], ids[0].to_string().as_str());
    assert!(request.header("elements-webhook-signature").is_some());
    assert!(request.header("webhook-signature").is_some());

    let err = Endpoint::new("http://x.example")
        .unwrap()
        .with_header("Elements-Webhook-Signature", "sha256=forged")
        .unwrap_err();
    assert_eq!(
        err.message(),
        "header `Elements-Webhook-Signature` is set by the sender and cannot be overridden"
    );
}

#[tokio::test]
async fn disabled_notifications_have_no_endpoint_and_bad_secrets_are_named() {
    let json = instance_json("https://example.com/events");
    let disabled = json.replace(
        r#""event.notification.enabled":"true""#,
        r#""event.notification.enabled":"false""#,
    );
    assert_ne!(disabled, json);
    let loaded = InstanceConfig::from_json_str(&disabled).unwrap();
    assert!(Endpoint::from_config(&loaded.config).unwrap().is_none());

    // A malformed secret never reaches the sender: loading the instance refuses it, naming the
    // key and never the value.
    let bad = json.replace(WHSEC, "whsec_c2hvcnQ=");
    let errors = InstanceConfig::from_json_str(&bad).unwrap_err();
    let problems: Vec<(&str, &str)> = errors
        .errors()
        .map(|p| (p.pointer(), p.message()))
        .collect();
    assert_eq!(
        problems,
        [(
            "/configuration/event.notification.standard_webhooks.secret",
            "the Standard Webhooks secret decodes to 5 bytes; expected 24 to 64"
        )]
    );
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let h = Harness::new(|_| {}).await;
    h.receiver.answer(
        "/moved",
        Answer::status(302).header("location", &h.receiver.url("/elsewhere")),
    );
    h.endpoints
        .insert("42", Endpoint::new(&h.receiver.url("/moved")).unwrap());
    let ids = h.enqueue("42", 1).await;
    h.sender.deliver_due().await.unwrap();

    assert_eq!(h.receiver.received_on("/moved").len(), 1);
    assert!(h.receiver.received_on("/elsewhere").is_empty(), "followed");
    let entry = h.entry(ids[0]).await;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.attempts, 1);
    let log = h.store.list_attempts(&ids[0]).await.unwrap();
    assert_eq!(log[0].status, Some(302));
    assert_eq!(
        log[0].error.as_deref().unwrap(),
        format!(
            "receiver answered 302 Found (to {}); redirects are not followed",
            h.receiver.url("/elsewhere")
        )
    );
}

#[tokio::test]
async fn the_log_keeps_status_latency_and_4_kib_of_the_response() {
    let h = Harness::new(|_| {}).await;
    // 3-byte characters, so 4096 bytes fall inside one.
    h.receiver
        .answer("/chatty", Answer::status(500).body("€".repeat(5000)));
    h.receiver.answer("/ok", Answer::status(202).body("thanks"));
    h.endpoints
        .insert("a", Endpoint::new(&h.receiver.url("/chatty")).unwrap());
    h.endpoints
        .insert("b", Endpoint::new(&h.receiver.url("/ok")).unwrap());
    let failed = h.enqueue("a", 1).await[0];
    let delivered = h.enqueue("b", 1).await[0];
    h.sender.deliver_due().await.unwrap();

    let log = h.store.list_attempts(&failed).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].at, t0());
    assert_eq!(log[0].status, Some(500));
    assert_eq!(
        log[0].error.as_deref(),
        Some("receiver answered 500 Internal Server Error")
    );
    assert_eq!(log[0].response_excerpt, "€".repeat(1365));
    assert!(log[0].latency_ms < 10_000);

    let log = h.store.list_attempts(&delivered).await.unwrap();
    assert_eq!(log[0].status, Some(202));
    assert_eq!(log[0].error, None);
    assert_eq!(log[0].response_excerpt, "thanks");
    let entry = h.entry(delivered).await;
    assert_eq!(entry.status, OutboxStatus::Delivered);
    assert_eq!(entry.delivered_at, Some(t0()));
}

/// A process that does not know an instance's endpoint leaves its notifications to one that
/// does: no attempt, no retry counted, no deactivation; it looks again after 30 s.
#[tokio::test]
async fn an_instance_without_endpoint_here_is_left_pending_and_not_counted() {
    let h = Harness::new(|_| {}).await;
    let ids = h.enqueue("orphan", 2).await;
    assert_eq!(
        h.sender.deliver_due().await.unwrap(),
        0,
        "no attempt counted"
    );
    for id in &ids {
        assert!(h.store.list_attempts(id).await.unwrap().is_empty());
        let entry = h.entry(*id).await;
        assert_eq!(
            (entry.status, entry.attempts, entry.lease.is_none()),
            (OutboxStatus::Pending, 0, true),
            "{entry:?}"
        );
    }
    assert!(h.store.subscription_active("orphan").await.unwrap());
    // Skipped, not re-claimed at once, while the instance is unknown here.
    h.clock.advance(TimeDelta::seconds(10));
    assert_eq!(h.sender.deliver_due().await.unwrap(), 0);

    // Once it is known, the next look delivers both.
    h.endpoints
        .insert("orphan", Endpoint::new(&h.receiver.url("/events")).unwrap());
    h.clock.advance(TimeDelta::seconds(21));
    assert_eq!(h.sender.deliver_due().await.unwrap(), 2);
    for id in &ids {
        assert_eq!(h.entry(*id).await.status, OutboxStatus::Delivered);
    }
}

#[tokio::test]
async fn a_changed_callback_url_takes_effect_on_the_next_attempt() {
    let h = Harness::new(|c| {
        c.retry = pollen_callback::RetryPolicy::vendor()
            .with_jitter(0.0)
            .unwrap();
    })
    .await;
    h.receiver.answer("/old", Answer::status(503));
    h.endpoints
        .insert("42", Endpoint::new(&h.receiver.url("/old")).unwrap());
    let ids = h.enqueue("42", 1).await;
    h.sender.deliver_due().await.unwrap();
    h.endpoints
        .insert("42", Endpoint::new(&h.receiver.url("/new")).unwrap());
    h.clock.advance(chrono::TimeDelta::seconds(4));
    h.sender.deliver_due().await.unwrap();
    assert_eq!(h.receiver.received_on("/new").len(), 1);
    assert_eq!(h.entry(ids[0]).await.status, OutboxStatus::Delivered);
}
