//! Multi-worker suite: three `pollen run` processes share one PostgreSQL database (a fresh
//! schema per run) and 300 instances; one is SIGKILLed midway. Nothing is missing, each grant
//! code is exchanged exactly once, and the simulator's request log shows that no (instance,
//! resource) was ever walked by two workers at the same time. Skipped, saying so, when
//! `POLLEN_TEST_DATABASE_URL` is not set.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use pollen_sage_sim::{ActivityConfig, ApiVersion, LoggedRequest, Resource, SimConfig, Simulator};
use sqlx::Connection as _;

use crate::support::{
    customer_changes, id_problems, instance_json, missing, summary, tail, wait_until,
    write_instances, Behaviour, Pollen, TestReceiver,
};

const SEED: u64 = 33;
const INSTANCES: usize = 300;
const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
/// The worker SIGKILLed midway.
const VICTIM: &str = "w2";

pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("POLLEN_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The worker a request came from: `pollen/VERSION (worker ID)`.
pub(crate) fn worker_of(request: &LoggedRequest) -> Option<&str> {
    let agent = request.user_agent.as_deref()?;
    agent.split_once("(worker ")?.1.strip_suffix(')')
}

/// Every time two workers walked the same (grant, resource) at once. Each key's requests,
/// in arrival order, form runs of one worker; a run's span is its first request's arrival to
/// its last answer. Runs of different workers that overlap in time are concurrent walks.
pub(crate) fn concurrent_walks(log: &[LoggedRequest]) -> Vec<String> {
    let mut by_key: BTreeMap<(&str, &str), Vec<&LoggedRequest>> = BTreeMap::new();
    for request in log {
        if let (Some(grant), Some(resource)) = (&request.grant, &request.resource) {
            by_key
                .entry((grant.as_str(), resource.as_str()))
                .or_default()
                .push(request);
        }
    }
    let mut problems = Vec::new();
    for ((grant, resource), mut requests) in by_key {
        requests.sort_by_key(|r| (r.started, r.seq));
        let mut runs: Vec<(&str, &LoggedRequest, &LoggedRequest)> = Vec::new();
        for request in requests {
            let worker = worker_of(request).unwrap_or("?");
            match runs.last_mut() {
                Some((w, _, last)) if *w == worker => {
                    if request.finished > last.finished {
                        *last = request;
                    }
                }
                _ => runs.push((worker, request, request)),
            }
        }
        for (i, (worker, first, last)) in runs.iter().enumerate() {
            for (other, other_first, other_last) in &runs[..i] {
                if other != worker && first.started < other_last.finished {
                    problems.push(format!(
                        "{resource} of grant {grant}: {other} walked it from {} to {} and \
                         {worker} from {} to {}",
                        other_first.started, other_last.finished, first.started, last.finished
                    ));
                }
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_postgres_one_killed_lose_nothing_and_never_poll_together() {
    let Some(base_url) = postgres_url() else {
        eprintln!(
            "three_workers_on_postgres: skipped: POLLEN_TEST_DATABASE_URL is not set \
             (PostgreSQL tests need it)"
        );
        return;
    };
    let schema = Schema {
        url: base_url.clone(),
        name: format!("pollen_workers_{:016x}", rand::random::<u64>()),
    };
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let db = format!("{base_url}{separator}schema={}", schema.name);
    let env = [(
        "POLLEN_SECRET_KEY",
        pollen_store::SecretKey::generate().expose_base64(),
    )];

    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            seed: SEED,
            records: 10,
            request_log_capacity: 1_000_000,
            // Tokens live 80 s (Sage: five minutes) and are refreshed 30 s before expiry:
            // every instance's pair is rotated during the run, after the kill, by one of the
            // surviving workers, and the other must take it from the database rather than
            // spend the used refresh token (which Sage refuses). The kill comes before any
            // refresh: a worker killed between Sage rotating a pair and the database saving it
            // loses the grant, which no client of a rotating refresh token can avoid.
            token_lifetime: Duration::from_secs(80),
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let receiver = TestReceiver::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let names: Vec<String> = (0..INSTANCES).map(|i| format!("tenant-{i:03}")).collect();
    let instances: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            // Each instance its own grant: the request log tells instances apart by it.
            let code = format!("{:040x}", 0x3000 + i);
            sim.add_authorization_code(&code, ApiVersion::V31);
            // 0.05 minutes: a poll every 3 s.
            instance_json(&sim, &receiver.url(), name, &code, "0.05")
        })
        .collect();
    let config = write_instances(dir.path(), &instances);
    let args = |worker: &str| -> Vec<String> {
        [
            "run",
            "--allow-private-callbacks",
            "--db",
            &db,
            "--config",
            &config.display().to_string(),
            "--worker-id",
            worker,
            "--poll-timeout",
            "5s",
            "--lease-ttl",
            "5s",
            "--delivery-timeout",
            "2s",
            "--retry-schedule",
            "500ms,1s,2s,3s,4s,5s,6s,7s,8s",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let log = |worker: &str| dir.path().join(format!("{worker}.log"));
    let logs = || {
        WORKERS
            .iter()
            .map(|w| format!("--- {w}\n{}", tail(&log(w))))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // All three start at once with the same instance files: they must agree on one stored
    // instance per name (and one grant-code exchange per instance).
    let mut workers: HashMap<&str, Pollen> = HashMap::new();
    for worker in WORKERS {
        workers.insert(worker, Pollen::start(&args(worker), &env, &log(worker)));
    }
    let all_up = wait_until(Duration::from_secs(60), || {
        WORKERS
            .iter()
            .all(|w| tail(&log(w)).contains(&format!("polling {INSTANCES} instance(s)")))
    })
    .await;
    assert!(all_up, "not every worker started:\n{}", logs());
    let stored: i64 = {
        let mut conn = sqlx::PgConnection::connect(&base_url)
            .await
            .expect("connect to the test database");
        sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{}\".instance",
            schema.name
        ))
        .fetch_one(&mut conn)
        .await
        .expect("count the stored instances")
    };
    assert_eq!(
        stored, INSTANCES as i64,
        "workers started together stored {stored} instances for {INSTANCES} files"
    );
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

    let activity = |max_changes: u64, seed: u64| ActivityConfig {
        rate_per_sec: 3.0,
        seed,
        resources: vec![Resource::Contacts],
        max_changes: Some(max_changes),
        ..ActivityConfig::default()
    };
    let by_instance = || receiver.acknowledged_by_instance();
    let complete = |changes: &[pollen_sage_sim::Change]| {
        let map = by_instance();
        names.iter().all(|name| {
            map.get(name)
                .is_some_and(|events| summary(changes, events).missing == 0)
        })
    };

    // Phase 1: changes, and the victim killed four seconds in.
    sim.start_activity(activity(30, SEED)).expect("activity");
    tokio::time::sleep(Duration::from_secs(4)).await;
    for (worker, pollen) in &mut workers {
        assert!(pollen.running(), "{worker} exited by itself:\n{}", logs());
    }
    let victim = workers.remove(VICTIM).expect("the victim");
    victim.kill();
    let killed_at = chrono::Utc::now();
    assert_eq!(
        sim.request_counts().get("POST /token", 200),
        INSTANCES as u64,
        "a token was refreshed before the kill: this machine is too slow for the suite's timing"
    );
    let quiet = wait_until(Duration::from_secs(30), || !sim.activity_running()).await;
    assert!(quiet, "the activity did not finish");
    // The victim's leases expire 5 s after its last renewal (its heartbeat goes stale as
    // soon); then the others take its work over.
    let first = customer_changes(&sim);
    wait_until(Duration::from_secs(60), || complete(&first)).await;

    // Phase 2: every pair rotated by one of the two survivors, then more changes, which only
    // arrive if both kept working with the other's tokens.
    let rotated = wait_until(Duration::from_secs(60), || {
        sim.request_counts().get("POST /token", 200) >= 2 * INSTANCES as u64
    })
    .await;
    assert!(rotated, "the tokens were not refreshed:\n{}", logs());
    sim.start_activity(activity(15, SEED + 1))
        .expect("activity");
    let quiet = wait_until(Duration::from_secs(30), || !sim.activity_running()).await;
    assert!(quiet, "the activity did not finish");
    let changes = customer_changes(&sim);
    wait_until(Duration::from_secs(60), || complete(&changes)).await;
    for worker in WORKERS.iter().filter(|w| **w != VICTIM) {
        let pollen = workers.remove(worker).expect("a live worker");
        assert_eq!(pollen.terminate().await, Some(0), "{worker}:\n{}", logs());
    }

    assert!(
        first.len() >= 8 && changes.len() >= first.len() + 4,
        "too few changes: {} then {}",
        first.len(),
        changes.len()
    );
    let delivered = by_instance();
    let empty = Vec::new();
    let incomplete: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let lost = missing(&changes, delivered.get(name).unwrap_or(&empty));
            (!lost.is_empty()).then(|| format!("{name}: {lost:?}"))
        })
        .collect();
    assert!(
        incomplete.is_empty(),
        "{} of {INSTANCES} instances miss changes (of {}): {:?}\n{}",
        incomplete.len(),
        changes.len(),
        &incomplete[..incomplete.len().min(5)],
        logs()
    );
    for name in &names {
        let problems = id_problems(&receiver.events(name));
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }

    // Each grant code was exchanged once, by one worker, and no worker sent a spent refresh
    // token: either would have been refused (400 invalid_grant).
    let counts = sim.request_counts();
    assert_eq!(
        counts.get("POST /token", 400),
        0,
        "refused grants: {counts:?}"
    );
    let refreshes = counts.get("POST /token", 200) - INSTANCES as u64;
    assert!(
        refreshes >= INSTANCES as u64,
        "too few refreshes: {counts:?}"
    );

    // No (instance, resource) walked by two workers at once.
    assert_eq!(sim.request_log_dropped(), 0, "the request log overflowed");
    let requests: Vec<LoggedRequest> = sim
        .request_log()
        .into_iter()
        .filter(|r| r.resource.is_some())
        .collect();
    assert!(
        requests
            .iter()
            .all(|r| r.grant.is_some() && worker_of(r).is_some()),
        "an API request without a grant or a worker"
    );
    let problems = concurrent_walks(&requests);
    assert!(
        problems.is_empty(),
        "{} concurrent walks, e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
    // The check had something to check: all three workers polled, the victim stopped when
    // killed, and keys changed hands.
    let workers_seen: BTreeSet<&str> = requests.iter().filter_map(worker_of).collect();
    assert_eq!(
        workers_seen,
        WORKERS.into_iter().collect(),
        "not every worker polled:\n{}",
        logs()
    );
    // A request the victim wrote to its socket just before the SIGKILL may be read by the
    // simulator a little after `kill` returned (seen on a loaded machine): a second of slack.
    let late: Vec<_> = requests
        .iter()
        .filter(|r| worker_of(r) == Some(VICTIM))
        .filter(|r| r.started > killed_at + chrono::TimeDelta::seconds(1))
        .collect();
    assert!(
        late.is_empty(),
        "the victim polled after its death: {late:?}"
    );
    let mut walkers: HashMap<&str, HashSet<&str>> = HashMap::new();
    for request in &requests {
        if let (Some(grant), Some(worker)) = (request.grant.as_deref(), worker_of(request)) {
            walkers.entry(grant).or_default().insert(worker);
        }
    }
    let shared = walkers.values().filter(|w| w.len() > 1).count();
    assert!(
        shared > INSTANCES / 2,
        "only {shared} instances changed hands"
    );
    eprintln!(
        "multi-worker suite: instances={INSTANCES} changes={} api_requests={} \
         shared_keys={shared} refreshes={refreshes}",
        changes.len(),
        requests.len()
    );

    sim.shutdown().await;
}

/// The run's schema, dropped when the test ends, passed or failed (best effort: a leftover
/// schema only costs space).
pub(crate) struct Schema {
    pub(crate) url: String,
    pub(crate) name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Its own thread and runtime: this may run inside the test's runtime, or unwinding.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}
