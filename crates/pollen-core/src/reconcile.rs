//! Reconciliation: deletions for sources without a deletion feed.
//!
//! Every [`PollSpec::reconcile_interval`] a poll also walks every id of its resource and
//! compares them with the ids the key knows (those it emitted CREATED or UPDATED for, and those
//! earlier walks found). A known id the walk did not find is only a candidate: offset paging
//! can skip a record when another one is deleted or created during the walk, without `$total`
//! changing. Each candidate is looked up by id, and only the vendor's answer that the record
//! does not exist ([`Lookup::Absent`]) makes a DELETED. A false DELETED is worse than a late
//! one, so the whole reconciliation is given up, emitting nothing, when:
//! - any id page fails, or the walk shifted (`$total` changed between pages, an id came twice,
//!   or the walk's count differs from the last `$total`);
//! - many ids went missing at once and a sample of them is still there (the walk lied);
//! - the poll runs out of time for it.
//!
//! A lookup that fails leaves its id known, to be tried at the next reconciliation.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use futures::future::{self, Either};

use crate::error::{Error, ErrorKind};
use crate::poll::PollContext;
use crate::source::{DeletedRecord, IdRequest, Lookup, Source};
use crate::spec::PollSpec;
use crate::store::Reconciled;

/// Candidates beyond this count (and beyond a tenth of the known ids) are suspicious: a sample
/// is looked up first, and one record still there gives the reconciliation up.
const SUSPICIOUS: usize = 100;

/// How many candidates the suspicious case looks up before trusting the walk.
const SAMPLE: usize = 20;

/// At most this many lookups per reconciliation; the other candidates stay known and are looked
/// up by the next one, so one reconciliation never spends more than this on lookups.
pub(crate) const MAX_LOOKUPS: usize = 1_000;

/// What a completed reconciliation found.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// What the poll's commit writes.
    pub(crate) reconciled: Reconciled,
    /// The records confirmed gone, as the deletion feed would report them.
    pub(crate) deleted: Vec<DeletedRecord>,
    /// Lookups that failed (their ids stay known).
    pub(crate) undecided: usize,
}

/// Why a reconciliation was given up.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The id walk shifted: what it found proves nothing.
    Shifted(String),
    /// Lookups found records the walk missed, in numbers that make the walk untrustworthy.
    Contradicted(String),
    /// The poll's time for it ran out.
    Deadline,
    /// A page or the store failed.
    Failed(Error),
}

impl Abort {
    pub(crate) fn reason(&self) -> String {
        match self {
            Abort::Shifted(why) => format!("the id walk shifted: {why}"),
            Abort::Contradicted(why) => why.clone(),
            Abort::Deadline => "no time left in the poll".to_owned(),
            Abort::Failed(error) => error.to_string(),
        }
    }
}

impl From<Error> for Abort {
    fn from(error: Error) -> Self {
        Abort::Failed(error)
    }
}

/// Whether `spec`'s key is due for a reconciliation at `now`, last reconciled at `last`.
pub(crate) fn is_due(
    spec: &PollSpec,
    source: &dyn Source,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let Some(every) = spec.reconcile_interval else {
        return false;
    };
    source.supports_reconcile(&spec.key) && last.is_none_or(|at| now - at >= every)
}

/// Runs one reconciliation of `spec` started at `at`, giving up at `deadline`.
pub(crate) async fn reconcile(
    ctx: &PollContext<'_>,
    spec: &PollSpec,
    source: &dyn Source,
    at: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> std::result::Result<Outcome, Abort> {
    let work = std::pin::pin!(run(ctx, spec, source, at));
    let Some(deadline) = deadline else {
        return work.await;
    };
    let timer = std::pin::pin!(ctx.clock.sleep_until(deadline));
    match future::select(work, timer).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => Err(Abort::Deadline),
    }
}

async fn run(
    ctx: &PollContext<'_>,
    spec: &PollSpec,
    source: &dyn Source,
    at: DateTime<Utc>,
) -> std::result::Result<Outcome, Abort> {
    let key = &spec.key;
    let present = walk_ids(ctx, spec, source).await?;
    // Read after the walk: an id a concurrent writer added meanwhile is at worst a candidate
    // that its lookup finds present.
    let known: BTreeSet<String> = ctx.store.known_ids(key).await?.into_iter().collect();
    let added: Vec<String> = present
        .iter()
        .filter(|id| !known.contains(*id))
        .cloned()
        .collect();
    let candidates: Vec<&String> = known.iter().filter(|id| !present.contains(*id)).collect();

    let mut removed = Vec::new();
    let mut undecided = 0usize;
    let mut lookups = 0u64;
    let suspicious = candidates.len() > SUSPICIOUS.max(known.len() / 10);
    for (n, id) in candidates.iter().take(MAX_LOOKUPS).enumerate() {
        lookups += 1;
        match source.lookup(key, id).await {
            Ok(Lookup::Absent) => removed.push((*id).clone()),
            Ok(Lookup::Present) if suspicious && n < SAMPLE => {
                ctx.metrics.add_reconcile_lookups(lookups);
                return Err(Abort::Contradicted(format!(
                    "{} of {} known ids were missing from the walk, but record {id} is still there",
                    candidates.len(),
                    known.len()
                )));
            }
            Ok(Lookup::Present) => {}
            Err(error) if error.kind() == ErrorKind::LeaseLost => return Err(error.into()),
            Err(error) => {
                undecided += 1;
                tracing::debug!(%key, id = %id, %error, "lookup failed; the id stays known");
            }
        }
    }
    ctx.metrics.add_reconcile_lookups(lookups);
    let deleted = removed
        .iter()
        .map(|id| DeletedRecord {
            id: id.clone(),
            deleted_at: None,
            record: serde_json::json!({ "id": id }),
        })
        .collect();
    Ok(Outcome {
        reconciled: Reconciled { at, added, removed },
        deleted,
        undecided,
    })
}

/// Every id of the resource, or why the walk proves nothing.
async fn walk_ids(
    ctx: &PollContext<'_>,
    spec: &PollSpec,
    source: &dyn Source,
) -> std::result::Result<HashSet<String>, Abort> {
    let mut present: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut first_total: Option<Option<u64>> = None;
    let mut pages = 0u32;
    loop {
        let page = source
            .fetch_id_page(IdRequest {
                key: &spec.key,
                page_size: spec.page_size,
                cursor: cursor.as_deref(),
            })
            .await;
        pages += 1;
        ctx.metrics.add_reconcile_pages(1);
        let page = page?;
        match first_total {
            None => first_total = Some(page.total),
            Some(total) if total != page.total => {
                return Err(Abort::Shifted(format!(
                    "$total went from {} to {} at page {pages}",
                    show(total),
                    show(page.total)
                )));
            }
            Some(_) => {}
        }
        for id in page.ids {
            if id.is_empty() {
                continue;
            }
            if let Some(again) = present.replace(id) {
                return Err(Abort::Shifted(format!(
                    "id {again} came twice (page {pages})"
                )));
            }
        }
        cursor = crate::poll::next_cursor(spec, pages, cursor.as_deref(), page.next)?;
        if cursor.is_none() {
            break;
        }
    }
    // Every page reported the same total (else the walk stopped above).
    if let Some(total) = first_total.flatten() {
        if present.len() as u64 != total {
            return Err(Abort::Shifted(format!(
                "the walk found {} ids where $total says {total}",
                present.len()
            )));
        }
    }
    Ok(present)
}

fn show(total: Option<u64>) -> String {
    total.map_or_else(|| "none".to_owned(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_names_its_reason() {
        assert_eq!(
            Abort::Shifted("$total went from 3 to 4 at page 2".into()).reason(),
            "the id walk shifted: $total went from 3 to 4 at page 2"
        );
        assert_eq!(Abort::Deadline.reason(), "no time left in the poll");
    }
}
