//! The exact requests the connector sends, checked with `wiremock`.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use pollen_config::Secret;
use pollen_core::{FetchRequest, PollKey};
use pollen_sage::{AuthStatus, ErrorKind, MemoryTokenStore, SageSource, Tokens};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{at, instance, quick_retries, t0};

const CUSTOMERS: &str =
    "/hubs/finance/customers?where=lastModifiedDate>='2026-11-27T10:00:00Z' and attributes='name'";

pub(crate) fn fresh_tokens() -> Arc<MemoryTokenStore> {
    Arc::new(MemoryTokenStore::with_tokens(
        Tokens::new(Secret::new("access-1"), Some(Secret::new("refresh-1")))
            .expiring_at(Utc::now() + TimeDelta::minutes(5))
            .for_resource_owner("owner-1"),
    ))
}

pub(crate) fn mock_source(
    server: &MockServer,
    version: &str,
    resources: &[(&str, &str)],
    store: Arc<MemoryTokenStore>,
) -> SageSource {
    let base = match version {
        "v3" => format!("{}/uki/sageone/accounts/v3", server.uri()),
        _ => format!("{}/v3.1", server.uri()),
    };
    let config = instance(
        version,
        &base,
        &format!("{}/token", server.uri()),
        resources,
    );
    SageSource::from_instance(&config, store)
        .expect("builder")
        .configure(|s| {
            s.retry = quick_retries();
            s.business_id = Some("business-1".to_owned());
        })
        .build()
        .expect("source")
}

pub(crate) fn envelope(items: &[&str], page: u64, next: Option<&str>) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|id| json!({"id": id, "displayed_as": id, "updated_at": "2026-11-27T10:00:00Z"}))
        .collect();
    json!({"$total": 3, "$page": page, "$next": next, "$back": null, "$items_per_page": 2, "$items": items})
}

pub(crate) fn request<'a>(
    key: &'a PollKey,
    text: &'a str,
    cursor: Option<&'a str>,
) -> FetchRequest<'a> {
    FetchRequest {
        key,
        request: text,
        since: t0(),
        page_size: Some(2),
        cursor,
        purpose: pollen_core::Purpose::Changes,
    }
}

fn header<'r>(request: &'r wiremock::Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn v31_requests_carry_the_query_and_headers_sage_expects() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3.1/contacts"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Date", "Tue, 01 Dec 2026 10:00:00 GMT")
                .set_body_json(envelope(
                    &["a", "b"],
                    1,
                    Some("/contacts?page=2&items_per_page=2"),
                )),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3.1/contacts"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(&["c"], 2, None)))
        .mount(&server)
        .await;
    let source = mock_source(&server, "v3.1", &[("customers", CUSTOMERS)], fresh_tokens());
    let key = PollKey::new("instance-1", "customers");
    let first = source
        .fetch("customers", &request(&key, CUSTOMERS, None))
        .await
        .expect("page 1");
    assert_eq!(first.server_time, Some(at("2026-12-01T10:00:00Z")));
    assert_eq!(first.total, Some(3));
    assert_eq!(first.records.len(), 2);
    let second = source
        .fetch(
            "customers",
            &request(&key, CUSTOMERS, first.next.as_deref()),
        )
        .await
        .expect("page 2");
    assert_eq!(second.records[0]["id"], "c");
    assert_eq!(second.next, None);

    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].url.query(),
        Some("contact_type_id=CUSTOMER&updated_or_created_since=2026-11-27T10:00:00Z&attributes=name,updated_at,created_at&items_per_page=2")
    );
    assert_eq!(requests[1].url.query(), Some("page=2&items_per_page=2"));
    for request in &requests {
        assert_eq!(header(request, "authorization"), Some("Bearer access-1"));
        assert_eq!(header(request, "x-business"), Some("business-1"));
        assert_eq!(header(request, "accept"), Some("application/json"));
        for v3_only in [
            "x-signature",
            "x-nonce",
            "x-site",
            "ocp-apim-subscription-key",
        ] {
            assert_eq!(header(request, v3_only), None, "{v3_only} is v3 only");
        }
    }
}

#[tokio::test]
async fn v3_requests_are_signed_over_the_url_as_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/uki/sageone/accounts/v3/contacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(&["a"], 1, None)))
        .mount(&server)
        .await;
    let url = "/hubs/finance/contacts?where=search='a b+c' and attributes='name'";
    let source = mock_source(&server, "v3", &[("contacts", url)], fresh_tokens());
    let key = PollKey::new("instance-1", "contacts");
    source
        .fetch("contacts", &request(&key, url, None))
        .await
        .expect("page");
    let requests = server.received_requests().await.expect("recorded");
    let sent = &requests[0];
    assert_eq!(
        sent.url.query(),
        Some("search=a%20b%2Bc&attributes=name,updated_at,created_at&items_per_page=2")
    );
    assert_eq!(header(sent, "authorization"), Some("Bearer access-1"));
    assert_eq!(header(sent, "ocp-apim-subscription-key"), Some("apim-key"));
    assert_eq!(header(sent, "x-site"), Some("owner-1"));
    assert_eq!(header(sent, "x-business"), None);
    let nonce = header(sent, "x-nonce").expect("nonce");
    assert_eq!(nonce.len(), 32);
    // wiremock records the URL with host `localhost`: sign the address actually used.
    let url = format!(
        "{}{}?{}",
        server.uri(),
        sent.url.path(),
        sent.url.query().unwrap_or_default()
    );
    let expected = pollen_sage_sim::v3_signature(
        "GET",
        &url,
        b"",
        nonce,
        "owner-1",
        "sim-signing-secret",
        "access-1",
    );
    assert_eq!(header(sent, "x-signature"), expected.as_deref());
}

#[tokio::test]
async fn refresh_and_code_exchange_post_the_forms_sage_expects() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 300,
            "token_type": "bearer", "refresh_token_expires_in": 2_678_400, "requested_by_id": "user-1"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3.1/contacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(&["a"], 1, None)))
        .mount(&server)
        .await;
    let expired = Arc::new(MemoryTokenStore::with_tokens(
        Tokens::new(Secret::new("access-1"), Some(Secret::new("refresh-1")))
            .expiring_at(Utc::now() - TimeDelta::seconds(1)),
    ));
    let source = mock_source(
        &server,
        "v3.1",
        &[("customers", CUSTOMERS)],
        expired.clone(),
    );
    let key = PollKey::new("instance-1", "customers");
    source
        .fetch("customers", &request(&key, CUSTOMERS, None))
        .await
        .expect("page");
    source
        .exchange_code(&Secret::new("code-1"))
        .await
        .expect("exchange");

    let requests = server.received_requests().await.expect("recorded");
    let forms: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path() == "/token")
        .map(|r| String::from_utf8(r.body.clone()).expect("utf-8"))
        .collect();
    assert_eq!(
        forms,
        [
            "grant_type=refresh_token&refresh_token=refresh-1&client_id=client-id&client_secret=client-secret",
            "grant_type=authorization_code&code=code-1&redirect_uri=https%3A%2F%2Fexample.com%2Fcallback&client_id=client-id&client_secret=client-secret",
        ]
    );
    let api = requests
        .iter()
        .find(|r| r.url.path() == "/v3.1/contacts")
        .expect("api call");
    assert_eq!(header(api, "authorization"), Some("Bearer access-2"));
    let saved = expired.tokens().expect("saved");
    assert_eq!(saved.refresh_token, Some(Secret::new("refresh-2")));
    assert_eq!(saved.requested_by_id.as_deref(), Some("user-1"));
    assert!(saved.refresh_token_expires_at.is_some());
}

#[tokio::test]
async fn no_active_subscription_needs_reauthorization_without_a_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!([{
            "$severity": "error", "$dataCode": "AuthorizationFailure",
            "$message": "No active subscription. (MSE)", "$source": ""
        }])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let store = fresh_tokens();
    let source = mock_source(&server, "v3.1", &[("customers", CUSTOMERS)], store.clone());
    let key = PollKey::new("instance-1", "customers");
    for _ in 0..2 {
        let error = source
            .fetch("customers", &request(&key, CUSTOMERS, None))
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::NeedsReauthorization);
        assert_eq!(
            error.message(),
            "the instance needs to be authorised again: Sage refuses the business: HTTP 401, AuthorizationFailure: No active subscription. (MSE)"
        );
    }
    assert!(matches!(
        source.auth_status(),
        AuthStatus::NeedsReauthorization { .. }
    ));
    assert!(store.reauthorization_reason().is_some());
    let calls = server.received_requests().await.expect("recorded");
    assert_eq!(calls.len(), 1, "the second fetch sent nothing");
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let server = MockServer::start().await;
    let big: Vec<String> = (0..5000).map(|i| format!("id-{i:05}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(&big, 1, None)))
        .mount(&server)
        .await;
    let config = instance(
        "v3.1",
        &format!("{}/v3.1", server.uri()),
        &format!("{}/token", server.uri()),
        &[("customers", CUSTOMERS)],
    );
    let source = SageSource::from_instance(&config, fresh_tokens())
        .expect("builder")
        .configure(|s| s.max_response_bytes = 64 << 10)
        .build()
        .expect("source");
    let key = PollKey::new("instance-1", "customers");
    let error = source
        .fetch("customers", &request(&key, CUSTOMERS, None))
        .await
        .expect_err("too large");
    assert_eq!(error.kind(), ErrorKind::ResponseTooLarge);
    assert!(
        error
            .message()
            .contains("is larger than the cap of 65536 bytes"),
        "{}",
        error.message()
    );
}
