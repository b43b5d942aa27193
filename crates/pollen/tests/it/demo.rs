//! `pollen demo` in-process: every change the simulator makes arrives, signed; the console
//! and the API are served over the demo's engine, at the address it prints.

use std::time::Duration;

use pollen::demo::{run_demo, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_delivers_every_change_with_valid_signatures() {
    let mut options = DemoOptions::new();
    options.duration = Some(Duration::from_secs(6));
    options.changes_per_sec = 3.0;
    options.refresh_interval = Duration::from_secs(1);
    options.drain = Duration::from_secs(10);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    options.console_listen = ([127, 0, 0, 1], port).into();
    options.console_secrets = Some(("demo-u".into(), "demo-o".into()));
    let demo = tokio::spawn(async move {
        let mut out = Vec::new();
        let summary = run_demo(&options, &mut out, std::future::pending()).await;
        (summary, out)
    });
    // While it runs: the console's sign-in page, and the API with the printed secrets.
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut login = None;
    for _ in 0..50 {
        if let Ok(response) = client.get(format!("{base}/console/login")).send().await {
            login = Some(response.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(login, Some(200), "the console's sign-in page");
    let instances: serde_json::Value = client
        .get(format!("{base}/elements/api-v2/instances"))
        .header("authorization", "User demo-u, Organization demo-o")
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(instances[0]["name"], "API_Polling", "{instances}");
    let (summary, out) = demo.await.expect("the demo task");
    let summary = summary.expect("the demo runs");
    let text = String::from_utf8_lossy(&out);
    assert!(summary.changes > 0, "the simulator made no change:\n{text}");
    assert!(summary.events > 0, "no event arrived:\n{text}");
    assert_eq!(summary.missing, 0, "{text}");
    assert_eq!(summary.duplicates, 0, "{text}");
    assert_eq!(summary.bad_signatures, 0, "{text}");
    assert!(
        text.contains(&format!(
            "console          http://127.0.0.1:{port}/console/  (user secret demo-u, organization secret demo-o)"
        )),
        "{text}"
    );
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, summary.to_string());
    assert!(last.starts_with("summary: changes="), "{text}");
}
