//! The resources the simulator serves, by their Sage path names.

use std::fmt;
use std::str::FromStr;

use crate::error::{SimError, SimErrorKind};

/// A Sage Accounting list resource (the same words under v3 and v3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Resource {
    /// `/contacts`: customers and vendors, told apart by `contact_types`.
    Contacts,
    /// `/sales_invoices`.
    SalesInvoices,
    /// `/purchase_invoices`.
    PurchaseInvoices,
    /// `/contact_payments`.
    ContactPayments,
    /// `/products`.
    Products,
    /// `/services`.
    Services,
    /// `/ledger_accounts` (no `deleted_since`).
    LedgerAccounts,
    /// `/bank_accounts`.
    BankAccounts,
    /// `/tax_rates` (no `deleted_since`).
    TaxRates,
    /// `/journals`.
    Journals,
}

impl Resource {
    /// Every resource, in the order the simulator seeds them (referenced resources first).
    pub const ALL: [Resource; 10] = [
        Resource::LedgerAccounts,
        Resource::TaxRates,
        Resource::BankAccounts,
        Resource::Contacts,
        Resource::Products,
        Resource::Services,
        Resource::SalesInvoices,
        Resource::PurchaseInvoices,
        Resource::ContactPayments,
        Resource::Journals,
    ];

    /// The path word: `contacts`, `sales_invoices`, ...
    pub fn name(self) -> &'static str {
        match self {
            Resource::Contacts => "contacts",
            Resource::SalesInvoices => "sales_invoices",
            Resource::PurchaseInvoices => "purchase_invoices",
            Resource::ContactPayments => "contact_payments",
            Resource::Products => "products",
            Resource::Services => "services",
            Resource::LedgerAccounts => "ledger_accounts",
            Resource::BankAccounts => "bank_accounts",
            Resource::TaxRates => "tax_rates",
            Resource::Journals => "journals",
        }
    }

    /// Whether the list endpoint honours `deleted_since` (Sage's `ledger_accounts` and
    /// `tax_rates` do not; the parameter is ignored there).
    pub fn supports_deleted_since(self) -> bool {
        !matches!(self, Resource::LedgerAccounts | Resource::TaxRates)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Resource {
    type Err = SimError;

    fn from_str(text: &str) -> Result<Self, SimError> {
        Resource::ALL
            .into_iter()
            .find(|resource| resource.name() == text)
            .ok_or_else(|| {
                SimError::new(
                    SimErrorKind::UnknownResource,
                    format!("unknown resource `{text}`"),
                )
            })
    }
}

impl serde::Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_named() {
        for resource in Resource::ALL {
            assert_eq!(resource.name().parse::<Resource>().unwrap(), resource);
        }
        let err = "customers".parse::<Resource>().unwrap_err();
        assert_eq!(err.to_string(), "unknown resource `customers`");
        assert_eq!(err.kind(), SimErrorKind::UnknownResource);
    }
}
