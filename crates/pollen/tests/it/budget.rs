//! Rate budget suite: many instances of one Sage business, polled far more often than the
//! business's budget allows, against a simulator that answers 429 past the same per-business
//! limit. One process on SQLite (50 instances), and three processes on one PostgreSQL
//! database (60 instances; skipped, saying so, without `POLLEN_TEST_DATABASE_URL`). In every
//! 60-second window the simulator counts at most the budget's calls for the business, it
//! refuses none, the budget is the bottleneck (the busiest minute spends most of it), and
//! every change arrives.

use std::path::Path;
use std::time::{Duration, Instant};

use pollen_sage_sim::{ActivityConfig, ApiVersion, Resource, SimConfig, Simulator};

use crate::support::{
    customer_changes, instance_json, missing, tail, wait_until, write_instances, Behaviour, Pollen,
    TestReceiver,
};
use crate::workers::{postgres_url, Schema};

/// The business's calls a minute: pollen's budget and the simulator's limit.
const LIMIT: u32 = 300;
/// How long the instances are kept wanting more than the budget: over a minute, so that
/// full 60-second windows are counted.
const SATURATED_FOR: Duration = Duration::from_secs(65);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_instances_of_one_business_in_one_process_stay_within_its_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
    within_the_budget(dir.path(), &db, &["solo"], 50, 41).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_postgres_share_one_business_budget() {
    let Some(base_url) = postgres_url() else {
        eprintln!(
            "three_workers_on_postgres_share_one_business_budget: skipped: \
             POLLEN_TEST_DATABASE_URL is not set (PostgreSQL tests need it)"
        );
        return;
    };
    let schema = Schema {
        url: base_url.clone(),
        name: format!("pollen_budget_{:016x}", rand::random::<u64>()),
    };
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let db = format!("{base_url}{separator}schema={}", schema.name);
    let dir = tempfile::tempdir().expect("tempdir");
    within_the_budget(dir.path(), &db, &["b1", "b2", "b3"], 60, 42).await;
}

/// `instances` instances of the simulator's lead business (each its own grant), polled
/// every 1.2 s by `workers` sharing `db`, with changes made for half a minute.
async fn within_the_budget(dir: &Path, db: &str, workers: &[&str], instances: usize, seed: u64) {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            seed,
            records: 10,
            rate_limit: Some(LIMIT),
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let business = sim.lead_business().id().to_owned();
    let receiver = TestReceiver::start(Behaviour::default()).await;
    let names: Vec<String> = (0..instances).map(|i| format!("shop-{i:02}")).collect();
    let files: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let code = format!("{:040x}", 0x5000 + i);
            sim.add_authorization_code(&code, ApiVersion::V31);
            let mut instance = instance_json(&sim, &receiver.url(), name, &code, "0.02");
            instance["configuration"]["sage.business.id"] = business.clone().into();
            instance
        })
        .collect();
    let config = write_instances(dir, &files);
    let env = [(
        "POLLEN_SECRET_KEY",
        pollen_store::SecretKey::generate().expose_base64(),
    )];
    let log = |worker: &str| dir.join(format!("{worker}.log"));
    let logs = || {
        workers
            .iter()
            .map(|w| format!("--- {w}\n{}", tail(&log(w))))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let started = Instant::now();
    let mut running: Vec<Pollen> = workers
        .iter()
        .map(|worker| {
            let args: Vec<String> = [
                "run",
                "--allow-private-callbacks",
                "--db",
                db,
                "--config",
                &config.display().to_string(),
                "--worker-id",
                worker,
                "--sage-rate-limit",
                &LIMIT.to_string(),
                "--delivery-timeout",
                "2s",
            ]
            .map(str::to_owned)
            .to_vec();
            Pollen::start(&args, &env, &log(worker))
        })
        .collect();

    // Changes for the first half minute; polling wants far more than the budget all along.
    sim.start_activity(ActivityConfig {
        rate_per_sec: 2.0,
        seed,
        resources: vec![Resource::Contacts],
        max_changes: Some(60),
        ..ActivityConfig::default()
    })
    .expect("activity");
    let quiet = wait_until(Duration::from_secs(60), || !sim.activity_running()).await;
    assert!(quiet, "the activity did not finish");
    tokio::time::sleep(SATURATED_FOR.saturating_sub(started.elapsed())).await;
    for pollen in &mut running {
        assert!(pollen.running(), "a worker exited by itself:\n{}", logs());
    }

    let changes = customer_changes(&sim);
    let by_instance = || receiver.acknowledged_by_instance();
    let empty = Vec::new();
    let incomplete = || {
        let delivered = by_instance();
        names
            .iter()
            .filter_map(|name| {
                let lost = missing(&changes, delivered.get(name).unwrap_or(&empty));
                (!lost.is_empty()).then(|| format!("{name}: {} missing", lost.len()))
            })
            .collect::<Vec<_>>()
    };
    wait_until(Duration::from_secs(120), || incomplete().is_empty()).await;
    for pollen in running {
        assert_eq!(pollen.terminate().await, Some(0), "{}", logs());
    }

    let calls = sim.business_calls(&business);
    eprintln!(
        "{} worker(s), {instances} instances, budget {LIMIT}/min: {} calls, busiest minute {}, \
         per minute {:?}, {} refused, {} changes delivered in {:.0} s",
        workers.len(),
        calls.accepted,
        calls.max_in_any_minute,
        calls.per_minute,
        calls.rejected,
        changes.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        calls.rejected,
        0,
        "Sage refused calls as over its limit: {calls:?}\n{}",
        logs()
    );
    assert!(
        calls.max_in_any_minute <= u64::from(LIMIT),
        "{} calls in one minute, over the budget of {LIMIT}: {calls:?}",
        calls.max_in_any_minute
    );
    // The budget was the bottleneck: the busiest minute spent most of it (the instances
    // alone would have made thousands of calls a minute).
    assert!(
        calls.max_in_any_minute >= u64::from(LIMIT) * 8 / 10,
        "the budget was not the bottleneck, the test proves nothing: {calls:?}"
    );
    assert!(changes.len() >= 40, "too few changes: {}", changes.len());
    let lost = incomplete();
    assert!(
        lost.is_empty(),
        "{} of {instances} instances miss changes (of {}): {:?}\n{}",
        lost.len(),
        changes.len(),
        &lost[..lost.len().min(5)],
        logs()
    );
}
