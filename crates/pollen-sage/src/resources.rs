//! The hub-resource table: which Sage endpoint each finance-hub resource reads.

use crate::error::{Error, ErrorKind, Result};

/// One finance-hub resource and the Sage list endpoint behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HubResource {
    /// The hub name (`customers`), the last segment of `/hubs/finance/customers`.
    pub name: &'static str,
    /// The Sage path under the API base (`/contacts`), the same for v3 and v3.1.
    pub path: &'static str,
    /// Query parameters always sent (`contact_type_id=CUSTOMER`).
    pub fixed: &'static [(&'static str, &'static str)],
    /// Whether the endpoint takes `deleted_since` (so DELETED events can be reported).
    pub deleted_since: bool,
    /// Whether Sage's v3 ("Columbus") API has the endpoint too; `false` for the two that came
    /// with v3.1 (`analysis_types`, `analysis_type_categories`).
    pub v3: bool,
}

const fn hub(
    name: &'static str,
    path: &'static str,
    fixed: &'static [(&'static str, &'static str)],
    deleted_since: bool,
) -> HubResource {
    HubResource {
        name,
        path,
        fixed,
        deleted_since,
        v3: true,
    }
}

/// A resource whose endpoint only v3.1 serves.
const fn v31_only(resource: HubResource) -> HubResource {
    HubResource {
        v3: false,
        ..resource
    }
}

/// Every hub resource pollen polls, in the order `docs/sage.md` lists them: one per v3.1 list
/// endpoint that takes `updated_or_created_since` (38 paths; `/contacts` also as `customers`
/// and `vendors`).
///
/// `deleted_since` follows Sage's API reference: 23 of the endpoints take it; not, among
/// others, `ledger_accounts`, `tax_rates`, `sales_quotes`, `sales_estimates`, `transactions`
/// and `ledger_entries`.
pub const HUB_RESOURCES: &[HubResource] = &[
    hub(
        "customers",
        "/contacts",
        &[("contact_type_id", "CUSTOMER")],
        true,
    ),
    hub(
        "vendors",
        "/contacts",
        &[("contact_type_id", "VENDOR")],
        true,
    ),
    hub("contacts", "/contacts", &[], true),
    hub("invoices", "/sales_invoices", &[], true),
    hub("purchase-invoices", "/purchase_invoices", &[], true),
    hub("sales-credit-notes", "/sales_credit_notes", &[], true),
    hub("purchase-credit-notes", "/purchase_credit_notes", &[], true),
    hub("sales-quotes", "/sales_quotes", &[], false),
    hub("payments", "/contact_payments", &[], true),
    hub("other-payments", "/other_payments", &[], true),
    hub("contact-allocations", "/contact_allocations", &[], true),
    hub("products", "/products", &[], true),
    hub("services", "/services", &[], true),
    hub("ledger-accounts", "/ledger_accounts", &[], false),
    hub("bank-accounts", "/bank_accounts", &[], true),
    hub("journal-entries", "/journals", &[], true),
    hub("tax-rates", "/tax_rates", &[], false),
    hub("addresses", "/addresses", &[], true),
    hub("contact-persons", "/contact_persons", &[], true),
    hub("sales-estimates", "/sales_estimates", &[], false),
    hub(
        "sales-corrective-invoices",
        "/sales_corrective_invoices",
        &[],
        true,
    ),
    hub(
        "purchase-corrective-invoices",
        "/purchase_corrective_invoices",
        &[],
        true,
    ),
    hub("sales-quick-entries", "/sales_quick_entries", &[], true),
    hub(
        "purchase-quick-entries",
        "/purchase_quick_entries",
        &[],
        true,
    ),
    hub("bank-transfers", "/bank_transfers", &[], true),
    hub("bank-deposits", "/bank_deposits", &[], true),
    hub("bank-reconciliations", "/bank_reconciliations", &[], false),
    hub("stock-items", "/stock_items", &[], true),
    hub("attachments", "/attachments", &[], true),
    hub(
        "contact-opening-balances",
        "/contact_opening_balances",
        &[],
        true,
    ),
    hub(
        "bank-opening-balances",
        "/bank_opening_balances",
        &[],
        false,
    ),
    hub(
        "ledger-account-opening-balances",
        "/ledger_account_opening_balances",
        &[],
        false,
    ),
    hub("ledger-entries", "/ledger_entries", &[], false),
    hub("transactions", "/transactions", &[], false),
    hub("journal-codes", "/journal_codes", &[], false),
    hub("coa-accounts", "/coa_accounts", &[], false),
    hub("service-rate-types", "/service_rate_types", &[], false),
    hub("tax-profiles", "/tax_profiles", &[], false),
    v31_only(hub("analysis-types", "/analysis_types", &[], false)),
    v31_only(hub(
        "analysis-type-categories",
        "/analysis_type_categories",
        &[],
        false,
    )),
];

impl HubResource {
    /// How its deletions reach pollen: `deleted_since` when the endpoint takes it, else
    /// `reconcile` (its ids are walked every `event.poller.reconcile_interval` and the
    /// missing ones looked up).
    pub fn deletions(&self) -> &'static str {
        if self.deleted_since {
            "deleted_since"
        } else {
            "reconcile"
        }
    }

    /// The API generations that serve it: `v3.1, v3`, or `v3.1` alone.
    pub fn versions(&self) -> &'static str {
        if self.v3 {
            "v3.1, v3"
        } else {
            "v3.1"
        }
    }

    /// Its fixed parameters as a query string (`contact_type_id=CUSTOMER`; empty when none).
    pub fn fixed_query(&self) -> String {
        self.fixed
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The resource called `name`, or an [`ErrorKind::UnknownResource`] error listing the
    /// known ones.
    pub fn named(name: &str) -> Result<&'static HubResource> {
        HUB_RESOURCES
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = HUB_RESOURCES.iter().map(|r| r.name).collect();
                Error::new(
                    ErrorKind::UnknownResource,
                    format!(
                        "unknown hub resource `{name}`: expected one of {}",
                        known.join(", ")
                    ),
                )
            })
    }

    /// The resource a hub path names: `/hubs/finance/customers` (any hub) or `/customers`.
    pub fn for_path(path: &str) -> Result<&'static HubResource> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let name = match segments.as_slice() {
            ["", "hubs", _, name] | ["", name] if !name.is_empty() => *name,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "hub path `{path}` is not of the form /hubs/HUB/RESOURCE (such as /hubs/finance/customers)"
                    ),
                ))
            }
        };
        HubResource::named(name)
    }
}

/// [`HUB_RESOURCES`] as the Markdown table of `docs/sage.md` (written there by `cargo xtask
/// codegen`; `cargo xtask tidy` fails when the page differs).
pub fn hub_resources_markdown() -> String {
    let mut out = String::from(
        "| hub resource | Sage path | always sent | deletions | API |\n|---|---|---|---|---|\n",
    );
    for r in HUB_RESOURCES {
        let fixed = r.fixed_query();
        let fixed = if fixed.is_empty() {
            String::new()
        } else {
            format!("`{fixed}`")
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {fixed} | {} | {} |\n",
            r.name,
            r.path,
            if r.deleted_since {
                "`deleted_since`"
            } else {
                "reconcile"
            },
            r.versions()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_paths_resolve() {
        for (i, a) in HUB_RESOURCES.iter().enumerate() {
            assert!(HUB_RESOURCES[i + 1..].iter().all(|b| b.name != a.name));
            assert_eq!(HubResource::named(a.name), Ok(a));
            let path = format!("/hubs/finance/{}", a.name);
            assert_eq!(HubResource::for_path(&path), Ok(a));
        }
    }

    #[test]
    fn every_v31_endpoint_with_updated_or_created_since_is_a_hub_resource_as_the_simulator_serves_it(
    ) {
        let paths: std::collections::BTreeSet<&str> =
            HUB_RESOURCES.iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), 38, "Sage v3.1 has 38 such list endpoints");
        let deleting: std::collections::BTreeSet<&str> = HUB_RESOURCES
            .iter()
            .filter(|r| r.deleted_since)
            .map(|r| r.path)
            .collect();
        assert_eq!(deleting.len(), 23, "23 of them take deleted_since");
        let served: Vec<(String, bool, bool)> = pollen_sage_sim::Resource::ALL
            .iter()
            .map(|r| {
                (
                    format!("/{}", r.name()),
                    r.supports_deleted_since(),
                    r.in_v3(),
                )
            })
            .collect();
        assert_eq!(served.len(), paths.len());
        for (path, deleted_since, in_v3) in &served {
            let hub = HUB_RESOURCES
                .iter()
                .find(|r| r.path == path)
                .unwrap_or_else(|| panic!("the simulator serves {path}, no hub resource reads it"));
            assert_eq!(hub.deleted_since, *deleted_since, "{path}");
            assert_eq!(hub.v3, *in_v3, "{path}");
        }
        let v31_only: Vec<&str> = HUB_RESOURCES
            .iter()
            .filter(|r| !r.v3)
            .map(|r| r.path)
            .collect();
        assert_eq!(v31_only, ["/analysis_types", "/analysis_type_categories"]);
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = HubResource::named("customer").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownResource);
        assert!(err.message().starts_with(
            "unknown hub resource `customer`: expected one of customers, vendors, contacts,"
        ));
        let err = HubResource::for_path("/hubs/finance").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(
            HubResource::for_path("/vendors").map(|r| r.path),
            Ok("/contacts")
        );
    }
}
