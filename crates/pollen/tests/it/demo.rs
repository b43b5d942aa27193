//! `pollen demo` in-process: every change the simulator makes arrives, signed.

use std::time::Duration;

use pollen::demo::{run_demo, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_delivers_every_change_with_valid_signatures() {
    let mut options = DemoOptions::new();
    options.duration = Some(Duration::from_secs(6));
    options.changes_per_sec = 3.0;
    options.refresh_interval = Duration::from_secs(1);
    options.drain = Duration::from_secs(10);
    let mut out = Vec::new();
    let summary = run_demo(&options, &mut out, std::future::pending())
        .await
        .expect("the demo runs");
    let text = String::from_utf8_lossy(&out);
    assert!(summary.changes > 0, "the simulator made no change:\n{text}");
    assert!(summary.events > 0, "no event arrived:\n{text}");
    assert_eq!(summary.missing, 0, "{text}");
    assert_eq!(summary.duplicates, 0, "{text}");
    assert_eq!(summary.bad_signatures, 0, "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, summary.to_string());
    assert!(last.starts_with("summary: changes="), "{text}");
}
