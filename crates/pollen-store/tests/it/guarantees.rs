//! This crate's own guarantees, as one generic suite run against each backend.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::TimeDelta;
use pollen_config::{Secret, MASK};
use pollen_core::{
    ErrorKind as CoreKind, OutboxFilter, OutboxStatus, PollKey, Purpose, RateBucket, SeenChange,
    Store,
};
use pollen_store::{
    Credentials, ErrorKind, InstanceStatus, KeyScheme, ReplayState, Retention, SecretKey,
};

use crate::harness::Db;
use crate::support::{
    attempt, check, claim_one, commit, id, key, notification, secrets_fixture, t0,
};

crate::on_both!(
    commit_is_all_or_nothing,
    crashed_worker_is_taken_over_and_fenced,
    concurrent_poll_claims_are_disjoint,
    concurrent_outbox_claims_are_disjoint,
    pruning_keeps_what_retention_keeps,
    reopening_keeps_everything,
    wrong_key_is_refused_at_open,
    secrets_are_unreadable_without_the_key,
    instances_and_credentials,
    code_exchange_is_claimed_once,
    rate_budget_is_shared_by_every_handle,
    rewind_moves_one_watermark_back_and_forgets_only_later_keys,
    replay_requeues_exactly_its_range_in_chunks,
    replay_to_one_lane_requeues_only_its_notifications,
    retired_keys_sign_until_they_expire,
    instances_put_by_name_race_to_one,
    concurrent_registers_of_one_key_agree,
    response_excerpts_are_capped,
    newer_schema_is_refused,
    claims_match_the_memory_store,
    checkpoint_chains_show_each_head_and_fail_with_their_commit,
);

/// `checkpoint_chains` lists an instance's chain heads with their open windows, and a commit
/// that fails leaves neither a head nor a window event behind.
async fn checkpoint_chains_show_each_head_and_fail_with_their_commit(db: &Db) {
    use pollen_core::{CheckpointHead, PollProgress, WindowEvent};
    let store = db.open().await;
    let (invoices, contacts, elsewhere) = (
        key("7", "invoices"),
        key("7", "contacts"),
        key("8", "invoices"),
    );
    for k in [&invoices, &contacts, &elsewhere] {
        store.register(k, t0(), t0()).await.unwrap();
    }
    let event = |subscription: Option<&str>, n: u32| WindowEvent {
        subscription: subscription.map(str::to_owned),
        event: id(5, n),
    };
    let head = |subscription: Option<&str>, sequence: u64| CheckpointHead {
        subscription: subscription.map(str::to_owned),
        chain: id(6, 1),
        sequence,
        id: id(7, sequence as u32),
        to: format!("2026-01-01T0{sequence}:00:00.000Z"),
    };
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 3)
        .await
        .unwrap();
    let token = |k: &PollKey| {
        claimed
            .iter()
            .find(|s| &s.key == k)
            .and_then(|s| s.lease.as_ref())
            .unwrap()
            .token
    };
    // Due again at +16 min (invoices), +35 min (contacts) and +45 min (elsewhere).
    for (k, minutes, heads) in [
        (&invoices, 1, vec![head(None, 1), head(Some("audit"), 1)]),
        (&contacts, 20, vec![head(None, 4)]),
        (&elsewhere, 30, vec![head(None, 1), head(Some("audit"), 1)]),
    ] {
        let mut c = commit(k, token(k), t0() + TimeDelta::minutes(minutes));
        c.checkpoints = heads;
        store.commit_poll(c).await.unwrap();
    }

    // Events waiting in the invoices' windows.
    let k = &invoices;
    let next = claim_one(&store, "a", t0() + TimeDelta::minutes(17)).await;
    store
        .commit_progress(PollProgress {
            key: k.clone(),
            lease_token: next,
            seen: Vec::new(),
            notifications: Vec::new(),
            known: Vec::new(),
            window: vec![event(None, 1), event(None, 2), event(Some("audit"), 3)],
        })
        .await
        .unwrap();
    let chains = store.checkpoint_chains(7).await.unwrap();
    let shown: Vec<(String, Option<String>, u64, u64)> = chains
        .iter()
        .map(|c| {
            (
                c.resource.clone(),
                c.subscription.clone(),
                c.sequence,
                c.open_events,
            )
        })
        .collect();
    let open = |resource: &str, n| if k.resource == resource { n } else { 0 };
    assert_eq!(
        shown,
        vec![
            ("contacts".to_owned(), None, 4, open("contacts", 2)),
            ("invoices".to_owned(), None, 1, open("invoices", 2)),
            (
                "invoices".to_owned(),
                Some("audit".to_owned()),
                1,
                open("invoices", 1)
            ),
        ],
        "by resource, the callback first; instance 8's chains apart"
    );
    assert_eq!(chains[1].checkpoint, id(7, 1));
    assert_eq!(chains[1].to, "2026-01-01T01:00:00.000Z");

    // A commit that fails writes no head and closes no window.
    db.inject_outbox_failure("boom").await;
    let mut failing = commit(k, next, t0() + TimeDelta::hours(2));
    failing.notifications = vec![notification(k, 1, t0(), "boom")];
    failing.checkpoints = vec![head(None, 9)];
    failing.ended_chains = vec![Some("audit".to_owned())];
    failing.window = vec![event(Some("audit"), 4)];
    assert!(store.commit_poll(failing).await.is_err());
    assert_eq!(
        store.checkpoint_chains(7).await.unwrap(),
        chains,
        "nothing written"
    );
    assert_eq!(store.window_events(k).await.unwrap().len(), 3);
}

/// A failure in the middle of a commit (the second notification's insert) leaves neither the
/// watermark nor any seen key nor any notification behind; the lease is still held.
async fn commit_is_all_or_nothing(db: &Db) {
    let store = db.open().await;
    let k = key("7", "invoices");
    store.register(&k, t0(), t0()).await.unwrap();
    let token = claim_one(&store, "a", t0()).await;
    db.inject_outbox_failure("boom").await;

    let mut c = commit(&k, token, t0() + TimeDelta::hours(1));
    c.seen = vec![
        SeenChange {
            id: id(9, 1),
            at: t0(),
        },
        SeenChange {
            id: id(9, 2),
            at: t0(),
        },
    ];
    c.notifications = vec![
        notification(&k, 1, t0(), "{\"n\":1}"),
        notification(&k, 2, t0(), "boom"),
    ];
    let err = store.commit_poll(c.clone()).await.unwrap_err();
    assert_eq!(err.kind(), CoreKind::Store);
    assert!(err.message().contains("injected failure"), "{err}");

    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(
        state.watermark,
        t0(),
        "the watermark moved in a failed commit"
    );
    assert_eq!(state.completed_polls, 0);
    assert_eq!(state.lease.as_ref().map(|l| l.token), Some(token));
    assert_eq!(
        store.seen(&k, &[id(9, 1), id(9, 2)]).await.unwrap(),
        [false, false],
        "seen keys of a failed commit landed"
    );
    let outbox = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    assert!(
        outbox.is_empty(),
        "notifications of a failed commit landed: {outbox:?}"
    );

    // The same commit, once the fault is gone, lands whole.
    db.remove_injected_failure().await;
    store.commit_poll(c).await.unwrap();
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(state.watermark, t0() + TimeDelta::hours(1));
    assert_eq!(state.completed_polls, 1);
    assert_eq!(
        store
            .list_outbox(&OutboxFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.seen(&k, &[id(9, 1), id(9, 2)]).await.unwrap(),
        [true, true]
    );
}

/// Worker A (its own pool) claims polls and a notification and stops; B cannot take them
/// while A's leases live, takes them when they expire, and A's late writes are refused.
async fn crashed_worker_is_taken_over_and_fenced(db: &Db) {
    let a = db.open().await;
    let b = db.open().await;
    let keys: Vec<_> = (0..3).map(|i| key(&i.to_string(), "customers")).collect();
    for k in &keys {
        a.register(k, t0(), t0()).await.unwrap();
    }
    let lease = TimeDelta::minutes(5);
    let held = a.claim_due("a", t0(), lease, 10).await.unwrap();
    assert_eq!(held.len(), 3);
    let early = b
        .claim_due("b", t0() + TimeDelta::minutes(4), lease, 10)
        .await
        .unwrap();
    assert!(early.is_empty(), "B took polls under A's live lease");

    let later = t0() + TimeDelta::minutes(6);
    let taken = b.claim_due("b", later, lease, 10).await.unwrap();
    assert_eq!(taken.len(), 3, "B did not take over A's expired leases");
    for (old, new) in held.iter().zip(&taken) {
        assert_eq!(old.key, new.key);
        let (old, new) = (old.lease.as_ref().unwrap(), new.lease.as_ref().unwrap());
        assert!(new.token > old.token, "fencing tokens must increase");
        assert_eq!(new.owner, "b");
    }
    // A wakes up and tries to finish: every write is fenced off.
    for state in &held {
        let token = state.lease.as_ref().unwrap().token;
        let err = a
            .commit_poll(commit(&state.key, token, t0() + TimeDelta::hours(9)))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), CoreKind::LeaseLost);
        assert_eq!(
            a.release(&state.key, token).await.unwrap_err().kind(),
            CoreKind::LeaseLost
        );
    }
    for state in &taken {
        let token = state.lease.as_ref().unwrap().token;
        let mut c = commit(&state.key, token, later);
        c.notifications = vec![notification(
            &state.key,
            state.key.instance.parse().unwrap(),
            later,
            "{}",
        )];
        b.commit_poll(c).await.unwrap();
        let now = a.load(&state.key).await.unwrap().unwrap();
        assert_eq!(now.watermark, later, "B's commit is what A's handle reads");
    }

    // The same for a notification: A claims, stalls; B re-claims after expiry; A is fenced.
    let send_lease = TimeDelta::seconds(30);
    let a_claims = a.claim_outbox("a", later, send_lease, 1).await.unwrap();
    assert_eq!(a_claims.len(), 1);
    let n = a_claims[0].notification.id;
    let b_early = b.claim_outbox("b", later, send_lease, 10).await.unwrap();
    assert!(
        b_early.iter().all(|e| e.notification.id != n),
        "B claimed a notification under A's live lease"
    );
    let expiry = later + TimeDelta::seconds(31);
    let b_claims = b.claim_outbox("b", expiry, send_lease, 10).await.unwrap();
    let b_entry = b_claims
        .iter()
        .find(|e| e.notification.id == n)
        .expect("B re-claims A's expired notification");
    let a_token = a_claims[0].lease.as_ref().unwrap().token;
    let err = a
        .mark_delivered(&n, a_token, &attempt(expiry, 200, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), CoreKind::LeaseLost);
    let b_token = b_entry.lease.as_ref().unwrap().token;
    let delivered = attempt(expiry, 200, None);
    b.mark_delivered(&n, b_token, &delivered).await.unwrap();
    assert_eq!(a.list_attempts(&n).await.unwrap(), [delivered]);
}

/// Six claimers over three pools take every due poll exactly once.
async fn concurrent_poll_claims_are_disjoint(db: &Db) {
    let handles = [db.open().await, db.open().await, db.open().await].map(Arc::new);
    let keys: Vec<_> = (0..150).map(|i| key(&i.to_string(), "items")).collect();
    for k in &keys {
        handles[0].register(k, t0(), t0()).await.unwrap();
    }
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let store = Arc::clone(&handles[worker % 3]);
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_due(&owner, t0(), TimeDelta::minutes(10), 7)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for state in claimed {
                    assert_eq!(state.lease.as_ref().unwrap().owner, owner);
                    let token = state.lease.as_ref().unwrap().token;
                    store
                        .commit_poll(commit(&state.key, token, t0()))
                        .await
                        .unwrap();
                    mine.push(state.key);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 150, "some poll was claimed twice or never");
    assert_eq!(unique.len(), 150);
    for k in &keys {
        let state = handles[1].load(k).await.unwrap().unwrap();
        assert_eq!(
            state.completed_polls, 1,
            "{k} ran {} times",
            state.completed_polls
        );
    }
    assert_eq!(
        handles[2].next_due().await.unwrap(),
        Some(t0() + TimeDelta::minutes(15))
    );
}

/// Six senders over three pools each deliver a disjoint set of notifications, together all.
async fn concurrent_outbox_claims_are_disjoint(db: &Db) {
    let handles = [db.open().await, db.open().await, db.open().await].map(Arc::new);
    let k = key("42", "invoices");
    handles[0].register(&k, t0(), t0()).await.unwrap();
    let token = claim_one(&*handles[0], "poller", t0()).await;
    let mut c = commit(&k, token, t0());
    c.notifications = (0..120).map(|n| notification(&k, n, t0(), "{}")).collect();
    handles[0].commit_poll(c).await.unwrap();

    let mut tasks = Vec::new();
    for sender in 0..6 {
        let store = Arc::clone(&handles[sender % 3]);
        tasks.push(tokio::spawn(async move {
            let owner = format!("s{sender}");
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_outbox(&owner, t0(), TimeDelta::minutes(1), 5)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for entry in claimed {
                    let token = entry.lease.as_ref().unwrap().token;
                    store
                        .mark_delivered(&entry.notification.id, token, &attempt(t0(), 204, None))
                        .await
                        .unwrap();
                    mine.push(entry.notification.id);
                }
            }
        }));
    }
    let mut claims: HashMap<_, usize> = HashMap::new();
    for task in tasks {
        for n in task.await.unwrap() {
            *claims.entry(n).or_default() += 1;
        }
    }
    assert_eq!(claims.len(), 120, "some notification was never claimed");
    assert!(
        claims.values().all(|&c| c == 1),
        "a notification was claimed by two senders"
    );
    let delivered = handles[1]
        .list_outbox(&OutboxFilter {
            status: Some(OutboxStatus::Delivered),
            ..OutboxFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(delivered.len(), 120);
    for entry in delivered.iter().take(5) {
        assert_eq!(entry.attempts, 1);
        assert_eq!(
            handles[2]
                .list_attempts(&entry.notification.id)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

/// `prune` deletes old seen keys and old delivered notifications with their logs, in batches,
/// and nothing else.
async fn pruning_keeps_what_retention_keeps(db: &Db) {
    let store = db.open().await;
    let now = t0();
    let old = now - TimeDelta::days(9);
    let k = key("5", "contacts");
    store.register(&k, old, old).await.unwrap();
    let token = claim_one(&store, "p", old).await;
    let mut c = commit(&k, token, old);
    c.seen = (0..5)
        .map(|n| SeenChange {
            id: id(4, n),
            at: if n < 3 {
                now - TimeDelta::days(10)
            } else {
                now - TimeDelta::days(1)
            },
        })
        .collect();
    c.notifications = (0..4).map(|n| notification(&k, n, old, "{}")).collect();
    store.commit_poll(c).await.unwrap();
    let claimed = store
        .claim_outbox("s", old, TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    let token_of = |n: u32| {
        claimed
            .iter()
            .find(|e| e.notification.id == id(1, n))
            .unwrap()
            .lease
            .as_ref()
            .unwrap()
            .token
    };
    let eight_days = now - TimeDelta::days(8);
    store
        .mark_delivered(&id(1, 0), token_of(0), &attempt(eight_days, 200, None))
        .await
        .unwrap();
    store
        .mark_delivered(
            &id(1, 1),
            token_of(1),
            &attempt(now - TimeDelta::days(1), 200, None),
        )
        .await
        .unwrap();
    store
        .mark_failed(
            &id(1, 2),
            token_of(2),
            now + TimeDelta::days(1),
            &attempt(eight_days, 500, Some("500")),
        )
        .await
        .unwrap();
    store
        .mark_queued(
            &id(1, 3),
            token_of(3),
            &attempt(eight_days, 410, Some("410")),
        )
        .await
        .unwrap();

    // A replay cancelled 8 days ago goes, a running one stays; an expired key goes.
    let range = pollen_store::ReplayFilter::new("1", eight_days, now);
    let old = store.start_replay(&range, eight_days).await.unwrap();
    store.cancel_replay(old.id, eight_days).await.unwrap();
    let running = store.start_replay(&range, now).await.unwrap();
    let (config, _) = secrets_fixture();
    let (instance, _) = store.create_instance(&config, eight_days).await.unwrap();
    for (key, until) in [
        ("expired", now - TimeDelta::hours(1)),
        ("valid", now + TimeDelta::hours(1)),
    ] {
        store
            .retire_signing_key(
                instance.id,
                None,
                KeyScheme::Elements,
                &Secret::new(key),
                until,
                eight_days,
            )
            .await
            .unwrap();
    }

    let mut retention = Retention::new(TimeDelta::days(7), TimeDelta::days(7));
    retention.batch = 2;
    let report = store.prune(now, &retention).await.unwrap();
    assert_eq!((report.seen, report.delivered), (3, 1));
    assert_eq!((report.replays, report.retired_keys), (1, 1));
    let left: Vec<i64> = store
        .list_replays(None, false)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, [running.id]);
    let keys = store
        .retired_signing_keys(instance.id, eight_days)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].key.expose(), "valid");
    assert_eq!(store.seen_count(&k).await.unwrap(), 2);
    assert_eq!(
        store.seen(&k, &[id(4, 0), id(4, 3)]).await.unwrap(),
        [false, true]
    );
    let left: Vec<_> = store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.notification.id)
        .collect();
    assert_eq!(
        left,
        [id(1, 1), id(1, 2), id(1, 3)],
        "pending and queued rows are kept"
    );
    assert!(store.list_attempts(&id(1, 0)).await.unwrap().is_empty());
    assert_eq!(store.list_attempts(&id(1, 2)).await.unwrap().len(), 1);
    let again = store.prune(now, &retention).await.unwrap();
    assert_eq!((again.seen, again.delivered), (0, 0));
}

/// Everything written survives closing and reopening; tokens keep increasing.
async fn reopening_keeps_everything(db: &Db) {
    let first = db.open().await;
    let k = key("9", "bills");
    first.register(&k, t0(), t0()).await.unwrap();
    let token = claim_one(&first, "a", t0()).await;
    let mut c = commit(&k, token, t0() + TimeDelta::minutes(1));
    c.seen = vec![SeenChange {
        id: id(5, 1),
        at: t0(),
    }];
    c.notifications = vec![notification(&k, 1, t0(), "{\"kept\":true}")];
    first.commit_poll(c).await.unwrap();
    first.set_subscription_active("9", false).await.unwrap();
    let before = first.list_outbox(&OutboxFilter::default()).await.unwrap();
    first.close().await;

    let second = db.open().await;
    let state = second.load(&k).await.unwrap().unwrap();
    assert_eq!(state.watermark, t0() + TimeDelta::minutes(1));
    assert_eq!(state.completed_polls, 1);
    assert_eq!(second.seen(&k, &[id(5, 1)]).await.unwrap(), [true]);
    assert_eq!(
        second.list_outbox(&OutboxFilter::default()).await.unwrap(),
        before
    );
    assert!(!second.subscription_active("9").await.unwrap());
    let next = claim_one(&second, "b", t0() + TimeDelta::hours(1)).await;
    assert!(next > token, "fencing tokens restarted after a reopen");
}

/// A database opened with another key fails at open, with a message saying so.
async fn wrong_key_is_refused_at_open(db: &Db) {
    let store = db.open().await;
    let (config, _) = secrets_fixture();
    store.create_instance(&config, t0()).await.unwrap();
    store.close().await;
    let other = SecretKey::generate();
    let err = db.try_open(other.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyMismatch);
    assert_eq!(
        err.message(),
        "the secret key does not open this database's secrets: it is not the key the database \
         was created with (check POLLEN_SECRET_KEY, or the key file beside an embedded database)"
    );
    assert!(!err.to_string().contains(&other.expose_base64()));
    assert!(!format!("{err:?}").contains(&db.key.expose_base64()));
    // The right key still opens it, and the secrets are intact.
    let store = db.open().await;
    let instances = store.list_instances().await.unwrap();
    assert_eq!(
        instances[0].config.configuration.oauth.api_secret.expose(),
        "SEKRIT-client-secret-61d4e2"
    );
}

/// No secret of an instance, its credentials or its API token is in the database's bytes;
/// the masked configuration operators see is the golden file.
async fn secrets_are_unreadable_without_the_key(db: &Db) {
    let store = db.open().await;
    let (config, mut secrets) = secrets_fixture();
    let (instance, token) = store.create_instance(&config, t0()).await.unwrap();
    let credentials = Credentials::new(
        Some(Secret::new("SEKRIT-stored-access-3b8e")),
        Some(Secret::new("SEKRIT-stored-refresh-91f0")),
        Some(t0() + TimeDelta::hours(1)),
    );
    store
        .save_credentials(instance.id, &credentials, t0())
        .await
        .unwrap();
    store
        .retire_signing_key(
            instance.id,
            Some("second"),
            KeyScheme::Elements,
            &Secret::new("SEKRIT-retired-key-5a1c"),
            t0() + TimeDelta::hours(24),
            t0(),
        )
        .await
        .unwrap();
    secrets.extend([
        "SEKRIT-retired-key-5a1c".to_owned(),
        "SEKRIT-stored-access-3b8e".to_owned(),
        "SEKRIT-stored-refresh-91f0".to_owned(),
        token.expose().to_owned(),
        db.key.expose_base64(),
    ]);

    let raw = db.raw_contents().await;
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    // The search would find plain text: the non-secret parts are there.
    assert!(contains(b"Secrets at rest"));
    assert!(contains(b"client-id-public-2c7"));
    for secret in &secrets {
        assert!(
            !contains(secret.as_bytes()),
            "secret {secret} is readable in the database"
        );
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !contains(hex.as_bytes()),
            "secret {secret} is readable as hex"
        );
    }

    // Nothing prints them either.
    let read = store.instance(instance.id).await.unwrap().unwrap();
    let back = store.credentials(instance.id).await.unwrap().unwrap();
    assert_eq!(back, credentials);
    let printed = format!("{store:?} {read:?} {back:?} {token:?} {:?}", db.key);
    for secret in &secrets {
        assert!(
            !printed.contains(secret.as_str()),
            "{secret} in Debug output"
        );
    }
    assert!(printed.contains(MASK));

    let masked = db.query_text("SELECT config_masked FROM instance").await;
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&masked[0]).unwrap(),
    )
    .unwrap();
    check(&format!("{pretty}\n"), "secrets.masked.expected");
}

/// Create, read, list, find by token, update, change status, rotate the token, delete.
async fn instances_and_credentials(db: &Db) {
    let store = db.open().await;
    let (config, _) = secrets_fixture();
    let (first, token) = store.create_instance(&config, t0()).await.unwrap();
    let (second, _) = store
        .create_instance(&config, t0() + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert!(second.id > first.id);
    assert_eq!(first.name, "Secrets at rest");
    assert_eq!(first.element_key, "sageone");
    assert_eq!(first.tags, ["Test", "store"]);
    assert_eq!(first.status, InstanceStatus::Active);
    assert_eq!(first.created_at, t0());
    assert_eq!(first.key(), first.id.to_string());
    assert_eq!(
        first.config.provider_data.code.as_ref().map(Secret::expose),
        Some("SEKRIT-grant-code-4f1c9a")
    );
    let found = store
        .instance_by_token(token.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert!(store
        .instance_by_token("pit_wrong")
        .await
        .unwrap()
        .is_none());
    let ids: Vec<i64> = store
        .list_instances()
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [first.id, second.id]);
    // Created paused, it is stored paused in the same transaction; the others stay active.
    let (paused, _) = store
        .create_instance_with_status(&config, InstanceStatus::Disabled, t0())
        .await
        .unwrap();
    assert_eq!(paused.status, InstanceStatus::Disabled);
    assert_eq!(
        store.instance(paused.id).await.unwrap().unwrap().status,
        InstanceStatus::Disabled
    );
    assert!(store.delete_instance(paused.id).await.unwrap());

    let mut json = config.to_json(pollen_config::Secrets::Expose);
    json["name"] = "Renamed".into();
    json["tags"] = serde_json::json!(["x"]);
    let renamed = pollen_config::InstanceConfig::from_json_value(&json)
        .unwrap()
        .config;
    let later = t0() + TimeDelta::hours(1);
    let updated = store
        .update_instance_config(first.id, &renamed, later)
        .await
        .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.tags.as_slice()),
        ("Renamed", ["x".to_owned()].as_slice())
    );
    assert_eq!((updated.created_at, updated.updated_at), (t0(), later));
    store
        .set_instance_status(first.id, InstanceStatus::NeedsReauthorization, later)
        .await
        .unwrap();
    assert_eq!(
        store.instance(first.id).await.unwrap().unwrap().status,
        InstanceStatus::NeedsReauthorization
    );

    let rotated = store.rotate_instance_token(first.id).await.unwrap();
    assert_ne!(rotated, token);
    assert!(store
        .instance_by_token(token.expose())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .instance_by_token(rotated.expose())
            .await
            .unwrap()
            .unwrap()
            .id,
        first.id
    );

    assert!(store.credentials(first.id).await.unwrap().is_none());
    let creds = Credentials::new(Some(Secret::new("a1")), None, Some(later));
    store
        .save_credentials(first.id, &creds, later)
        .await
        .unwrap();
    assert_eq!(store.credentials(first.id).await.unwrap().unwrap(), creds);

    // Deleting takes the instance's poll state and outbox with it, not another's.
    let mine = key(&first.key(), "customers");
    let theirs = key(&second.key(), "customers");
    for k in [&mine, &theirs] {
        store.register(k, t0(), t0()).await.unwrap();
    }
    assert!(store.delete_instance(first.id).await.unwrap());
    assert!(!store.delete_instance(first.id).await.unwrap());
    assert!(store.instance(first.id).await.unwrap().is_none());
    assert!(store.credentials(first.id).await.unwrap().is_none());
    assert!(store.load(&mine).await.unwrap().is_none());
    assert!(store.load(&theirs).await.unwrap().is_some());

    let missing = first.id;
    let not_found = [
        store
            .save_credentials(missing, &creds, later)
            .await
            .unwrap_err(),
        store.claim_code_exchange(missing, later).await.unwrap_err(),
        store
            .update_instance_config(missing, &renamed, later)
            .await
            .unwrap_err(),
        store
            .set_instance_status(missing, InstanceStatus::Disabled, later)
            .await
            .unwrap_err(),
        store.rotate_instance_token(missing).await.unwrap_err(),
    ];
    for err in not_found {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert_eq!(err.message(), format!("no instance {missing}"));
    }
}

/// A rewind moves one key's watermark back, forgets that key's de-duplication keys of changes
/// at or after the new watermark (and only those), makes it due, and takes a running poll's
/// lease so that its commit is refused; forward, unknown keys and other keys are refused or
/// untouched.
async fn rewind_moves_one_watermark_back_and_forgets_only_later_keys(db: &Db) {
    let store = db.open().await;
    let (k, other) = (key("7", "invoices"), key("7", "customers"));
    for k in [&k, &other] {
        store.register(k, t0(), t0()).await.unwrap();
    }
    let seen = |n: u32, minutes: i64| SeenChange {
        id: id(3, n),
        at: t0() + TimeDelta::minutes(minutes),
    };
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for state in claimed {
        let token = state.lease.expect("claimed").token;
        let mut c = commit(&state.key, token, t0() + TimeDelta::minutes(60));
        c.seen = vec![seen(1, 10), seen(2, 30), seen(3, 50)];
        store.commit_poll(c).await.unwrap();
    }
    // A poll of `k` in flight when the rewind comes.
    let later = t0() + TimeDelta::minutes(80);
    let token = store
        .claim_due("a", later, TimeDelta::minutes(5), 2)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.key == k)
        .and_then(|s| s.lease)
        .expect("the rewound key was due")
        .token;
    let rewound = store
        .rewind(&k, t0() + TimeDelta::minutes(30), later)
        .await
        .unwrap();
    assert_eq!(rewound.previous, t0() + TimeDelta::minutes(60));
    assert_eq!(rewound.watermark, t0() + TimeDelta::minutes(30));
    assert_eq!(rewound.forgotten, 2, "the changes at 30 and 50 minutes");
    assert!(rewound.interrupted);
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(state.watermark, t0() + TimeDelta::minutes(30));
    assert!(state.lease.is_none());
    let remembered = store
        .seen(&k, &[id(3, 1), id(3, 2), id(3, 3)])
        .await
        .unwrap();
    assert_eq!(
        remembered,
        [true, false, false],
        "only the change before the rewind"
    );
    // The interrupted poll commits nothing.
    let refused = store
        .commit_poll(commit(&k, token, t0() + TimeDelta::minutes(90)))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), CoreKind::LeaseLost, "{refused}");
    // Due at once.
    assert_eq!(store.next_due().await.unwrap(), Some(later));
    // The other resource is untouched.
    let untouched = store.load(&other).await.unwrap().unwrap();
    assert_eq!(untouched.watermark, t0() + TimeDelta::minutes(60));
    assert_eq!(store.seen_count(&other).await.unwrap(), 3);
    // Forward, and unknown keys, are refused.
    let forward = store
        .rewind(&k, t0() + TimeDelta::minutes(45), later)
        .await
        .unwrap_err();
    assert_eq!(forward.kind(), ErrorKind::InvalidInput, "{forward}");
    assert!(
        forward.message().contains("would skip changes"),
        "{forward}"
    );
    let missing = store
        .rewind(&key("8", "invoices"), t0(), later)
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
}

/// Twelve greedy callers over three pools share one business's rate budget: together they
/// get no more calls than the bucket refills in the time they ran (it starts empty), yet
/// most of that; another business's bucket is untouched.
async fn rate_budget_is_shared_by_every_handle(db: &Db) {
    let handles = [db.open().await, db.open().await, db.open().await].map(Arc::new);
    let bucket = RateBucket::per_minute(600);
    let started = std::time::Instant::now();
    let run_for = std::time::Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for n in 0..12 {
        let store = Arc::clone(&handles[n % 3]);
        tasks.push(tokio::spawn(async move {
            let mut granted = 0u32;
            while started.elapsed() < run_for {
                let take = store
                    .take_rate_token("business-a", bucket, Purpose::Changes)
                    .await
                    .unwrap();
                if take.granted {
                    granted += 1;
                } else {
                    tokio::time::sleep(take.wait.min(std::time::Duration::from_millis(20))).await;
                }
            }
            granted
        }));
    }
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let most = bucket.per_second * elapsed + 1.0;
    assert!(
        f64::from(granted) <= most,
        "{granted} calls granted in {elapsed:.2} s, at most {most:.1} allowed"
    );
    assert!(
        f64::from(granted) >= bucket.per_second * 1.5 * 0.5,
        "only {granted} calls granted in {elapsed:.2} s"
    );
    // Another business starts empty too, whatever the first one did.
    let other = handles[0]
        .take_rate_token("business-b", bucket, Purpose::Changes)
        .await
        .unwrap();
    assert!(!other.granted);
    assert!(other.wait > std::time::Duration::ZERO);
}

/// Twelve callers over three pools race to exchange one grant code: exactly one wins, and
/// saving tokens afterwards keeps the flag.
async fn code_exchange_is_claimed_once(db: &Db) {
    let handles = [db.open().await, db.open().await, db.open().await].map(Arc::new);
    let (config, _) = secrets_fixture();
    let (instance, _) = handles[0].create_instance(&config, t0()).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..12 {
        let store = Arc::clone(&handles[n % 3]);
        tasks.push(tokio::spawn(async move {
            store.claim_code_exchange(instance.id, t0()).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1, "the grant code was claimed {winners} times");
    let creds = Credentials::new(
        Some(Secret::new("access")),
        Some(Secret::new("refresh")),
        None,
    );
    handles[1]
        .save_credentials(instance.id, &creds, t0())
        .await
        .unwrap();
    let back = handles[2].credentials(instance.id).await.unwrap().unwrap();
    assert!(
        back.code_exchanged,
        "saving tokens reset the exchanged flag"
    );
    assert_eq!(back.access_token, creds.access_token);
}

/// Twelve callers over three pools store the same instance file at once (workers started
/// together): one instance of that name results, created once, and a later put updates it in
/// place, keeping its id, creation date and status.
async fn instances_put_by_name_race_to_one(db: &Db) {
    let handles = [db.open().await, db.open().await, db.open().await].map(Arc::new);
    let (config, _) = secrets_fixture();
    let mut tasks = Vec::new();
    for n in 0..12 {
        let store = Arc::clone(&handles[n % 3]);
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            store.put_instance_by_name(&config, t0()).await.unwrap()
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (instance, was_created) = task.await.unwrap();
        ids.insert(instance.id);
        created += usize::from(was_created);
    }
    assert_eq!(ids.len(), 1, "one name became instances {ids:?}");
    assert_eq!(created, 1, "the instance was created {created} times");
    let id = *ids.iter().next().unwrap();
    assert_eq!(handles[0].list_instances().await.unwrap().len(), 1);

    handles[1]
        .set_instance_status(id, InstanceStatus::NeedsReauthorization, t0())
        .await
        .unwrap();
    let mut edited = config.clone();
    edited.tags = vec!["edited".to_owned()];
    let later = t0() + TimeDelta::minutes(5);
    let (back, was_created) = handles[2]
        .put_instance_by_name(&edited, later)
        .await
        .unwrap();
    assert!(!was_created);
    assert_eq!(back.id, id);
    assert_eq!(back.created_at, t0());
    assert_eq!(back.updated_at, later);
    assert_eq!(back.tags, ["edited"]);
    assert_eq!(back.status, InstanceStatus::NeedsReauthorization);
}

/// Workers registering the same poll key at once (started together) all get its one state,
/// the first insert's, whatever watermark each proposed.
async fn concurrent_registers_of_one_key_agree(db: &Db) {
    let handles = [db.open().await, db.open().await, db.open().await].map(Arc::new);
    let k = key("41", "customers");
    let mut tasks = Vec::new();
    for n in 0..12 {
        let store = Arc::clone(&handles[n % 3]);
        let k = k.clone();
        let start = t0() + TimeDelta::seconds(n as i64);
        tasks.push(tokio::spawn(async move {
            store.register(&k, start, start).await
        }));
    }
    let mut watermarks = HashSet::new();
    for task in tasks {
        let state = task.await.unwrap().expect("a concurrent register failed");
        watermarks.insert(state.watermark);
    }
    assert_eq!(watermarks.len(), 1, "registers disagree: {watermarks:?}");
}

/// The delivery log keeps at most 4 KiB of a response, cut at a character boundary.
async fn response_excerpts_are_capped(db: &Db) {
    let store = db.open().await;
    let k = key("3", "x");
    store.register(&k, t0(), t0()).await.unwrap();
    let token = claim_one(&store, "p", t0()).await;
    let mut c = commit(&k, token, t0());
    c.notifications = vec![notification(&k, 1, t0(), "{}")];
    store.commit_poll(c).await.unwrap();
    let claimed = store
        .claim_outbox("s", t0(), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let mut long = attempt(t0(), 500, Some("500 from receiver"));
    long.response_excerpt = format!("x{}", "é".repeat(5000));
    store
        .mark_failed(
            &id(1, 1),
            claimed[0].lease.as_ref().unwrap().token,
            t0(),
            &long,
        )
        .await
        .unwrap();
    let log = store.list_attempts(&id(1, 1)).await.unwrap();
    assert_eq!(
        log[0].response_excerpt.len(),
        pollen_core::RESPONSE_EXCERPT_LIMIT - 1
    );
    assert!(long.response_excerpt.starts_with(&log[0].response_excerpt));
}

/// A database migrated by a newer pollen (a migration this build does not know) is refused
/// at open instead of being used with the wrong schema.
async fn newer_schema_is_refused(db: &Db) {
    db.open().await.close().await;
    let bytes = match db.backend {
        pollen_store::Backend::Sqlite => "X'00'",
        _ => "'\\x00'::bytea",
    };
    db.exec(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, {bytes}, 0)"
    ))
    .await;
    let err = db.try_open(db.key.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Migration);
    assert!(err.message().contains("99"), "{err}");
}

/// Claims with skip lists and per-instance caps take exactly what `MemoryStore` takes, in the
/// same order, through a seeded random history of claims, deliveries, failures and expired
/// leases: backlogs long enough that the head of the order is skipped or capped, so both of
/// the SQLite claim's paths (the head of the global order, the per-instance scan) run.
async fn claims_match_the_memory_store(db: &Db) {
    use pollen_core::{AttemptOutcome, AttemptRecord, MemoryStore};
    use rand::{Rng, SeedableRng};

    let sql = db.open().await;
    let memory = MemoryStore::new();
    let stores: [&dyn Store; 2] = [&sql, &memory];
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let instances: Vec<String> = (0..12).map(|i| format!("i{i:02}")).collect();
    let mut n = 0;
    for instance in &instances {
        let k = key(instance, "r");
        let count = rng.gen_range(0..40);
        let batch: Vec<_> = (0..count)
            .map(|_| {
                n += 1;
                notification(&k, n, t0(), "{}")
            })
            .collect();
        for store in stores {
            store.register(&k, t0(), t0()).await.unwrap();
            let token = claim_one(store, "p", t0()).await;
            let mut c = commit(&k, token, t0());
            c.notifications.clone_from(&batch);
            store.commit_poll(c).await.unwrap();
        }
    }
    let mut now = t0();
    for round in 0..80 {
        now += TimeDelta::seconds(rng.gen_range(0..20));
        let limit = rng.gen_range(1..=20);
        let per_instance = if rng.gen_bool(0.2) {
            usize::MAX
        } else {
            rng.gen_range(1..=6)
        };
        let skip: Vec<String> = instances
            .iter()
            .filter(|_| rng.gen_bool(0.3))
            .cloned()
            .collect();
        let lease = TimeDelta::seconds(rng.gen_range(5..60));
        let mut claims = Vec::new();
        for store in stores {
            let claimed = store
                .claim_outbox_skipping("s", now, lease, limit, per_instance, &skip)
                .await
                .unwrap();
            claims.push(claimed);
        }
        let ids = |i: usize| -> Vec<_> { claims[i].iter().map(|e| e.notification.id).collect() };
        assert_eq!(
            ids(0),
            ids(1),
            "round {round}: limit {limit}, per instance {per_instance}, skip {skip:?}"
        );
        // Deliver some, fail some (due again a little later), leave the rest to expire.
        let outcomes: Vec<Option<AttemptOutcome>> = claims[0]
            .iter()
            .map(|_| match rng.gen_range(0..3) {
                0 => Some(AttemptOutcome::Delivered),
                1 => Some(AttemptOutcome::Failed {
                    next_attempt: now + TimeDelta::seconds(rng.gen_range(0..30)),
                }),
                _ => None,
            })
            .collect();
        for (store, claimed) in stores.iter().zip(&claims) {
            let records: Vec<AttemptRecord> = claimed
                .iter()
                .zip(&outcomes)
                .filter_map(|(e, outcome)| {
                    Some(AttemptRecord {
                        id: e.notification.id,
                        token: e.lease.as_ref().unwrap().token,
                        outcome: (*outcome)?,
                        attempt: attempt(now, 200, None),
                    })
                })
                .collect();
            for result in store.record_attempts(&records).await.unwrap() {
                result.unwrap();
            }
        }
    }
    let filter = OutboxFilter {
        status: Some(OutboxStatus::Pending),
        ..OutboxFilter::default()
    };
    let mut left = Vec::new();
    for store in stores {
        let page = store.list_outbox(&filter).await.unwrap();
        left.push(page.iter().map(|e| e.notification.id).collect::<Vec<_>>());
    }
    assert_eq!(left[0], left[1], "the pending notifications differ");
}

/// A replay re-queues exactly the notifications of its instance, range, resources and event
/// types that were written before it started, whatever their status, chunk by chunk; it waits
/// while the instance's backlog is full, stops when cancelled, and refuses empty ranges and
/// unknown types.
async fn replay_requeues_exactly_its_range_in_chunks(db: &Db) {
    let store = db.open().await;
    let hour = |h: i64| t0() + TimeDelta::hours(h);
    let body = |t: &str| format!(r#"{{"message":{{"events":[{{"eventType":"{t}"}}]}}}}"#);
    let (invoices, customers, elsewhere) = (
        key("7", "invoices"),
        key("7", "customers"),
        key("8", "invoices"),
    );
    // Notification n of `k` written at `h` hours with one event of type `t`.
    let written: Vec<(&PollKey, u32, i64, &str)> = vec![
        (&invoices, 1, 1, "CREATED"),
        (&invoices, 2, 2, "CREATED"),
        (&invoices, 3, 3, "UPDATED"),
        (&invoices, 4, 4, "DELETED"),
        (&invoices, 5, 5, "UPDATED"),
        (&customers, 6, 2, "CREATED"),
        (&customers, 7, 4, "UPDATED"),
        (&elsewhere, 8, 3, "CREATED"),
    ];
    for k in [&invoices, &customers, &elsewhere] {
        store.register(k, t0(), t0()).await.unwrap();
    }
    for state in store
        .claim_due("a", t0(), TimeDelta::minutes(5), 10)
        .await
        .unwrap()
    {
        let mut c = commit(&state.key, state.lease.unwrap().token, hour(6));
        c.notifications = written
            .iter()
            .filter(|(k, ..)| **k == state.key)
            .map(|(k, n, h, t)| notification(k, *n, hour(*h), &body(t)))
            .collect();
        store.commit_poll(c).await.unwrap();
    }
    // Every notification delivered, but number 3 queued after its last retry.
    let now = hour(7);
    for entry in store
        .claim_outbox("s", now, TimeDelta::minutes(1), 100)
        .await
        .unwrap()
    {
        let token = entry.lease.unwrap().token;
        let n = &entry.notification.id;
        if *n == id(1, 3) {
            store
                .mark_queued(n, token, &attempt(now, 500, Some("500")))
                .await
                .unwrap();
        } else {
            store
                .mark_delivered(n, token, &attempt(now, 200, None))
                .await
                .unwrap();
        }
    }

    // Instance 7, [2 h, 5 h): notifications 2, 3, 4, 6 and 7.
    let range = pollen_store::ReplayFilter::new("7", hour(2), hour(5));
    assert_eq!(store.count_replay(&range).await.unwrap(), 5);
    let only_invoices = range.clone().resources(vec!["invoices".into()]);
    assert_eq!(store.count_replay(&only_invoices).await.unwrap(), 3);
    let updates = range
        .clone()
        .event_types(vec!["UPDATED".into(), "DELETED".into()]);
    assert_eq!(store.count_replay(&updates).await.unwrap(), 3, "3, 4 and 7");

    let replay = store.start_replay(&updates, now).await.unwrap();
    assert_eq!(
        (replay.state, replay.total, replay.replayed),
        (ReplayState::Running, 3, 0)
    );
    // Written after the start, in the range: not part of the replay (it goes out anyway).
    store
        .register(&key("7", "bills"), t0(), t0())
        .await
        .unwrap();
    let token = store
        .claim_due("a", hour(7), TimeDelta::minutes(5), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.key.resource == "bills")
        .and_then(|s| s.lease)
        .unwrap()
        .token;
    let mut late = commit(&key("7", "bills"), token, hour(8));
    late.notifications = vec![notification(
        &key("7", "bills"),
        9,
        hour(3),
        &body("UPDATED"),
    )];
    store.commit_poll(late).await.unwrap();
    let pending_before: Vec<_> = pending_ids(&store).await;
    assert_eq!(pending_before, [id(1, 9)]);

    // A full backlog holds the replay.
    let held = store.advance_replay(replay.id, 2, 1, now).await.unwrap();
    assert_eq!(held.replayed, 0, "advanced past a full backlog");
    // Chunks of two rows of the range (five rows; the types are matched after): the third
    // chunk comes up short and finishes it.
    let mut replayed = Vec::new();
    let mut done = held;
    for _ in 0..3 {
        done = store.advance_replay(replay.id, 2, 100, now).await.unwrap();
        replayed.push(done.replayed);
    }
    assert!(
        replayed
            .windows(2)
            .all(|w| w[0] <= w[1] && w[1] - w[0] <= 2),
        "{replayed:?}"
    );
    assert_eq!(replayed[2], 3, "{replayed:?}");
    assert_eq!(done.state, ReplayState::Done, "{done:?}");
    assert!(done.finished_at.is_some());
    let mut pending = pending_ids(&store).await;
    pending.sort();
    let mut expected = vec![id(1, 3), id(1, 4), id(1, 7), id(1, 9)];
    expected.sort();
    assert_eq!(pending, expected, "exactly 3, 4 and 7 re-queued (9 is new)");
    let requeued = store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.notification.id == id(1, 4))
        .unwrap();
    assert_eq!((requeued.attempts, requeued.next_attempt), (0, now));
    assert_eq!(
        store.list_attempts(&id(1, 4)).await.unwrap().len(),
        1,
        "the delivery log keeps the first delivery"
    );
    // A finished replay does not move again.
    let again = store.advance_replay(replay.id, 2, 100, now).await.unwrap();
    assert_eq!(again, done);

    // Cancelled after one chunk: nothing more is re-queued.
    let everything = pollen_store::ReplayFilter::new("7", hour(0), hour(6));
    let cancelled = store.start_replay(&everything, now).await.unwrap();
    assert_eq!(cancelled.total, 8, "1 to 7, and 9 now");
    let first = store
        .advance_replay(cancelled.id, 1, 100, now)
        .await
        .unwrap();
    assert_eq!(first.replayed, 1);
    let stopped = store.cancel_replay(cancelled.id, now).await.unwrap();
    assert_eq!(stopped.state, ReplayState::Cancelled);
    let after = store
        .advance_replay(cancelled.id, 1, 100, now)
        .await
        .unwrap();
    assert_eq!((after.state, after.replayed), (ReplayState::Cancelled, 1));
    assert_eq!(store.cancel_replay(cancelled.id, now).await.unwrap(), after);

    // Four advancers over two handles take turns: every row is re-queued once.
    let shared = store.start_replay(&everything, now).await.unwrap();
    let handles = [Arc::new(db.open().await), Arc::new(db.open().await)];
    let advancers: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&handles[n % 2]);
            tokio::spawn(async move {
                for _ in 0..20 {
                    let r = store.advance_replay(shared.id, 1, 100, now).await.unwrap();
                    if r.state != ReplayState::Running {
                        return r;
                    }
                }
                panic!("replay {} not done after 20 chunks", shared.id)
            })
        })
        .collect();
    for advancer in advancers {
        let r = advancer.await.unwrap();
        assert_eq!((r.state, r.replayed), (ReplayState::Done, 8), "{r:?}");
    }

    let listed: Vec<i64> = store
        .list_replays(Some("7"), false)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [replay.id, cancelled.id, shared.id]);
    assert!(store.list_replays(None, true).await.unwrap().is_empty());
    assert!(store
        .list_replays(Some("8"), false)
        .await
        .unwrap()
        .is_empty());

    let empty = pollen_store::ReplayFilter::new("7", hour(5), hour(5));
    let err = store.start_replay(&empty, now).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let typo = range.event_types(vec!["CREATE".into()]);
    let err = store.count_replay(&typo).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = store.advance_replay(999, 1, 1, now).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// A replay to one lane re-queues that receiver's notifications of the range, no other's;
/// a lane of another instance is refused.
async fn replay_to_one_lane_requeues_only_its_notifications(db: &Db) {
    let store = db.open().await;
    let k = key("7", "invoices");
    let hour = |h: i64| t0() + TimeDelta::hours(h);
    let body = r#"{"message":{"events":[{"eventType":"CREATED"}]}}"#;
    store.register(&k, t0(), t0()).await.unwrap();
    let state = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 1)
        .await
        .unwrap()
        .remove(0);
    let mut c = commit(&k, state.lease.unwrap().token, hour(3));
    // Notifications 1 and 2 to the callback, 3 and 4 to subscription "audit", 5 to "crm".
    c.notifications = [
        (1, None),
        (2, None),
        (3, Some("audit")),
        (4, Some("audit")),
        (5, Some("crm")),
    ]
    .into_iter()
    .map(|(n, sub): (u32, Option<&str>)| pollen_core::Notification {
        subscription: sub.map(str::to_owned),
        ..notification(&k, n, hour(1), body)
    })
    .collect();
    store.commit_poll(c).await.unwrap();
    let now = hour(4);
    for entry in store
        .claim_outbox("s", now, TimeDelta::minutes(1), 100)
        .await
        .unwrap()
    {
        let token = entry.lease.unwrap().token;
        store
            .mark_delivered(&entry.notification.id, token, &attempt(now, 200, None))
            .await
            .unwrap();
    }
    let range = pollen_store::ReplayFilter::new("7", hour(0), hour(2));
    assert_eq!(store.count_replay(&range).await.unwrap(), 5);
    assert_eq!(
        store.count_replay(&range.clone().lane("7")).await.unwrap(),
        2
    );
    let audit = range.clone().lane("7/audit");
    assert_eq!(store.count_replay(&audit).await.unwrap(), 2);
    let replay = store.start_replay(&audit, now).await.unwrap();
    assert_eq!(replay.filter.lane.as_deref(), Some("7/audit"));
    let done = store.advance_replay(replay.id, 10, 100, now).await.unwrap();
    assert_eq!(
        (done.state, done.replayed),
        (ReplayState::Done, 2),
        "{done:?}"
    );
    let mut pending = pending_ids(&store).await;
    pending.sort();
    assert_eq!(
        pending,
        [id(1, 3), id(1, 4)],
        "only the audit lane re-queued"
    );
    let listed = store.list_replays(Some("7"), false).await.unwrap();
    assert_eq!(
        listed[0].filter.lane.as_deref(),
        Some("7/audit"),
        "{listed:?}"
    );
    let err = store
        .count_replay(&range.lane("8/audit"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

async fn pending_ids(store: &pollen_store::SqlStore) -> Vec<pollen_core::StableId> {
    let filter = OutboxFilter {
        status: Some(OutboxStatus::Pending),
        ..OutboxFilter::default()
    };
    store
        .list_outbox(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.notification.id)
        .collect()
}

/// A retired key is listed (newest first, opened) until it expires, dropped on demand, and
/// goes with its instance; a subscription's keys are its own.
async fn retired_keys_sign_until_they_expire(db: &Db) {
    let store = db.open().await;
    let (config, _) = secrets_fixture();
    let (instance, _) = store.create_instance(&config, t0()).await.unwrap();
    let retire = |subscription: Option<&'static str>, scheme, key: &'static str, hours: i64, at| {
        let store = &store;
        async move {
            store
                .retire_signing_key(
                    instance.id,
                    subscription,
                    scheme,
                    &Secret::new(key),
                    t0() + TimeDelta::hours(hours),
                    at,
                )
                .await
        }
    };
    retire(None, KeyScheme::Elements, "first-old", 24, t0())
        .await
        .unwrap();
    retire(
        None,
        KeyScheme::StandardWebhooks,
        "whsec_old",
        1,
        t0() + TimeDelta::minutes(1),
    )
    .await
    .unwrap();
    retire(Some("audit"), KeyScheme::Elements, "audit-old", 24, t0())
        .await
        .unwrap();
    let listed = |at| {
        let store = &store;
        async move {
            store
                .retired_signing_keys(instance.id, at)
                .await
                .unwrap()
                .into_iter()
                .map(|k| (k.subscription, k.scheme, k.key.expose().to_owned()))
                .collect::<Vec<_>>()
        }
    };
    let audit = (
        Some("audit".to_owned()),
        KeyScheme::Elements,
        "audit-old".to_owned(),
    );
    assert_eq!(
        listed(t0() + TimeDelta::minutes(2)).await,
        [
            (None, KeyScheme::StandardWebhooks, "whsec_old".to_owned()),
            audit.clone(),
            (None, KeyScheme::Elements, "first-old".to_owned()),
        ]
    );
    // The Standard Webhooks key's hour is over.
    assert_eq!(
        listed(t0() + TimeDelta::hours(1)).await,
        [
            audit.clone(),
            (None, KeyScheme::Elements, "first-old".to_owned())
        ]
    );
    let debug = format!(
        "{:?}",
        store.retired_signing_keys(instance.id, t0()).await.unwrap()
    );
    assert!(
        !debug.contains("first-old") && !debug.contains("audit-old"),
        "{debug}"
    );
    // Dropping the callback's keys leaves the subscription's, and the other way round.
    assert_eq!(
        store
            .drop_retired_signing_keys(instance.id, None, KeyScheme::Elements, t0())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        listed(t0()).await,
        [
            (None, KeyScheme::StandardWebhooks, "whsec_old".to_owned()),
            audit.clone()
        ]
    );
    assert_eq!(
        store
            .drop_retired_signing_keys(instance.id, Some("audit"), KeyScheme::Elements, t0())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        listed(t0()).await,
        [(None, KeyScheme::StandardWebhooks, "whsec_old".to_owned())]
    );
    // A subscription's retired keys stay while it does, and go with it.
    let mut with_audit = config.to_json(pollen_config::Secrets::Expose);
    with_audit["configuration"]["event.notification.subscriptions"] =
        serde_json::json!([{"name": "audit", "url": "https://audit.example/hook"}]);
    let with_audit = pollen_config::InstanceConfig::from_json_value(&with_audit)
        .unwrap()
        .config;
    retire(Some("audit"), KeyScheme::Elements, "audit-new", 24, t0())
        .await
        .unwrap();
    store
        .update_instance_config(instance.id, &with_audit, t0())
        .await
        .unwrap();
    assert_eq!(listed(t0()).await.len(), 2, "{:?}", listed(t0()).await);
    store
        .update_instance_config(instance.id, &config, t0())
        .await
        .unwrap();
    assert_eq!(
        listed(t0()).await,
        [(None, KeyScheme::StandardWebhooks, "whsec_old".to_owned())],
        "the removed subscription's key kept"
    );
    retire(None, KeyScheme::Elements, "second-old", 1, t0())
        .await
        .unwrap();
    let err = store
        .retire_signing_key(
            999_999,
            None,
            KeyScheme::Elements,
            &Secret::new("k"),
            t0(),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    store.delete_instance(instance.id).await.unwrap();
    assert!(
        listed(t0()).await.is_empty(),
        "kept after the instance was deleted"
    );
}
