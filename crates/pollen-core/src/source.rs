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
    /// Why the page is asked for: a connector spending a rate budget serves
    /// [`Purpose::Changes`] first.
    pub purpose: Purpose,
}

/// Why a request is made. A connector that spends a shared rate budget (the Sage connector's
/// calls per business and minute) serves the more urgent purpose first: recent changes before a
/// long catch-up, both before reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Purpose {
    /// A regular poll of a recent window.
    #[default]
    Changes,
    /// A poll catching up a long window: a first poll with `backfill_since`, or the return of a
    /// key that was not polled for a while.
    Backfill,
    /// Reconciliation: walking every id of a resource, and looking up the ones that went
    /// missing, to find deletions the vendor does not report.
    Reconcile,
}

impl Purpose {
    /// `changes`, `backfill` or `reconcile`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Changes => "changes",
            Purpose::Backfill => "backfill",
            Purpose::Reconcile => "reconcile",
        }
    }
}

/// One page request of a reconciliation walk: every record's id, no date filter.
#[derive(Debug, Clone, Copy)]
pub struct IdRequest<'a> {
    /// Which (instance, resource) is reconciled.
    pub key: &'a PollKey,
    /// The page size to ask for, when configured (else the source's largest).
    pub page_size: Option<u32>,
    /// `None` for the first page, else the previous page's [`IdPage::next`].
    pub cursor: Option<&'a str>,
}

/// One page of a reconciliation walk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdPage {
    /// The ids on this page.
    pub ids: Vec<String>,
    /// Continuation, as for [`Page::next`].
    pub next: Option<String>,
    /// The vendor's total, as for [`Page::total`]: a change during the walk means pages shifted
    /// and the walk proves nothing.
    pub total: Option<u64>,
}

/// What looking a record up by id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The vendor returned the record.
    Present,
    /// The vendor answered that no record has this id (Sage: 404 `RecordNotFound`).
    Absent,
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

    /// Whether [`Source::fetch_id_page`] and [`Source::lookup`] work for this resource, so
    /// that deletions can be found by reconciliation. A resource with a deletion feed needs
    /// none.
    fn supports_reconcile(&self, key: &PollKey) -> bool {
        let _ = key;
        false
    }

    /// One page of the ids of every record of the resource.
    fn fetch_id_page<'a>(&'a self, request: IdRequest<'a>) -> BoxFuture<'a, Result<IdPage>> {
        let message = format!("{} cannot be reconciled", request.key);
        Box::pin(async move { Err(Error::new(ErrorKind::Unsupported, message)) })
    }

    /// Looks the record `id` up. Only an answer that says the record does not exist is
    /// [`Lookup::Absent`]; anything the source cannot be sure of is an error.
    fn lookup<'a>(&'a self, key: &'a PollKey, id: &'a str) -> BoxFuture<'a, Result<Lookup>> {
        let message = format!("{key} cannot look up record {id}");
        Box::pin(async move { Err(Error::new(ErrorKind::Unsupported, message)) })
    }
}
