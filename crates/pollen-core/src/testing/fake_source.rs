use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::clock::{Clock, ManualClock};
use crate::error::{Error, Result};
use crate::source::{
    DeletedPage, DeletedRecord, FetchRequest, IdPage, IdRequest, Lookup, Page, Source,
};
use crate::spec::PollKey;

type Hook = Box<dyn FnOnce(&FakeSource) + Send>;

/// One request the fake served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeFetch {
    /// The window start asked for.
    pub since: DateTime<Utc>,
    /// The expanded request text.
    pub request: String,
    /// The cursor (page number) asked for; `None` for the first page.
    pub cursor: Option<String>,
    /// Whether it was the deletion feed.
    pub deletions: bool,
    /// Whether it was a reconciliation's id page.
    pub ids: bool,
    /// The clock (ours, not the vendor's) when it was served.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct FakeRecord {
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    fields: Map<String, Value>,
}

struct Inner {
    records: BTreeMap<String, FakeRecord>,
    deleted: Vec<(String, DateTime<Utc>)>,
    skew: TimeDelta,
    page_size: usize,
    server_time: bool,
    deletions: bool,
    reconcile: bool,
    failures_left: u32,
    lookup_failures_left: u32,
    lookups: Vec<String>,
    id_hooks: Vec<(u32, Hook)>,
    latency: TimeDelta,
    fetches: Vec<FakeFetch>,
    hooks: Vec<(u32, Hook)>,
    in_flight: u32,
    max_in_flight: u32,
}

/// An in-memory vendor for tests. Clones share the same data.
#[derive(Clone)]
pub struct FakeSource {
    clock: ManualClock,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for FakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSource")
            .field("records", &self.lock().records.len())
            .finish_non_exhaustive()
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl FakeSource {
    /// An empty vendor whose clock is `clock` (no skew), 20 records a page, sending its time.
    pub fn new(clock: ManualClock) -> Self {
        FakeSource {
            clock,
            inner: Arc::new(Mutex::new(Inner {
                records: BTreeMap::new(),
                deleted: Vec::new(),
                skew: TimeDelta::zero(),
                page_size: 20,
                server_time: true,
                deletions: false,
                reconcile: false,
                failures_left: 0,
                lookup_failures_left: 0,
                lookups: Vec::new(),
                id_hooks: Vec::new(),
                latency: TimeDelta::zero(),
                fetches: Vec::new(),
                hooks: Vec::new(),
                in_flight: 0,
                max_in_flight: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The vendor's clock: ours plus the skew.
    pub fn vendor_now(&self) -> DateTime<Utc> {
        self.clock.now() + self.lock().skew
    }

    /// Sets the vendor clock's offset from ours (negative: the vendor is behind).
    pub fn set_skew(&self, skew: TimeDelta) {
        self.lock().skew = skew;
    }

    /// Records per page when the request names no page size.
    pub fn set_page_size(&self, size: usize) {
        self.lock().page_size = size.max(1);
    }

    /// Whether pages carry the vendor's time (the `Date` header).
    pub fn set_server_time(&self, on: bool) {
        self.lock().server_time = on;
    }

    /// Turns the deletion feed on.
    pub fn enable_deletions(&self) {
        self.lock().deletions = true;
    }

    /// Turns reconciliation on: id pages (every record, in id order) and lookups.
    pub fn enable_reconcile(&self) {
        self.lock().reconcile = true;
    }

    /// The next `n` lookups fail (neither present nor absent).
    pub fn fail_next_lookups(&self, n: u32) {
        self.lock().lookup_failures_left = n;
    }

    /// The ids looked up so far, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.lock().lookups.clone()
    }

    /// Runs `hook` just before serving the next request for id page `page` (1-based) of a
    /// reconciliation walk.
    pub fn before_id_page(&self, page: u32, hook: impl FnOnce(&FakeSource) + Send + 'static) {
        self.lock().id_hooks.push((page, Box::new(hook)));
    }

    /// Drops the hooks that have not run yet (of change pages and id pages).
    pub fn clear_hooks(&self) {
        let mut inner = self.lock();
        inner.hooks.clear();
        inner.id_hooks.clear();
    }

    /// The next `n` fetches fail.
    pub fn fail_next(&self, n: u32) {
        self.lock().failures_left = n;
    }

    /// Every fetch takes `latency` on the clock.
    pub fn set_latency(&self, latency: TimeDelta) {
        self.lock().latency = latency;
    }

    /// Runs `hook` just before serving the next request for page `page` (1-based).
    pub fn before_page(&self, page: u32, hook: impl FnOnce(&FakeSource) + Send + 'static) {
        self.lock().hooks.push((page, Box::new(hook)));
    }

    /// Creates or updates record `id` now (vendor time), merging `fields` into it.
    pub fn upsert(&self, id: &str, fields: Value) {
        let at = self.vendor_now();
        let mut inner = self.lock();
        let record = inner
            .records
            .entry(id.to_owned())
            .or_insert_with(|| FakeRecord {
                created: at,
                updated: at,
                fields: Map::new(),
            });
        record.updated = at;
        if let Value::Object(map) = fields {
            record.fields.extend(map);
        }
    }

    /// Creates or replaces record `id` with explicit stamps.
    pub fn insert_at(&self, id: &str, created: DateTime<Utc>, updated: DateTime<Utc>) {
        self.lock().records.insert(
            id.to_owned(),
            FakeRecord {
                created,
                updated,
                fields: Map::new(),
            },
        );
    }

    /// Deletes record `id` now (vendor time).
    pub fn delete(&self, id: &str) {
        let at = self.vendor_now();
        let mut inner = self.lock();
        inner.records.remove(id);
        inner.deleted.push((id.to_owned(), at));
    }

    /// Every request served so far.
    pub fn fetches(&self) -> Vec<FakeFetch> {
        self.lock().fetches.clone()
    }

    /// The most requests ever in flight at once.
    pub fn max_in_flight(&self) -> u32 {
        self.lock().max_in_flight
    }

    fn render(id: &str, record: &FakeRecord) -> Value {
        let mut map = record.fields.clone();
        map.insert("id".into(), id.into());
        map.insert("created_at".into(), stamp(record.created).into());
        map.insert("updated_at".into(), stamp(record.updated).into());
        Value::Object(map)
    }

    async fn begin(&self, request: &FetchRequest<'_>, deletions: bool) -> Result<u32> {
        let page: u32 = request
            .cursor
            .map_or(Ok(1), str::parse)
            .map_err(|_| Error::source_failed(format!("bad fake cursor {:?}", request.cursor)))?;
        let (latency, hooks) = {
            let mut inner = self.lock();
            inner.in_flight += 1;
            inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
            let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.hooks)
                .into_iter()
                .partition(|(p, _)| *p == page && !deletions);
            inner.hooks = rest;
            (inner.latency, due)
        };
        let in_flight = InFlight(self);
        for (_, hook) in hooks {
            hook(self);
        }
        if latency > TimeDelta::zero() {
            self.clock.sleep_until(self.clock.now() + latency).await;
        }
        drop(in_flight);
        let mut inner = self.lock();
        inner.fetches.push(FakeFetch {
            since: request.since,
            request: request.request.to_owned(),
            cursor: request.cursor.map(str::to_owned),
            deletions,
            ids: false,
            at: self.clock.now(),
        });
        if inner.failures_left > 0 {
            inner.failures_left -= 1;
            return Err(Error::source_failed("fake source: injected failure"));
        }
        Ok(page)
    }

    fn page_bounds(
        &self,
        request: &FetchRequest<'_>,
        page: u32,
        total: usize,
    ) -> (usize, usize, Option<String>) {
        let size = request
            .page_size
            .map_or(self.lock().page_size, |s| s as usize)
            .max(1);
        Self::bounds(size, page, total)
    }

    fn bounds(size: usize, page: u32, total: usize) -> (usize, usize, Option<String>) {
        let start = (page as usize - 1).saturating_mul(size).min(total);
        let end = (start + size).min(total);
        let next = (end < total).then(|| (page + 1).to_string());
        (start, end, next)
    }
}

/// Counts a request as in flight until dropped (also when a timed-out poll drops it).
struct InFlight<'a>(&'a FakeSource);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

impl Source for FakeSource {
    fn fetch_page<'a>(&'a self, request: FetchRequest<'a>) -> BoxFuture<'a, Result<Page>> {
        Box::pin(async move {
            let page = self.begin(&request, false).await?;
            let (matching, server_time) = {
                let inner = self.lock();
                let mut matching: Vec<(&String, &FakeRecord)> = inner
                    .records
                    .iter()
                    .filter(|(_, r)| r.updated >= request.since)
                    .collect();
                matching.sort_by(|a, b| (a.1.updated, a.0).cmp(&(b.1.updated, b.0)));
                let rendered: Vec<Value> =
                    matching.iter().map(|(id, r)| Self::render(id, r)).collect();
                let time = inner.server_time.then(|| self.clock.now() + inner.skew);
                (rendered, time)
            };
            let total = matching.len();
            let (start, end, next) = self.page_bounds(&request, page, total);
            Ok(Page {
                records: matching[start..end].to_vec(),
                next,
                total: Some(total as u64),
                server_time,
            })
        })
    }

    fn supports_deletions(&self, _key: &PollKey) -> bool {
        self.lock().deletions
    }

    fn supports_reconcile(&self, _key: &PollKey) -> bool {
        self.lock().reconcile
    }

    fn fetch_id_page<'a>(&'a self, request: IdRequest<'a>) -> BoxFuture<'a, Result<IdPage>> {
        Box::pin(async move {
            let page: u32 = request.cursor.map_or(Ok(1), str::parse).map_err(|_| {
                Error::source_failed(format!("bad fake cursor {:?}", request.cursor))
            })?;
            let hooks = {
                let mut inner = self.lock();
                let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.id_hooks)
                    .into_iter()
                    .partition(|(p, _)| *p == page);
                inner.id_hooks = rest;
                due
            };
            for (_, hook) in hooks {
                hook(self);
            }
            let mut inner = self.lock();
            inner.fetches.push(FakeFetch {
                since: DateTime::<Utc>::UNIX_EPOCH,
                request: String::new(),
                cursor: request.cursor.map(str::to_owned),
                deletions: false,
                ids: true,
                at: self.clock.now(),
            });
            if inner.failures_left > 0 {
                inner.failures_left -= 1;
                return Err(Error::source_failed("fake source: injected failure"));
            }
            let ids: Vec<&String> = inner.records.keys().collect();
            let size = request.page_size.map_or(inner.page_size, |s| s as usize);
            let (start, end, next) = Self::bounds(size.max(1), page, ids.len());
            Ok(IdPage {
                ids: ids[start..end].iter().map(|id| (*id).clone()).collect(),
                next,
                total: Some(ids.len() as u64),
            })
        })
    }

    fn lookup<'a>(&'a self, _key: &'a PollKey, id: &'a str) -> BoxFuture<'a, Result<Lookup>> {
        Box::pin(async move {
            let mut inner = self.lock();
            inner.lookups.push(id.to_owned());
            if inner.lookup_failures_left > 0 {
                inner.lookup_failures_left -= 1;
                return Err(Error::source_failed("fake source: injected lookup failure"));
            }
            Ok(if inner.records.contains_key(id) {
                Lookup::Present
            } else {
                Lookup::Absent
            })
        })
    }

    fn fetch_deleted_page<'a>(
        &'a self,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<DeletedPage>> {
        Box::pin(async move {
            let page = self.begin(&request, true).await?;
            let (matching, server_time) = {
                let inner = self.lock();
                let matching: Vec<DeletedRecord> = inner
                    .deleted
                    .iter()
                    .filter(|(_, at)| *at > request.since)
                    .map(|(id, at)| DeletedRecord {
                        id: id.clone(),
                        deleted_at: Some(*at),
                        record: serde_json::json!({"id": id, "deleted_at": stamp(*at)}),
                    })
                    .collect();
                let time = inner.server_time.then(|| self.clock.now() + inner.skew);
                (matching, time)
            };
            let total = matching.len();
            let (start, end, next) = self.page_bounds(&request, page, total);
            Ok(DeletedPage {
                records: matching[start..end].to_vec(),
                next,
                total: Some(total as u64),
                server_time,
            })
        })
    }
}
