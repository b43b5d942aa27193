//! `pollen run` as a process: polls and delivers, stops on SIGTERM with exit 0, and a restart
//! does not exchange the grant code again.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pollen::demo::demo_instance;
use pollen::receiver::Receiver;
use pollen_sage_sim::{ApiVersion, Resource, SimConfig, Simulator};

const CODE: &str = "1c6ff4089d58d80e86482ab7d5b97f15dd7b041d";

fn start(config: &std::path::Path, db: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(["run", "--allow-private-callbacks", "--db", db, "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pollen run")
}

/// SIGTERM, then the exit code, which must come within five seconds.
async fn terminate(mut child: Child) -> Option<i32> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for _ in 0..50 {
        if let Some(status) = child.try_wait().expect("waiting for pollen") {
            return status.code();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("pollen run did not exit within 5 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_polls_delivers_stops_on_sigterm_and_keeps_its_tokens() {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 5,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    sim.add_authorization_code(CODE, ApiVersion::V31);
    let (receiver, mut events) = Receiver::start(b"run-test-key").await.expect("receiver");
    let instance = demo_instance(&sim.handle(), &receiver.url(), "run-test-key").expect("instance");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("seed.json");
    std::fs::write(&config, instance.to_string()).expect("writing the instance");
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());

    let child = start(&config, &db);
    // The instance's creation time is its first watermark: wait until it exists, then change.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let created = sim
        .create(
            Resource::Contacts,
            &serde_json::json!({"contact_types": [{"id": "CUSTOMER"}], "name": "Ada"}),
        )
        .expect("creating a customer");
    let event = tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .expect("an event within 15 s")
        .expect("the receiver is running");
    assert_eq!(event.object_id, created.id());
    assert_eq!(event.event_type, "CREATED");
    assert!(event.signature_valid);
    assert_eq!(terminate(child).await, Some(0));
    let exchanges = sim.request_counts().get("POST /token", 200);

    // A restart finds the saved tokens: no second exchange (the code is single-use anyway).
    let child = start(&config, &db);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(terminate(child).await, Some(0));
    assert_eq!(sim.request_counts().get("POST /token", 200), exchanges);
    assert_eq!(
        sim.request_counts().get("POST /token", 400),
        0,
        "no refused grant"
    );
    receiver.shutdown().await;
    sim.shutdown().await;
}
