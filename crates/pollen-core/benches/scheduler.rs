//! Scheduler bench binary: 10,000 instances × 2 resources registered on one `MemoryStore`, a
//! source that answers at once with an empty page, the wall clock. Reports the process CPU
//! use over a measured interval (from `/proc/self/stat`) and the dispatch lag of due polls
//! (dispatch time − due time). Targets: < 2 % CPU, < 100 ms lag.
//!
//! `cargo bench -p pollen-core --bench scheduler`; `POLLEN_BENCH_SECS` (default 30) sets the
//! measured interval, `POLLEN_BENCH_INTERVAL_SECS` (default 900) the refresh interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use futures::future::BoxFuture;
use pollen_core::{
    FetchRequest, MemoryStore, Page, PollKey, PollSpec, RequestTemplate, Result, Scheduler,
    SchedulerConfig, SystemClock,
};

#[derive(Debug)]
struct EmptySource;

impl pollen_core::Source for EmptySource {
    fn fetch_page<'a>(&'a self, _request: FetchRequest<'a>) -> BoxFuture<'a, Result<Page>> {
        Box::pin(async { Ok(Page::default()) })
    }
}

/// User + system CPU time of this process, in clock ticks (USER_HZ, 100 on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to select.
    let secs = env_u64("POLLEN_BENCH_SECS", 30);
    let interval = env_u64("POLLEN_BENCH_INTERVAL_SECS", 900);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime");
    runtime.block_on(async move {
        let store = Arc::new(MemoryStore::new());
        let mut config = SchedulerConfig::new("bench");
        config.concurrency = 64;
        let scheduler = Scheduler::new(store, Arc::new(SystemClock), config);
        let source: Arc<dyn pollen_core::Source> = Arc::new(EmptySource);
        let registering = Instant::now();
        for i in 0..10_000 {
            for resource in ["customers", "invoices"] {
                let mut spec = PollSpec::new(
                    PollKey::new(format!("{}", 100_000 + i), resource),
                    RequestTemplate::literal("/hubs/finance/x"),
                    Utc::now(),
                );
                spec.refresh_interval = TimeDelta::seconds(interval as i64);
                scheduler.register(spec, source.clone()).await.unwrap();
            }
        }
        let registered_in = registering.elapsed();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = scheduler.clone();
        let task = tokio::spawn(async move {
            running
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = scheduler.metrics();
        let ticks_before = cpu_ticks();
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let ticks = cpu_ticks() - ticks_before;
        let after = scheduler.metrics();
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();

        let cpu_percent = ticks as f64 / 100.0 / elapsed * 100.0;
        let dispatched = after.dispatch_lag_count - before.dispatch_lag_count;
        let mean_lag_ms = (after.dispatch_lag_micros_total - before.dispatch_lag_micros_total)
            as f64
            / dispatched.max(1) as f64
            / 1000.0;
        let max_lag_ms = after.dispatch_lag_micros_max as f64 / 1000.0;
        println!("scheduler bench: 10000 instances x 2 resources, interval {interval} s");
        println!(
            "  registration:        {:.0} ms",
            registered_in.as_secs_f64() * 1000.0
        );
        println!("  measured interval:   {elapsed:.1} s");
        println!(
            "  polls dispatched:    {dispatched} ({} failed)",
            after.polls_failed
        );
        println!("  process CPU:         {cpu_percent:.2} % of one core (target < 2 %)");
        println!("  dispatch lag mean:   {mean_lag_ms:.2} ms");
        println!("  dispatch lag max:    {max_lag_ms:.2} ms (target < 100 ms)");
        let ok = cpu_percent < 2.0 && max_lag_ms < 100.0 && dispatched > 0;
        println!(
            "  verdict:             {}",
            if ok { "targets met" } else { "TARGETS MISSED" }
        );
    });
}
