//! Crash suite: `pollen run` is SIGKILLed at ten seeded random moments while the simulator keeps
//! changing customers, and restarted each time on the same SQLite file. Afterwards every change
//! in the simulator's log has reached the receiver, and every repeated delivery carried the
//! event id of the first.

use std::time::Duration;

use pollen_sage_sim::{
    ActivityConfig, ApiVersion, Fault, FaultKind, Resource, SimConfig, Simulator,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::{
    customer_changes, id_problems, instance_json, missing, repeats, summary, tail, wait_until,
    write_instances, Behaviour, Pollen, TestReceiver,
};

const SEED: u64 = 11;
const KILLS: usize = 10;
const INSTANCES: [(&str, &str); 2] = [
    ("crash-a", "c0ffee00000000000000000000000000000000a1"),
    ("crash-b", "c0ffee00000000000000000000000000000000b2"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_ten_times_loses_no_change_and_repeats_keep_their_ids() {
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
    // Slow answers on both sides, so that kills often land on a poll or a delivery in flight.
    let receiver = TestReceiver::start(Behaviour {
        delay: Duration::from_millis(500),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let instances: Vec<_> = INSTANCES
        .iter()
        .map(|(name, code)| {
            sim.add_authorization_code(code, ApiVersion::V31);
            // 0.02 minutes: a poll every 1.2 s.
            instance_json(&sim, &receiver.url(), name, code, "0.02")
        })
        .collect();
    let config = write_instances(dir.path(), &instances);
    let log = dir.path().join("pollen.log");
    let args: Vec<String> = [
        "run",
        "--allow-private-callbacks",
        "--db",
        &format!("sqlite://{}", dir.path().join("pollen.db").display()),
        "--config",
        &config.display().to_string(),
        // A restart under the same name takes back the poll its predecessor died in.
        "--worker-id",
        "crash-worker",
        "--poll-timeout",
        "10s",
        "--delivery-timeout",
        "2s",
        "--retry-schedule",
        "500ms,1s,2s,3s,4s,5s,6s,7s,8s",
    ]
    .map(str::to_owned)
    .to_vec();

    let mut pollen = Pollen::start(&args, &[], &log);
    // The instances' creation times are their first watermarks: change nothing before both
    // have been polled once.
    let polled = wait_until(Duration::from_secs(20), || {
        sim.request_log()
            .iter()
            .filter(|r| r.status == 200 && r.resource.as_deref() == Some("contacts"))
            .filter_map(|r| r.grant.clone())
            .collect::<std::collections::HashSet<_>>()
            .len()
            == INSTANCES.len()
    })
    .await;
    assert!(polled, "no first poll of every instance:\n{}", tail(&log));
    sim.inject(
        Fault::probability(
            FaultKind::Slow {
                delay: Duration::from_millis(300),
            },
            1.0,
            SEED,
        )
        .on_path_prefix("/v3.1/"),
    )
    .expect("a valid fault");
    sim.start_activity(ActivityConfig {
        rate_per_sec: 4.0,
        seed: SEED,
        resources: vec![Resource::Contacts],
        max_changes: Some(100),
        ..ActivityConfig::default()
    })
    .expect("activity");

    // Ten SIGKILLs at seeded random moments 0.3–2.5 s apart, each followed by a restart.
    let mut rng = StdRng::seed_from_u64(SEED);
    for kill in 0..KILLS {
        let after = Duration::from_millis(rng.gen_range(300..2500));
        tokio::time::sleep(after).await;
        assert!(
            pollen.running(),
            "pollen exited by itself before kill {kill}:\n{}",
            tail(&log)
        );
        pollen.kill();
        pollen = Pollen::start(&args, &[], &log);
    }
    let quiet = wait_until(Duration::from_secs(30), || !sim.activity_running()).await;
    assert!(quiet, "the activity did not finish");

    // Let the last process catch up: every change delivered, or the deadline.
    let changes = customer_changes(&sim);
    let names: Vec<&str> = INSTANCES.iter().map(|(name, _)| *name).collect();
    wait_until(Duration::from_secs(40), || {
        names
            .iter()
            .all(|name| summary(&changes, &receiver.delivered(name)).missing == 0)
    })
    .await;
    assert_eq!(pollen.terminate().await, Some(0), "{}", tail(&log));

    assert!(changes.len() >= 20, "too few changes: {}", changes.len());
    // The kills did cut polls in flight: their requests were abandoned (status 499).
    let cut = sim.request_log().iter().filter(|r| r.status == 499).count();
    assert!(cut > 0, "no kill landed on a poll in flight");
    let mut repeated = 0;
    for name in &names {
        let delivered = receiver.delivered(name);
        let all = receiver.events(name);
        let lost = missing(&changes, &delivered);
        assert!(
            lost.is_empty(),
            "{name}: {} of {} changes never arrived: {lost:?}\n{}",
            lost.len(),
            changes.len(),
            tail(&log)
        );
        let problems = id_problems(&all);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        assert!(
            all.iter().all(|e| e.signature_valid),
            "{name}: bad signature"
        );
        repeated += repeats(&all);
        eprintln!(
            "crash suite {name}: changes={} events={} repeats={} polls_cut={cut}",
            changes.len(),
            all.len(),
            repeats(&all)
        );
    }
    eprintln!("crash suite: {repeated} repeated deliveries");
    // And deliveries in flight: the receiver got them, pollen never recorded it, and sent
    // them again after the restart — under the same event ids, checked above.
    assert!(repeated > 0, "no kill landed on a delivery in flight");
    sim.shutdown().await;
}
