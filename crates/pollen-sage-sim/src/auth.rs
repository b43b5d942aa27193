//! OAuth 2 as Sage runs it: single-use authorization codes, short-lived access tokens and
//! rotating refresh tokens, all timed by the simulator's clock.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use rand::{Rng, RngCore};
use serde_json::{json, Value};

/// Which API generation a token was issued for: it decides the owner field of the token
/// response (`resource_owner_id` for v3, `requested_by_id` for v3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// Generation v3 ("Columbus"): `/{region}/sageone/accounts/v3/...`.
    V3,
    /// Generation v3.1: `/v3.1/...`.
    V31,
}

/// Authorization codes live 60 s, like Sage's.
const CODE_LIFETIME_SECS: i64 = 60;
/// Refresh tokens live 31 days.
pub(crate) const REFRESH_LIFETIME_SECS: i64 = 31 * 86_400;

/// The tokens a grant returned. `Debug` shows neither token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The bearer token for API calls.
    pub access_token: String,
    /// The single-use token for the next refresh.
    pub refresh_token: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// The generation the grant was for.
    pub version: ApiVersion,
    /// The business (v3 `resource_owner_id`, the value for `X-Site`).
    pub resource_owner_id: String,
    /// The user (v3.1 `requested_by_id`).
    pub requested_by_id: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("version", &self.version)
            .field("resource_owner_id", &self.resource_owner_id)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// The token endpoint's JSON body for this grant, as Sage shapes it per generation.
    pub fn to_json(&self) -> Value {
        match self.version {
            ApiVersion::V3 => json!({
                "access_token": self.access_token,
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "refresh_token": self.refresh_token,
                "scope": "full_access",
                "resource_owner_id": self.resource_owner_id,
            }),
            ApiVersion::V31 => json!({
                "access_token": self.access_token,
                "scope": "full_access",
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": REFRESH_LIFETIME_SECS,
                "requested_by_id": self.requested_by_id,
            }),
        }
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Missing,
    Unknown,
    Expired,
}

#[derive(Debug)]
struct Grant {
    version: ApiVersion,
    expires_at: i64,
    /// The token family: the code first exchanged, kept across refreshes.
    family: Arc<str>,
}

#[derive(Debug)]
struct Access {
    expires_at: i64,
    family: Arc<str>,
}

#[derive(Debug, Default)]
struct AuthState {
    codes: HashMap<String, Grant>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Grant>,
    /// Families started by `issue` (no code): `issued-1`, `issued-2` …
    issued: u64,
}

#[derive(Debug)]
pub(crate) struct Auth {
    state: RwLock<AuthState>,
    pub(crate) resource_owner_id: String,
    pub(crate) requested_by_id: String,
    pub(crate) token_lifetime_secs: i64,
}

fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

impl Auth {
    pub(crate) fn new(resource_owner_id: String, requested_by_id: String, lifetime: i64) -> Self {
        Auth {
            state: RwLock::new(AuthState::default()),
            resource_owner_id,
            requested_by_id,
            token_lifetime_secs: lifetime.max(1),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, AuthState> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn new_code(&self, version: ApiVersion, now: i64) -> String {
        let code = format!("{:040x}", rand::thread_rng().gen::<u128>());
        self.add_code(&code, version, now);
        code
    }

    pub(crate) fn add_code(&self, code: &str, version: ApiVersion, now: i64) {
        self.write().codes.insert(
            code.to_owned(),
            Grant {
                version,
                expires_at: now + CODE_LIFETIME_SECS,
                family: Arc::from(code),
            },
        );
    }

    /// Tokens of a new family, as if a code had been exchanged.
    pub(crate) fn issue(&self, version: ApiVersion, now: i64) -> TokenSet {
        let family = {
            let mut state = self.write();
            state.issued += 1;
            Arc::from(format!("issued-{}", state.issued))
        };
        self.issue_in(version, now, family)
    }

    fn issue_in(&self, version: ApiVersion, now: i64, family: Arc<str>) -> TokenSet {
        // Sage's tokens are about 1300 characters; clients must store them whole.
        let access_token = random_token(960);
        let refresh_token = random_token(48);
        let mut state = self.write();
        state
            .access
            .retain(|_, access| access.expires_at > now - 86_400);
        state.access.insert(
            access_token.clone(),
            Access {
                expires_at: now + self.token_lifetime_secs,
                family: Arc::clone(&family),
            },
        );
        state.refresh.insert(
            refresh_token.clone(),
            Grant {
                version,
                expires_at: now + REFRESH_LIFETIME_SECS,
                family,
            },
        );
        drop(state);
        TokenSet {
            access_token,
            refresh_token,
            expires_in: self.token_lifetime_secs as u64,
            version,
            resource_owner_id: self.resource_owner_id.clone(),
            requested_by_id: self.requested_by_id.clone(),
        }
    }

    /// Redeems a code once; `None` (→ `invalid_grant`) when unknown, used or expired.
    pub(crate) fn redeem_code(&self, code: &str, now: i64) -> Option<TokenSet> {
        let grant = self.write().codes.remove(code)?;
        (grant.expires_at > now).then(|| self.issue_in(grant.version, now, grant.family))
    }

    /// Rotates a refresh token: the old one stops working, a new pair is issued.
    pub(crate) fn refresh(&self, refresh_token: &str, now: i64) -> Option<TokenSet> {
        let grant = self.write().refresh.remove(refresh_token)?;
        (grant.expires_at > now).then(|| self.issue_in(grant.version, now, grant.family))
    }

    pub(crate) fn check(&self, token: Option<&str>, now: i64) -> Result<(), TokenProblem> {
        let token = token.ok_or(TokenProblem::Missing)?;
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.access.get(token) {
            None => Err(TokenProblem::Unknown),
            Some(access) if access.expires_at <= now => Err(TokenProblem::Expired),
            Some(_) => Ok(()),
        }
    }

    /// The family of a known access token (expired or not), for the request log.
    pub(crate) fn family_of(&self, token: &str) -> Option<String> {
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state
            .access
            .get(token)
            .map(|access| access.family.to_string())
    }

    /// Revokes one token, access or refresh (the `/revoke` endpoint and the revocation fault).
    pub(crate) fn revoke(&self, token: &str) {
        let mut state = self.write();
        state.access.remove(token);
        state.refresh.remove(token);
    }

    /// Revokes every access and refresh token: clients need a new authorization code.
    pub(crate) fn revoke_all(&self) {
        let mut state = self.write();
        state.access.clear();
        state.refresh.clear();
    }
}

/// The bearer token of an `Authorization` header value.
pub(crate) fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_single_use_and_expire() {
        let auth = Auth::new("owner".into(), "user".into(), 300);
        let code = auth.new_code(ApiVersion::V31, 1000);
        assert!(auth.redeem_code(&code, 1001).is_some());
        assert!(auth.redeem_code(&code, 1001).is_none());
        let late = auth.new_code(ApiVersion::V31, 1000);
        assert!(auth.redeem_code(&late, 1000 + CODE_LIFETIME_SECS).is_none());
    }

    #[test]
    fn access_tokens_expire_and_refresh_tokens_rotate() {
        let auth = Auth::new("owner".into(), "user".into(), 300);
        let tokens = auth.issue(ApiVersion::V3, 0);
        assert!(tokens.access_token.len() >= 1200);
        assert_eq!(auth.check(Some(&tokens.access_token), 299), Ok(()));
        assert_eq!(
            auth.check(Some(&tokens.access_token), 300),
            Err(TokenProblem::Expired)
        );
        let next = auth.refresh(&tokens.refresh_token, 10).unwrap();
        assert_ne!(next.refresh_token, tokens.refresh_token);
        assert!(auth.refresh(&tokens.refresh_token, 11).is_none());
        assert_eq!(next.version, ApiVersion::V3);
        assert_eq!(
            auth.family_of(&next.access_token).as_deref(),
            Some("issued-1")
        );
        let code = auth.new_code(ApiVersion::V31, 10);
        let exchanged = auth.redeem_code(&code, 11).unwrap();
        let refreshed = auth.refresh(&exchanged.refresh_token, 12).unwrap();
        assert_eq!(auth.family_of(&refreshed.access_token), Some(code));
        assert!(!format!("{next:?}").contains(&next.access_token));
    }

    #[test]
    fn bearer_parses_the_scheme_case_insensitively() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
