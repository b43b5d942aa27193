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
pub async fn open_store(url: &str) -> Result<Arc<SqlStore>> {
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
    let store = SqlStore::open(url, StoreOptions::new(key))
        .await
        .map_err(Error::wrap(
            ErrorKind::Store,
            format_args!("opening {}", redact_url(url)),
        ))?;
    Ok(Arc::new(store))
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
