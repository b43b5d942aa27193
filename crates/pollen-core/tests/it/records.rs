//! Record handling: unreadable dates, missing ids, deletions, notification size, stable ids.

use std::sync::Arc;

use chrono::TimeDelta;
use futures::future::BoxFuture;
use pollen_core::{
    build_notifications, Change, Classifier, EventType, FetchRequest, Page, PollKey, Result,
    Source, StableId, Tally, Window, MAX_EVENTS_PER_NOTIFICATION,
};
use serde_json::{json, Value};

use crate::common::{counts, key, spec, t0, Harness};

/// A vendor that always answers with the same single page.
#[derive(Debug)]
struct StaticSource(Vec<Value>);

impl Source for StaticSource {
    fn fetch_page<'a>(&'a self, _request: FetchRequest<'a>) -> BoxFuture<'a, Result<Page>> {
        let records = self.0.clone();
        Box::pin(async move {
            Ok(Page {
                records,
                ..Page::default()
            })
        })
    }
}

async fn harness_with(records: Vec<Value>) -> Harness {
    let h = Harness::new(|_| {}).await;
    h.scheduler.unregister(&key()).await.unwrap();
    h.scheduler
        .register(spec(t0()), Arc::new(StaticSource(records)))
        .await
        .unwrap();
    h
}

#[tokio::test]
async fn an_unparseable_date_emits_updated_and_counts_a_warning() {
    let fine = (t0() + TimeDelta::minutes(1)).to_rfc3339();
    let h = harness_with(vec![
        json!({"id": "bad-updated", "updated_at": "yesterday-ish", "created_at": fine}),
        json!({"id": "bad-created", "updated_at": fine, "created_at": 17}),
        json!({"id": "no-updated", "created_at": fine}),
        json!({"id": "fine", "updated_at": fine, "created_at": fine}),
    ])
    .await;
    let report = h.poll().await.result.unwrap();
    assert_eq!(report.tally.date_warnings, 3);
    let events = h.emitted().await;
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.object_id.as_str(), e.event_type.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("bad-updated", "UPDATED"),
            ("bad-created", "UPDATED"),
            ("no-updated", "UPDATED"),
            ("fine", "CREATED")
        ]
    );
    assert_eq!(h.scheduler.metrics().date_warnings, 3);
    // Keyed by the value as returned: the next poll does not repeat them.
    h.poll().await.result.unwrap();
    assert_eq!(h.emitted().await.len(), 4);
}

#[tokio::test]
async fn a_record_without_an_id_is_skipped_and_counted() {
    let at = (t0() + TimeDelta::minutes(1)).to_rfc3339();
    let h = harness_with(vec![
        json!({"name": "no id", "updated_at": at}),
        json!({"id": null, "updated_at": at}),
        json!({"id": "", "updated_at": at}),
        json!({"id": {"nested": true}, "updated_at": at}),
        json!("not even an object"),
        json!({"id": 42, "updated_at": at}),
    ])
    .await;
    let report = h.poll().await.result.unwrap();
    assert_eq!(report.tally.without_id, 5);
    assert_eq!(h.scheduler.metrics().records_without_id, 5);
    let ids: Vec<String> = h.emitted().await.into_iter().map(|e| e.object_id).collect();
    assert_eq!(ids, ["42"]);
}

#[tokio::test]
async fn deletions_are_emitted_once_as_deleted() {
    let h = Harness::new(|_| {}).await;
    h.source.enable_deletions();
    h.clock.advance(TimeDelta::minutes(1));
    h.source.upsert("gone", json!({}));
    h.poll().await.result.unwrap();
    h.clock.advance(TimeDelta::minutes(1));
    h.source.delete("gone");
    h.poll().await.result.unwrap();
    h.poll().await.result.unwrap();
    let kinds: Vec<(String, String)> = h
        .emitted()
        .await
        .into_iter()
        .map(|e| (e.object_id, e.event_type))
        .collect();
    assert_eq!(
        kinds,
        [
            ("gone".into(), "CREATED".into()),
            ("gone".into(), "DELETED".into())
        ]
    );
}

#[tokio::test]
async fn a_notification_carries_at_most_ten_events() {
    let h = Harness::new(|s| s.page_size = Some(7)).await;
    for i in 0..23 {
        h.clock.advance(TimeDelta::seconds(1));
        h.source.upsert(&format!("r{i:02}"), json!({}));
    }
    let report = h.poll().await.result.unwrap();
    assert_eq!(report.events, 23);
    let sizes: Vec<usize> = h
        .outbox()
        .await
        .iter()
        .map(|e| e.notification.event_ids.len())
        .collect();
    assert_eq!(sizes, [10, 10, 3]);
    assert_eq!(MAX_EVENTS_PER_NOTIFICATION, 10);
    let counts = counts(&h.emitted().await);
    assert_eq!(counts.len(), 23);
}

fn window() -> Window {
    Window {
        watermark: t0(),
        since: t0() - TimeDelta::minutes(1),
        poll_start: t0() + TimeDelta::minutes(15),
        origin: t0(),
    }
}

fn classify(spec: &pollen_core::PollSpec, records: Vec<Value>) -> Vec<Change> {
    let mut out = Vec::new();
    Classifier::new(spec, window()).classify(records, &mut Tally::default(), |c| out.push(c));
    out
}

#[tokio::test]
async fn event_and_notification_ids_are_stable() {
    let at = (t0() + TimeDelta::minutes(2)).to_rfc3339();
    let later = (t0() + TimeDelta::minutes(3)).to_rfc3339();
    let record = json!({"id": "c1", "updated_at": at, "created_at": at});
    let spec = spec(t0());
    let a = classify(&spec, vec![record.clone()]);
    let b = classify(&spec, vec![record.clone()]);
    assert_eq!(a[0].id, b[0].id, "the same change got two ids");
    // Pinned: the id is a function of the key alone, in every process and version.
    assert_eq!(a[0].id.to_string(), "4421a071-e8b9-8de3-905a-9473e657082b");
    assert_eq!(a[0].id.to_string().parse::<StableId>().unwrap(), a[0].id);

    let edited = classify(
        &spec,
        vec![json!({"id": "c1", "updated_at": later, "created_at": at})],
    );
    assert_ne!(edited[0].id, a[0].id, "a later edit reused the id");
    assert_eq!(edited[0].event_type, EventType::Updated);
    let mut other = spec.clone();
    other.key = PollKey::new("7002", "customers");
    assert_ne!(
        classify(&other, vec![record])[0].id,
        a[0].id,
        "ids collide across instances"
    );

    let now = t0() + TimeDelta::minutes(15);
    let first = build_notifications(&spec, &a, now, now);
    let again = build_notifications(&spec, &b, now, now + TimeDelta::hours(1));
    assert_eq!(
        first[0].id, again[0].id,
        "the notification id depends on more than its events"
    );
    let body = first[0].payload();
    assert_eq!(body["id"], first[0].id.to_string());
    assert_eq!(body["message"]["eventId"], first[0].id.to_string());
    assert_eq!(body["message"]["events"][0]["eventId"], a[0].id.to_string());
}

#[tokio::test]
async fn the_seed_url_template_and_java_date_pattern_drive_a_poll() {
    use pollen_template::{DateFormat, Template, Zone};
    let h = Harness::new(|s| {
        s.request = Template::compile(
            "/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at",
        )
        .unwrap()
        .into();
        let format = DateFormat::compile("yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap();
        s.updated = Some(pollen_core::DateField::with_format(
            pollen_core::FieldPath::parse("updated_at").unwrap(),
            format.clone(),
            Zone::utc(),
        ));
        s.created = Some(pollen_core::DateField::with_format(
            pollen_core::FieldPath::parse("created_at").unwrap(),
            format,
            Zone::utc(),
        ));
    })
    .await;
    h.clock.advance(TimeDelta::minutes(2));
    h.source.upsert("c1", json!({}));
    let report = h.poll().await.result.unwrap();
    assert_eq!(report.tally.date_warnings, 0);
    assert_eq!(
        h.source.fetches()[0].request,
        "/hubs/finance/customers?where=lastModifiedDate>='2026-03-02T07:59:00Z' and attributes='created_at,updated_at"
    );
    let kinds: Vec<(String, String)> = h
        .emitted()
        .await
        .into_iter()
        .map(|e| (e.object_id, e.event_type))
        .collect();
    assert_eq!(kinds, [("c1".to_owned(), "CREATED".to_owned())]);
}
