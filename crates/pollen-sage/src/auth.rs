//! OAuth 2 as Sage runs it: a single-use authorization code exchanged once, access tokens that
//! live five minutes, refresh tokens that rotate on every refresh and must be persisted.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use pollen_config::Secret;
use pollen_core::Clock;
use serde_json::Value;
use tracing::Instrument;

use crate::error::{Error, ErrorKind, Result};
use crate::settings::SageSettings;

/// The OAuth tokens of one instance. `Debug` masks both tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tokens {
    /// The bearer token.
    pub access_token: Secret,
    /// The single-use token of the next refresh.
    pub refresh_token: Option<Secret>,
    /// When the access token expires; `None` when unknown (then it is refreshed on a 401).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires, when Sage says (v3.1).
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// v3: the business the token is for, sent as `X-Site`.
    pub resource_owner_id: Option<String>,
    /// v3.1: the user who granted the token.
    pub requested_by_id: Option<String>,
}

impl Tokens {
    /// Tokens with unknown expiry (as `providerData` gives them).
    pub fn new(access_token: Secret, refresh_token: Option<Secret>) -> Self {
        Tokens {
            access_token,
            refresh_token,
            expires_at: None,
            refresh_token_expires_at: None,
            resource_owner_id: None,
            requested_by_id: None,
        }
    }

    /// Sets when the access token expires.
    pub fn expiring_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the v3 `resource_owner_id`.
    pub fn for_resource_owner(mut self, id: impl Into<String>) -> Self {
        self.resource_owner_id = Some(id.into());
        self
    }

    /// Reads a token endpoint response received at `now`.
    fn from_response(body: &Value, now: DateTime<Utc>) -> Option<Tokens> {
        let text = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let seconds = |name: &str| {
            let value = body.get(name)?;
            let secs = value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
            Some(now + TimeDelta::seconds(secs))
        };
        Some(Tokens {
            access_token: Secret::new(text("access_token")?),
            refresh_token: text("refresh_token").map(Secret::new),
            expires_at: seconds("expires_in"),
            refresh_token_expires_at: seconds("refresh_token_expires_in"),
            resource_owner_id: text("resource_owner_id"),
            requested_by_id: text("requested_by_id"),
        })
    }
}

/// Where an instance's tokens live between runs: Sage rotates the refresh token on every
/// refresh, so each new pair must be saved before the old one is forgotten.
///
/// `pollen-store` implements it on its database (one value per instance); tests use
/// [`MemoryTokenStore`]. Implement the methods as `Box::pin(async move { … })`.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The saved tokens, if any.
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>>>;

    /// Saves `tokens`, replacing the previous ones.
    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<()>>;

    /// The instance needs to be authorised again, for `reason` (to persist and show as its
    /// status). The default does nothing.
    fn needs_reauthorization<'a>(&'a self, reason: &'a str) -> BoxFuture<'a, Result<()>> {
        let _ = reason;
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A [`TokenStore`] in memory, for tests and one-off runs. It counts saves and remembers the
/// last re-authorisation reason.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<Option<Tokens>>,
    saves: AtomicU64,
    reauthorization: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a plain assignment: a poisoned lock still holds valid data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTokenStore::default()
    }

    /// A store holding `tokens`.
    pub fn with_tokens(tokens: Tokens) -> Self {
        let store = MemoryTokenStore::new();
        *lock(&store.tokens) = Some(tokens);
        store
    }

    /// The tokens saved last.
    pub fn tokens(&self) -> Option<Tokens> {
        lock(&self.tokens).clone()
    }

    /// How many times [`TokenStore::save`] was called.
    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::SeqCst)
    }

    /// The reason given to [`TokenStore::needs_reauthorization`], if it was called.
    pub fn reauthorization_reason(&self) -> Option<String> {
        lock(&self.reauthorization).clone()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>>> {
        Box::pin(std::future::ready(Ok(self.tokens())))
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<()>> {
        *lock(&self.tokens) = Some(tokens.clone());
        self.saves.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(())))
    }

    fn needs_reauthorization<'a>(&'a self, reason: &'a str) -> BoxFuture<'a, Result<()>> {
        *lock(&self.reauthorization) = Some(reason.to_owned());
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Whether the instance can call Sage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthStatus {
    /// Tokens are held, or not yet loaded; requests go out.
    Ready,
    /// Sage refused the grant (or there is none); nothing is sent until
    /// [`SageSource::exchange_code`](crate::SageSource::exchange_code) or
    /// [`SageSource::set_tokens`](crate::SageSource::set_tokens).
    NeedsReauthorization {
        /// Why, for people (never a token).
        reason: String,
    },
}

/// How many token grants one instance made since its source was built (successful ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthStats {
    /// Authorization codes exchanged for tokens.
    pub code_exchanges: u64,
    /// Refresh-token grants (each rotates the refresh token).
    pub refreshes: u64,
    /// Refreshes Sage refused (or that had no refresh token): the instance needs
    /// re-authorization.
    pub refreshes_refused: u64,
    /// Refreshes that failed on what may pass (5xx, 429, the network) after their retries.
    pub refreshes_failed: u64,
}

/// After a refused refresh, how often and how long apart the token store is checked for a
/// pair another worker rotated in the meantime, before the instance is given up.
const REFUSED_REFRESH_CHECKS: u32 = 4;
const REFUSED_REFRESH_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// What a request needs from the current tokens.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) access_token: Secret,
    pub(crate) resource_owner_id: Option<String>,
    /// Bumped by every new token pair: a 401 refreshes only if no one refreshed since.
    pub(crate) generation: u64,
}

#[derive(Debug, Default)]
struct State {
    loaded: bool,
    tokens: Option<Tokens>,
    generation: u64,
    unsaved: bool,
    code: Option<Secret>,
    seed: Option<Tokens>,
    needs_reauthorization: Option<String>,
}

/// How a token request failed.
enum Failure {
    /// Sage refused the grant or the client: retrying cannot help.
    Refused(String),
    /// May pass: 5xx, 429, the network, a body that is not a token response.
    Transient(Error),
}

/// The token side of one instance: at most one token request in flight (the state lock is
/// held across it), every new pair saved through the [`TokenStore`].
#[derive(Debug)]
pub(crate) struct Auth {
    http: reqwest::Client,
    settings: Arc<SageSettings>,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    state: tokio::sync::Mutex<State>,
    status: Mutex<AuthStatus>,
    code_exchanges: AtomicU64,
    refreshes: AtomicU64,
    refreshes_refused: AtomicU64,
    refreshes_failed: AtomicU64,
}

fn needs_reauthorization(reason: &str) -> Error {
    Error::new(
        ErrorKind::NeedsReauthorization,
        format!("the instance needs to be authorised again: {reason}"),
    )
}

impl Auth {
    pub(crate) fn new(
        http: reqwest::Client,
        settings: Arc<SageSettings>,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        code: Option<Secret>,
        seed: Option<Tokens>,
    ) -> Auth {
        Auth {
            http,
            settings,
            store,
            clock,
            state: tokio::sync::Mutex::new(State {
                code,
                seed,
                ..State::default()
            }),
            status: Mutex::new(AuthStatus::Ready),
            code_exchanges: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            refreshes_refused: AtomicU64::new(0),
            refreshes_failed: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> AuthStats {
        AuthStats {
            code_exchanges: self.code_exchanges.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
            refreshes_refused: self.refreshes_refused.load(Ordering::Relaxed),
            refreshes_failed: self.refreshes_failed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn status(&self) -> AuthStatus {
        lock(&self.status).clone()
    }

    /// Valid credentials: loaded, exchanged or refreshed first when needed.
    pub(crate) async fn access(&self) -> Result<Credentials> {
        let mut state = self.state.lock().await;
        if let Some(reason) = &state.needs_reauthorization {
            return Err(needs_reauthorization(reason));
        }
        if !state.loaded {
            self.load(&mut state).await?;
        }
        if state.unsaved {
            self.save(&mut state).await?;
        }
        let margin = TimeDelta::from_std(self.settings.refresh_margin).unwrap_or(TimeDelta::MAX);
        let expiring = state
            .tokens
            .as_ref()
            .and_then(|t| t.expires_at)
            .is_some_and(|at| self.clock.now() >= at - margin);
        if expiring {
            // Another worker sharing the token store may have refreshed already: its pair is
            // the live one (ours is spent), and may be fresh enough.
            let adopted = self.adopt_stored(&mut state).await?;
            let still_expiring = state
                .tokens
                .as_ref()
                .and_then(|t| t.expires_at)
                .is_some_and(|at| self.clock.now() >= at - margin);
            if !adopted || still_expiring {
                tracing::debug!("access token about to expire: refreshing");
                self.refresh(&mut state).await?;
            }
        }
        Self::credentials(&state)
    }

    /// Takes the pair in the [`TokenStore`] when another process sharing it (a worker on the
    /// same database) rotated the tokens since we loaded ours: Sage spends a refresh token on
    /// use, so refreshing with ours would be refused. Returns whether it did. Unsaved tokens
    /// of ours are newer than anything stored and are kept.
    async fn adopt_stored(&self, state: &mut State) -> Result<bool> {
        if state.unsaved {
            return Ok(false);
        }
        let Some(mut stored) = self.store.load().await? else {
            return Ok(false);
        };
        let current = state.tokens.as_ref();
        if current.is_some_and(|t| t.access_token == stored.access_token) {
            return Ok(false);
        }
        if let Some(old) = current {
            // A store may keep only the token pair and its expiry.
            if stored.resource_owner_id.is_none() {
                stored.resource_owner_id.clone_from(&old.resource_owner_id);
            }
            if stored.requested_by_id.is_none() {
                stored.requested_by_id.clone_from(&old.requested_by_id);
            }
        }
        tracing::debug!("the stored tokens were rotated elsewhere: taking them");
        self.install(state, stored);
        state.unsaved = false;
        Ok(true)
    }

    fn credentials(state: &State) -> Result<Credentials> {
        let tokens = state
            .tokens
            .as_ref()
            .ok_or_else(|| needs_reauthorization("no tokens are held"))?;
        Ok(Credentials {
            access_token: tokens.access_token.clone(),
            resource_owner_id: tokens.resource_owner_id.clone(),
            generation: state.generation,
        })
    }

    /// Sage refused the token of `generation` (401): refresh, unless another request already
    /// did since.
    pub(crate) async fn unauthorized(&self, generation: u64) -> Result<()> {
        let mut state = self.state.lock().await;
        if let Some(reason) = &state.needs_reauthorization {
            return Err(needs_reauthorization(reason));
        }
        if state.generation != generation {
            return Ok(());
        }
        if self.adopt_stored(&mut state).await? {
            return Ok(());
        }
        tracing::debug!("access token refused: refreshing");
        self.refresh(&mut state).await
    }

    /// Marks the instance as needing re-authorisation (Sage said so on an API call).
    pub(crate) async fn require_reauthorization(&self, reason: &str) -> Error {
        let mut state = self.state.lock().await;
        self.give_up(&mut state, reason.to_owned()).await
    }

    /// Exchanges an authorization code (single use) and saves the tokens.
    pub(crate) async fn exchange_code(&self, code: &Secret) -> Result<()> {
        let mut state = self.state.lock().await;
        state.code = None;
        self.exchange(&mut state, code).await
    }

    /// Replaces the tokens (the user authorised again elsewhere) and saves them.
    pub(crate) async fn set_tokens(&self, tokens: Tokens) -> Result<()> {
        let mut state = self.state.lock().await;
        self.install(&mut state, tokens);
        self.save(&mut state).await
    }

    async fn load(&self, state: &mut State) -> Result<()> {
        if let Some(tokens) = self.store.load().await? {
            state.tokens = Some(tokens);
            state.loaded = true;
            return Ok(());
        }
        if let Some(tokens) = state.seed.take() {
            self.install(state, tokens);
            return self.save(state).await;
        }
        if let Some(code) = state.code.take() {
            return self.exchange(state, &code).await;
        }
        Err(self
            .give_up(
                state,
                "no tokens are stored and there is no authorization code to exchange".to_owned(),
            )
            .await)
    }

    fn install(&self, state: &mut State, tokens: Tokens) {
        state.tokens = Some(tokens);
        state.loaded = true;
        state.generation += 1;
        state.unsaved = true;
        state.needs_reauthorization = None;
        *lock(&self.status) = AuthStatus::Ready;
    }

    async fn save(&self, state: &mut State) -> Result<()> {
        let Some(tokens) = &state.tokens else {
            return Ok(());
        };
        match self.store.save(tokens).await {
            Ok(()) => {
                state.unsaved = false;
                Ok(())
            }
            Err(e) => {
                // The new pair stays in memory (the old refresh token is spent); the save is
                // tried again before the next request.
                tracing::warn!(error = %e, "saving the rotated tokens failed");
                Err(Error::new(
                    ErrorKind::TokenStore,
                    format!("saving the new tokens failed: {e}"),
                ))
            }
        }
    }

    async fn give_up(&self, state: &mut State, reason: String) -> Error {
        tracing::warn!(%reason, "instance needs re-authorisation");
        if let Err(e) = self.store.needs_reauthorization(&reason).await {
            tracing::warn!(error = %e, "recording the re-authorisation status failed");
        }
        *lock(&self.status) = AuthStatus::NeedsReauthorization {
            reason: reason.clone(),
        };
        let error = needs_reauthorization(&reason);
        state.needs_reauthorization = Some(reason);
        error
    }

    async fn exchange(&self, state: &mut State, code: &Secret) -> Result<()> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
        ];
        if let Some(redirect) = &self.settings.redirect_uri {
            form.push(("redirect_uri", redirect));
        }
        match self.token_request(&form).await {
            Ok(tokens) => {
                self.code_exchanges.fetch_add(1, Ordering::Relaxed);
                self.install(state, tokens);
                self.save(state).await
            }
            Err(Failure::Refused(why)) => Err(self
                .give_up(
                    state,
                    format!(
                        "the authorization code was refused ({why}); codes are single-use and \
                         expire after 60 s"
                    ),
                )
                .await),
            Err(Failure::Transient(e)) => Err(e),
        }
    }

    /// One refresh, in a `sage.token` span that says how it ended.
    async fn refresh(&self, state: &mut State) -> Result<()> {
        let span = tracing::info_span!(
            "sage.token",
            grant = "refresh_token",
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let (outcome, result) = self.refresh_tokens(state).instrument(span.clone()).await;
        match outcome {
            "succeeded" | "adopted" => {}
            "refused" => {
                self.refreshes_refused.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.refreshes_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        span.record("outcome", outcome);
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }

    /// The refresh and its outcome: `succeeded`, `adopted` (refused, but another worker had
    /// rotated the pair), `refused` or `failed`.
    async fn refresh_tokens(&self, state: &mut State) -> (&'static str, Result<()>) {
        let Some(refresh_token) = state.tokens.as_ref().and_then(|t| t.refresh_token.clone())
        else {
            return (
                "refused",
                Err(self
                    .give_up(
                        state,
                        "the access token expired and there is no refresh token".to_owned(),
                    )
                    .await),
            );
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        match self.token_request(&form).await {
            Ok(mut tokens) => {
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                if let Some(old) = &state.tokens {
                    if tokens.resource_owner_id.is_none() {
                        tokens.resource_owner_id.clone_from(&old.resource_owner_id);
                    }
                    if tokens.refresh_token.is_none() {
                        tokens.refresh_token.clone_from(&old.refresh_token);
                    }
                }
                self.install(state, tokens);
                ("succeeded", self.save(state).await)
            }
            Err(Failure::Refused(why)) => {
                // Another worker may have refreshed with the same token a moment before us
                // and be saving the new pair: wait for it briefly before giving up.
                for _ in 0..REFUSED_REFRESH_CHECKS {
                    tokio::time::sleep(REFUSED_REFRESH_WAIT).await;
                    match self.adopt_stored(state).await {
                        Ok(true) => return ("adopted", Ok(())),
                        Ok(false) => {}
                        Err(e) => return ("failed", Err(e)),
                    }
                }
                (
                    "refused",
                    Err(self
                        .give_up(state, format!("the refresh token was refused ({why})"))
                        .await),
                )
            }
            Err(Failure::Transient(e)) => ("failed", Err(e)),
        }
    }

    /// One grant at the token endpoint, with bounded retries of what may pass.
    async fn token_request(&self, grant: &[(&str, &str)]) -> Result<Tokens, Failure> {
        let settings = &self.settings;
        let mut form: Vec<(&str, &str)> = grant.to_vec();
        form.push(("client_id", &settings.client_id));
        form.push(("client_secret", settings.client_secret.expose()));
        let endpoint = format!(
            "POST {}",
            settings
                .token_url
                .as_str()
                .split('?')
                .next()
                .unwrap_or_default()
        );
        let mut retry = 0;
        loop {
            let sent = self
                .http
                .post(settings.token_url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::USER_AGENT, &settings.user_agent)
                .form(&form)
                .send()
                .await;
            let error = match sent {
                Err(e) => Error::new(
                    ErrorKind::TokenEndpoint,
                    format!("{endpoint}: {}", crate::client::describe_transport(&e)),
                ),
                Ok(response) => {
                    let status = response.status();
                    let body = response.bytes().await.unwrap_or_default();
                    let json: Option<Value> = serde_json::from_slice(&body).ok();
                    if status.is_success() {
                        let now = self.clock.now();
                        return json
                            .as_ref()
                            .and_then(|j| Tokens::from_response(j, now))
                            .ok_or_else(|| {
                                Failure::Transient(Error::new(
                                    ErrorKind::TokenEndpoint,
                                    format!(
                                        "{endpoint}: HTTP {} but the body is not a token response",
                                        status.as_u16()
                                    ),
                                ))
                            });
                    }
                    let oauth_error = json
                        .as_ref()
                        .and_then(|j| j.get("error"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let retryable = status.is_server_error() || status.as_u16() == 429;
                    if !retryable {
                        let why = match oauth_error {
                            Some(code) => format!("HTTP {}, {code}", status.as_u16()),
                            None => format!("HTTP {}", status.as_u16()),
                        };
                        return Err(Failure::Refused(why));
                    }
                    Error::new(
                        ErrorKind::TokenEndpoint,
                        format!("{endpoint}: HTTP {}", status.as_u16()),
                    )
                    .with_status(status.as_u16())
                }
            };
            if retry >= settings.retry.max_retries {
                return Err(Failure::Transient(error));
            }
            tokio::time::sleep(settings.retry.backoff(retry)).await;
            retry += 1;
        }
    }
}
