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
    let mut instance =
        demo_instance(&sim.handle(), &receiver.url(), "run-test-key").expect("instance");
    // Polled every 1.2 s: the first poll comes at once (a single instance), so the change made
    // below is found by one of the next.
    instance["configuration"]["event.poller.refresh_interval"] = serde_json::json!("0.02");
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

    // The instance has polled the lead business: a file that points it at another is refused
    // before anything is stored or polled.
    let mut moved = instance.clone();
    moved["configuration"]["sage.business.id"] = serde_json::json!("another-business");
    std::fs::write(&config, moved.to_string()).expect("writing the instance");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(["run", "--allow-private-callbacks", "--db", &db, "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting pollen run");
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("waiting for pollen") {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = exited else {
        let _ = child.kill();
        panic!("pollen run polled an instance moved to another business");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("reading stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:/configuration/sage.business.id: instance 1 has already polled the lead business",
            config.display()
        )) && stderr.contains("cannot switch to business another-business"),
        "{stderr}"
    );
    receiver.shutdown().await;
    sim.shutdown().await;
}

/// An instance whose grant code Sage refuses is skipped (and marked for re-authorization);
/// the others are polled as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_skips_an_instance_whose_code_is_refused_and_polls_the_others() {
    use crate::support::{instance_json, tail, wait_until, write_instances, Behaviour, Pollen};

    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 5,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let receiver = crate::support::TestReceiver::start(Behaviour::default()).await;
    let good = "00000000000000000000000000000000000000a1";
    sim.add_authorization_code(good, ApiVersion::V31);
    let instances = [
        instance_json(
            &sim,
            &receiver.url(),
            "refused",
            "0000000000000000000000000000000000000bad",
            "0.02",
        ),
        instance_json(&sim, &receiver.url(), "fine", good, "0.02"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_instances(dir.path(), &instances);
    let log = dir.path().join("pollen.log");
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
    let args: Vec<String> = ["run", "--allow-private-callbacks", "--db", &db, "--config"]
        .map(str::to_owned)
        .into_iter()
        .chain([config.display().to_string()])
        .collect();
    let pollen = Pollen::start(&args, &[], &log);
    let started = wait_until(Duration::from_secs(20), || {
        tail(&log).contains("pollen: polling 1 instance(s)")
    })
    .await;
    assert!(started, "{}", tail(&log));
    assert!(
        tail(&log).contains("exchanging providerData.code")
            && tail(&log).contains("; not polling it"),
        "{}",
        tail(&log)
    );
    let created = sim
        .create(
            Resource::Contacts,
            &serde_json::json!({"contact_types": [{"id": "CUSTOMER"}], "name": "Ada"}),
        )
        .expect("creating a customer");
    let arrived = wait_until(Duration::from_secs(20), || {
        receiver
            .delivered("fine")
            .iter()
            .any(|e| e.object_id == created.id())
    })
    .await;
    assert!(arrived, "{}", tail(&log));
    assert_eq!(pollen.terminate().await, Some(0), "{}", tail(&log));
    sim.shutdown().await;
}
