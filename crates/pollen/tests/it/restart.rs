//! Restart suite: no lease outlives its process. `pollen run` SIGKILLed six times in 45 s on
//! SQLite and started again at once delivers every change within ten seconds of its last
//! restart; three `pollen serve` workers on PostgreSQL, one killed every ten seconds and
//! started again, deliver every change within the lease ttl plus ten seconds and never walk one
//! key together; a second process on a held SQLite file is refused and changes nothing.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pollen::receiver::ReceivedEvent;
use pollen_sage_sim::{
    ActivityConfig, ApiVersion, Change, ChangeKind, Fault, FaultKind, LoggedRequest, Resource,
    SimConfig, SimHandle, Simulator,
};
use serde_json::Value;

use crate::support::{
    customer_changes, id_problems, instance_json, missing, pollen_command, tail, wait_until,
    write_instances, Behaviour, Pollen, TestReceiver,
};
use crate::workers::{concurrent_walks, postgres_url, worker_of, Schema};

/// For each change, when the first delivered event covering it arrived (`tally`'s rule: the
/// same record reported in that state or a later one; a deletion needs a DELETED event), or
/// `None` when none did.
fn arrivals<'a>(
    changes: &'a [Change],
    delivered: &[ReceivedEvent],
) -> Vec<(&'a Change, Option<DateTime<Utc>>)> {
    let mut by_record: HashMap<&str, Vec<&ReceivedEvent>> = HashMap::new();
    for event in delivered {
        by_record.entry(&event.object_id).or_default().push(event);
    }
    changes
        .iter()
        .map(|change| {
            let first = by_record.get(change.id.as_str()).and_then(|events| {
                events
                    .iter()
                    .filter(|e| {
                        e.changed_at.is_some_and(|at| at >= change.at)
                            && (change.kind != ChangeKind::Deleted || e.event_type == "DELETED")
                    })
                    .map(|e| e.received_at)
                    .min()
            });
            (change, first)
        })
        .collect()
}

/// Events no change calls for: a DELETED of a record never deleted, a CREATED of a record
/// created before the run (or never), an event of a record that never changed.
fn false_events(changes: &[Change], events: &[ReceivedEvent]) -> Vec<String> {
    let mut kinds: HashMap<&str, HashSet<ChangeKind>> = HashMap::new();
    for change in changes {
        kinds.entry(&change.id).or_default().insert(change.kind);
    }
    events
        .iter()
        .filter(|e| {
            let Some(kinds) = kinds.get(e.object_id.as_str()) else {
                return true;
            };
            match e.event_type.as_str() {
                "DELETED" => !kinds.contains(&ChangeKind::Deleted),
                "CREATED" => !kinds.contains(&ChangeKind::Created),
                _ => false,
            }
        })
        .map(|e| format!("{} {} at {:?}", e.event_type, e.object_id, e.changed_at))
        .collect()
}

/// The distinct workers whose requests for `resource` the simulator answered.
fn polling_workers(log: &[LoggedRequest], resource: &str) -> HashSet<String> {
    log.iter()
        .filter(|r| r.status == 200 && r.resource.as_deref() == Some(resource))
        .filter_map(|r| worker_of(r).map(str::to_owned))
        .collect()
}

async fn simulator(seed: u64, records: usize) -> pollen_sage_sim::RunningSim {
    Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            seed,
            records,
            request_log_capacity: 1_000_000,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator")
}

/// Every page answered late, so that kills land on walks in flight.
fn slow_pages(sim: &SimHandle, seed: u64) {
    sim.inject(
        Fault::probability(
            FaultKind::Slow {
                delay: Duration::from_millis(500),
            },
            1.0,
            seed,
        )
        .on_path_prefix("/v3.1/"),
    )
    .expect("a valid fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_six_times_in_45_s_on_sqlite_and_every_change_arrives_within_10_s() {
    const SEED: u64 = 18;
    const NAME: &str = "restart-a";
    let sim = simulator(SEED, 20).await;
    let receiver = TestReceiver::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let code = "c0ffee00000000000000000000000000000018a1";
    sim.add_authorization_code(code, ApiVersion::V31);
    // 0.02 minutes: a poll every 1.2 s.
    let config = write_instances(
        dir.path(),
        &[instance_json(&sim, &receiver.url(), NAME, code, "0.02")],
    );
    let log = dir.path().join("pollen.log");
    // No --worker-id: each start is a new worker, as after an OOM kill or a container restart.
    let args: Vec<String> = [
        "run",
        "--allow-private-callbacks",
        "--db",
        &format!("sqlite://{}", dir.path().join("pollen.db").display()),
        "--config",
        &config.display().to_string(),
        "--delivery-timeout",
        "2s",
        "--retry-schedule",
        "500ms,1s,2s,3s,4s,5s,6s,7s,8s",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut pollen = Pollen::start(&args, &[], &log);
    let polled = wait_until(Duration::from_secs(20), || {
        !polling_workers(&sim.request_log(), "contacts").is_empty()
    })
    .await;
    assert!(polled, "no first poll:\n{}", tail(&log));
    slow_pages(&sim, SEED);
    // A change every 100 ms while the process is killed and started again.
    sim.start_activity(ActivityConfig {
        rate_per_sec: 10.0,
        seed: SEED,
        resources: vec![Resource::Contacts],
        max_changes: Some(1_000),
        ..ActivityConfig::default()
    })
    .expect("activity");
    let began = Instant::now();
    let mut last_restart = Instant::now();
    for kill in 0..6 {
        tokio::time::sleep(Duration::from_millis(7_000)).await;
        assert!(
            pollen.running(),
            "pollen exited by itself before kill {kill}:\n{}",
            tail(&log)
        );
        pollen.kill();
        pollen = Pollen::start(&args, &[], &log);
        last_restart = Instant::now();
    }
    assert!(
        began.elapsed() < Duration::from_secs(45),
        "the kills took too long"
    );
    let made = sim.stop_activity();
    let deadline = last_restart + Duration::from_secs(10);
    tokio::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
    let changes = customer_changes(&sim);
    let delivered = receiver.delivered(NAME);
    let all = receiver.events(NAME);
    let lost = missing(&changes, &delivered);
    assert!(
        lost.is_empty(),
        "{} of {} changes had not arrived 10 s after the last restart: {:?}\n{}",
        lost.len(),
        changes.len(),
        &lost[..lost.len().min(10)],
        tail(&log)
    );
    assert_eq!(pollen.terminate().await, Some(0), "{}", tail(&log));

    assert!(
        made >= 300 && changes.len() >= 100,
        "too few changes: {made} made, {} to customers",
        changes.len()
    );
    let problems = id_problems(&all);
    assert!(problems.is_empty(), "{problems:?}");
    let wrong = false_events(&changes, &all);
    assert!(wrong.is_empty(), "events no change calls for: {wrong:?}");
    assert!(all.iter().all(|e| e.signature_valid), "a bad signature");
    let requests = sim.request_log();
    // Every one of the seven processes polled, and kills cut walks in flight.
    let workers = polling_workers(&requests, "contacts");
    assert_eq!(
        workers.len(),
        7,
        "not every start polled: {workers:?}\n{}",
        tail(&log)
    );
    let cut = requests.iter().filter(|r| r.status == 499).count();
    assert!(cut > 0, "no kill landed on a poll in flight");
    let worst = arrivals(&changes, &delivered)
        .into_iter()
        .filter_map(|(change, at)| at.map(|at| (at - change.at).num_milliseconds()))
        .max()
        .unwrap_or_default();
    eprintln!(
        "restart suite (sqlite): changes={} events={} polls_cut={cut} worst_delay_ms={worst}",
        changes.len(),
        all.len()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_held_sqlite_file_is_refused_and_changes_nothing() {
    let sim = simulator(19, 5).await;
    let receiver = TestReceiver::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let code = "c0ffee00000000000000000000000000000019a1";
    sim.add_authorization_code(code, ApiVersion::V31);
    let config = write_instances(
        dir.path(),
        &[instance_json(&sim, &receiver.url(), "holder", code, "0.05")],
    );
    let db_path = dir.path().join("pollen.db");
    let db = format!("sqlite://{}", db_path.display());
    let log = dir.path().join("pollen.log");
    let args: Vec<String> = [
        "run",
        "--allow-private-callbacks",
        "--db",
        &db,
        "--config",
        &config.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let mut holder = Pollen::start(&args, &[], &log);
    let up = wait_until(Duration::from_secs(20), || {
        tail(&log).contains("polling 1 instance(s)")
    })
    .await;
    assert!(up, "the first process did not start:\n{}", tail(&log));

    // Another instance file: had the second process got the file, it would store it.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).expect("dir");
    let intruder = instance_json(&sim, &receiver.url(), "intruder", code, "0.05");
    let intruder_file = other.join("intruder.json");
    std::fs::write(&intruder_file, intruder.to_string()).expect("write");
    let secrets = [
        ("POLLEN_USER_SECRET", "u".to_owned()),
        ("POLLEN_ORG_SECRET", "o".to_owned()),
    ];
    let attempts: [Vec<&str>; 2] = [
        vec![
            "run",
            "--allow-private-callbacks",
            "--db",
            &db,
            "--config",
            intruder_file.to_str().expect("a UTF-8 path"),
        ],
        vec!["serve", "--listen", "127.0.0.1:0", "--db", &db],
    ];
    let lock = format!("{}.lock", db_path.display());
    for attempt in &attempts {
        let output = pollen_command(attempt, &secrets);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{attempt:?}: {stderr}");
        assert!(
            stderr.contains(&db_path.display().to_string())
                && stderr.contains(&lock)
                && stderr.contains(&format!("pid {}", holder.pid())),
            "{attempt:?} does not name the file, the lock and the holder's pid: {stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening on"),
            "{attempt:?} started serving"
        );
    }
    assert!(holder.running(), "the holder stopped:\n{}", tail(&log));
    // Readers still open the file beside the holder: the intruder was never stored.
    let listed = pollen_command(&["events", "list", "--db", &db, "--json"], &[]);
    assert!(listed.status.success(), "{listed:?}");
    let store = pollen::db::open_store(&db).await.expect("a reader");
    let names: Vec<String> = store
        .list_instances()
        .await
        .expect("instances")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["holder"]);
    store.close().await;
    assert_eq!(holder.terminate().await, Some(0), "{}", tail(&log));
    sim.shutdown().await;
}

/// A free port on 127.0.0.1 (bound and let go: the worker binds it a moment later).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_workers_on_postgres_one_killed_every_10_s_deliver_within_ttl_plus_10_s() {
    const SEED: u64 = 180;
    const INSTANCES: usize = 12;
    const TTL_SECONDS: i64 = 5;
    let Some(base_url) = postgres_url() else {
        eprintln!(
            "three_serve_workers_on_postgres: skipped: POLLEN_TEST_DATABASE_URL is not set \
             (PostgreSQL tests need it)"
        );
        return;
    };
    let schema = Schema {
        url: base_url.clone(),
        name: format!("pollen_restart_{:016x}", rand::random::<u64>()),
    };
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let db = format!("{base_url}{separator}schema={}", schema.name);
    let env = [
        (
            "POLLEN_SECRET_KEY",
            pollen_store::SecretKey::generate().expose_base64(),
        ),
        ("POLLEN_USER_SECRET", "restart-user".to_owned()),
        ("POLLEN_ORG_SECRET", "restart-org".to_owned()),
    ];
    let auth = "User restart-user, Organization restart-org";
    let sim = simulator(SEED, 10).await;
    let receiver = TestReceiver::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = |slot: usize| dir.path().join(format!("w{slot}.log"));
    let logs = || {
        (0..3)
            .map(|slot| format!("--- w{slot}\n{}", tail(&log(slot))))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let start = |slot: usize| -> (Pollen, u16) {
        let port = free_port();
        let args: Vec<String> = [
            "serve",
            "--allow-private-callbacks",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            &db,
            "--lease-ttl",
            &format!("{TTL_SECONDS}s"),
        ]
        .map(str::to_owned)
        .to_vec();
        (Pollen::start(&args, &env, &log(slot)), port)
    };
    let mut workers: Vec<(Pollen, u16)> = (0..3).map(start).collect();
    let client = reqwest::Client::new();
    let health = |port: u16| format!("http://127.0.0.1:{port}/elements/api-v2/health");
    let up = wait_until(Duration::from_secs(30), || {
        workers
            .iter()
            .all(|(_, port)| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok())
    })
    .await;
    assert!(up, "the workers did not start:\n{}", logs());
    let first_port = workers[0].1;
    let answer = client.get(health(first_port)).send().await.expect("health");
    assert!(answer.status().is_success(), "health: {}", answer.status());

    // The instances, created through one worker; the others follow the store.
    let names: Vec<String> = (0..INSTANCES).map(|i| format!("tenant-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let code = format!("{:040x}", 0x18_0000 + i);
        sim.add_authorization_code(&code, ApiVersion::V31);
        // 0.05 minutes: a poll every 3 s.
        let instance = instance_json(&sim, &receiver.url(), name, &code, "0.05");
        let answer = client
            .post(format!(
                "http://127.0.0.1:{first_port}/elements/api-v2/instances"
            ))
            .header("authorization", auth)
            .json(&instance)
            .send()
            .await
            .expect("create");
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or_default();
        assert!(status.is_success(), "creating {name}: {status} {body}");
    }
    let polled = wait_until(Duration::from_secs(60), || {
        sim.request_log()
            .iter()
            .filter(|r| r.status == 200 && r.resource.as_deref() == Some("contacts"))
            .filter_map(|r| r.grant.clone())
            .collect::<HashSet<_>>()
            .len()
            == INSTANCES
    })
    .await;
    assert!(polled, "not every instance was polled:\n{}", logs());
    slow_pages(&sim, SEED);
    sim.start_activity(ActivityConfig {
        rate_per_sec: 4.0,
        seed: SEED,
        resources: vec![Resource::Contacts],
        max_changes: Some(1_000),
        ..ActivityConfig::default()
    })
    .expect("activity");
    // One worker killed every 10 s, in turn, and started again at once.
    let mut kills = Vec::new();
    for round in 0..4 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let slot = round % 3;
        for (i, (worker, _)) in workers.iter_mut().enumerate() {
            assert!(worker.running(), "w{i} exited by itself:\n{}", logs());
        }
        let (victim, _) = std::mem::replace(&mut workers[slot], start(slot));
        victim.kill();
        kills.push(Utc::now());
    }
    sim.stop_activity();
    let limit = chrono::TimeDelta::seconds(TTL_SECONDS + 10);
    let changes = || customer_changes(&sim);
    let by_instance = || receiver.acknowledged_by_instance();
    let complete = || {
        let changes = changes();
        let map = by_instance();
        names.iter().all(|name| {
            map.get(name)
                .is_some_and(|events| missing(&changes, events).is_empty())
        })
    };
    wait_until(Duration::from_secs(30), complete).await;
    for (i, (worker, _)) in workers.drain(..).enumerate() {
        assert_eq!(worker.terminate().await, Some(0), "w{i}:\n{}", logs());
    }

    let changes = changes();
    let delivered = by_instance();
    let empty = Vec::new();
    let mut late = Vec::new();
    let mut worst = 0;
    for name in &names {
        let events = delivered.get(name).unwrap_or(&empty);
        for (change, arrived) in arrivals(&changes, events) {
            match arrived {
                Some(at) if at - change.at <= limit => {
                    worst = worst.max((at - change.at).num_milliseconds());
                }
                Some(at) => late.push(format!(
                    "{name}: {:?} {} at {} arrived {} ms later",
                    change.kind,
                    change.id,
                    change.at,
                    (at - change.at).num_milliseconds()
                )),
                None => late.push(format!(
                    "{name}: {:?} {} at {} never arrived",
                    change.kind, change.id, change.at
                )),
            }
        }
        let all = receiver.events(name);
        let problems = id_problems(&all);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let wrong = false_events(&changes, &all);
        assert!(
            wrong.is_empty(),
            "{name}: events no change calls for: {wrong:?}"
        );
    }
    assert!(changes.len() >= 40, "too few changes: {}", changes.len());
    assert!(
        late.is_empty(),
        "{} of {} change deliveries later than ttl + 10 s, e.g. {:?}\n{}",
        late.len(),
        changes.len() * INSTANCES,
        &late[..late.len().min(5)],
        logs()
    );
    // No key walked by two workers at once, and keys did change hands.
    assert_eq!(sim.request_log_dropped(), 0, "the request log overflowed");
    let requests: Vec<LoggedRequest> = sim
        .request_log()
        .into_iter()
        .filter(|r| r.resource.is_some())
        .collect();
    let problems = concurrent_walks(&requests);
    assert!(
        problems.is_empty(),
        "{} concurrent walks, e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
    let workers_seen: HashSet<&str> = requests.iter().filter_map(worker_of).collect();
    assert!(
        workers_seen.len() >= 6,
        "only {} workers polled: {workers_seen:?}",
        workers_seen.len()
    );
    let cut = requests.iter().filter(|r| r.status == 499).count();
    eprintln!(
        "restart suite (postgres): instances={INSTANCES} changes={} kills={} polls_cut={cut} \
         worst_delay_ms={worst} workers={}",
        changes.len(),
        kills.len(),
        workers_seen.len()
    );
    sim.shutdown().await;
}
