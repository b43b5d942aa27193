//! What only the embedded database has: the file, its modes, the key file, the busy timeout.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::TimeDelta;
use pollen_core::Store;
use pollen_store::{ErrorKind, SecretKey, SqlStore, StoreOptions};
use sqlx::{Connection, Executor};

use crate::harness::Db;
use crate::support::{claim_one, commit, key, notification, t0};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn database_wal_and_key_files_are_private() {
    let db = Db::sqlite();
    let key = SecretKey::load_or_create_beside(&db.path()).unwrap();
    let store = SqlStore::open(db.url(), StoreOptions::new(key.clone()))
        .await
        .unwrap();
    let k = key_of();
    store.register(&k, t0(), t0()).await.unwrap();
    let token = claim_one(&store, "a", t0()).await;
    let mut c = commit(&k, token, t0());
    c.notifications = vec![notification(&k, 1, t0(), "{}")];
    store.commit_poll(c).await.unwrap();

    let path = db.path();
    assert_eq!(mode(&path), 0o600, "the database file");
    assert_eq!(
        mode(Path::new(&format!("{}-wal", path.display()))),
        0o600,
        "the WAL"
    );
    assert_eq!(
        mode(Path::new(&format!("{}-shm", path.display()))),
        0o600,
        "the shared memory"
    );
    let key_file = SecretKey::key_file_beside(&path);
    assert_eq!(
        key_file,
        db.dir().join(format!(
            "{}.key",
            path.file_name().unwrap().to_str().unwrap()
        ))
    );
    assert_eq!(mode(&key_file), 0o600, "the key file");

    // The key file is read, not replaced, on the next start.
    assert_eq!(SecretKey::load_or_create_beside(&path).unwrap(), key);
    let journal = db.query_text("PRAGMA journal_mode").await;
    assert_eq!(journal, ["wal"]);
    let versions = db
        .query_text("SELECT CAST(version AS TEXT) FROM _sqlx_migrations ORDER BY version")
        .await;
    assert_eq!(
        versions,
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"],
        "migrations applied on start"
    );
}

fn key_of() -> pollen_core::PollKey {
    key("1", "customers")
}

#[tokio::test]
async fn a_damaged_key_file_is_a_clear_error() {
    let db = Db::sqlite();
    let key_file = SecretKey::key_file_beside(&db.path());
    std::fs::write(&key_file, "c2hvcnQ=\n").unwrap();
    let err = SecretKey::load_or_create_beside(&db.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Key);
    assert_eq!(
        err.message(),
        format!(
            "key file {}: the secret key must be base64 of 32 bytes, found 5 bytes",
            key_file.display()
        )
    );
}

#[tokio::test]
async fn a_missing_directory_is_a_clear_error() {
    let db = Db::sqlite();
    let path = db.dir().join("no/such/dir/pollen.db");
    let err = SqlStore::open(
        &format!("sqlite://{}", path.display()),
        StoreOptions::new(SecretKey::generate()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert_eq!(
        err.message(),
        format!(
            "cannot create the database file {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

/// Another process holding the write lock makes a writer wait up to the busy timeout, not
/// fail at once; past the timeout the write fails cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_wait_for_the_busy_timeout() {
    let db = Db::sqlite();
    let patient = SqlStore::open(
        db.url(),
        db.options(db.key.clone())
            .busy_timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let hasty = SqlStore::open(
        db.url(),
        db.options(db.key.clone())
            .busy_timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let mut other = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();

    let err = hasty.register(&key_of(), t0(), t0()).await.unwrap_err();
    assert_eq!(err.kind(), pollen_core::ErrorKind::Store);
    assert!(err.message().contains("database is locked"), "{err}");

    let waiting = tokio::spawn(async move {
        patient
            .register(&key_of(), t0(), t0() + TimeDelta::minutes(1))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the writer did not wait for the lock"
    );
    other.execute("COMMIT").await.unwrap();
    let state = waiting.await.unwrap().unwrap();
    assert_eq!(state.next_due, t0() + TimeDelta::minutes(1));
}

#[tokio::test]
async fn urls_that_are_not_files_are_refused() {
    for (url, message) in [
        (
            "sqlite::memory:",
            "the sqlite url `sqlite::memory:` is not supported: write sqlite://PATH to a file \
             (in-memory databases and url options are not accepted)",
        ),
        (
            "mysql://root:hunter2@db/pollen",
            "the database url must start with sqlite:// or postgres://, found `mysql://`",
        ),
        (
            "postgres://u:hunter2@h:notaport/db",
            "the postgres url is not valid: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        ),
    ] {
        let err = SqlStore::open(url, StoreOptions::new(SecretKey::generate()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{url}");
        assert_eq!(err.message(), message);
        assert!(!err.message().contains("hunter2"));
    }
}

/// A database written by the version before bodies moved to their own table (migration 5)
/// keeps every notification, byte for byte, and the new version claims and records it.
#[tokio::test]
async fn notifications_survive_the_move_of_bodies_to_their_own_table() {
    let db = Db::sqlite();
    // Version 4: the migrations before 5, applied from copies of their files.
    let old = tempfile::tempdir().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    std::fs::File::create(db.path()).unwrap();
    let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    let body = "{\"n\":1,\"text\":\"caf\u{e9} \\u00e9\"}";
    conn.execute(
        format!(
            "INSERT INTO outbox (id, instance, resource, created_at, event_ids, body, status, \
             next_attempt) VALUES (zeroblob(15) || X'01', '7', 'invoices', 0, X'', '{body}', \
             'pending', 0)"
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = SqlStore::open(db.url(), StoreOptions::new(SecretKey::generate()))
        .await
        .unwrap();
    let listed = store.list_outbox(&Default::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].notification.body, body);
    let claimed = store
        .claim_outbox("a", t0() + TimeDelta::days(1), TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].notification.body, body);
}

#[tokio::test]
async fn an_exclusive_open_locks_the_file_and_a_second_is_refused_naming_the_holder() {
    let db = Db::sqlite();
    let key = SecretKey::load_or_create_beside(&db.path()).unwrap();
    let first = SqlStore::open(db.url(), StoreOptions::new(key.clone()).exclusive())
        .await
        .unwrap();
    assert!(first.exclusive());
    let k = key_of();
    first.register(&k, t0(), t0()).await.unwrap();
    let lock = db.dir().join(format!(
        "{}.lock",
        db.path().file_name().unwrap().to_str().unwrap()
    ));
    let written = std::fs::read_to_string(&lock).unwrap();
    assert!(
        written.starts_with(&format!("pid {},", std::process::id())),
        "the lock file holds {written:?}"
    );
    assert_eq!(mode(&lock), 0o600, "the lock file");

    let err = SqlStore::open(db.url(), StoreOptions::new(key.clone()).exclusive())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InUse);
    let message = err.to_string();
    assert!(
        message.contains(&db.path().display().to_string())
            && message.contains(&lock.display().to_string())
            && message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    // A reader (not exclusive) opens beside the holder and sees its data.
    let reader = SqlStore::open(db.url(), StoreOptions::new(key.clone()))
        .await
        .unwrap();
    assert!(!reader.exclusive());
    assert!(reader.load(&k).await.unwrap().is_some());
    reader.close().await;

    // Closed, the lock is free for the next process.
    first.close().await;
    assert!(!first.exclusive());
    let next = SqlStore::open(db.url(), StoreOptions::new(key).exclusive())
        .await
        .unwrap();
    assert!(next.exclusive());
    next.close().await;
}
