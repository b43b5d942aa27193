//! Opening the store named by `--db`, with its secret key.

use std::sync::Arc;

use pollen_store::{DatabaseUrl, SecretKey, SqlStore, StoreOptions};

use crate::error::{Error, ErrorKind, Result};

/// The database when `--db` is not given: `pollen.db` in the working directory.
pub const DEFAULT_DB_URL: &str = "sqlite://pollen.db";

/// The environment variable holding the base64 secret key that encrypts secrets at rest.
pub const SECRET_KEY_ENV: &str = "POLLEN_SECRET_KEY";

/// Opens `url` (`sqlite://PATH` or `postgres://...`). The secret key is `POLLEN_SECRET_KEY`
/// when set; otherwise, for SQLite only, the key file beside the database (created on first
/// use). PostgreSQL without `POLLEN_SECRET_KEY` is an error: several workers must share one key.
///
/// A PostgreSQL URL may name the schema of pollen's tables with `?schema=NAME` (created if
/// missing; default the server's search path), so several deployments — or test runs — can
/// share one database.
pub async fn open_store(url: &str) -> Result<Arc<SqlStore>> {
    open(url, false).await
}

/// [`open_store`] for a process that polls and delivers (`run`, `serve`): an embedded
/// database is held alone, with an exclusive lock on `PATH.lock` beside it. A second such
/// process on the same file is refused, naming the file and the pid that holds it, before it
/// changes anything; readers (`pollen events`, `pollen workers`) still open it.
pub async fn open_worker_store(url: &str) -> Result<Arc<SqlStore>> {
    open(url, true).await
}

async fn open(url: &str, exclusive: bool) -> Result<Arc<SqlStore>> {
    let (url, schema) = split_schema(url);
    let url = url.as_str();
    let parsed = DatabaseUrl::parse(url).map_err(Error::wrap(
        ErrorKind::InvalidInput,
        format_args!("--db {url}"),
    ))?;
    let key = match std::env::var(SECRET_KEY_ENV) {
        Ok(text) => SecretKey::from_base64(text.trim())
            .map_err(Error::wrap(ErrorKind::InvalidInput, SECRET_KEY_ENV))?,
        Err(_) => match parsed.sqlite_path() {
            Some(path) => SecretKey::load_or_create_beside(path).map_err(Error::wrap(
                ErrorKind::Store,
                format_args!("the key file beside {}", path.display()),
            ))?,
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{SECRET_KEY_ENV} must be set to use a PostgreSQL database (every worker needs the same key)"),
                ))
            }
        },
    };
    let mut options = StoreOptions::new(key);
    if exclusive {
        options = options.exclusive();
    }
    if let Some(schema) = schema {
        options = options.schema(schema);
    }
    let store = SqlStore::open(url, options).await.map_err(Error::wrap(
        ErrorKind::Store,
        format_args!("opening {}", redact_url(url)),
    ))?;
    Ok(Arc::new(store))
}

/// A PostgreSQL URL without its `schema` query parameter, and the schema.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return (url.to_owned(), None);
    }
    let mut schema = None;
    let rest: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(name, value)| {
            if name == "schema" {
                schema = Some(value.into_owned());
                None
            } else {
                Some((name.into_owned(), value.into_owned()))
            }
        })
        .collect();
    if schema.is_none() {
        return (url.to_owned(), None);
    }
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    (parsed.to_string(), schema)
}

/// `url` without a password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_taken_out_of_postgres_urls_only() {
        assert_eq!(
            split_schema("postgres://u@h:5432/db?schema=run_1"),
            (
                "postgres://u@h:5432/db".to_owned(),
                Some("run_1".to_owned())
            )
        );
        assert_eq!(
            split_schema("postgresql://h/db?sslmode=disable&schema=s"),
            (
                "postgresql://h/db?sslmode=disable".to_owned(),
                Some("s".to_owned())
            )
        );
        assert_eq!(
            split_schema("postgres://h/db"),
            ("postgres://h/db".to_owned(), None)
        );
        assert_eq!(
            split_schema("sqlite://x.db?schema=s"),
            ("sqlite://x.db?schema=s".to_owned(), None)
        );
    }
}
