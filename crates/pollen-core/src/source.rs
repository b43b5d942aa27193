//! The connector side: fetching pages of changed records.

use std::fmt;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::spec::PollKey;

/// One page request of a poll's page walk.
///
/// The core drives the walk: it asks for the first page with `cursor: None`, then passes back
/// each page's [`Page::next`] until a page has none.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// Which (instance, resource) is polled.
    pub key: &'a PollKey,
    /// The resource's [`RequestTemplate`](crate::RequestTemplate) expanded with `since`.
    pub request: &'a str,
    /// The window start: records changed at or after it are wanted.
    pub since: DateTime<Utc>,
    /// The page size to ask for, when configured.
    pub page_size: Option<u32>,
    /// `None` for the first page, else the previous page's [`Page::next`].
    pub cursor: Option<&'a str>,
}

/// One page of records as the vendor returned them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records, untouched: the core reads ids and dates by path, notifications carry them raw.
    pub records: Vec<Value>,
    /// Continuation for the next page (`$next`, a page number …); `None` on the last page.
    pub next: Option<String>,
    /// The vendor's total count of matching records (`$total`), when it reports one. A change of
    /// it during a walk means pages shifted.
    pub total: Option<u64>,
    /// The server's "now" (the HTTP `Date` header) when this page was served. The first page's
    /// value becomes the poll's start, so the vendor's clock, not ours, sets the watermark.
    pub server_time: Option<DateTime<Utc>>,
}

/// A record the vendor reports as deleted, normalized by the connector.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedRecord {
    /// The deleted record's id (`objectId`).
    pub id: String,
    /// When it was deleted (`deleted_at`), if the vendor says.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The vendor's record, carried raw in the notification.
    pub record: Value,
}

/// One page of deletions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletedPage {
    /// The deletions on this page.
    pub records: Vec<DeletedRecord>,
    /// Continuation, as for [`Page::next`].
    pub next: Option<String>,
    /// The vendor's total, as for [`Page::total`].
    pub total: Option<u64>,
    /// The server's "now", as for [`Page::server_time`].
    pub server_time: Option<DateTime<Utc>>,
}

/// Fetches changed records from a vendor. Implemented over HTTP by `pollen-sage`; tests use
/// [`FakeSource`](crate::testing::FakeSource) (feature `testing`).
///
/// Methods return boxed futures so that `dyn Source` works; implement them as
/// `Box::pin(async move { … })`. Errors are [`ErrorKind::Source`] (a failed poll: retried with
/// back-off, watermark unchanged). A source must not retry forever inside one call: the core
/// bounds each poll with a timeout and retries on its own schedule.
pub trait Source: Send + Sync + fmt::Debug {
    /// One page of records changed since `request.since`.
    fn fetch_page<'a>(&'a self, request: FetchRequest<'a>) -> BoxFuture<'a, Result<Page>>;

    /// Whether [`Source::fetch_deleted_page`] works for this resource.
    fn supports_deletions(&self, key: &PollKey) -> bool {
        let _ = key;
        false
    }

    /// One page of records deleted since `request.since`.
    fn fetch_deleted_page<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<DeletedPage>> {
        let message = format!("{} has no deletion feed", request.key);
        Box::pin(async move { Err(Error::new(ErrorKind::Unsupported, message)) })
    }
}
