//! The manual clock and the `Date` header.

use std::time::Duration;

use pollen_sage_sim::{ClockMode, Resource};
use serde_json::{json, Value};

use crate::{at, config, http, send, start, t0, Api};

#[tokio::test]
async fn the_date_header_and_timestamps_follow_the_manual_clock() {
    let sim = start(config(1)).await;
    let api = Api::v31(&sim);
    assert_eq!(sim.clock_mode(), ClockMode::Manual(t0()));
    let reply = api.get("/contacts").await;
    assert_eq!(reply.header("date"), Some("Sat, 01 Feb 2025 00:00:00 GMT"));

    sim.set_clock(at("2026-11-27T10:00:00Z"));
    let record = sim
        .create(Resource::Services, &Value::Null)
        .expect("create");
    assert_eq!(record.created_at(), at("2026-11-27T10:00:00Z"));
    assert_eq!(
        sim.advance_clock(Duration::from_secs(61)),
        at("2026-11-27T10:01:01Z")
    );
    assert_eq!(
        api.get("/contacts").await.header("date"),
        Some("Fri, 27 Nov 2026 10:01:01 GMT")
    );

    let clock = format!("{}/_sim/clock", sim.base_url());
    let set = send(
        http()
            .put(&clock)
            .json(&json!({"now": "2030-01-01T00:00:00+02:00"})),
    )
    .await;
    assert_eq!(
        set.json(),
        json!({"now": "2029-12-31T22:00:00Z", "mode": "manual"})
    );
    let advanced = send(
        http()
            .post(format!("{clock}/advance"))
            .json(&json!({"seconds": 3600})),
    )
    .await;
    assert_eq!(advanced.json()["now"], "2029-12-31T23:00:00Z");
    let bad = send(http().put(&clock).json(&json!({"now": "tomorrow"}))).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["error"],
        "`now` is not an RFC 3339 date-time: `tomorrow`"
    );

    let real = send(http().post(format!("{clock}/real"))).await.json();
    assert_eq!(real["mode"], "real");
    assert_eq!(sim.clock_mode(), ClockMode::Real);
    let drift = (sim.now() - chrono::Utc::now()).num_seconds().abs();
    assert!(drift <= 1, "real clock drifts {drift} s");
}
