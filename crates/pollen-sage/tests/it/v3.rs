//! The v3 ("Columbus") generation: subscription key, `X-Site`, signed requests checked by the
//! simulator's verifier.

use std::sync::Arc;

use pollen_sage::{ErrorKind, SageSource};
use pollen_sage_sim::{ApiVersion, SimConfig};

use crate::{ids, instance, issued, quick_retries, records, sim_config, start, walk};

const CONTACTS: &str =
    "/hubs/finance/contacts?where=search='a b+c&d' AND attributes='name,contact_types'";

fn verifying() -> SimConfig {
    SimConfig {
        verify_signatures: true,
        subscription_key: Some("apim-key".to_owned()),
        ..sim_config(250)
    }
}

#[tokio::test]
async fn signed_v3_requests_are_accepted_by_the_verifier_on_every_page() {
    let sim = start(verifying()).await;
    // The vendor's form of the base URL: `…/{region}/sageone`.
    let base = format!("{}/uki/sageone", sim.base_url());
    let config = instance("v3", &base, &sim.token_url(), &[("contacts", CONTACTS)]);
    let source = SageSource::from_instance(&config, issued(&sim, ApiVersion::V3))
        .expect("builder")
        .configure(|s| s.retry = quick_retries())
        .build()
        .expect("source");
    assert_eq!(
        source.settings().base_url.as_str(),
        format!("{base}/accounts/v3")
    );
    let pages = walk(&source, "contacts", CONTACTS, Some(100))
        .await
        .expect("walk");
    assert_eq!(pages.len(), 3);
    let expected: Vec<String> = sim
        .records(pollen_sage_sim::Resource::Contacts)
        .iter()
        .map(|r| r.id().to_owned())
        .collect();
    assert_eq!(ids(&records(&pages)), expected);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /uki/sageone/accounts/v3/contacts", 200), 3);
    assert_eq!(counts.total(), 3, "no refused request");
}

#[tokio::test]
async fn a_wrong_signing_secret_is_refused_by_the_verifier() {
    let sim = start(verifying()).await;
    let config = instance(
        "v3",
        &sim.v3_base_url("uki"),
        &sim.token_url(),
        &[("contacts", CONTACTS)],
    );
    let source = SageSource::from_instance(&config, issued(&sim, ApiVersion::V3))
        .expect("builder")
        .configure(|s| {
            s.retry = quick_retries();
            s.signing_secret = Some(pollen_config::Secret::new("not-the-secret"));
        })
        .build()
        .expect("source");
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.api_errors()[0].source, "X-Signature");
    // One refresh was tried (a 401 may be an expired token), then it gave up.
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /uki/sageone/accounts/v3/contacts", 401), 2);
    assert_eq!(counts.get("POST /token", 200), 1);
}

#[tokio::test]
async fn v3_without_a_resource_owner_cannot_sign() {
    let sim = start(verifying()).await;
    let config = instance(
        "v3",
        &sim.v3_base_url("uki"),
        &sim.token_url(),
        &[("contacts", CONTACTS)],
    );
    // v3.1 tokens carry no resource_owner_id.
    let store = issued(&sim, ApiVersion::V31);
    let source = SageSource::from_instance(&config, Arc::clone(&store) as _)
        .expect("builder")
        .build()
        .expect("source");
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("no X-Site");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(
        error.message().contains("resource_owner_id"),
        "{}",
        error.message()
    );
    assert_eq!(sim.request_counts().total(), 0);
}
