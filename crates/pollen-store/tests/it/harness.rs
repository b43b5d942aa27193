//! Test databases: a fresh SQLite file or a fresh PostgreSQL schema per test, so tests run in
//! parallel, and raw access to them for what the store's API cannot show.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pollen_store::{Backend, SecretKey, SqlStore, StoreOptions};
use rand::Rng;
use sqlx::{Connection, Executor, Row};

/// The PostgreSQL server of the tests, from `POLLEN_TEST_DATABASE_URL`.
pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("POLLEN_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Says that a PostgreSQL test was skipped, and why.
pub(crate) fn skipped(test: &str) {
    eprintln!("{test}: skipped: POLLEN_TEST_DATABASE_URL is not set (PostgreSQL tests need it)");
}

static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

/// One empty database: a SQLite file in its own directory, or a PostgreSQL schema dropped when
/// this is dropped.
#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) backend: Backend,
    url: String,
    schema: Option<String>,
    dir: Option<tempfile::TempDir>,
    pub(crate) key: SecretKey,
}

impl Db {
    pub(crate) fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path = dir.path().join(format!("pollen-{n}.db"));
        Db {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", path.display()),
            schema: None,
            dir: Some(dir),
            key: SecretKey::generate(),
        }
    }

    /// A fresh schema on the test server; `None` without `POLLEN_TEST_DATABASE_URL`.
    pub(crate) fn postgres() -> Option<Db> {
        let url = postgres_url()?;
        let schema = format!("pollen_test_{:016x}", rand::thread_rng().gen::<u64>());
        Some(Db {
            backend: Backend::Postgres,
            url,
            schema: Some(schema),
            dir: None,
            key: SecretKey::generate(),
        })
    }

    pub(crate) fn of(backend: Backend) -> Option<Db> {
        match backend {
            Backend::Sqlite => Some(Db::sqlite()),
            _ => Db::postgres(),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite file.
    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from(self.url.trim_start_matches("sqlite://"))
    }

    /// The directory of the SQLite file.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.as_ref().expect("a SQLite database").path()
    }

    pub(crate) fn options(&self, key: SecretKey) -> StoreOptions {
        let options = StoreOptions::new(key).max_connections(4);
        match &self.schema {
            Some(schema) => options.schema(schema.clone()),
            None => options,
        }
    }

    /// A new handle (its own pool, as another process would have) with the database's key.
    pub(crate) async fn open(&self) -> SqlStore {
        self.try_open(self.key.clone())
            .await
            .expect("the test database opens")
    }

    pub(crate) async fn try_open(&self, key: SecretKey) -> pollen_store::Result<SqlStore> {
        SqlStore::open(&self.url, self.options(key)).await
    }

    /// Runs `sql` (one or more statements) on a connection of its own.
    pub(crate) async fn exec(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("a raw sqlite connection");
                conn.execute(sql).await.expect("raw sql runs");
                conn.close().await.ok();
            }
            _ => {
                let mut conn = self.pg_connection().await;
                conn.execute(sql).await.expect("raw sql runs");
                conn.close().await.ok();
            }
        }
    }

    /// The first column of every row of `sql`, as text.
    pub(crate) async fn query_text(&self, sql: &str) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("a raw sqlite connection");
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("query");
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            _ => {
                let mut conn = self.pg_connection().await;
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("query");
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
        }
    }

    pub(crate) async fn pg_connection(&self) -> sqlx::PgConnection {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("a raw postgres connection");
        let schema = self.schema.as_deref().expect("a schema");
        conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
            .await
            .expect("search_path");
        conn
    }

    /// Every byte the database holds, as an attacker with a copy would see it: the SQLite file
    /// and its WAL; every row of every PostgreSQL table as text (bytea as hex).
    pub(crate) async fn raw_contents(&self) -> Vec<u8> {
        match self.backend {
            Backend::Sqlite => {
                let mut bytes = std::fs::read(self.path()).expect("the database file");
                let wal = PathBuf::from(format!("{}-wal", self.path().display()));
                if let Ok(more) = std::fs::read(wal) {
                    bytes.extend(more);
                }
                bytes
            }
            _ => {
                let schema = self.schema.clone().expect("a schema");
                let tables = self
                    .query_text(&format!(
                        "SELECT table_name::text FROM information_schema.tables \
                         WHERE table_schema = '{schema}'"
                    ))
                    .await;
                assert!(tables.len() >= 8, "tables of {schema}: {tables:?}");
                let mut text = String::new();
                for table in tables {
                    let rows = self
                        .query_text(&format!("SELECT t::text FROM \"{table}\" t"))
                        .await;
                    for row in rows {
                        text.push_str(&row);
                        text.push('\n');
                    }
                }
                text.into_bytes()
            }
        }
    }

    /// Makes every insert into the outbox whose body is `body` fail, as a constraint would.
    pub(crate) async fn inject_outbox_failure(&self, body: &str) {
        match self.backend {
            Backend::Sqlite => {
                self.exec(&format!(
                    "CREATE TRIGGER inject_failure BEFORE INSERT ON outbox_body \
                     WHEN NEW.body = '{body}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                ))
                .await;
            }
            _ => {
                self.exec(&format!(
                    "CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF NEW.body = '{body}' THEN RAISE EXCEPTION 'injected failure'; END IF; \
                     RETURN NEW; END $$; \
                     CREATE TRIGGER inject_failure BEFORE INSERT ON outbox \
                     FOR EACH ROW EXECUTE FUNCTION inject_failure()"
                ))
                .await;
            }
        }
    }

    pub(crate) async fn remove_injected_failure(&self) {
        match self.backend {
            Backend::Sqlite => self.exec("DROP TRIGGER inject_failure").await,
            _ => {
                self.exec("DROP TRIGGER inject_failure ON outbox; DROP FUNCTION inject_failure()")
                    .await;
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (Some(schema), Some(url)) = (self.schema.take(), postgres_url()) else {
            return;
        };
        // Dropped inside a runtime, possibly while panicking: drop the schema from a thread
        // with a runtime of its own.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    if let Err(e) = conn.execute(sql.as_str()).await {
                        eprintln!("could not drop test schema {schema}: {e}");
                    }
                    conn.close().await.ok();
                }
            });
        });
        done.join().ok();
    }
}

/// Runs `check` against a fresh database of each backend (PostgreSQL only when configured).
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::harness::Db::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::harness::Db::postgres() {
                        Some(db) => super::$name(&db).await,
                        None => $crate::harness::skipped(stringify!($name)),
                    }
                }
            )*
        }
    };
}
