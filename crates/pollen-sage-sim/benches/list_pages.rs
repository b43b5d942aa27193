//! Serving list pages of 200 records over real HTTP on loopback (target: at least 2,000
//! pages/s on a 2-core machine). Each iteration fetches whole pages with reqwest, so the
//! figure includes the client's own work; "pages/s" is criterion's elements/s.
//!
//! Run: `cargo bench -p pollen-sage-sim --bench list_pages`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pollen_sage_sim::{ApiVersion, SimConfig, Simulator};

const PAGES: usize = 5;

fn list_pages(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = SimConfig {
        records: PAGES * 200,
        token_lifetime: Duration::from_secs(24 * 3600),
        ..SimConfig::default()
    };
    let sim = runtime
        .block_on(Simulator::start(
            "127.0.0.1:0".parse().expect("addr"),
            config,
        ))
        .expect("simulator starts");
    let token = sim.issue_tokens(ApiVersion::V31).access_token;
    let client = reqwest::Client::new();
    let base = sim.v31_base_url();

    let mut group = c.benchmark_group("list_pages_200");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let cases = [
        ("default_attributes", ""),
        (
            "poller_query",
            "&attributes=created_at,updated_at&updated_or_created_since=2024-01-01T00:00:00Z",
        ),
        ("all_attributes", "&attributes=all"),
    ];
    for (name, extra) in cases {
        group.throughput(Throughput::Elements(1));
        let mut page = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                page = page % PAGES + 1;
                let url = format!("{base}/contacts?items_per_page=200&page={page}{extra}");
                runtime.block_on(fetch(&client, &url, &token))
            });
        });
    }

    // Four requests in flight on four connections: the server's throughput rather than one
    // client's round-trip latency.
    group.throughput(Throughput::Elements(4));
    group.bench_function("default_attributes_4_in_flight", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let fetches = (1..=4).map(|page| {
                    let url = format!("{base}/contacts?items_per_page=200&page={page}");
                    let client = client.clone();
                    let token = token.clone();
                    async move { fetch(&client, &url, &token).await }
                });
                let mut total = 0;
                for handle in fetches.map(|f| tokio::spawn(f)).collect::<Vec<_>>() {
                    total += handle.await.expect("task");
                }
                total
            })
        });
    });
    group.finish();
    runtime.block_on(sim.shutdown());
}

/// Fetches one page and returns its body length (so the body is read, not discarded).
async fn fetch(client: &reqwest::Client, url: &str, token: &str) -> usize {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let body = response.bytes().await.expect("body");
    assert!(body.len() > 200, "a page of records");
    body.len()
}

criterion_group!(benches, list_pages);
criterion_main!(benches);
