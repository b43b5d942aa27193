//! What Sage sources keep in the store: an instance's OAuth tokens (encrypted credentials),
//! and the rate budgets shared by the processes on one database.

use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use pollen_core::{Purpose, RateBucket, RateTake};
use pollen_sage::{BudgetStore, TokenStore, Tokens};
use pollen_store::{Credentials, InstanceStatus, SqlStore};

/// The [`TokenStore`] of instance `id`: every rotated token pair is saved, encrypted, in the
/// store, so a restart (or another worker) picks up where this one left off.
#[derive(Debug, Clone)]
pub(crate) struct SqlTokenStore {
    store: Arc<SqlStore>,
    id: i64,
}

impl SqlTokenStore {
    pub(crate) fn new(store: Arc<SqlStore>, id: i64) -> Self {
        SqlTokenStore { store, id }
    }
}

fn source_error(context: &str, error: impl std::fmt::Display) -> pollen_sage::Error {
    pollen_sage::Error::new(
        pollen_sage::ErrorKind::TokenStore,
        format!("{context}: {error}"),
    )
}

impl TokenStore for SqlTokenStore {
    fn load(&self) -> BoxFuture<'_, pollen_sage::Result<Option<Tokens>>> {
        Box::pin(async move {
            let credentials = self
                .store
                .credentials(self.id)
                .await
                .map_err(|e| source_error("loading the instance's tokens", e))?;
            Ok(credentials.and_then(|c| {
                let access = c.access_token?;
                let mut tokens = Tokens::new(access, c.refresh_token);
                if let Some(at) = c.expires_at {
                    tokens = tokens.expiring_at(at);
                }
                Some(tokens)
            }))
        })
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, pollen_sage::Result<()>> {
        Box::pin(async move {
            let credentials = Credentials::new(
                Some(tokens.access_token.clone()),
                tokens.refresh_token.clone(),
                tokens.expires_at,
            );
            self.store
                .save_credentials(self.id, &credentials, Utc::now())
                .await
                .map_err(|e| source_error("saving the instance's tokens", e))
        })
    }

    fn needs_reauthorization<'a>(
        &'a self,
        reason: &'a str,
    ) -> BoxFuture<'a, pollen_sage::Result<()>> {
        Box::pin(async move {
            tracing::warn!(instance = self.id, %reason, "the instance must be authorized again");
            self.store
                .set_instance_status(self.id, InstanceStatus::NeedsReauthorization, Utc::now())
                .await
                .map_err(|e| source_error("marking the instance for re-authorization", e))
        })
    }
}

/// The [`BudgetStore`] of processes sharing a database: one bucket row per Sage business
/// ([`SqlStore::take_rate_token`]).
#[derive(Debug, Clone)]
pub(crate) struct SqlBudgetStore {
    store: Arc<SqlStore>,
}

impl SqlBudgetStore {
    pub(crate) fn new(store: Arc<SqlStore>) -> Self {
        SqlBudgetStore { store }
    }
}

impl BudgetStore for SqlBudgetStore {
    fn take<'a>(
        &'a self,
        business: &'a str,
        bucket: RateBucket,
        purpose: Purpose,
    ) -> BoxFuture<'a, pollen_sage::Result<RateTake>> {
        Box::pin(async move {
            self.store
                .take_rate_token(business, bucket, purpose)
                .await
                .map_err(|e| {
                    pollen_sage::Error::new(
                        pollen_sage::ErrorKind::BudgetStore,
                        format!("taking a call from the rate budget of {business}: {e}"),
                    )
                })
        })
    }
}
