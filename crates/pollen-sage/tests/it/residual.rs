//! Client-side residual filtering gives exactly what pollen-template's evaluator says of the
//! full records.

use pollen_sage_sim::{ApiVersion, Resource, SimHandle};
use pollen_template::{Mode, Where};
use serde_json::Value;

use crate::{ids, issued, records, sim_config, start, v31_source, walk};

/// The ids of the live contacts for which `clause` holds, by the evaluator on full records.
fn truth(sim: &SimHandle, clause: &str, customers_only: bool) -> Vec<String> {
    let expr = Where::parse(clause, Mode::Strict).expect("clause").expr;
    sim.records(Resource::Contacts)
        .iter()
        .filter(|r| r.deleted_at().is_none())
        .map(|r| r.to_json())
        .filter(|r| {
            !customers_only
                || r["contact_types"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["id"] == "CUSTOMER"))
        })
        .filter(|r| expr.eval(r).expect("eval"))
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn or_like_and_comparisons_are_filtered_client_side_exactly() {
    let sim = start(sim_config(400)).await;
    let residual = "(name LIKE 'A%' OR name LIKE '%Ltd%' OR balance > 10000) AND is_active = true \
                    AND reference != 'FAL001' AND main_address.city IN ('Leeds', 'Bristol', 'York')";
    let url = format!("/hubs/finance/customers?where=attributes='name' AND {residual}");
    let source = v31_source(&sim, &[("customers", &url)], issued(&sim, ApiVersion::V31))
        .build()
        .expect("source");
    let translation = source.translation("customers", &url).expect("translation");
    assert_eq!(
        translation.query(),
        "contact_type_id=CUSTOMER&is_active=true&attributes=name,updated_at,created_at,balance,is_active,reference,main_address"
    );
    let pages = walk(&source, "customers", &url, Some(50))
        .await
        .expect("walk");
    let got = ids(&records(&pages));
    let want = truth(&sim, residual, true);
    assert!(
        !want.is_empty() && want.len() < 200,
        "a selective clause: {}",
        want.len()
    );
    assert_eq!(got, want);
    // Sage was asked for every page; the filter ran on our side.
    assert!(pages.len() >= 5);
}

#[tokio::test]
async fn a_strict_lower_bound_on_the_update_date_is_exact() {
    let sim = start(sim_config(300)).await;
    let mut stamps: Vec<String> = sim
        .records(Resource::Contacts)
        .iter()
        .map(|r| {
            r.to_json()["updated_at"]
                .as_str()
                .expect("stamp")
                .to_owned()
        })
        .collect();
    stamps.sort();
    let middle = &stamps[stamps.len() / 2];
    let clause = format!("lastModifiedDate > '{middle}'");
    let url = format!("/hubs/finance/contacts?where={clause}");
    let source = v31_source(&sim, &[("contacts", &url)], issued(&sim, ApiVersion::V31))
        .build()
        .expect("source");
    let pages = walk(&source, "contacts", &url, None).await.expect("walk");
    let got: Vec<Value> = records(&pages);
    let want = truth(&sim, &format!("updated_at > '{middle}'"), false);
    assert_eq!(ids(&got), want);
    assert!(got
        .iter()
        .all(|r| r["updated_at"].as_str() > Some(middle.as_str())));
}
