//! Fault suite: the simulator answers with 429s (with and without `Retry-After`), 500s, 503s,
//! slow and malformed responses, drops connections and revokes a token; the receiver fails one
//! delivery in ten, answers 410 once for one instance and hangs for another. Every change still
//! reaches every instance that stayed subscribed; the deactivated one's events wait in the
//! queue until `pollen events redeliver` sends them.

use std::collections::HashSet;
use std::time::Duration;

use pollen_sage_sim::{
    ActivityConfig, ApiVersion, Fault, FaultKind, Resource, SimConfig, Simulator,
};

use crate::support::{
    customer_changes, id_problems, instance_json, missing, pollen_command, repeats, summary, tail,
    wait_until, write_instances, Behaviour, Pollen, TestReceiver,
};

const SEED: u64 = 22;
const STEADY: [&str; 2] = ["steady-1", "steady-2"];
const GONE: &str = "gone";
const HANG: &str = "hang";
/// Deliveries to `hang` the receiver never answers.
const HANGS: u32 = 2;

/// The simulator's faults, all on the API (the token endpoint gets its own below).
fn api_faults() -> Vec<Fault> {
    let on_api = |fault: Fault| fault.on_path_prefix("/v3.1/");
    vec![
        on_api(Fault::next(FaultKind::RevokeToken, 1)),
        on_api(Fault::probability(
            FaultKind::TooManyRequests {
                retry_after: Some(1),
            },
            0.04,
            SEED + 1,
        )),
        on_api(Fault::probability(
            FaultKind::TooManyRequests { retry_after: None },
            0.04,
            SEED + 2,
        )),
        on_api(Fault::probability(
            FaultKind::InternalServerError,
            0.03,
            SEED + 3,
        )),
        on_api(Fault::probability(
            FaultKind::ServiceUnavailable,
            0.03,
            SEED + 4,
        )),
        on_api(Fault::probability(
            FaultKind::Slow {
                delay: Duration::from_millis(400),
            },
            0.05,
            SEED + 5,
        )),
        on_api(Fault::probability(FaultKind::MalformedJson, 0.03, SEED + 6)),
        on_api(Fault::probability(
            FaultKind::DropConnection,
            0.03,
            SEED + 7,
        )),
        // The refresh after the revocation meets a 503 first.
        Fault::next(FaultKind::ServiceUnavailable, 1).on_path_prefix("/token"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_both_sides_lose_nothing_and_queued_events_are_redelivered() {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            seed: SEED,
            records: 20,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let receiver = TestReceiver::start(Behaviour {
        failure_rate: 0.1,
        seed: SEED,
        gone_once: Some(GONE.to_owned()),
        hang: Some((HANG.to_owned(), HANGS)),
        delay: Duration::ZERO,
    })
    .await;
    let names: Vec<&str> = STEADY.iter().copied().chain([GONE, HANG]).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let instances: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let code = format!("{:040x}", 0xfa017 + i);
            sim.add_authorization_code(&code, ApiVersion::V31);
            instance_json(&sim, &receiver.url(), name, &code, "0.02")
        })
        .collect();
    let config = write_instances(dir.path(), &instances);
    let log = dir.path().join("pollen.log");
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
    let args: Vec<String> = [
        "run",
        "--allow-private-callbacks",
        "--db",
        &db,
        "--config",
        &config.display().to_string(),
        "--poll-timeout",
        "20s",
        "--delivery-timeout",
        "2s",
        "--retry-schedule",
        "500ms,1s,2s,3s,4s,5s,6s,7s,8s",
        "--retry-throttle-minimum",
        "1s",
    ]
    .map(str::to_owned)
    .to_vec();
    let pollen = Pollen::start(&args, &[], &log);
    let polled = wait_until(Duration::from_secs(20), || {
        sim.request_log()
            .iter()
            .filter(|r| r.status == 200 && r.resource.as_deref() == Some("contacts"))
            .filter_map(|r| r.grant.clone())
            .collect::<HashSet<_>>()
            .len()
            == names.len()
    })
    .await;
    assert!(polled, "no first poll of every instance:\n{}", tail(&log));

    for fault in api_faults() {
        sim.inject(fault).expect("a valid fault");
    }
    sim.start_activity(ActivityConfig {
        rate_per_sec: 4.0,
        seed: SEED,
        resources: vec![Resource::Contacts],
        max_changes: Some(60),
        ..ActivityConfig::default()
    })
    .expect("activity");
    let quiet = wait_until(Duration::from_secs(30), || !sim.activity_running()).await;
    assert!(quiet, "the activity did not finish");
    let changes = customer_changes(&sim);
    assert!(changes.len() >= 15, "too few changes: {}", changes.len());

    // Everything reaches the instances that stayed subscribed, faults and all.
    let subscribed: Vec<&str> = STEADY.iter().copied().chain([HANG]).collect();
    wait_until(Duration::from_secs(45), || {
        subscribed
            .iter()
            .all(|name| summary(&changes, &receiver.delivered(name)).missing == 0)
    })
    .await;
    for name in &subscribed {
        let lost = missing(&changes, &receiver.delivered(name));
        assert!(
            lost.is_empty(),
            "{name}: {} of {} changes never arrived: {lost:?}\n{}",
            lost.len(),
            changes.len(),
            tail(&log)
        );
    }
    let to_hang: Vec<u16> = receiver
        .deliveries()
        .iter()
        .filter(|d| d.instance == HANG)
        .map(|d| d.status)
        .collect();
    assert_eq!(
        to_hang.iter().filter(|s| **s == 0).count(),
        HANGS as usize,
        "{to_hang:?}"
    );

    // The faults did happen.
    let counts = sim.request_counts();
    for status in [0, 401, 429, 500, 503] {
        assert!(
            counts.get("GET /v3.1/contacts", status) > 0,
            "no {status} answered: {counts:?}"
        );
    }
    assert!(
        counts.get("POST /token", 503) == 1 && counts.get("POST /token", 400) == 0,
        "the refresh after the revocation: {counts:?}"
    );
    assert!(
        sim.request_log()
            .iter()
            .any(|r| r.finished - r.started >= chrono::TimeDelta::milliseconds(400)),
        "no slow answer"
    );
    let failed = receiver
        .deliveries()
        .iter()
        .filter(|d| d.status == 500)
        .count();
    assert!(failed > 0, "the receiver failed no delivery");

    // `gone` answered 410 once: its subscription is off and its events wait, queued.
    let to_gone: Vec<_> = receiver
        .deliveries()
        .into_iter()
        .filter(|d| d.instance == GONE)
        .collect();
    assert_eq!(
        to_gone.iter().map(|d| d.status).collect::<Vec<_>>(),
        [410],
        "one delivery, then nothing until re-delivery"
    );
    let gone_id = to_gone[0].instance_id.clone();
    let listed = pollen_command(
        &[
            "events",
            "list",
            "--db",
            &db,
            "--instance",
            &gone_id,
            "--status",
            "queued",
            "--json",
        ],
        &[],
    );
    assert!(listed.status.success(), "{listed:?}");
    let queued = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert!(queued > 0, "no queued notification for {GONE}");
    let redelivered = pollen_command(
        &["events", "redeliver", "--db", &db, "--instance", &gone_id],
        &[],
    );
    assert!(redelivered.status.success(), "{redelivered:?}");
    let said = String::from_utf8_lossy(&redelivered.stdout).into_owned();
    let requeued: usize = said
        .strip_prefix("requeued ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {said:?}"));
    // A poll may have queued one more between the two commands.
    assert!(requeued >= queued, "{said:?}, but {queued} were listed");
    wait_until(Duration::from_secs(30), || {
        summary(&changes, &receiver.delivered(GONE)).missing == 0
    })
    .await;
    let lost = missing(&changes, &receiver.delivered(GONE));
    assert!(
        lost.is_empty(),
        "{GONE}: {} changes never arrived after re-delivery: {lost:?}\n{}",
        lost.len(),
        tail(&log)
    );

    assert_eq!(pollen.terminate().await, Some(0), "{}", tail(&log));
    for name in &names {
        let all = receiver.events(name);
        let problems = id_problems(&all);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        assert!(
            all.iter().all(|e| e.signature_valid),
            "{name}: bad signature"
        );
        eprintln!(
            "fault suite {name}: changes={} events={} repeats={}",
            changes.len(),
            all.len(),
            repeats(&all)
        );
    }
    sim.shutdown().await;
}
