//! How a store is opened: the database URL and the options.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{Error, ErrorKind, Result};
use crate::key::SecretKey;

/// Which database a URL names.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` or `sqlite:PATH`: an embedded database file (relative paths are relative
    /// to the working directory; `sqlite:///abs/path.db` is absolute).
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, passed to the driver as written.
    Postgres(String),
}

impl DatabaseUrl {
    /// The default: `sqlite://pollen.db` in the working directory.
    pub const DEFAULT: &'static str = "sqlite://pollen.db";

    /// Parses a `--db` value. Errors name the problem, never the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some("") => Err(Error::new(
                ErrorKind::InvalidUrl,
                "the sqlite url names no file: write sqlite://PATH, e.g. sqlite://pollen.db",
            )),
            Some(path) if path.starts_with(":memory:") || path.contains('?') => Err(Error::new(
                ErrorKind::InvalidUrl,
                format!(
                    "the sqlite url `{url}` is not supported: write sqlite://PATH to a file \
                     (in-memory databases and url options are not accepted)"
                ),
            )),
            Some(path) => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
            None => Err(Error::new(
                ErrorKind::InvalidUrl,
                format!(
                    "the database url must start with sqlite:// or postgres://, found `{}`",
                    scheme_of(url)
                ),
            )),
        }
    }

    /// The database file, for an embedded database (where its key file goes).
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::Postgres(_) => None,
        }
    }
}

/// The part of a URL before `://` (or the first 12 characters): enough to say what it is
/// without quoting a password.
fn scheme_of(url: &str) -> String {
    match url.find("://") {
        Some(end) => format!("{}://", &url[..end]),
        None => url.chars().take(12).collect(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            // The URL may carry a password.
            DatabaseUrl::Postgres(_) => f.write_str("Postgres(***)"),
        }
    }
}

/// Options of [`SqlStore::open`](crate::SqlStore::open).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// The key that encrypts secrets at rest.
    pub secret_key: SecretKey,
    /// Connections in the pool (PostgreSQL), or readers (SQLite, which has one writer).
    /// Default 8.
    pub max_connections: u32,
    /// How long a SQLite writer waits for another process's write lock, and how long any
    /// caller waits for a pooled connection. Default 10 s.
    pub busy_timeout: Duration,
    /// PostgreSQL only: keep pollen's tables in this schema (created if missing) instead of
    /// the connection's default; an identifier of lowercase letters, digits and `_`.
    pub schema: Option<String>,
    /// SQLite only: hold the database alone. [`SqlStore::open`](crate::SqlStore::open) takes an
    /// exclusive lock on `PATH.lock` beside the file (writing its pid there) and fails with
    /// [`ErrorKind::InUse`] naming the holder if another process has it; the lock goes with the
    /// process, however it ends. Default `false`: readers such as `pollen events` open the file
    /// beside a running poller.
    pub exclusive: bool,
}

impl StoreOptions {
    /// Defaults with `secret_key`.
    pub fn new(secret_key: SecretKey) -> Self {
        StoreOptions {
            secret_key,
            max_connections: 8,
            busy_timeout: Duration::from_secs(10),
            schema: None,
            exclusive: false,
        }
    }

    /// With `max_connections`.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    /// With `busy_timeout`.
    pub fn busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    /// Holding the SQLite database alone (see [`StoreOptions::exclusive`]).
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }

    /// With the PostgreSQL `schema`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}

/// How long [`SqlStore::prune`](crate::SqlStore::prune) keeps rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// De-duplication keys whose age reference is older than this are forgotten (the core
    /// already prunes each key's window at every commit; this bounds keys of resources no
    /// longer polled). Default 7 days: far beyond any overlap window.
    pub seen: TimeDelta,
    /// Delivered notifications (and their delivery logs) delivered longer ago than this are
    /// deleted. Default 7 days. Pending and queued notifications are never pruned.
    pub delivered: TimeDelta,
    /// Rows deleted per statement, so that pruning never holds a long transaction.
    /// Default 5,000.
    pub batch: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            seen: TimeDelta::days(7),
            delivered: TimeDelta::days(7),
            batch: 5_000,
        }
    }
}

impl Retention {
    /// With `seen` and `delivered` retention.
    pub fn new(seen: TimeDelta, delivered: TimeDelta) -> Self {
        Retention {
            seen,
            delivered,
            ..Retention::default()
        }
    }
}

/// What [`SqlStore::prune`](crate::SqlStore::prune) removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// De-duplication keys forgotten.
    pub seen: u64,
    /// Delivered notifications deleted (with their delivery logs).
    pub delivered: u64,
    /// Finished or cancelled replays deleted, once finished longer ago than the delivered
    /// notifications are kept.
    pub replays: u64,
    /// Signing keys deleted whose grace period had ended.
    pub retired_keys: u64,
    /// Resolved alerts deleted (with their deliveries), once resolved longer ago than the
    /// delivered notifications are kept and announced.
    pub alerts: u64,
}

/// What [`SqlStore::rewind`](crate::SqlStore::rewind) changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rewound {
    /// The watermark before.
    pub previous: DateTime<Utc>,
    /// The watermark now: the next poll reads from here.
    pub watermark: DateTime<Utc>,
    /// De-duplication keys forgotten (those of changes at or after the new watermark), so
    /// that the next poll emits those changes again, with their stable ids.
    pub forgotten: u64,
    /// Whether a poll was in flight: its lease was taken, so it stops at its next renewal
    /// and commits nothing.
    pub interrupted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://pollen.db").unwrap(),
            DatabaseUrl::Sqlite("pollen.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/pollen/p.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/pollen/p.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db").unwrap(),
            DatabaseUrl::Sqlite("x.db".into())
        );
        let pg = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert_eq!(format!("{pg:?}"), "Postgres(***)");
        let err = DatabaseUrl::parse("mysql://u:hunter2@h/db").unwrap_err();
        assert_eq!(
            err.message(),
            "the database url must start with sqlite:// or postgres://, found `mysql://`"
        );
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://x.db?mode=rwc").is_err());
    }
}
