//! The rate budget from the source's side: every Sage call takes a token from its business's
//! bucket (the business id, v3's resource owner, or the instance for a v3.1 instance naming no
//! business), sources of one business share it, and a small budget paces the calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pollen_sage::{RateBudget, SageSource};
use pollen_sage_sim::{ApiVersion, SimConfig};

use crate::{instance, issued, quick_retries, sim_config, start, v31_source, walk};

const CONTACTS: &str = "/hubs/finance/contacts?where=attributes='name'";

/// Calls this process made for `business`, by purpose, as the budget counted them.
fn calls(budget: &RateBudget, business: &str) -> [u64; 3] {
    budget
        .usage()
        .iter()
        .find(|u| u.business == business)
        .map_or([0; 3], |u| u.calls)
}

#[tokio::test]
async fn every_call_spends_its_business_budget_and_sources_of_one_business_share_it() {
    let sim = start(SimConfig {
        businesses: 2,
        ..sim_config(6)
    })
    .await;
    let second = sim.businesses()[1].id().to_owned();
    let budget = Arc::new(RateBudget::in_memory());
    let source = |business: Option<&str>, instance: &str| {
        v31_source(
            &sim,
            &[("contacts", CONTACTS)],
            issued(&sim, ApiVersion::V31),
        )
        .configure(|s| s.business_id = business.map(str::to_owned))
        .rate_budget(Arc::clone(&budget), 60_000, instance)
        .build()
        .expect("source")
    };
    let (a, b) = (source(Some(&second), "1"), source(Some(&second), "2"));
    let lead = source(None, "3");
    for s in [&a, &b, &lead] {
        // Six records two a page: three pages, and the walk's end.
        walk(s, "contacts", CONTACTS, Some(2)).await.expect("walk");
    }
    let per_walk = sim.business_calls(&second).accepted / 2;
    assert!(per_walk >= 3, "{:?}", sim.business_calls(&second));
    // Both instances of the second business drew from its one budget, every call counted.
    assert_eq!(calls(&budget, &second), [2 * per_walk, 0, 0]);
    // The instance naming no business has a budget of its own.
    assert_eq!(calls(&budget, "instance:3"), [per_walk, 0, 0]);
    assert_eq!(budget.usage().len(), 2, "{:?}", budget.usage());
    // Listing businesses is a call too, on the instance's budget.
    a.businesses().await.expect("businesses");
    assert_eq!(calls(&budget, &second)[0], 2 * per_walk + 2);
}

#[tokio::test]
async fn v3_spends_the_budget_of_the_tokens_resource_owner() {
    let sim = start(sim_config(3)).await;
    let budget = Arc::new(RateBudget::in_memory());
    let config = instance(
        "v3",
        &sim.v3_base_url("uki"),
        &sim.token_url(),
        &[("contacts", CONTACTS)],
    );
    let source = SageSource::from_instance(&config, issued(&sim, ApiVersion::V3))
        .expect("builder")
        .configure(|s| s.retry = quick_retries())
        .rate_budget(Arc::clone(&budget), 60_000, "7")
        .build()
        .expect("source");
    walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    let owner = sim.resource_owner_id().to_owned();
    assert!(calls(&budget, &owner)[0] >= 1, "{:?}", budget.usage());
    assert_eq!(budget.usage().len(), 1, "{:?}", budget.usage());
}

#[tokio::test]
async fn a_small_budget_paces_the_calls_and_zero_turns_it_off() {
    let sim = start(sim_config(40)).await;
    let walk_with = |limit: u32| {
        let source = v31_source(
            &sim,
            &[("contacts", CONTACTS)],
            issued(&sim, ApiVersion::V31),
        )
        .rate_budget(Arc::new(RateBudget::in_memory()), limit, "1")
        .build()
        .expect("source");
        async move {
            let started = Instant::now();
            // Forty records two a page: twenty pages.
            let pages = walk(&source, "contacts", CONTACTS, Some(2))
                .await
                .expect("walk");
            (pages.len(), started.elapsed())
        }
    };
    // 600 a minute: the bucket starts empty and gains 9.3 tokens a second, so twenty calls
    // take over two seconds however fast Sage answers.
    let (pages, paced) = walk_with(600).await;
    assert!(pages >= 20, "{pages} pages");
    assert!(
        paced >= Duration::from_millis(2000),
        "{pages} pages in {paced:?}"
    );
    // No budget: as fast as the simulator answers.
    let (_, free) = walk_with(0).await;
    assert!(free < paced, "unbudgeted {free:?}, budgeted {paced:?}");
}
