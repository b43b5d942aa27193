//! OAuth against the simulator: refresh before expiry and on a 401, rotation persisted, one
//! refresh in flight, the code exchanged once, refused grants stop the instance.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use pollen_config::Secret;
use pollen_core::{Clock, FetchRequest, ManualClock, PollKey};
use pollen_sage::{AuthStatus, ErrorKind, MemoryTokenStore, TokenStore, Tokens};
use pollen_sage_sim::ApiVersion;

use crate::{ids, issued, records, sim_config, start, t0, v31_source, walk};

const CUSTOMERS: &str = "/hubs/finance/contacts?where=attributes='name'";

#[tokio::test]
async fn token_expiry_mid_walk_is_refreshed_transparently_and_the_rotation_persisted() {
    let sim = start(sim_config(300)).await;
    let store = issued(&sim, ApiVersion::V31);
    let first = store.tokens().expect("tokens");
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .build()
        .expect("source");

    let key = PollKey::new("instance-1", "contacts");
    let request = FetchRequest {
        key: &key,
        request: CUSTOMERS,
        since: t0(),
        page_size: Some(50),
        cursor: None,
        purpose: pollen_core::Purpose::Changes,
    };
    let page1 = source.fetch("contacts", &request).await.expect("page 1");
    // The access token expires on Sage's side in the middle of the walk.
    sim.advance_clock(Duration::from_secs(400));
    let mut all = page1.records.clone();
    let mut cursor = page1.next.clone();
    while let Some(next) = cursor {
        let page = source
            .fetch(
                "contacts",
                &FetchRequest {
                    cursor: Some(&next),
                    purpose: pollen_core::Purpose::Changes,
                    ..request
                },
            )
            .await
            .expect("later pages");
        all.extend(page.records);
        cursor = page.next;
    }
    let expected: Vec<String> = sim
        .records(pollen_sage_sim::Resource::Contacts)
        .iter()
        .map(|r| r.id().to_owned())
        .collect();
    assert_eq!(ids(&all), expected, "every record once, in Sage's order");

    let counts = sim.request_counts();
    assert_eq!(
        counts.get("GET /v3.1/contacts", 401),
        1,
        "one refused request"
    );
    assert_eq!(counts.get("POST /token", 200), 1, "one refresh");
    assert_eq!(counts.get("GET /v3.1/contacts", 200), 6);

    // The rotated pair was saved, and the old refresh token is spent.
    let saved = store.tokens().expect("saved tokens");
    assert_eq!(store.saves(), 1);
    assert_ne!(saved.refresh_token, first.refresh_token);
    assert_ne!(saved.access_token, first.access_token);
    let old = first.refresh_token.expect("refresh token");
    let reply = reqwest::Client::new()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", old.expose()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(reply.status().as_u16(), 400, "Sage rotates refresh tokens");
}

#[tokio::test]
async fn tokens_are_refreshed_shortly_before_they_expire() {
    let sim = start(sim_config(30)).await;
    let set = sim.issue_tokens(ApiVersion::V31);
    let clock = ManualClock::new(Utc::now());
    let tokens = Tokens::new(
        Secret::new(set.access_token),
        Some(Secret::new(set.refresh_token)),
    )
    .expiring_at(clock.now() + TimeDelta::seconds(300));
    let store = Arc::new(MemoryTokenStore::with_tokens(tokens));
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("source");

    walk(&source, "contacts", CUSTOMERS, None)
        .await
        .expect("walk");
    assert_eq!(sim.request_counts().get("POST /token", 200), 0);
    // 280 s later the token has 20 s left, within the 30 s margin: refreshed before use.
    clock.advance(TimeDelta::seconds(280));
    walk(&source, "contacts", CUSTOMERS, None)
        .await
        .expect("walk");
    let counts = sim.request_counts();
    assert_eq!(counts.get("POST /token", 200), 1);
    assert_eq!(
        counts.get("GET /v3.1/contacts", 401),
        0,
        "no refused request"
    );
    assert_eq!(store.saves(), 1);
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let sim = start(sim_config(30)).await;
    let set = sim.issue_tokens(ApiVersion::V31);
    let expired = Tokens::new(
        Secret::new(set.access_token),
        Some(Secret::new(set.refresh_token)),
    )
    .expiring_at(Utc::now() - TimeDelta::seconds(1));
    let store = Arc::new(MemoryTokenStore::with_tokens(expired));
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .build()
        .expect("source");
    let walks = (0..8).map(|_| walk(&source, "contacts", CUSTOMERS, Some(10)));
    for result in futures::future::join_all(walks).await {
        assert_eq!(records(&result.expect("walk")).len(), 30);
    }
    let counts = sim.request_counts();
    assert_eq!(counts.get("POST /token", 200), 1, "one refresh in flight");
    assert_eq!(counts.endpoint_total("POST /token"), 1);
    assert_eq!(store.saves(), 1);
    let stats = source.auth_stats();
    assert_eq!((stats.code_exchanges, stats.refreshes), (0, 1));
    assert_eq!((stats.refreshes_refused, stats.refreshes_failed), (0, 0));
}

/// Two workers: two sources (processes) sharing one token store (database), on one clock.
fn two_workers(
    sim: &pollen_sage_sim::SimHandle,
    clock: &ManualClock,
) -> (
    Arc<MemoryTokenStore>,
    pollen_sage::SageSource,
    pollen_sage::SageSource,
) {
    let set = sim.issue_tokens(ApiVersion::V31);
    let tokens = Tokens::new(
        Secret::new(set.access_token),
        Some(Secret::new(set.refresh_token)),
    )
    .expiring_at(clock.now() + TimeDelta::seconds(300));
    let store = Arc::new(MemoryTokenStore::with_tokens(tokens));
    let source = || {
        v31_source(sim, &[("contacts", CUSTOMERS)], store.clone())
            .clock(Arc::new(clock.clone()))
            .build()
            .expect("source")
    };
    let (a, b) = (source(), source());
    (store, a, b)
}

#[tokio::test]
async fn a_worker_takes_the_tokens_another_worker_rotated_instead_of_spending_a_used_refresh_token()
{
    let sim = start(sim_config(30)).await;
    let clock = ManualClock::new(Utc::now());
    let (store, a, b) = two_workers(&sim, &clock);
    for source in [&a, &b] {
        walk(source, "contacts", CUSTOMERS, None)
            .await
            .expect("walk");
    }
    // Both hold the same pair; 280 s later it is within the refresh margin. Worker A refreshes
    // first and saves the new pair; worker B finds it in the store and uses it.
    clock.advance(TimeDelta::seconds(280));
    walk(&a, "contacts", CUSTOMERS, None).await.expect("walk a");
    walk(&b, "contacts", CUSTOMERS, None).await.expect("walk b");
    let counts = sim.request_counts();
    assert_eq!(counts.get("POST /token", 200), 1, "one refresh");
    assert_eq!(counts.get("POST /token", 400), 0, "no spent token sent");
    assert_eq!(b.auth_status(), AuthStatus::Ready);
    assert_eq!(store.saves(), 1);

    // Sage refuses B's access token (revoked): B looks in the store before refreshing.
    clock.advance(TimeDelta::seconds(280));
    walk(&a, "contacts", CUSTOMERS, None).await.expect("walk a");
    sim.revoke_all_tokens();
    let rotated = store.tokens().expect("tokens");
    let again = sim.issue_tokens(ApiVersion::V31);
    store
        .save(
            &Tokens::new(
                Secret::new(again.access_token),
                Some(Secret::new(again.refresh_token)),
            )
            .expiring_at(clock.now() + TimeDelta::seconds(300)),
        )
        .await
        .expect("save");
    assert_ne!(store.tokens(), Some(rotated));
    walk(&b, "contacts", CUSTOMERS, None).await.expect("walk b");
    let counts = sim.request_counts();
    assert_eq!(counts.get("POST /token", 200), 2, "no refresh for B");
    assert_eq!(counts.get("POST /token", 400), 0);
}

#[tokio::test]
async fn two_workers_refreshing_at_once_both_end_up_with_the_winners_tokens() {
    let sim = start(sim_config(30)).await;
    let clock = ManualClock::new(Utc::now());
    let (store, a, b) = two_workers(&sim, &clock);
    for source in [&a, &b] {
        walk(source, "contacts", CUSTOMERS, None)
            .await
            .expect("walk");
    }
    clock.advance(TimeDelta::seconds(280));
    let (walked_a, walked_b) = tokio::join!(
        walk(&a, "contacts", CUSTOMERS, None),
        walk(&b, "contacts", CUSTOMERS, None)
    );
    walked_a.expect("walk a");
    walked_b.expect("walk b");
    let counts = sim.request_counts();
    assert_eq!(counts.get("POST /token", 200), 1, "one refresh won");
    assert!(counts.get("POST /token", 400) <= 1, "{counts:?}");
    assert_eq!(a.auth_status(), AuthStatus::Ready);
    assert_eq!(b.auth_status(), AuthStatus::Ready);
    assert_eq!(store.saves(), 1);
}

#[tokio::test]
async fn the_authorization_code_is_exchanged_once_and_its_tokens_stored() {
    let sim = start(sim_config(10)).await;
    let code = sim.authorization_code(ApiVersion::V31);
    let store = Arc::new(MemoryTokenStore::new());
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .authorization_code(Secret::new(code.clone()))
        .build()
        .expect("source");
    let pages = walk(&source, "contacts", CUSTOMERS, None)
        .await
        .expect("walk");
    assert_eq!(records(&pages).len(), 10);
    assert_eq!(store.saves(), 1);
    assert!(store.tokens().is_some_and(|t| t.expires_at.is_some()));
    let stats = source.auth_stats();
    assert_eq!((stats.code_exchanges, stats.refreshes), (1, 0));

    // A second process with the same store and the (spent) code uses the stored tokens.
    let again = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .authorization_code(Secret::new(code))
        .build()
        .expect("source");
    walk(&again, "contacts", CUSTOMERS, None)
        .await
        .expect("walk");
    let counts = sim.request_counts();
    assert_eq!(
        counts.get("POST /token", 200),
        1,
        "the code is exchanged once"
    );
    assert_eq!(counts.get("POST /token", 400), 0);
}

#[tokio::test]
async fn a_refused_refresh_token_needs_reauthorization_and_stops_calling_sage() {
    let sim = start(sim_config(10)).await;
    let stale = Tokens::new(
        Secret::new("expired-access-token"),
        Some(Secret::new("spent-refresh-token")),
    )
    .expiring_at(Utc::now() - TimeDelta::seconds(5));
    let store = Arc::new(MemoryTokenStore::with_tokens(stale));
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .build()
        .expect("source");

    for _ in 0..3 {
        let error = walk(&source, "contacts", CUSTOMERS, None)
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::NeedsReauthorization);
        assert_eq!(
            error.message(),
            "the instance needs to be authorised again: the refresh token was refused (HTTP 400, invalid_grant)"
        );
    }
    assert!(matches!(
        source.auth_status(),
        AuthStatus::NeedsReauthorization { .. }
    ));
    assert_eq!(
        store.reauthorization_reason().as_deref(),
        Some("the refresh token was refused (HTTP 400, invalid_grant)")
    );
    let counts = sim.request_counts();
    assert_eq!(counts.endpoint_total("POST /token"), 1, "no retry loop");
    assert_eq!(counts.endpoint_total("GET /v3.1/contacts"), 0);
    // One refresh tried, refused; none succeeded nor failed on what may pass.
    let stats = source.auth_stats();
    assert_eq!(
        (
            stats.refreshes,
            stats.refreshes_refused,
            stats.refreshes_failed
        ),
        (0, 1, 0)
    );

    // Authorising again brings it back.
    let code = sim.authorization_code(ApiVersion::V31);
    source
        .exchange_code(&Secret::new(code))
        .await
        .expect("exchange");
    assert_eq!(source.auth_status(), AuthStatus::Ready);
    walk(&source, "contacts", CUSTOMERS, None)
        .await
        .expect("walk");
    assert_eq!(store.saves(), 1);
}

#[tokio::test]
async fn a_refused_code_needs_reauthorization() {
    let sim = start(sim_config(10)).await;
    let store = Arc::new(MemoryTokenStore::new());
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .authorization_code(Secret::new("not-a-code"))
        .build()
        .expect("source");
    let error = walk(&source, "contacts", CUSTOMERS, None)
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::NeedsReauthorization);
    assert!(error
        .message()
        .contains("the authorization code was refused (HTTP 400, invalid_grant)"));
    assert!(!error.message().contains("not-a-code"));
    assert!(store.load().await.expect("load").is_none());
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output_and_errors() {
    let sim = start(sim_config(10)).await;
    let set = sim.issue_tokens(ApiVersion::V31);
    let tokens = Tokens::new(
        Secret::new(set.access_token.clone()),
        Some(Secret::new(set.refresh_token.clone())),
    );
    let store = Arc::new(MemoryTokenStore::with_tokens(tokens.clone()));
    let source = v31_source(&sim, &[("contacts", CUSTOMERS)], store.clone())
        .build()
        .expect("source");
    sim.revoke_all_tokens();
    let error = walk(&source, "contacts", CUSTOMERS, None)
        .await
        .expect_err("revoked");
    let texts = [
        format!("{source:?}"),
        format!("{tokens:?}"),
        format!("{store:?}"),
        format!("{error:?}"),
        error.to_string(),
        format!("{:?}", source.settings()),
    ];
    for text in texts {
        for secret in [&set.access_token, &set.refresh_token, "client-secret"] {
            assert!(!text.contains(secret), "a secret leaked into: {text}");
        }
    }
}

#[tokio::test]
async fn sage_business_id_is_sent_as_x_business_and_another_users_business_is_refused() {
    let sim = start(sim_config(5)).await;
    let business = sim.issue_tokens(ApiVersion::V31).resource_owner_id;
    let source_for = |business_id: &str| {
        let mut config = crate::instance(
            "v3.1",
            &sim.v31_base_url(),
            &sim.token_url(),
            &[("contacts", CUSTOMERS)],
        );
        config.configuration.sage.business_id = Some(business_id.to_owned());
        pollen_sage::SageSource::from_instance(&config, issued(&sim, ApiVersion::V31))
            .expect("source")
            .configure(|s| s.retry = crate::quick_retries())
            .build()
            .expect("source")
    };
    let pages = walk(&source_for(&business), "contacts", CUSTOMERS, None)
        .await
        .expect("the user's own business");
    assert_eq!(records(&pages).len(), 5);
    let error = walk(
        &source_for("not-this-users-business"),
        "contacts",
        CUSTOMERS,
        None,
    )
    .await
    .expect_err("a business the user cannot see");
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.data_code(), Some("AuthorizationFailure"));
}
