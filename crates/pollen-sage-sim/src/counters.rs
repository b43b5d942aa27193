//! Request counters per endpoint and status, to assert rate limits and retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::store::lock;

/// A snapshot of the request counters.
///
/// Endpoints are named `METHOD path` with record ids replaced by `{id}`, for example
/// `GET /v3.1/contacts`, `GET /uki/sageone/accounts/v3/contacts/{id}`, `POST /token`. A
/// connection dropped by a fault counts under status `0`. Control API requests are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    counts: BTreeMap<(String, u16), u64>,
}

impl RequestCounts {
    /// Requests to `endpoint` answered with `status`.
    pub fn get(&self, endpoint: &str, status: u16) -> u64 {
        self.counts
            .get(&(endpoint.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// Requests to `endpoint`, any status.
    pub fn endpoint_total(&self, endpoint: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((name, _), _)| name == endpoint)
            .map(|(_, count)| count)
            .sum()
    }

    /// All counted requests.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// `(endpoint, status, count)` in endpoint then status order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16, u64)> {
        self.counts
            .iter()
            .map(|((endpoint, status), count)| (endpoint.as_str(), *status, *count))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: Mutex<HashMap<(String, u16), u64>>,
}

impl Counters {
    pub(crate) fn record(&self, endpoint: String, status: u16) {
        *lock(&self.counts).entry((endpoint, status)).or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            counts: lock(&self.counts)
                .iter()
                .map(|(key, count)| (key.clone(), *count))
                .collect(),
        }
    }

    pub(crate) fn reset(&self) {
        lock(&self.counts).clear();
    }
}

/// The counter name of a request: `METHOD path`, with the record id segment as `{id}`.
pub(crate) fn endpoint_key(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // `/v3.1/{resource}/{id}` and `/{region}/sageone/accounts/v3/{resource}/{id}`.
    let id_position = match segments.as_slice() {
        ["v3.1", _, _] => Some(2),
        [_, "sageone", "accounts", "v3", _, _] => Some(5),
        _ => None,
    };
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str(method);
    out.push(' ');
    for (index, segment) in segments.iter().enumerate() {
        out.push('/');
        if Some(index) == id_position {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_hide_ids() {
        assert_eq!(endpoint_key("GET", "/v3.1/contacts"), "GET /v3.1/contacts");
        assert_eq!(
            endpoint_key("GET", "/v3.1/contacts/abc"),
            "GET /v3.1/contacts/{id}"
        );
        assert_eq!(
            endpoint_key("GET", "/uki/sageone/accounts/v3/contacts/abc"),
            "GET /uki/sageone/accounts/v3/contacts/{id}"
        );
        assert_eq!(endpoint_key("POST", "/token"), "POST /token");
    }
}
