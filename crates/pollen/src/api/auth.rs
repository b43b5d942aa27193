//! `Authorization: User <secret>, Organization <secret>[, Element <instance token>]`.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
