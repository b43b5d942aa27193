//! The request log: every API request with who sent it (token family and `User-Agent`), what
//! it asked for, when it started and ended and how it was answered, so tests can check how a
//! client — or several client processes — walked the API.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::store::lock;

/// One API request as the simulator saw it.
///
/// Times are real wall-clock instants with microseconds (not the simulator's clock, which has
/// whole seconds and may be manual): `started` when the request head arrived, `finished` when
/// the response head was ready (an injected delay included) or the client went away.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// 1, 2, 3 … in the order requests arrived.
    pub seq: u64,
    /// `GET`, `POST` …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (`page=2&items_per_page=20`), empty when there is none.
    pub query: String,
    /// The counter name: `METHOD path` with the record id as `{id}`.
    pub endpoint: String,
    /// The resource of an API path (`contacts`), `None` for `/token` and unknown paths.
    pub resource: Option<String>,
    /// The token family of the request's bearer token: the authorization code it was first
    /// exchanged for, kept across every refresh (`issued-N` for tokens from
    /// [`SimHandle::issue_tokens`](crate::SimHandle::issue_tokens)). `None` without a
    /// bearer token or for a token the simulator does not know.
    pub grant: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// When the request arrived.
    pub started: DateTime<Utc>,
    /// When its response was ready.
    pub finished: DateTime<Utc>,
    /// The response status; 0 for a connection dropped by a fault, 499 when the client
    /// closed the connection before the answer was ready (then `finished` is that moment).
    pub status: u16,
}

impl LoggedRequest {
    /// Whether this request and `other` were in flight at the same moment.
    pub fn overlaps(&self, other: &LoggedRequest) -> bool {
        self.started < other.finished && other.started < self.finished
    }
}

impl Serialize for LoggedRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("LoggedRequest", 11)?;
        out.serialize_field("seq", &self.seq)?;
        out.serialize_field("method", &self.method)?;
        out.serialize_field("path", &self.path)?;
        out.serialize_field("query", &self.query)?;
        out.serialize_field("endpoint", &self.endpoint)?;
        out.serialize_field("resource", &self.resource)?;
        out.serialize_field("grant", &self.grant)?;
        out.serialize_field("user_agent", &self.user_agent)?;
        out.serialize_field(
            "started",
            &self.started.to_rfc3339_opts(SecondsFormat::Micros, true),
        )?;
        out.serialize_field(
            "finished",
            &self.finished.to_rfc3339_opts(SecondsFormat::Micros, true),
        )?;
        out.serialize_field("status", &self.status)?;
        out.end()
    }
}

/// What the dispatcher knows of a request before answering it.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) endpoint: String,
    pub(crate) grant: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) started: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<LoggedRequest>,
    dropped: u64,
}

/// A bounded log: past `capacity` entries the oldest go (and are counted as dropped).
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        RequestLog {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Numbers a request as it arrives, so `seq` follows arrival order.
    pub(crate) fn arrive(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.next_seq += 1;
        inner.next_seq
    }

    pub(crate) fn record(&self, seq: u64, pending: Pending, status: u16) {
        if !self.enabled() {
            return;
        }
        let entry = LoggedRequest {
            seq,
            resource: resource_of(&pending.path),
            method: pending.method,
            path: pending.path,
            query: pending.query,
            endpoint: pending.endpoint,
            grant: pending.grant,
            user_agent: pending.user_agent,
            started: pending.started,
            finished: Utc::now(),
            status,
        };
        let mut inner = lock(&self.inner);
        // Requests finish out of order; keep the log in arrival order.
        let at = inner.entries.partition_point(|e| e.seq < entry.seq);
        inner.entries.insert(at, entry);
        while inner.entries.len() > self.capacity {
            inner.entries.pop_front();
            inner.dropped += 1;
        }
    }

    /// The finished requests with `seq` greater than `after_seq`, in arrival order.
    pub(crate) fn since(&self, after_seq: u64) -> Vec<LoggedRequest> {
        let inner = lock(&self.inner);
        let from = inner.entries.partition_point(|e| e.seq <= after_seq);
        inner.entries.range(from..).cloned().collect()
    }

    /// How many entries were discarded because the log was full.
    pub(crate) fn dropped(&self) -> u64 {
        lock(&self.inner).dropped
    }

    pub(crate) fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.entries.clear();
        inner.dropped = 0;
    }
}

/// `contacts` for `/v3.1/contacts[/{id}]` and `/{region}/sageone/accounts/v3/contacts[/{id}]`.
fn resource_of(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v3.1", resource, ..] | [_, "sageone", "accounts", "v3", resource, ..] => {
            Some((*resource).to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(path: &str) -> Pending {
        Pending {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            endpoint: format!("GET {path}"),
            grant: None,
            user_agent: None,
            started: Utc::now(),
        }
    }

    #[test]
    fn keeps_arrival_order_and_drops_the_oldest_past_capacity() {
        let log = RequestLog::new(2);
        let (a, b, c) = (log.arrive(), log.arrive(), log.arrive());
        log.record(b, pending("/v3.1/contacts"), 200);
        log.record(a, pending("/token"), 200);
        assert_eq!(
            log.since(0).iter().map(|e| e.seq).collect::<Vec<_>>(),
            [a, b]
        );
        log.record(c, pending("/uki/sageone/accounts/v3/journals/x"), 0);
        let seqs: Vec<u64> = log.since(0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [b, c]);
        assert_eq!(log.dropped(), 1);
        assert_eq!(log.since(b).len(), 1);
        assert_eq!(log.since(0)[1].resource.as_deref(), Some("journals"));
        assert_eq!(log.since(0)[0].resource.as_deref(), Some("contacts"));
        log.clear();
        assert!(log.since(0).is_empty());
    }

    #[test]
    fn resources_come_from_api_paths_only() {
        assert_eq!(resource_of("/token"), None);
        assert_eq!(resource_of("/v3.1/contacts").as_deref(), Some("contacts"));
        assert_eq!(
            resource_of("/de/sageone/accounts/v3/contacts/abc").as_deref(),
            Some("contacts")
        );
    }
}
