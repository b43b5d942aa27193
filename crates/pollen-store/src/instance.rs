//! Instances, their management-API tokens and their OAuth credentials.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use pollen_config::{InstanceConfig, Secret};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// Whether an instance is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstanceStatus {
    /// Polled and delivering.
    Active,
    /// Its OAuth grant is no longer valid (refresh failed): not polled until re-authorized.
    NeedsReauthorization,
    /// Switched off by an operator.
    Disabled,
}

impl InstanceStatus {
    /// `active`, `needs_reauthorization` or `disabled`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Active => "active",
            InstanceStatus::NeedsReauthorization => "needs_reauthorization",
            InstanceStatus::Disabled => "disabled",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        match text {
            "active" => Ok(InstanceStatus::Active),
            "needs_reauthorization" => Ok(InstanceStatus::NeedsReauthorization),
            "disabled" => Ok(InstanceStatus::Disabled),
            other => Err(Error::corrupt(format!(
                "unknown instance status `{other}` in the database"
            ))),
        }
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored instance, its configuration decrypted.
///
/// `Debug` masks every secret of the configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Instance {
    /// Assigned by the store, increasing. Its decimal text is the instance of the
    /// instance's [`PollKey`](pollen_core::PollKey)s and outbox rows ([`Instance::key`]).
    pub id: i64,
    /// `name` of the configuration.
    pub name: String,
    /// `element.key` of the configuration (`sageone`).
    pub element_key: String,
    /// Whether it is polled.
    pub status: InstanceStatus,
    /// `tags` of the configuration.
    pub tags: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its configuration or status last changed.
    pub updated_at: DateTime<Utc>,
    /// The configuration, secrets included (they are encrypted at rest).
    pub config: InstanceConfig,
}

impl Instance {
    /// The instance id as the poller and the outbox name it (`PollKey::instance`).
    pub fn key(&self) -> String {
        self.id.to_string()
    }
}

/// The bearer token of one instance on the management API.
///
/// Shown once, when created or rotated; the store keeps only its SHA-256 digest. `Debug`
/// prints `InstanceToken(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceToken(String);

impl InstanceToken {
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        InstanceToken(format!("pit_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps: SHA-256 of the text. The token has 256 random bits, so an unsalted
    /// digest cannot be reversed, and looking one up stays an index probe.
    pub(crate) fn digest(token: &str) -> Vec<u8> {
        Sha256::digest(token.as_bytes()).to_vec()
    }
}

impl fmt::Debug for InstanceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InstanceToken(***)")
    }
}

/// The OAuth state of one instance. `Debug` masks the tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials {
    /// The current access token.
    pub access_token: Option<Secret>,
    /// The refresh token.
    pub refresh_token: Option<Secret>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether `providerData.code` was exchanged already (a grant code works once); set only
    /// by [`SqlStore::claim_code_exchange`](crate::SqlStore::claim_code_exchange).
    pub code_exchanged: bool,
}

impl Credentials {
    /// Tokens with an expiry, `code_exchanged` false.
    pub fn new(
        access_token: Option<Secret>,
        refresh_token: Option<Secret>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        Credentials {
            access_token,
            refresh_token,
            expires_at,
            code_exchanged: false,
        }
    }
}

/// The columns of an instance row that do not need the key.
#[derive(Debug)]
pub(crate) struct InstanceRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) element_key: String,
    pub(crate) status: String,
    pub(crate) tags: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) config_sealed: Vec<u8>,
}

/// What an instance row holds besides its id, dates and token digest.
#[derive(Debug)]
pub(crate) struct InstanceFields {
    pub(crate) name: String,
    pub(crate) element_key: String,
    pub(crate) tags: String,
    /// The configuration with every secret masked: readable by operators, no secret.
    pub(crate) config_masked: String,
    /// The status a new instance is stored with (active unless created paused).
    pub(crate) status: InstanceStatus,
    /// Its subscriptions' names, as JSON: the retired keys of any other go with the update.
    pub(crate) subscriptions: String,
}

impl InstanceFields {
    pub(crate) fn of(config: &InstanceConfig) -> Self {
        InstanceFields {
            name: config.name.clone(),
            element_key: config.element.as_str().to_owned(),
            tags: serde_json::Value::from(config.tags.clone()).to_string(),
            config_masked: config.to_json(pollen_config::Secrets::Mask).to_string(),
            status: InstanceStatus::Active,
            subscriptions: serde_json::Value::from(
                config
                    .configuration
                    .notification
                    .subscriptions
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>(),
            )
            .to_string(),
        }
    }
}

/// The sealing context of an instance's configuration.
pub(crate) fn config_context(id: i64) -> String {
    format!("instance/{id}/config")
}

/// The sealing context of one credential field.
pub(crate) fn credential_context(id: i64, field: &str) -> String {
    format!("instance/{id}/{field}")
}

/// The full configuration JSON, secrets exposed: only ever sealed.
pub(crate) fn config_plaintext(config: &InstanceConfig) -> Vec<u8> {
    config
        .to_json(pollen_config::Secrets::Expose)
        .to_string()
        .into_bytes()
}

/// Checks that `config` loads back from its stored form before it is stored.
pub(crate) fn check_round_trip(config: &InstanceConfig) -> Result<()> {
    let text = config_plaintext(config);
    InstanceConfig::from_json_slice(&text)
        .map(|_| ())
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "the instance configuration does not load back from its stored form: {}",
                    e.problems()
                        .first()
                        .map_or_else(String::new, |p| p.render("instance"))
                ),
            )
        })
}

impl InstanceRow {
    pub(crate) fn decode(self, key: &crate::key::SecretKey) -> Result<Instance> {
        let text = key.open_text(&config_context(self.id), &self.config_sealed)?;
        let loaded = InstanceConfig::from_json_str(&text).map_err(|e| {
            Error::corrupt(format!(
                "the stored configuration of instance {} no longer loads: {}",
                self.id,
                e.problems()
                    .first()
                    .map_or_else(String::new, |p| p.render("instance"))
            ))
        })?;
        let tags: Vec<String> = serde_json::from_str(&self.tags).map_err(|_| {
            Error::corrupt(format!("the tags of instance {} are not a list", self.id))
        })?;
        Ok(Instance {
            id: self.id,
            name: self.name,
            element_key: self.element_key,
            status: InstanceStatus::parse(&self.status)?,
            tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
            config: loaded.config,
        })
    }
}

/// The sealed columns of a credential row.
#[derive(Debug, Default)]
pub(crate) struct CredentialRow {
    pub(crate) access_token: Option<Vec<u8>>,
    pub(crate) refresh_token: Option<Vec<u8>>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) code_exchanged: bool,
}

impl CredentialRow {
    pub(crate) fn seal(id: i64, credentials: &Credentials, key: &crate::key::SecretKey) -> Self {
        let seal = |field: &str, secret: &Option<Secret>| {
            secret
                .as_ref()
                .map(|s| key.seal(&credential_context(id, field), s.expose().as_bytes()))
        };
        CredentialRow {
            access_token: seal("access_token", &credentials.access_token),
            refresh_token: seal("refresh_token", &credentials.refresh_token),
            expires_at: credentials.expires_at,
            code_exchanged: credentials.code_exchanged,
        }
    }

    pub(crate) fn open(self, id: i64, key: &crate::key::SecretKey) -> Result<Credentials> {
        let open = |field: &str, sealed: Option<Vec<u8>>| -> Result<Option<Secret>> {
            sealed
                .map(|bytes| {
                    key.open_text(&credential_context(id, field), &bytes)
                        .map(Secret::new)
                })
                .transpose()
        };
        Ok(Credentials {
            access_token: open("access_token", self.access_token)?,
            refresh_token: open("refresh_token", self.refresh_token)?,
            expires_at: self.expires_at,
            code_exchanged: self.code_exchanged,
        })
    }
}
