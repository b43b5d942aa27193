//! The authorized user's businesses (`SageSource::businesses`) and `X-Business` polling one of
//! them, against a simulator whose user has three businesses.

use std::sync::Arc;

use pollen_sage::{ErrorKind, MemoryTokenStore, SageSource};
use pollen_sage_sim::{ApiVersion, Fault, FaultKind, Resource, SimConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{ids, instance, issued, quick_retries, records, sim_config, start, v31_source, walk};

const CONTACTS: &str = "/hubs/finance/contacts?where=attributes='name'";

fn three() -> SimConfig {
    SimConfig {
        businesses: 3,
        ..sim_config(5)
    }
}

#[tokio::test]
async fn v31_lists_the_users_businesses_with_the_lead_marked() {
    let sim = start(three()).await;
    let source = v31_source(&sim, &[], issued(&sim, ApiVersion::V31))
        .build()
        .expect("source");
    let listed = source.businesses().await.expect("businesses");
    let expected: Vec<(String, String, bool)> = sim
        .businesses()
        .iter()
        .map(|b| (b.id().to_owned(), b.name().to_owned(), b.is_lead()))
        .collect();
    let got: Vec<(String, String, bool)> = listed
        .iter()
        .map(|b| (b.id.clone(), b.name.clone(), b.lead))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got.iter().filter(|b| b.2).count(), 1);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/businesses", 200), 1);
    assert_eq!(counts.get("GET /v3.1/businesses/{id}", 200), 1, "the lead");
}

#[tokio::test]
async fn the_list_shows_even_when_the_configured_business_is_wrong() {
    let sim = start(three()).await;
    let source = v31_source(
        &sim,
        &[("contacts", CONTACTS)],
        issued(&sim, ApiVersion::V31),
    )
    .configure(|s| s.business_id = Some("not-one-of-them".into()))
    .build()
    .expect("source");
    // Polling that business is refused (the simulator answers 403 for it) …
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("refused");
    assert_eq!(error.status(), Some(403), "{error}");
    // … but listing sends no X-Business, so the user can pick a right one.
    assert_eq!(source.businesses().await.expect("businesses").len(), 3);
}

#[tokio::test]
async fn x_business_polls_that_business_only() {
    let sim = start(three()).await;
    let second = sim.businesses()[1].clone();
    let source = v31_source(
        &sim,
        &[("contacts", CONTACTS)],
        issued(&sim, ApiVersion::V31),
    )
    .configure(|s| s.business_id = Some(second.id().to_owned()))
    .build()
    .expect("source");
    let pages = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    let own: Vec<String> = second
        .records(Resource::Contacts)
        .iter()
        .map(|r| r.id().to_owned())
        .collect();
    assert_eq!(ids(&records(&pages)), own);
    let lead: Vec<String> = sim
        .records(Resource::Contacts)
        .iter()
        .map(|r| r.id().to_owned())
        .collect();
    assert!(ids(&records(&pages)).iter().all(|id| !lead.contains(id)));
}

#[tokio::test]
async fn v3_lists_them_on_the_core_api_signed() {
    let sim = start(SimConfig {
        verify_signatures: true,
        subscription_key: Some("apim-key".to_owned()),
        ..three()
    })
    .await;
    let config = instance("v3", &sim.v3_base_url("uki"), &sim.token_url(), &[]);
    let source = SageSource::from_instance(&config, issued(&sim, ApiVersion::V3))
        .expect("builder")
        .configure(|s| s.retry = quick_retries())
        .build()
        .expect("source");
    let listed = source.businesses().await.expect("businesses");
    assert_eq!(listed.len(), 3);
    assert!(listed[0].lead && !listed[1].lead && !listed[2].lead);
    assert_eq!(listed[0].id, sim.resource_owner_id());
    assert_eq!(
        sim.request_counts()
            .get("GET /uki/sageone/core/v3/businesses", 200),
        1
    );
}

#[tokio::test]
async fn listing_exchanges_the_authorization_code_first() {
    let sim = start(three()).await;
    sim.add_authorization_code("instance-code", ApiVersion::V31);
    let store = Arc::new(MemoryTokenStore::new());
    let config = instance("v3.1", &sim.v31_base_url(), &sim.token_url(), &[]);
    let source = SageSource::from_instance(&config, store.clone())
        .expect("builder")
        .configure(|s| s.retry = quick_retries())
        .build()
        .expect("source");
    assert_eq!(source.businesses().await.expect("businesses").len(), 3);
    assert_eq!(source.auth_stats().code_exchanges, 1);
    assert!(store.tokens().is_some(), "the tokens were saved");
}

#[tokio::test]
async fn sages_refusals_are_errors_that_say_so() {
    let sim = start(three()).await;
    let source = v31_source(&sim, &[], issued(&sim, ApiVersion::V31))
        .build()
        .expect("source");
    sim.inject(Fault::next(FaultKind::InternalServerError, 10))
        .expect("fault");
    let error = source.businesses().await.expect_err("500s");
    assert_eq!(error.kind(), ErrorKind::Api);
    assert!(
        error
            .message()
            .starts_with("GET /v3.1/businesses: HTTP 500"),
        "{error}"
    );
    sim.clear_faults();
    sim.revoke_all_tokens();
    let error = source.businesses().await.expect_err("revoked");
    assert_eq!(error.kind(), ErrorKind::NeedsReauthorization, "{error}");
}

#[tokio::test]
async fn a_business_without_an_id_is_named_by_its_pointer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3.1/businesses"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"$total":2,"$items":[{"id":"a1","displayed_as":"One"},{"displayed_as":"Two"}]}"#,
        ))
        .mount(&server)
        .await;
    let config = instance(
        "v3.1",
        &format!("{}/v3.1", server.uri()),
        &format!("{}/token", server.uri()),
        &[],
    );
    let store = Arc::new(MemoryTokenStore::with_tokens(pollen_sage::Tokens::new(
        pollen_config::Secret::new("token".to_owned()),
        None,
    )));
    let source = SageSource::from_instance(&config, store)
        .expect("builder")
        .configure(|s| s.retry = quick_retries())
        .build()
        .expect("source");
    let error = source.businesses().await.expect_err("malformed");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    assert_eq!(
        error.message(),
        "GET /v3.1/businesses: unexpected response shape at /$items/1/id: expected a business id"
    );
}
