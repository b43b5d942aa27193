//! The records, in insertion order per resource, and the log of every change.
//!
//! Each record is kept pre-serialized (its short form, its full form and each attribute's JSON)
//! behind an `Arc`, so a list request holds a table's read lock only long enough to pick the
//! page's rows, and assembles the body afterwards without any lock.

use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;

use crate::clock::{format_timestamp, to_datetime};
use crate::error::{SimError, SimErrorKind};
use crate::generate::{self, Fields, Refs, Target};
use crate::resource::Resource;

/// Field names the simulator manages itself; creates and updates may not set them.
const RESERVED: &[&str] = &[
    "id",
    "displayed_as",
    "$path",
    "created_at",
    "updated_at",
    "deleted_at",
];

/// How a list orders its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordOrder {
    /// Creation order; an update leaves a record where it is (Sage's unsorted `/contacts`).
    /// With `updated_or_created_since`, an update can still make a record appear on an earlier
    /// page in the middle of a walk, shifting later pages by one.
    #[default]
    Insertion,
    /// An update moves the record to the end, like a heap table rewriting the row: records
    /// after it shift one place back in the middle of a walk.
    UpdateMovesToEnd,
}

/// One stored record, pre-serialized.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) displayed_as: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) contact_types: u8,
    pub(crate) number: u64,
    fields: Fields,
    /// `{"id","displayed_as","$path"}`.
    pub(crate) short: String,
    /// Every attribute.
    pub(crate) full: String,
    /// Each attribute's name and its `"name":value` JSON fragment, in output order (the first
    /// three are the short form).
    pub(crate) attributes: Vec<(String, String)>,
}

impl Row {
    fn build(
        resource: Resource,
        id: String,
        number: u64,
        times: (i64, i64, Option<i64>),
        fields: Fields,
    ) -> Row {
        let (created_at, updated_at, deleted_at) = times;
        let displayed_as = generate::displayed_as(resource, &fields);
        let json = |value: &Value| serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        let mut attributes = vec![
            ("id".to_owned(), json(&Value::from(id.as_str()))),
            (
                "displayed_as".to_owned(),
                json(&Value::from(displayed_as.as_str())),
            ),
            (
                "$path".to_owned(),
                json(&Value::from(format!("/{}/{id}", resource.name()))),
            ),
            (
                "created_at".to_owned(),
                json(&Value::from(format_timestamp(created_at))),
            ),
            (
                "updated_at".to_owned(),
                json(&Value::from(format_timestamp(updated_at))),
            ),
            (
                "deleted_at".to_owned(),
                match deleted_at {
                    Some(at) => json(&Value::from(format_timestamp(at))),
                    None => "null".to_owned(),
                },
            ),
        ];
        for (name, value) in &fields {
            attributes.push((name.clone(), json(value)));
        }
        // Keep each attribute as its ready `"name":value` fragment.
        for (name, value) in &mut attributes {
            let mut fragment = String::with_capacity(name.len() + value.len() + 3);
            push_json_str(&mut fragment, name);
            fragment.push(':');
            fragment.push_str(value);
            *value = fragment;
        }
        let short = object(attributes.iter().take(3));
        let full = object(attributes.iter());
        Row {
            id,
            contact_types: generate::contact_type_bits(&fields),
            displayed_as,
            created_at,
            updated_at,
            deleted_at,
            number,
            fields,
            short,
            full,
            attributes,
        }
    }

    fn target(&self) -> Target {
        Target {
            id: self.id.clone(),
            displayed_as: self.displayed_as.clone(),
            contact_types: self.contact_types,
        }
    }
}

/// `{"k":v,...}` from attributes' `"k":v` fragments.
pub(crate) fn object<'a>(attributes: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut out = String::with_capacity(256);
    push_object(&mut out, attributes);
    out
}

/// Appends `{"k":v,...}` from attributes' `"k":v` fragments to `out`.
pub(crate) fn push_object<'a>(
    out: &mut String,
    attributes: impl Iterator<Item = &'a (String, String)>,
) {
    out.push('{');
    for (index, (_, fragment)) in attributes.enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(fragment);
    }
    out.push('}');
}

pub(crate) fn push_json_str(out: &mut String, text: &str) {
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// A record as the simulator holds it: the ground truth a test compares a client against.
#[derive(Clone)]
pub struct Record {
    resource: Resource,
    row: Arc<Row>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("resource", &self.resource)
            .field("id", &self.row.id)
            .field("displayed_as", &self.row.displayed_as)
            .field("created_at", &format_timestamp(self.row.created_at))
            .field("updated_at", &format_timestamp(self.row.updated_at))
            .field("deleted_at", &self.row.deleted_at.map(format_timestamp))
            .finish()
    }
}

impl Record {
    /// The resource it belongs to.
    pub fn resource(&self) -> Resource {
        self.resource
    }

    /// Its 32-hex-digit id.
    pub fn id(&self) -> &str {
        &self.row.id
    }

    /// Its `displayed_as`.
    pub fn displayed_as(&self) -> &str {
        &self.row.displayed_as
    }

    /// `created_at`, whole seconds.
    pub fn created_at(&self) -> DateTime<Utc> {
        to_datetime(self.row.created_at)
    }

    /// `updated_at`, whole seconds.
    pub fn updated_at(&self) -> DateTime<Utc> {
        to_datetime(self.row.updated_at)
    }

    /// `deleted_at`, if deleted.
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.row.deleted_at.map(to_datetime)
    }

    /// One resource-specific field (`name`, `contact_types`, `total_amount`, ...).
    pub fn field(&self, name: &str) -> Option<&Value> {
        generate::field(&self.row.fields, name)
    }

    /// The record as `attributes=all` serves it.
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.row.full).unwrap_or(Value::Null)
    }
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    /// A record was created.
    Created,
    /// A record's fields changed (its `updated_at` moved).
    Updated,
    /// A record was deleted (its `deleted_at` was set).
    Deleted,
}

/// One entry of the change log: what changed, when (sim clock), in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Change {
    /// 1-based position in the log; never reused until the next re-seed.
    pub seq: u64,
    /// Created, updated or deleted.
    pub kind: ChangeKind,
    /// The record's resource.
    pub resource: Resource,
    /// The record's id.
    pub id: String,
    /// The record's new `updated_at` (created, updated) or its `deleted_at` (deleted).
    #[serde(serialize_with = "serialize_timestamp")]
    pub at: DateTime<Utc>,
}

fn serialize_timestamp<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_timestamp(at.timestamp()))
}

#[derive(Debug, Default)]
struct Table {
    rows: Vec<Arc<Row>>,
    next_number: u64,
    /// The matching positions of the last few list filters, valid for `rows` as they are:
    /// every write goes through [`Store::table_mut`], which empties it. A walk asks for page
    /// after page with one filter, so each page costs O(page) instead of O(table).
    matches: Mutex<Vec<(Filter, Arc<Vec<u32>>)>>,
}

/// The part of a list query that decides which rows match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Filter {
    since: Option<i64>,
    deleted_since: Option<i64>,
    contact_types: Option<u8>,
}

impl Filter {
    fn matches(&self, row: &Row) -> bool {
        let alive_ok = match self.deleted_since {
            Some(since) => row.deleted_at.is_some_and(|at| at > since),
            None => row.deleted_at.is_none(),
        };
        alive_ok
            && self.since.is_none_or(|since| row.updated_at >= since)
            && self
                .contact_types
                .is_none_or(|wanted| row.contact_types & wanted != 0)
    }
}

/// Filters whose matching positions a table keeps.
const CACHED_FILTERS: usize = 4;

impl Table {
    /// The positions of the rows matching `filter`, in list order.
    fn matching(&self, filter: Filter) -> Arc<Vec<u32>> {
        let mut cache = lock(&self.matches);
        if let Some(at) = cache.iter().position(|(f, _)| *f == filter) {
            let entry = cache.remove(at);
            let positions = Arc::clone(&entry.1);
            cache.insert(0, entry);
            return positions;
        }
        let positions: Arc<Vec<u32>> = Arc::new(
            self.rows
                .iter()
                .enumerate()
                .filter(|(_, row)| filter.matches(row))
                .map(|(position, _)| position as u32)
                .collect(),
        );
        cache.truncate(CACHED_FILTERS - 1);
        cache.insert(0, (filter, Arc::clone(&positions)));
        positions
    }
}

/// Which attributes a list returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attributes {
    Default,
    All,
    Some(Vec<String>),
}

/// A parsed list query.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub(crate) page: usize,
    pub(crate) items_per_page: usize,
    pub(crate) since: Option<i64>,
    pub(crate) deleted_since: Option<i64>,
    pub(crate) contact_types: Option<u8>,
}

/// One page of a list: the total, the page number served and its rows.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) total: usize,
    pub(crate) page: usize,
    pub(crate) last_page: usize,
    pub(crate) rows: Vec<Arc<Row>>,
}

#[derive(Debug)]
pub(crate) struct Store {
    tables: [RwLock<Table>; Resource::COUNT],
    log: Mutex<Vec<Change>>,
    rng: Mutex<ChaCha8Rng>,
    order: RecordOrder,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Seeded records span the 90 days before the seed epoch.
const SEED_SPAN_SECS: i64 = 90 * 86_400;

impl Store {
    pub(crate) fn new(order: RecordOrder) -> Store {
        Store {
            tables: std::array::from_fn(|_| RwLock::default()),
            log: Mutex::new(Vec::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(0)),
            order,
        }
    }

    /// Replaces every table with `records` deterministic records per resource and clears the
    /// change log. Timestamps fall in the 90 days before `epoch`, in creation order.
    pub(crate) fn seed(&self, seed: u64, records: usize, epoch: i64) {
        let mut refs = Refs::default();
        let mut built: Vec<(Resource, Table)> = Vec::new();
        for (position, resource) in Resource::ALL.into_iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed ^ (position as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut created: Vec<i64> = (0..records)
                .map(|_| epoch - rng.gen_range(1..=SEED_SPAN_SECS))
                .collect();
            created.sort_unstable();
            let mut table = Table::default();
            for created_at in created {
                table.next_number += 1;
                let id = generate::new_id(&mut rng);
                let updated_at = if rng.gen_bool(0.5) {
                    created_at
                } else {
                    rng.gen_range(created_at..epoch)
                };
                let fields =
                    generate::fields(resource, &mut rng, table.next_number, created_at, &refs);
                let row = Row::build(
                    resource,
                    id,
                    table.next_number,
                    (created_at, updated_at, None),
                    fields,
                );
                table.rows.push(Arc::new(row));
            }
            refs.by_resource[resource.index()] =
                table.rows.iter().map(|row| row.target()).collect();
            built.push((resource, table));
        }
        let mut log = lock(&self.log);
        for (resource, table) in built {
            *self.table_mut(resource) = table;
        }
        log.clear();
        *lock(&self.rng) = ChaCha8Rng::seed_from_u64(seed.wrapping_add(0x5A6E_5157));
    }

    fn refs_for(&self, resource: Resource) -> Refs {
        let mut refs = Refs::default();
        let needed: &[Resource] = match resource {
            Resource::SalesInvoices | Resource::PurchaseInvoices => &[
                Resource::Contacts,
                Resource::LedgerAccounts,
                Resource::TaxRates,
            ],
            Resource::ContactPayments => &[Resource::Contacts, Resource::BankAccounts],
            Resource::Products
            | Resource::Services
            | Resource::BankAccounts
            | Resource::Journals
            | Resource::StockItems
            | Resource::LedgerAccountOpeningBalances
            | Resource::CoaAccounts
            | Resource::TaxProfiles => &[Resource::LedgerAccounts],
            Resource::SalesCreditNotes
            | Resource::PurchaseCreditNotes
            | Resource::SalesQuotes
            | Resource::SalesEstimates
            | Resource::SalesCorrectiveInvoices
            | Resource::PurchaseCorrectiveInvoices
            | Resource::SalesQuickEntries
            | Resource::PurchaseQuickEntries
            | Resource::ContactOpeningBalances => &[
                Resource::Contacts,
                Resource::LedgerAccounts,
                Resource::TaxRates,
            ],
            Resource::OtherPayments | Resource::LedgerEntries | Resource::Transactions => &[
                Resource::Contacts,
                Resource::BankAccounts,
                Resource::LedgerAccounts,
            ],
            Resource::ContactAllocations | Resource::Addresses | Resource::ContactPersons => {
                &[Resource::Contacts, Resource::SalesInvoices]
            }
            Resource::BankTransfers
            | Resource::BankDeposits
            | Resource::BankReconciliations
            | Resource::BankOpeningBalances => &[Resource::BankAccounts],
            Resource::Attachments => &[Resource::SalesInvoices, Resource::PurchaseInvoices],
            Resource::AnalysisTypeCategories => &[Resource::AnalysisTypes],
            _ => &[],
        };
        for other in needed {
            refs.by_resource[other.index()] = read(&self.tables[other.index()])
                .rows
                .iter()
                .filter(|row| row.deleted_at.is_none())
                .map(|row| row.target())
                .collect();
        }
        refs
    }

    fn append_log(&self, kind: ChangeKind, resource: Resource, id: &str, at: i64) {
        let mut log = lock(&self.log);
        let seq = log.len() as u64 + 1;
        log.push(Change {
            seq,
            kind,
            resource,
            id: id.to_owned(),
            at: to_datetime(at),
        });
    }

    pub(crate) fn create(
        &self,
        resource: Resource,
        overrides: &Value,
        now: i64,
    ) -> Result<Record, SimError> {
        let overrides = override_fields(overrides)?;
        let refs = self.refs_for(resource);
        let mut table = self.table_mut(resource);
        table.next_number += 1;
        let number = table.next_number;
        let (id, mut fields) = {
            let mut rng = lock(&self.rng);
            let id = generate::new_id(&mut rng);
            (id, generate::fields(resource, &mut rng, number, now, &refs))
        };
        merge(&mut fields, overrides);
        let row = Arc::new(Row::build(resource, id, number, (now, now, None), fields));
        table.rows.push(Arc::clone(&row));
        self.append_log(ChangeKind::Created, resource, &row.id, now);
        Ok(Record { resource, row })
    }

    pub(crate) fn update(
        &self,
        resource: Resource,
        id: &str,
        changes: &Value,
        now: i64,
    ) -> Result<Record, SimError> {
        let changes = override_fields(changes)?;
        let mut table = self.table_mut(resource);
        let position = live_position(&table, resource, id)?;
        let old = &table.rows[position];
        let mut fields = old.fields.clone();
        merge(&mut fields, changes);
        let row = Arc::new(Row::build(
            resource,
            old.id.clone(),
            old.number,
            (old.created_at, now, None),
            fields,
        ));
        match self.order {
            RecordOrder::Insertion => table.rows[position] = Arc::clone(&row),
            RecordOrder::UpdateMovesToEnd => {
                table.rows.remove(position);
                table.rows.push(Arc::clone(&row));
            }
        }
        self.append_log(ChangeKind::Updated, resource, id, now);
        Ok(Record { resource, row })
    }

    pub(crate) fn delete(
        &self,
        resource: Resource,
        id: &str,
        now: i64,
    ) -> Result<Record, SimError> {
        let mut table = self.table_mut(resource);
        let position = live_position(&table, resource, id)?;
        let old = &table.rows[position];
        let row = Arc::new(Row::build(
            resource,
            old.id.clone(),
            old.number,
            (old.created_at, old.updated_at, Some(now)),
            old.fields.clone(),
        ));
        table.rows[position] = Arc::clone(&row);
        self.append_log(ChangeKind::Deleted, resource, id, now);
        Ok(Record { resource, row })
    }

    /// A record by id, deleted or not.
    pub(crate) fn get(&self, resource: Resource, id: &str) -> Option<Record> {
        read(&self.tables[resource.index()])
            .rows
            .iter()
            .find(|row| row.id == id)
            .map(|row| Record {
                resource,
                row: Arc::clone(row),
            })
    }

    /// Every record of a resource in list order, deleted ones included.
    pub(crate) fn all(&self, resource: Resource) -> Vec<Record> {
        read(&self.tables[resource.index()])
            .rows
            .iter()
            .map(|row| Record {
                resource,
                row: Arc::clone(row),
            })
            .collect()
    }

    /// A random live record of a resource, for the activity generator.
    pub(crate) fn random_live(&self, resource: Resource, rng: &mut ChaCha8Rng) -> Option<String> {
        let table = read(&self.tables[resource.index()]);
        let live: Vec<&Arc<Row>> = table
            .rows
            .iter()
            .filter(|row| row.deleted_at.is_none())
            .collect();
        if live.is_empty() {
            return None;
        }
        Some(live[rng.gen_range(0..live.len())].id.clone())
    }

    pub(crate) fn changes_since(&self, after_seq: u64) -> Vec<Change> {
        let log = lock(&self.log);
        let start = (after_seq as usize).min(log.len());
        log[start..].to_vec()
    }

    /// The page a list query asks for; a page past the end is the last page.
    pub(crate) fn list(&self, resource: Resource, query: &ListQuery) -> Page {
        let table = read(&self.tables[resource.index()]);
        let filter = Filter {
            since: query.since,
            deleted_since: query
                .deleted_since
                .filter(|_| resource.supports_deleted_since()),
            contact_types: query.contact_types,
        };
        let positions = table.matching(filter);
        let total = positions.len();
        let per_page = query.items_per_page.max(1);
        let last_page = total.div_ceil(per_page).max(1);
        let page = query.page.clamp(1, last_page);
        let rows = positions
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|&position| Arc::clone(&table.rows[position as usize]))
            .collect();
        Page {
            total,
            page,
            last_page,
            rows,
        }
    }

    /// A table to change: its cached list positions are dropped first.
    fn table_mut(&self, resource: Resource) -> std::sync::RwLockWriteGuard<'_, Table> {
        let mut table = write(&self.tables[resource.index()]);
        table
            .matches
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        table
    }
}

fn live_position(table: &Table, resource: Resource, id: &str) -> Result<usize, SimError> {
    table
        .rows
        .iter()
        .position(|row| row.id == id && row.deleted_at.is_none())
        .ok_or_else(|| {
            SimError::new(
                SimErrorKind::NotFound,
                format!("no live {} record with id `{id}`", resource.name()),
            )
        })
}

/// The fields of a create/update body: an object (or null for none) without reserved names.
fn override_fields(value: &Value) -> Result<Fields, SimError> {
    let map = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Object(map) => map,
        other => {
            return Err(SimError::new(
                SimErrorKind::InvalidRecord,
                format!("record fields must be a JSON object, not `{other}`"),
            ))
        }
    };
    let mut fields = Vec::with_capacity(map.len());
    for (name, value) in map {
        if RESERVED.contains(&name.as_str()) {
            return Err(SimError::new(
                SimErrorKind::InvalidRecord,
                format!("field `{name}` is managed by the simulator and cannot be set"),
            ));
        }
        fields.push((name.clone(), value.clone()));
    }
    Ok(fields)
}

fn merge(fields: &mut Fields, overrides: Fields) {
    for (name, value) in overrides {
        match fields.iter_mut().find(|(key, _)| *key == name) {
            Some(slot) => slot.1 = value,
            None => fields.push((name, value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

    fn query(page: usize, items_per_page: usize) -> ListQuery {
        ListQuery {
            page,
            items_per_page,
            since: None,
            deleted_since: None,
            contact_types: None,
        }
    }

    #[test]
    fn seeding_is_deterministic_and_ordered() {
        let a = Store::new(RecordOrder::Insertion);
        let b = Store::new(RecordOrder::Insertion);
        a.seed(7, 25, EPOCH);
        b.seed(7, 25, EPOCH);
        for resource in Resource::ALL {
            let left: Vec<String> = a.all(resource).iter().map(|r| r.row.full.clone()).collect();
            let right: Vec<String> = b.all(resource).iter().map(|r| r.row.full.clone()).collect();
            assert_eq!(left, right, "{resource}");
            assert_eq!(left.len(), 25);
            let records = a.all(resource);
            for pair in records.windows(2) {
                assert!(pair[0].row.created_at <= pair[1].row.created_at);
            }
            for record in &records {
                assert!(record.row.created_at < EPOCH);
                assert!(record.row.updated_at >= record.row.created_at);
                assert!(record.row.updated_at < EPOCH);
            }
        }
        let c = Store::new(RecordOrder::Insertion);
        c.seed(8, 25, EPOCH);
        assert_ne!(
            a.all(Resource::Contacts)[0].id(),
            c.all(Resource::Contacts)[0].id()
        );
    }

    #[test]
    fn update_moves_to_end_only_in_that_order() {
        for (order, expect_last) in [
            (RecordOrder::Insertion, false),
            (RecordOrder::UpdateMovesToEnd, true),
        ] {
            let store = Store::new(order);
            store.seed(1, 5, EPOCH);
            let first = store.all(Resource::Contacts)[0].id().to_owned();
            store
                .update(Resource::Contacts, &first, &Value::Null, EPOCH + 10)
                .unwrap();
            let page = store.list(Resource::Contacts, &query(1, 20));
            assert_eq!(page.rows.last().unwrap().id == first, expect_last);
        }
    }

    /// Every page by a fresh scan of the table, as `list` computed it before it cached.
    fn scanned(store: &Store, resource: Resource, query: &ListQuery) -> (usize, Vec<String>) {
        let table = read(&store.tables[resource.index()]);
        let filter = Filter {
            since: query.since,
            deleted_since: query
                .deleted_since
                .filter(|_| resource.supports_deleted_since()),
            contact_types: query.contact_types,
        };
        let matching: Vec<&Arc<Row>> = table.rows.iter().filter(|r| filter.matches(r)).collect();
        let per_page = query.items_per_page.max(1);
        let last_page = matching.len().div_ceil(per_page).max(1);
        let page = query.page.clamp(1, last_page);
        let ids = matching
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|r| r.id.clone())
            .collect();
        (matching.len(), ids)
    }

    fn listed(store: &Store, resource: Resource, query: &ListQuery) -> (usize, Vec<String>) {
        let page = store.list(resource, query);
        (page.total, page.rows.iter().map(|r| r.id.clone()).collect())
    }

    #[test]
    fn cached_pages_match_a_scan_and_every_write_refreshes_them() {
        for order in [RecordOrder::Insertion, RecordOrder::UpdateMovesToEnd] {
            let store = Store::new(order);
            store.seed(3, 60, EPOCH);
            let since = store.all(Resource::Contacts)[30].row.updated_at;
            let filters = [
                (None, None, None),
                (Some(since), None, None),
                (None, Some(EPOCH - 1), None),
                (Some(since), None, Some(1)),
            ];
            let check = |store: &Store| {
                // Alternate filters, so the cache is hit, missed and reordered.
                for page in 0..=8 {
                    for (since, deleted_since, contact_types) in filters {
                        let query = ListQuery {
                            page,
                            items_per_page: 7,
                            since,
                            deleted_since,
                            contact_types,
                        };
                        assert_eq!(
                            listed(store, Resource::Contacts, &query),
                            scanned(store, Resource::Contacts, &query),
                            "{order:?} page {page} {since:?} {deleted_since:?} {contact_types:?}"
                        );
                    }
                }
            };
            check(&store);
            let ids: Vec<String> = store
                .all(Resource::Contacts)
                .iter()
                .map(|r| r.id().to_owned())
                .collect();
            store
                .update(Resource::Contacts, &ids[2], &Value::Null, EPOCH + 5)
                .unwrap();
            check(&store);
            store
                .delete(Resource::Contacts, &ids[40], EPOCH + 6)
                .unwrap();
            check(&store);
            store
                .create(Resource::Contacts, &Value::Null, EPOCH + 7)
                .unwrap();
            check(&store);
            store.seed(4, 30, EPOCH);
            check(&store);
        }
    }

    #[test]
    fn reserved_fields_and_non_objects_are_refused() {
        let store = Store::new(RecordOrder::Insertion);
        let err = store
            .create(Resource::Contacts, &serde_json::json!({"id": "x"}), EPOCH)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `id` is managed by the simulator and cannot be set"
        );
        let err = store
            .create(Resource::Contacts, &serde_json::json!([1]), EPOCH)
            .unwrap_err();
        assert_eq!(err.kind(), SimErrorKind::InvalidRecord);
    }
}
