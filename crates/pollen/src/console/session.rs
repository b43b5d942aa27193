//! Console sessions: a random id in an `HttpOnly; SameSite=Strict` cookie (and `Secure` when
//! the console is served over TLS), a per-session CSRF token that every form must echo, and
//! a sign-in form protected by a double-submit token of its own.
//!
//! Sessions live in memory: a restart signs everyone out. Only the SHA-256 of the session id
//! is kept, and tokens are compared in constant time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "pollen_session";
/// The sign-in form's double-submit cookie.
pub(crate) const LOGIN_COOKIE: &str = "pollen_login";

/// A session ends this long after sign-in.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions at once; the oldest go first.
const MAX_SESSIONS: usize = 1000;

/// 32 random bytes, hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (digest(a), digest(b));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A signed-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    /// A message for the next page shown (then cleared).
    pub(crate) flash: Option<String>,
    expires: Instant,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session(***)")
    }
}

/// Every live session, by the digest of its id.
#[derive(Default)]
pub(crate) struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sessions({})", self.lock().len())
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // Plain data: consistent after a panic elsewhere.
        self.by_digest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new session: its id (for the cookie) and CSRF token.
    pub(crate) fn create(&self) -> (String, String) {
        let id = random_token();
        let csrf = random_token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            digest(&id),
            Session {
                csrf: csrf.clone(),
                flash: None,
                expires: now + SESSION_LIFETIME,
            },
        );
        (id, csrf)
    }

    /// The session of the request's cookie, if it is live.
    pub(crate) fn get(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let map = self.lock();
        let session = map.get(&digest(&id))?;
        (session.expires > Instant::now()).then(|| (id, session.clone()))
    }

    /// Takes the session's flash message.
    pub(crate) fn take_flash(&self, id: &str) -> Option<String> {
        self.lock()
            .get_mut(&digest(id))
            .and_then(|s| s.flash.take())
    }

    /// Sets the message the session's next page shows.
    pub(crate) fn flash(&self, id: &str, message: impl Into<String>) {
        if let Some(session) = self.lock().get_mut(&digest(id)) {
            session.flash = Some(message.into());
        }
    }

    /// Ends the session.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Whether session `id` is still live.
    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.lock()
            .get(&digest(id))
            .is_some_and(|s| s.expires > Instant::now())
    }
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value for the console's path; `None` deletes the cookie.
pub(crate) fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => {
            format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}")
        }
        None => format!("{name}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_on_removal() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.create();
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("other=1; {SESSION_COOKIE}={id}").parse().unwrap(),
        );
        let (_, found) = sessions.get(&headers).expect("the session");
        assert!(same_token(&found.csrf, &csrf));
        assert!(!same_token(&found.csrf, "x"));
        sessions.flash(&id, "hello");
        assert_eq!(sessions.take_flash(&id).as_deref(), Some("hello"));
        assert_eq!(sessions.take_flash(&id), None);
        sessions.remove(&id);
        assert!(sessions.get(&headers).is_none());
        assert_eq!(format!("{found:?}"), "Session(***)");
    }

    #[test]
    fn cookies_are_http_only_and_strict_and_secure_over_tls() {
        let plain = set_cookie(SESSION_COOKIE, Some("v"), false);
        assert_eq!(
            plain,
            "pollen_session=v; Path=/console; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(SESSION_COOKIE, Some("v"), true).ends_with("; Secure"));
        assert!(set_cookie(SESSION_COOKIE, None, false).contains("Max-Age=0"));
    }
}
