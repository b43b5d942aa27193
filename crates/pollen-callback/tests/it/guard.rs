//! The SSRF guard on real connections: refused without the allow-list, with the reason logged.

use std::sync::Arc;

use pollen_callback::{AddressPolicy, Endpoint, EndpointMap, Sender, SenderConfig};
use pollen_core::{Clock, ManualClock, MemoryStore, OutboxStatus, Store};

use crate::common::{enqueue, entry, t0};
use crate::receiver::Receiver;

async fn deliver_once(
    policy: AddressPolicy,
    url: &str,
) -> (Arc<MemoryStore>, pollen_core::StableId) {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(t0());
    let endpoints = Arc::new(EndpointMap::new());
    endpoints.insert("42", Endpoint::new(url).unwrap());
    let mut config = SenderConfig::new("guard-test");
    config.addresses = policy;
    let sender = Sender::new(store.clone(), endpoints, Arc::new(clock.clone()), config).unwrap();
    let id = enqueue(&*store, "42", 1, clock.now()).await[0];
    assert_eq!(sender.deliver_due().await.unwrap(), 1);
    (store, id)
}

const ADVICE: &str = "addresses are blocked for callbacks (allow the network in the callback \
                      allow-list, or use --allow-private-callbacks)";

#[tokio::test]
async fn loopback_is_refused_by_literal_and_by_name_unless_allowed() {
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();

    let (store, id) = deliver_once(AddressPolicy::new(), &receiver.url("/events")).await;
    let log = store.list_attempts(&id).await.unwrap();
    assert_eq!(log[0].status, None);
    assert_eq!(
        log[0].error.as_deref().unwrap(),
        format!("refused to connect to 127.0.0.1: loopback (127.0.0.0/8) {ADVICE}")
    );
    assert_eq!(entry(&*store, id).await.status, OutboxStatus::Pending);

    // By name: the resolver refuses what `localhost` resolves to.
    let (store, id) = deliver_once(
        AddressPolicy::new(),
        &format!("http://localhost:{port}/by-name"),
    )
    .await;
    let error = store.list_attempts(&id).await.unwrap()[0]
        .error
        .clone()
        .unwrap();
    assert!(
        error.starts_with("refused to connect to 127.0.0.1: loopback")
            || error.starts_with("refused to connect to ::1: loopback"),
        "{error}"
    );

    // IPv4-mapped IPv6 is judged as the IPv4 address it reaches.
    let (store, id) = deliver_once(
        AddressPolicy::new(),
        &format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
    )
    .await;
    assert_eq!(
        store.list_attempts(&id).await.unwrap()[0]
            .error
            .as_deref()
            .unwrap(),
        format!("refused to connect to ::ffff:127.0.0.1: loopback (127.0.0.0/8) {ADVICE}")
    );
    assert!(receiver.received().is_empty(), "a refused request arrived");

    // The allow-list and the switch open it.
    let (store, id) = deliver_once(
        AddressPolicy::new().allow("127.0.0.1/32".parse().unwrap()),
        &format!("http://localhost:{port}/by-name"),
    )
    .await;
    assert_eq!(entry(&*store, id).await.status, OutboxStatus::Delivered);
    let (store, id) = deliver_once(AddressPolicy::allow_private(), &receiver.url("/events")).await;
    assert_eq!(entry(&*store, id).await.status, OutboxStatus::Delivered);
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn metadata_and_private_literals_are_refused_before_any_connection() {
    for (url, expected) in [
        (
            "http://169.254.169.254/latest/meta-data",
            "refused to connect to 169.254.169.254: cloud metadata (169.254.169.254)",
        ),
        (
            "http://10.1.2.3:8080/hook",
            "refused to connect to 10.1.2.3: private (10.0.0.0/8)",
        ),
        (
            "http://[fd00::1]/hook",
            "refused to connect to fd00::1: unique local (fc00::/7)",
        ),
    ] {
        let (store, id) = deliver_once(AddressPolicy::new(), url).await;
        let error = store.list_attempts(&id).await.unwrap()[0]
            .error
            .clone()
            .unwrap();
        assert_eq!(error, format!("{expected} {ADVICE}"));
    }
}
