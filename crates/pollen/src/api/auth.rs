//! `Authorization: User <secret>, Organization <secret>[, Element <instance token>]`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The platform secrets every management call must present. `Debug` masks them.
#[derive(Clone)]
pub struct ApiSecrets {
    user: [u8; 32],
    organization: [u8; 32],
}

impl ApiSecrets {
    /// The user and organization secrets (from `POLLEN_USER_SECRET` / `POLLEN_ORG_SECRET`).
    /// Only their SHA-256 digests are kept.
    pub fn new(user: &str, organization: &str) -> Self {
        ApiSecrets {
            user: digest(user),
            organization: digest(organization),
        }
    }

    /// Whether both given secrets are right. Both are always compared, each in constant time,
    /// so neither the answer nor the timing tells which one was wrong.
    pub(crate) fn check(&self, user: &str, organization: &str) -> bool {
        let user_ok = constant_time_eq(&self.user, &digest(user));
        let organization_ok = constant_time_eq(&self.organization, &digest(organization));
        user_ok & organization_ok
    }
}

impl fmt::Debug for ApiSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecrets(***)")
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Every byte compared, no early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The parts of an `Authorization` header.
#[derive(Default)]
pub(crate) struct Credentials<'a> {
    pub(crate) user: Option<&'a str>,
    pub(crate) organization: Option<&'a str>,
    pub(crate) element: Option<&'a str>,
}

/// Splits `User a, Organization b, Element c` (any order; unknown parts ignored).
pub(crate) fn parse(header: &str) -> Credentials<'_> {
    let mut found = Credentials::default();
    for part in header.split(',') {
        let part = part.trim();
        let Some((scheme, value)) = part.split_once(' ') else {
            continue;
        };
        let value = value.trim();
        match scheme {
            "User" => found.user = Some(value),
            "Organization" => found.organization = Some(value),
            "Element" => found.element = Some(value),
            _ => {}
        }
    }
    found
}

/// Wrong secrets (API calls and console sign-ins) one client address may present per window
/// before it is refused until the window ends.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window of [`MAX_FAILURES`].
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Client addresses remembered at most; the oldest windows go first beyond it.
const MAX_TRACKED: usize = 10_000;

/// Counts wrong secrets per client address and refuses an address that presented too many
/// in one window: guessing the secrets costs a minute per ten tries. Addresses are the TCP
/// peer's (behind a proxy, the proxy's: all clients then share one budget).
#[derive(Debug, Default)]
pub(crate) struct FailedAuth {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailedAuth {
    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        // Plain counters: consistent after a panic elsewhere.
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `client` must wait, if it used up its failures in the current window.
    pub(crate) fn refused_for(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows();
        let (started, failures) = windows.get(&client)?;
        let ends = *started + FAILURE_WINDOW;
        (*failures >= MAX_FAILURES && now < ends).then(|| ends - now)
    }

    /// Counts one wrong secret from `client`.
    pub(crate) fn failed(&self, client: IpAddr, now: Instant) {
        let mut windows = self.windows();
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&client) {
            windows.retain(|_, (started, _)| now < *started + FAILURE_WINDOW);
            if windows.len() >= MAX_TRACKED {
                if let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, (started, _))| *started)
                    .map(|(ip, _)| *ip)
                {
                    windows.remove(&oldest);
                }
            }
        }
        let window = windows.entry(client).or_insert((now, 0));
        if now >= window.0 + FAILURE_WINDOW {
            *window = (now, 0);
        }
        window.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_refuse_an_address_until_its_window_ends() {
        let limiter = FailedAuth::default();
        let t0 = Instant::now();
        let client: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        for n in 0..MAX_FAILURES {
            assert_eq!(limiter.refused_for(client, t0), None, "refused after {n}");
            limiter.failed(client, t0 + Duration::from_secs(u64::from(n)));
        }
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            limiter.refused_for(client, later),
            Some(FAILURE_WINDOW - Duration::from_secs(20))
        );
        assert_eq!(limiter.refused_for(other, later), None, "another address");
        let next_window = t0 + FAILURE_WINDOW;
        assert_eq!(limiter.refused_for(client, next_window), None);
        limiter.failed(client, next_window);
        assert_eq!(
            limiter.refused_for(client, next_window),
            None,
            "a new window"
        );
    }

    #[test]
    fn both_secrets_must_match() {
        let secrets = ApiSecrets::new("u", "o");
        assert!(secrets.check("u", "o"));
        assert!(!secrets.check("u", "x"));
        assert!(!secrets.check("x", "o"));
        assert_eq!(format!("{secrets:?}"), "ApiSecrets(***)");
    }

    #[test]
    fn header_parts_in_any_order() {
        let c = parse("Organization o, User u , Element pit_1");
        assert_eq!(
            (c.user, c.organization, c.element),
            (Some("u"), Some("o"), Some("pit_1"))
        );
        assert!(parse("Bearer x").user.is_none());
    }
}
