//! A slow endpoint never delays the others: the running sender, on the system clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pollen_callback::{Endpoint, EndpointMap, Sender, SenderConfig};
use pollen_core::{MemoryStore, OutboxFilter, OutboxStatus, Store, SystemClock};

use crate::common::{enqueue, local_policy};
use crate::receiver::{Answer, Receiver};

#[tokio::test]
async fn an_endpoint_that_hangs_does_not_block_another() {
    let receiver = Receiver::start().await;
    receiver.answer("/hangs", Answer::hang());
    let store = Arc::new(MemoryStore::new());
    let endpoints = Arc::new(EndpointMap::new());
    endpoints.insert("slow", Endpoint::new(&receiver.url("/hangs")).unwrap());
    endpoints.insert("fast", Endpoint::new(&receiver.url("/fast")).unwrap());
    let mut config = SenderConfig::new("isolation");
    config.addresses = local_policy();
    config.timeout = Duration::from_secs(60);
    // Small claims, so that without skipping the slow instance its backlog would fill them.
    config.batch_size = 8;
    let sender = Sender::new(store.clone(), endpoints, Arc::new(SystemClock), config).unwrap();

    // The slow instance's backlog is older: first in claim order.
    enqueue(&*store, "slow", 200, Utc::now()).await;
    enqueue(&*store, "fast", 20, Utc::now()).await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let sender = sender.clone();
        async move {
            sender
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    receiver
        .wait_for("/fast", 20, Duration::from_secs(10))
        .await;
    // While the fast endpoint got everything, the slow one holds exactly its limit.
    assert_eq!(receiver.received_on("/hangs").len(), 4);

    // New work for the fast endpoint still flows, promptly after a wake.
    enqueue(&*store, "fast", 5, Utc::now()).await;
    sender.wake();
    receiver
        .wait_for("/fast", 25, Duration::from_secs(10))
        .await;
    assert_eq!(receiver.received_on("/hangs").len(), 4);

    // The receiver saw the requests a moment before the sender recorded the answers.
    let filter = OutboxFilter {
        instance: Some("fast".into()),
        status: Some(OutboxStatus::Delivered),
        ..OutboxFilter::default()
    };
    let recorded = async {
        while store.list_outbox(&filter).await.unwrap().len() < 25 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), recorded)
        .await
        .expect("the fast deliveries are recorded");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the sender stops on shutdown")
        .unwrap();
    let filter = OutboxFilter {
        instance: Some("slow".into()),
        status: Some(OutboxStatus::Pending),
        ..OutboxFilter::default()
    };
    let slow = store.list_outbox(&filter).await.unwrap();
    assert_eq!(
        slow.len(),
        200,
        "the slow backlog is still pending, not lost"
    );
    assert!(slow.iter().all(|e| e.attempts == 0));
    let stats = sender.stats();
    assert_eq!(stats.delivered, 25);
}

/// A successful request frees its endpoint's slot when the answer arrives, before its outcome
/// is written, yet the endpoint never has more than its limit of requests in flight.
#[tokio::test]
async fn an_endpoint_never_has_more_than_its_limit_in_flight() {
    let receiver = Receiver::start().await;
    receiver.answer("/busy", Answer::after(Duration::from_millis(20)));
    let store = Arc::new(MemoryStore::new());
    let endpoints = Arc::new(EndpointMap::new());
    endpoints.insert("busy", Endpoint::new(&receiver.url("/busy")).unwrap());
    let mut config = SenderConfig::new("limit");
    config.addresses = local_policy();
    let limit = config.per_endpoint_limit;
    let sender = Sender::new(store.clone(), endpoints, Arc::new(SystemClock), config).unwrap();
    enqueue(&*store, "busy", 60, Utc::now()).await;
    let attempts = tokio::time::timeout(Duration::from_secs(30), sender.deliver_due())
        .await
        .expect("60 deliveries within 30 s")
        .unwrap();
    assert_eq!(attempts, 60);
    assert_eq!(receiver.received_on("/busy").len(), 60);
    assert_eq!(
        receiver.max_in_flight(),
        limit,
        "requests in flight at once to one endpoint"
    );
    let delivered = OutboxFilter {
        status: Some(OutboxStatus::Delivered),
        ..OutboxFilter::default()
    };
    assert_eq!(
        store.list_outbox(&delivered).await.unwrap().len(),
        60,
        "deliver_due returns once every outcome is written"
    );
}
