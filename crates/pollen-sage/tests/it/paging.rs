//! Paging: `$next` only, repeated pages end the walk, `$next` must stay on the API's origin.

use pollen_core::PollKey;
use pollen_sage::ErrorKind;
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::shapes::{envelope, fresh_tokens, mock_source, request};

const CONTACTS: &str = "/hubs/finance/contacts";

async fn page(server: &MockServer, number: Option<&str>, body: serde_json::Value) {
    let mock = Mock::given(method("GET")).and(path("/v3.1/contacts"));
    let mock = match number {
        None => mock.and(query_param_is_missing("page")),
        Some(n) => mock.and(query_param("page", n)),
    };
    mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// Walks every page; returns the ids per page.
async fn walk_ids(
    source: &pollen_sage::SageSource,
) -> Result<Vec<Vec<String>>, pollen_sage::Error> {
    let key = PollKey::new("instance-1", "contacts");
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = source
            .fetch("contacts", &request(&key, CONTACTS, cursor.as_deref()))
            .await?;
        pages.push(
            page.records
                .iter()
                .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
                .collect(),
        );
        cursor = page.next;
        if cursor.is_none() || pages.len() > 10 {
            return Ok(pages);
        }
    }
}

#[tokio::test]
async fn a_page_past_the_end_repeating_the_last_one_ends_the_walk() {
    let server = MockServer::start().await;
    page(
        &server,
        None,
        envelope(&["a", "b"], 1, Some("/contacts?page=2")),
    )
    .await;
    // A faulty `$next` on the last page: Sage answers page 3 with page 2 again.
    page(
        &server,
        Some("2"),
        envelope(&["c", "d"], 2, Some("/contacts?page=3")),
    )
    .await;
    page(
        &server,
        Some("3"),
        envelope(&["c", "d"], 2, Some("/contacts?page=4")),
    )
    .await;
    let source = mock_source(&server, "v3.1", &[("contacts", CONTACTS)], fresh_tokens());
    let pages = walk_ids(&source).await.expect("walk");
    assert_eq!(pages, [vec!["a", "b"], vec!["c", "d"], vec![]]);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
}

#[tokio::test]
async fn a_repeat_without_page_numbers_is_told_by_its_records() {
    let server = MockServer::start().await;
    let strip = |mut body: serde_json::Value| {
        body.as_object_mut().map(|m| m.remove("$page"));
        body
    };
    page(
        &server,
        None,
        strip(envelope(&["a"], 1, Some("/contacts?page=2"))),
    )
    .await;
    page(
        &server,
        Some("2"),
        strip(envelope(&["b"], 2, Some("/contacts?page=3"))),
    )
    .await;
    page(
        &server,
        Some("3"),
        strip(envelope(&["b"], 2, Some("/contacts?page=4"))),
    )
    .await;
    let source = mock_source(&server, "v3.1", &[("contacts", CONTACTS)], fresh_tokens());
    let pages = walk_ids(&source).await.expect("walk");
    assert_eq!(pages, [vec!["a"], vec!["b"], vec![]]);
}

#[tokio::test]
async fn next_links_may_be_absolute_or_carry_the_base_path_but_stay_on_the_origin() {
    let server = MockServer::start().await;
    let absolute = format!("{}/v3.1/contacts?page=2", server.uri());
    page(&server, None, envelope(&["a"], 1, Some(&absolute))).await;
    page(
        &server,
        Some("2"),
        envelope(&["b"], 2, Some("/v3.1/contacts?page=3")),
    )
    .await;
    page(
        &server,
        Some("3"),
        envelope(&["c"], 3, Some("https://evil.example/v3.1/contacts?page=4")),
    )
    .await;
    let source = mock_source(&server, "v3.1", &[("contacts", CONTACTS)], fresh_tokens());
    let error = walk_ids(&source).await.expect_err("foreign origin");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    assert_eq!(
        error.message(),
        "$next `https://evil.example/v3.1/contacts?page=4` leaves the API's origin: not followed"
    );
    let paths: Vec<String> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| format!("{}?{}", r.url.path(), r.url.query().unwrap_or_default()))
        .collect();
    assert_eq!(
        paths,
        [
            "/v3.1/contacts?attributes=updated_at,created_at&items_per_page=2",
            "/v3.1/contacts?page=2",
            "/v3.1/contacts?page=3",
        ]
    );
}

#[tokio::test]
async fn a_body_without_items_is_malformed() {
    let server = MockServer::start().await;
    page(&server, None, json!({"$total": 0, "items": []})).await;
    let source = mock_source(&server, "v3.1", &[("contacts", CONTACTS)], fresh_tokens());
    let error = walk_ids(&source).await.expect_err("no $items");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    assert_eq!(
        error.message(),
        "GET /v3.1/contacts?attributes=updated_at,created_at&items_per_page=2: the response has no $items array"
    );
}
