//! Realistic record bodies per resource, drawn from a seeded random generator.
//!
//! The generator only produces the resource-specific fields; the store adds `id`,
//! `displayed_as`, `$path` and the three timestamps. `displayed_as` is derived from the fields
//! by [`displayed_as`], so an update that renames a contact renames its `displayed_as` too.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::clock::format_date;
use crate::resource::Resource;

/// Ordered resource-specific fields of one record.
pub(crate) type Fields = Vec<(String, Value)>;

/// A record another record can point at: id, `displayed_as`, and (for contacts) its types.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) id: String,
    pub(crate) displayed_as: String,
    pub(crate) contact_types: u8,
}

/// Records available as references, per resource (indexed by [`Resource::index`]).
#[derive(Debug)]
pub(crate) struct Refs {
    pub(crate) by_resource: [Vec<Target>; Resource::COUNT],
}

impl Default for Refs {
    fn default() -> Self {
        Refs {
            by_resource: std::array::from_fn(|_| Vec::new()),
        }
    }
}

impl Refs {
    fn pick(&self, rng: &mut ChaCha8Rng, resource: Resource) -> Value {
        match self.by_resource[resource.index()].choose(rng) {
            Some(target) => link(resource.name(), &target.id, &target.displayed_as),
            None => Value::Null,
        }
    }

    fn pick_contact(&self, rng: &mut ChaCha8Rng, wanted: u8) -> Value {
        let contacts = &self.by_resource[Resource::Contacts.index()];
        let matching: Vec<&Target> = contacts
            .iter()
            .filter(|target| target.contact_types & wanted != 0)
            .collect();
        match matching.choose(rng) {
            Some(target) => link("contacts", &target.id, &target.displayed_as),
            None => Value::Null,
        }
    }
}

/// Bit of `contact_types` meaning CUSTOMER.
pub(crate) const CUSTOMER: u8 = 1;
/// Bit of `contact_types` meaning VENDOR.
pub(crate) const VENDOR: u8 = 2;

/// The contact type bits of a contact's fields (0 for other resources).
pub(crate) fn contact_type_bits(fields: &Fields) -> u8 {
    let mut bits = 0;
    if let Some(Value::Array(types)) = field(fields, "contact_types") {
        for contact_type in types {
            match contact_type.get("id").and_then(Value::as_str) {
                Some("CUSTOMER") => bits |= CUSTOMER,
                Some("VENDOR") => bits |= VENDOR,
                _ => {}
            }
        }
    }
    bits
}

pub(crate) fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn text(fields: &Fields, name: &str) -> String {
    match field(fields, name) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `displayed_as` as Sage derives it for each resource.
pub(crate) fn displayed_as(resource: Resource, fields: &Fields) -> String {
    match resource {
        Resource::Contacts => format!("{} ({})", text(fields, "name"), text(fields, "reference")),
        Resource::SalesInvoices => text(fields, "invoice_number"),
        Resource::PurchaseInvoices => text(fields, "vendor_reference"),
        Resource::ContactPayments | Resource::Journals => text(fields, "reference"),
        Resource::Products | Resource::Services => {
            format!(
                "{} - {}",
                text(fields, "item_code"),
                text(fields, "description")
            )
        }
        Resource::LedgerAccounts | Resource::BankAccounts => {
            let name = if resource == Resource::BankAccounts {
                field(fields, "bank_account_details")
                    .and_then(|details| details.get("account_name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            } else {
                text(fields, "name")
            };
            format!("{name} ({})", text(fields, "nominal_code"))
        }
        Resource::TaxRates
        | Resource::JournalCodes
        | Resource::CoaAccounts
        | Resource::ServiceRateTypes
        | Resource::AnalysisTypes
        | Resource::AnalysisTypeCategories
        | Resource::ContactPersons => text(fields, "name"),
        Resource::SalesCreditNotes => text(fields, "credit_note_number"),
        Resource::SalesQuotes => text(fields, "quote_number"),
        Resource::SalesEstimates => text(fields, "estimate_number"),
        Resource::SalesCorrectiveInvoices => text(fields, "invoice_number"),
        Resource::PurchaseCreditNotes | Resource::PurchaseCorrectiveInvoices => {
            text(fields, "vendor_reference")
        }
        Resource::SalesQuickEntries
        | Resource::PurchaseQuickEntries
        | Resource::OtherPayments
        | Resource::ContactAllocations
        | Resource::BankTransfers
        | Resource::BankDeposits
        | Resource::BankReconciliations
        | Resource::ContactOpeningBalances
        | Resource::BankOpeningBalances
        | Resource::Transactions => text(fields, "reference"),
        Resource::Addresses => text(fields, "address_line_1"),
        Resource::StockItems => format!(
            "{} - {}",
            text(fields, "item_code"),
            text(fields, "description")
        ),
        Resource::Attachments => text(fields, "file_name"),
        Resource::LedgerAccountOpeningBalances | Resource::LedgerEntries => text(fields, "details"),
        Resource::TaxProfiles => text(fields, "tax_type_name"),
    }
}

/// `{"id", "displayed_as", "$path"}`: how Sage embeds a reference to another record.
pub(crate) fn link(path: &str, id: &str, displayed_as: &str) -> Value {
    json!({"id": id, "displayed_as": displayed_as, "$path": format!("/{path}/{id}")})
}

fn enum_link(path: &str, id: &str, displayed_as: &str) -> Value {
    link(path, id, displayed_as)
}

/// A 32-hex-digit id like Sage's.
pub(crate) fn new_id(rng: &mut ChaCha8Rng) -> String {
    format!("{:032x}", rng.gen::<u128>())
}

/// An amount in cents as Sage's money string (`"1234.50"`).
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

const FIRST: &[&str] = &[
    "North", "Blue", "Silver", "Oak", "River", "Summit", "Harbour", "Granite", "Maple", "Bright",
    "Crown", "Meadow", "Iron", "Golden", "Cedar", "Falcon",
];
const SECOND: &[&str] = &[
    "wind", "stone", "field", "bridge", "gate", "wood", "brook", "view", "point", "ridge",
];
const TRADE: &[&str] = &[
    "Trading",
    "Supplies",
    "Consulting",
    "Logistics",
    "Bakery",
    "Engineering",
    "Design",
    "Hardware",
    "Foods",
    "Builders",
    "Media",
    "Garden Centre",
];
const SUFFIX: &[&str] = &["Ltd", "LLP", "plc", "& Co", "Group", "Partners"];
const PEOPLE: &[&str] = &[
    "Alice Moreau",
    "Ben Carter",
    "Chloe Singh",
    "Daniel Kim",
    "Eva Novak",
    "Farid Haddad",
    "Grace O'Neill",
    "Hugo Lambert",
    "Isla Fraser",
    "Jonas Berg",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("London", "Greater London", "EC1A 1BB"),
    ("Manchester", "Greater Manchester", "M1 1AE"),
    ("Leeds", "West Yorkshire", "LS1 4AP"),
    ("Bristol", "Bristol", "BS1 5TR"),
    ("Glasgow", "Lanarkshire", "G1 1XQ"),
    ("Cardiff", "South Glamorgan", "CF10 1EP"),
];
const STREETS: &[&str] = &[
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Queen Street",
    "Victoria Road",
];
const GOODS: &[&str] = &[
    "Widget", "Gasket", "Bracket", "Cable", "Valve", "Panel", "Hinge", "Sensor", "Bolt set",
    "Filter",
];
const COLOURS: &[&str] = &[
    "Blue", "Steel", "Large", "Small", "Premium", "Standard", "Red",
];
const WORK: &[&str] = &[
    "Consulting hour",
    "Installation",
    "Site survey",
    "Support plan",
    "Training day",
    "Design review",
    "Maintenance visit",
];
const LEDGERS: &[(&str, &str, u32)] = &[
    ("SALES", "Sales", 4000),
    ("OTHER_INCOME", "Other Income", 4900),
    ("DIRECT_EXPENSES", "Direct Expenses", 5000),
    ("OVERHEADS", "Overheads", 7000),
    ("CURRENT_ASSETS", "Current Assets", 1100),
    ("CURRENT_LIABILITY", "Current Liabilities", 2100),
];

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

fn gbp() -> Value {
    enum_link("currencies", "GBP", "Pound Sterling (GBP)")
}

fn address(rng: &mut ChaCha8Rng, kind: &str) -> Value {
    let (city, region, postal_code) = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
    let id = new_id(rng);
    json!({
        "id": id,
        "displayed_as": format!("{} {}, {city}", rng.gen_range(1..200), pick(rng, STREETS)),
        "$path": format!("/addresses/{id}"),
        "address_type": enum_link("address_types", kind, if kind == "DELIVERY" { "Delivery" } else { "Accounts" }),
        "address_line_1": format!("{} {}", rng.gen_range(1..200), pick(rng, STREETS)),
        "address_line_2": "",
        "city": city,
        "region": region,
        "postal_code": postal_code,
        "country": enum_link("countries", "GB", "United Kingdom (GB)"),
        "is_main_address": kind != "DELIVERY",
    })
}

/// Resource-specific fields for the `number`-th record of `resource` created at `created`.
pub(crate) fn fields(
    resource: Resource,
    rng: &mut ChaCha8Rng,
    number: u64,
    created: i64,
    refs: &Refs,
) -> Fields {
    let value = match resource {
        Resource::Contacts => contact(rng, number),
        Resource::SalesInvoices => invoice(rng, number, created, refs, true),
        Resource::PurchaseInvoices => invoice(rng, number, created, refs, false),
        Resource::ContactPayments => payment(rng, number, created, refs),
        Resource::Products => product(rng, number, refs),
        Resource::Services => service(rng, number, refs),
        Resource::LedgerAccounts => ledger_account(rng, number),
        Resource::BankAccounts => bank_account(rng, number, refs),
        Resource::TaxRates => tax_rate(rng, number),
        Resource::Journals => journal(rng, number, created, refs),
        Resource::SalesCreditNotes => {
            artefact(rng, number, created, refs, Artefact::SALES_CREDIT_NOTE)
        }
        Resource::PurchaseCreditNotes => {
            artefact(rng, number, created, refs, Artefact::PURCHASE_CREDIT_NOTE)
        }
        Resource::SalesQuotes => artefact(rng, number, created, refs, Artefact::SALES_QUOTE),
        Resource::SalesEstimates => artefact(rng, number, created, refs, Artefact::SALES_ESTIMATE),
        Resource::SalesCorrectiveInvoices => {
            artefact(rng, number, created, refs, Artefact::SALES_CORRECTIVE)
        }
        Resource::PurchaseCorrectiveInvoices => {
            artefact(rng, number, created, refs, Artefact::PURCHASE_CORRECTIVE)
        }
        Resource::SalesQuickEntries => quick_entry(rng, number, created, refs, true),
        Resource::PurchaseQuickEntries => quick_entry(rng, number, created, refs, false),
        Resource::OtherPayments => other_payment(rng, number, created, refs),
        Resource::ContactAllocations => contact_allocation(rng, number, created, refs),
        Resource::BankTransfers => bank_transfer(rng, number, created, refs),
        Resource::BankDeposits => bank_deposit(rng, number, created, refs),
        Resource::BankReconciliations => bank_reconciliation(rng, number, created, refs),
        Resource::Addresses => standalone_address(rng, refs),
        Resource::ContactPersons => contact_person(rng, refs),
        Resource::StockItems => stock_item(rng, number, refs),
        Resource::Attachments => attachment(rng, number, refs),
        Resource::ContactOpeningBalances => contact_opening_balance(rng, number, created, refs),
        Resource::BankOpeningBalances => bank_opening_balance(rng, number, created, refs),
        Resource::LedgerAccountOpeningBalances => ledger_opening_balance(rng, number, refs),
        Resource::LedgerEntries => ledger_entry(rng, number, created, refs),
        Resource::Transactions => transaction(rng, number, created, refs),
        Resource::JournalCodes => journal_code(rng, number),
        Resource::CoaAccounts => coa_account(rng, number, refs),
        Resource::ServiceRateTypes => service_rate_type(rng, number),
        Resource::TaxProfiles => tax_profile(rng, number, refs),
        Resource::AnalysisTypes => analysis_type(rng, number),
        Resource::AnalysisTypeCategories => analysis_type_category(rng, number, refs),
    };
    match value {
        Value::Object(map) => map.into_iter().collect(),
        _ => Vec::new(),
    }
}

fn contact(rng: &mut ChaCha8Rng, number: u64) -> Value {
    let first = pick(rng, FIRST);
    let name = format!(
        "{first}{} {} {}",
        pick(rng, SECOND),
        pick(rng, TRADE),
        pick(rng, SUFFIX)
    );
    let reference = format!("{}{number:03}", first[..3].to_uppercase());
    let vendor = rng.gen_bool(0.3);
    let (type_id, type_name) = if vendor {
        ("VENDOR", "Supplier")
    } else {
        ("CUSTOMER", "Customer")
    };
    let person = pick(rng, PEOPLE);
    let domain: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_lowercase();
    let person_id = new_id(rng);
    json!({
        "contact_types": [enum_link("contact_types", type_id, type_name)],
        "name": name,
        "reference": reference,
        "email": format!("accounts@{domain}.example"),
        "notes": "",
        "locale": "en",
        "is_active": rng.gen_bool(0.95),
        "balance": money(rng.gen_range(-50_000..2_500_000)),
        "currency": gbp(),
        "main_address": address(rng, "ACCOUNTS"),
        "delivery_address": if rng.gen_bool(0.3) { address(rng, "DELIVERY") } else { Value::Null },
        "main_contact_person": {
            "id": person_id,
            "displayed_as": person,
            "$path": format!("/contact_persons/{person_id}"),
            "name": person,
            "email": format!("{}@{domain}.example", person.split(' ').next().unwrap_or("info").to_lowercase()),
            "telephone": format!("0{} {:03} {:04}", rng.gen_range(1000..2000), rng.gen_range(0..1000), rng.gen_range(0..10000)),
            "is_main_contact": true,
        },
        "tax_number": format!("GB{:09}", rng.gen_range(100_000_000..999_999_999u64)),
        "credit_limit": money(rng.gen_range(0..20) * 50_000),
        "credit_days": *[14, 30, 30, 60].choose(rng).unwrap_or(&30),
    })
}

fn invoice(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs, sales: bool) -> Value {
    let contact = refs.pick_contact(rng, if sales { CUSTOMER } else { VENDOR });
    let lines = rng.gen_range(1..=3);
    let mut net = 0i64;
    let mut tax = 0i64;
    let mut invoice_lines = Vec::new();
    for _ in 0..lines {
        let quantity = rng.gen_range(1..10i64);
        let unit = rng.gen_range(500..50_000i64);
        let line_net = quantity * unit;
        let line_tax = line_net / 5;
        net += line_net;
        tax += line_tax;
        let id = new_id(rng);
        let description = format!("{} {}", pick(rng, COLOURS), pick(rng, GOODS));
        invoice_lines.push(json!({
            "id": id,
            "displayed_as": description,
            "description": description,
            "quantity": format!("{quantity}.0"),
            "unit_price": money(unit),
            "net_amount": money(line_net),
            "tax_amount": money(line_tax),
            "total_amount": money(line_net + line_tax),
            "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
            "tax_rate": refs.pick(rng, Resource::TaxRates),
        }));
    }
    let paid = rng.gen_bool(0.4);
    let total = net + tax;
    let contact_name = contact.get("displayed_as").cloned().unwrap_or(Value::Null);
    let mut value = json!({
        "contact": contact,
        "contact_name": contact_name,
        "date": format_date(created),
        "due_date": format_date(created + 30 * 86_400),
        "reference": format!("PO-{:05}", rng.gen_range(1..100_000)),
        "status": if paid { enum_link("artefact_statuses", "PAID", "Paid") } else { enum_link("artefact_statuses", "UNPAID", "Unpaid") },
        "currency": gbp(),
        "net_amount": money(net),
        "tax_amount": money(tax),
        "total_amount": money(total),
        "outstanding_amount": money(if paid { 0 } else { total }),
        "notes": "",
        "invoice_lines": invoice_lines,
    });
    if let Value::Object(map) = &mut value {
        if sales {
            map.insert("invoice_number".into(), json!(format!("SI-{number}")));
            map.insert("sent".into(), json!(rng.gen_bool(0.7)));
        } else {
            map.insert("vendor_reference".into(), json!(format!("PI-{number}")));
        }
    }
    value
}

fn payment(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let receipt = rng.gen_bool(0.6);
    let (type_id, type_name, wanted) = if receipt {
        ("CUSTOMER_RECEIPT", "Customer Receipt", CUSTOMER)
    } else {
        ("VENDOR_PAYMENT", "Vendor Payment", VENDOR)
    };
    let total = rng.gen_range(1_000..500_000i64);
    json!({
        "transaction_type": enum_link("transaction_types", type_id, type_name),
        "payment_method": enum_link("payment_methods", "BANK_TRANSFER", "Bank Transfer"),
        "contact": refs.pick_contact(rng, wanted),
        "bank_account": refs.pick(rng, Resource::BankAccounts),
        "date": format_date(created),
        "net_amount": money(total),
        "tax_amount": "0.00",
        "total_amount": money(total),
        "currency": gbp(),
        "exchange_rate": "1.0",
        "reference": format!("PAY-{number}"),
    })
}

fn product(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let cost = rng.gen_range(100..20_000i64);
    let price_id = new_id(rng);
    json!({
        "item_code": format!("P-{number:04}"),
        "description": format!("{} {}", pick(rng, COLOURS), pick(rng, GOODS)),
        "notes": "",
        "sales_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "purchase_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "cost_price": money(cost),
        "sales_prices": [{
            "id": price_id,
            "displayed_as": "Selling Price",
            "price_name": "Selling Price",
            "price": money(cost * 3 / 2),
            "price_includes_tax": false,
        }],
        "active": rng.gen_bool(0.9),
        "catalog_item_type": enum_link("catalog_item_types", "STOCK_ITEM", "Stock"),
    })
}

fn service(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let rate_id = new_id(rng);
    json!({
        "item_code": format!("S-{number:04}"),
        "description": pick(rng, WORK),
        "notes": "",
        "sales_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "sales_rates": [{
            "id": rate_id,
            "displayed_as": "Hourly",
            "rate_name": "Hourly",
            "rate": money(rng.gen_range(2_000..20_000)),
            "rate_includes_tax": false,
        }],
        "active": true,
    })
}

fn ledger_account(rng: &mut ChaCha8Rng, number: u64) -> Value {
    let (type_id, type_name, base) = *LEDGERS.choose(rng).unwrap_or(&LEDGERS[0]);
    let name = format!("{type_name} {number}");
    json!({
        "ledger_account_type": enum_link("ledger_account_types", type_id, type_name),
        "included_in_chart": true,
        "name": name,
        "display_name": name,
        "nominal_code": base + (number as u32 % 100),
        "ledger_account_classification": Value::Null,
        "is_control_account": false,
        "visible_in_banking": type_id == "CURRENT_ASSETS",
        "visible_in_expenses": type_id == "OVERHEADS",
        "visible_in_journals": true,
        "visible_in_other_payments": true,
        "visible_in_other_receipts": true,
        "visible_in_reporting": true,
        "visible_in_sales": type_id == "SALES",
    })
}

fn bank_account(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let kind = *[
        ("CHECKING", "Current"),
        ("SAVINGS", "Savings"),
        ("CREDIT_CARD", "Credit Card"),
    ]
    .choose(rng)
    .unwrap_or(&("CHECKING", "Current"));
    json!({
        "bank_account_details": {
            "account_name": format!("{} Account {number}", kind.1),
            "account_number": format!("{:08}", rng.gen_range(0..100_000_000)),
            "sort_code": format!("{:02}-{:02}-{:02}", rng.gen_range(10..99), rng.gen_range(0..99), rng.gen_range(0..99)),
            "bic": "NWBKGB2L",
            "iban": format!("GB{:02}NWBK{:014}", rng.gen_range(10..99), rng.gen_range(0..100_000_000_000_000u64)),
        },
        "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "bank_account_type": enum_link("bank_account_types", kind.0, kind.1),
        "balance": money(rng.gen_range(-100_000..5_000_000)),
        "main_address": address(rng, "ACCOUNTS"),
        "nominal_code": 1200 + number,
        "editable": true,
        "deletable": true,
        "currency": gbp(),
    })
}

fn tax_rate(rng: &mut ChaCha8Rng, number: u64) -> Value {
    let percentage = *["20.0", "5.0", "0.0", "12.5"]
        .choose(rng)
        .unwrap_or(&"20.0");
    json!({
        "name": format!("Rate {number} {percentage}%"),
        "agency": "HMRC",
        "percentage": percentage,
        "percentages": [{"percentage": percentage, "from_date": "2011-01-04", "to_date": Value::Null}],
        "is_visible": true,
        "retailer": false,
        "editable": false,
        "deletable": false,
        "is_combined_rate": false,
    })
}

fn journal(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let amount = money(rng.gen_range(1_000..1_000_000));
    let debit_id = new_id(rng);
    let credit_id = new_id(rng);
    json!({
        "date": format_date(created),
        "reference": format!("JNL-{number}"),
        "description": "Month-end accrual",
        "total": amount,
        "journal_lines": [
            {"id": debit_id, "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
             "details": "Accrual", "debit": amount, "credit": "0.00"},
            {"id": credit_id, "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
             "details": "Accrual", "debit": "0.00", "credit": amount},
        ],
        "migrated": false,
    })
}

/// A sales or purchase document's kind: its path word, its number field and prefix, its lines'
/// field, and which contacts it names.
#[derive(Debug, Clone, Copy)]
struct Artefact {
    number_field: &'static str,
    prefix: &'static str,
    lines_field: &'static str,
    sales: bool,
    /// `status` values it takes (id, name).
    statuses: &'static [(&'static str, &'static str)],
}

impl Artefact {
    const SALES_CREDIT_NOTE: Artefact = Artefact {
        number_field: "credit_note_number",
        prefix: "SCN-",
        lines_field: "credit_note_lines",
        sales: true,
        statuses: &[("UNPAID", "Unpaid"), ("PAID", "Paid")],
    };
    const PURCHASE_CREDIT_NOTE: Artefact = Artefact {
        number_field: "vendor_reference",
        prefix: "PCN-",
        lines_field: "credit_note_lines",
        sales: false,
        statuses: &[("UNPAID", "Unpaid"), ("PAID", "Paid")],
    };
    const SALES_QUOTE: Artefact = Artefact {
        number_field: "quote_number",
        prefix: "SQ-",
        lines_field: "quote_lines",
        sales: true,
        statuses: &[
            ("DRAFT", "Draft"),
            ("PENDING", "Pending"),
            ("ACCEPTED", "Accepted"),
        ],
    };
    const SALES_ESTIMATE: Artefact = Artefact {
        number_field: "estimate_number",
        prefix: "SE-",
        lines_field: "estimate_lines",
        sales: true,
        statuses: &[
            ("DRAFT", "Draft"),
            ("PENDING", "Pending"),
            ("ACCEPTED", "Accepted"),
        ],
    };
    const SALES_CORRECTIVE: Artefact = Artefact {
        number_field: "invoice_number",
        prefix: "SCI-",
        lines_field: "invoice_lines",
        sales: true,
        statuses: &[("UNPAID", "Unpaid"), ("PAID", "Paid")],
    };
    const PURCHASE_CORRECTIVE: Artefact = Artefact {
        number_field: "vendor_reference",
        prefix: "PCI-",
        lines_field: "invoice_lines",
        sales: false,
        statuses: &[("UNPAID", "Unpaid"), ("PAID", "Paid")],
    };
}

/// Credit notes, quotes, estimates and corrective invoices: the invoice's shape under their
/// own number and lines fields.
fn artefact(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs, kind: Artefact) -> Value {
    let mut value = invoice(rng, number, created, refs, kind.sales);
    let (status_id, status_name) = *kind.statuses.choose(rng).unwrap_or(&("DRAFT", "Draft"));
    if let Value::Object(map) = &mut value {
        map.remove("invoice_number");
        map.remove("vendor_reference");
        map.remove("sent");
        if let Some(lines) = map.remove("invoice_lines") {
            map.insert(kind.lines_field.into(), lines);
        }
        map.insert(
            kind.number_field.into(),
            json!(format!("{}{number}", kind.prefix)),
        );
        map.insert(
            "status".into(),
            enum_link("artefact_statuses", status_id, status_name),
        );
        if kind.lines_field == "quote_lines" || kind.lines_field == "estimate_lines" {
            map.remove("due_date");
            map.remove("outstanding_amount");
            map.insert(
                "expiry_date".into(),
                json!(format_date(created + 30 * 86_400)),
            );
        }
    }
    value
}

fn quick_entry(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs, sales: bool) -> Value {
    let net = rng.gen_range(1_000..200_000i64);
    let tax = net / 5;
    let credit = rng.gen_bool(0.2);
    let (type_id, type_name) = if credit {
        ("CREDIT_NOTE", "Credit Note")
    } else {
        ("INVOICE", "Invoice")
    };
    json!({
        "quick_entry_type": enum_link("quick_entry_types", type_id, type_name),
        "contact": refs.pick_contact(rng, if sales { CUSTOMER } else { VENDOR }),
        "date": format_date(created),
        "due_date": format_date(created + 30 * 86_400),
        "reference": format!("{}QE-{number}", if sales { "S" } else { "P" }),
        "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "details": format!("{} {}", pick(rng, COLOURS), pick(rng, GOODS)),
        "tax_rate": refs.pick(rng, Resource::TaxRates),
        "net_amount": money(net),
        "tax_amount": money(tax),
        "total_amount": money(net + tax),
        "outstanding_amount": money(net + tax),
        "currency": gbp(),
        "status": enum_link("artefact_statuses", "UNPAID", "Unpaid"),
    })
}

fn other_payment(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let receipt = rng.gen_bool(0.4);
    let (type_id, type_name) = if receipt {
        ("OTHER_RECEIPT", "Other Receipt")
    } else {
        ("OTHER_PAYMENT", "Other Payment")
    };
    let net = rng.gen_range(500..100_000i64);
    let tax = net / 5;
    let line_id = new_id(rng);
    json!({
        "transaction_type": enum_link("transaction_types", type_id, type_name),
        "payment_method": enum_link("payment_methods", "BANK_TRANSFER", "Bank Transfer"),
        "contact": refs.pick_contact(rng, if receipt { CUSTOMER } else { VENDOR }),
        "bank_account": refs.pick(rng, Resource::BankAccounts),
        "date": format_date(created),
        "reference": format!("OP-{number}"),
        "net_amount": money(net),
        "tax_amount": money(tax),
        "total_amount": money(net + tax),
        "payment_lines": [{
            "id": line_id,
            "displayed_as": "Office supplies",
            "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
            "details": "Office supplies",
            "net_amount": money(net),
            "tax_amount": money(tax),
            "total_amount": money(net + tax),
        }],
    })
}

fn contact_allocation(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let amount = money(rng.gen_range(1_000..200_000i64));
    json!({
        "transaction_type": enum_link("transaction_types", "CUSTOMER_ALLOCATION", "Customer Allocation"),
        "reference": format!("ALLOC-{number}"),
        "date": format_date(created),
        "contact": refs.pick_contact(rng, CUSTOMER),
        "allocated_artefacts": [
            {"artefact": refs.pick(rng, Resource::SalesInvoices), "amount": amount},
        ],
    })
}

fn bank_transfer(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    json!({
        "from_bank_account": refs.pick(rng, Resource::BankAccounts),
        "to_bank_account": refs.pick(rng, Resource::BankAccounts),
        "date": format_date(created),
        "reference": format!("TRF-{number}"),
        "amount": money(rng.gen_range(1_000..1_000_000i64)),
        "description": "Transfer between accounts",
    })
}

fn bank_deposit(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let cash = rng.gen_range(0..200_000i64);
    let cheque = rng.gen_range(0..200_000i64);
    json!({
        "from_bank_account": refs.pick(rng, Resource::BankAccounts),
        "to_bank_account": refs.pick(rng, Resource::BankAccounts),
        "date": format_date(created),
        "reference": format!("DEP-{number}"),
        "cash_amount": money(cash),
        "cheque_amount": money(cheque),
        "total_amount": money(cash + cheque),
    })
}

fn bank_reconciliation(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let starting = rng.gen_range(0..5_000_000i64);
    let received = rng.gen_range(0..500_000i64);
    let paid = rng.gen_range(0..500_000i64);
    let closing = starting + received - paid;
    json!({
        "bank_account": refs.pick(rng, Resource::BankAccounts),
        "statement_date": format_date(created),
        "statement_end_balance": money(closing),
        "reference": format!("REC-{number}"),
        "total_received": money(received),
        "total_paid": money(paid),
        "starting_balance": money(starting),
        "closing_balance": money(closing),
        "reconciled_balance": money(closing),
        "balance_difference": "0.00",
        "status": enum_link("bank_reconciliation_statuses", "RECONCILED", "Reconciled"),
    })
}

fn standalone_address(rng: &mut ChaCha8Rng, refs: &Refs) -> Value {
    let kind = if rng.gen_bool(0.3) {
        "DELIVERY"
    } else {
        "ACCOUNTS"
    };
    let mut value = address(rng, kind);
    if let Value::Object(map) = &mut value {
        for key in ["id", "displayed_as", "$path"] {
            map.remove(key);
        }
        map.insert("contact".into(), refs.pick_contact(rng, CUSTOMER | VENDOR));
        map.insert("name".into(), json!("Head office"));
    }
    value
}

fn contact_person(rng: &mut ChaCha8Rng, refs: &Refs) -> Value {
    let name = pick(rng, PEOPLE);
    let first = name.split(' ').next().unwrap_or("info").to_lowercase();
    json!({
        "contact_person_types": [enum_link("contact_person_types", "ACCOUNTS", "Accounts")],
        "name": name,
        "job_title": *["Finance Manager", "Bookkeeper", "Director", "Buyer"].choose(rng).unwrap_or(&"Buyer"),
        "telephone": format!("0{} {:03} {:04}", rng.gen_range(1000..2000), rng.gen_range(0..1000), rng.gen_range(0..10000)),
        "mobile": format!("07{:03} {:06}", rng.gen_range(100..1000), rng.gen_range(0..1_000_000)),
        "email": format!("{first}@example.com"),
        "is_main_contact": rng.gen_bool(0.3),
        "contact": refs.pick_contact(rng, CUSTOMER | VENDOR),
    })
}

fn stock_item(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let cost = rng.gen_range(100..20_000i64);
    json!({
        "item_code": format!("STK-{number:04}"),
        "description": format!("{} {}", pick(rng, COLOURS), pick(rng, GOODS)),
        "sales_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "purchase_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "cost_price": money(cost),
        "sales_prices": [{"price_name": "Selling Price", "price": money(cost * 3 / 2), "price_includes_tax": false}],
        "quantity_in_stock": format!("{}.0", rng.gen_range(0..500)),
        "reorder_level": format!("{}.0", rng.gen_range(0..50)),
        "reorder_quantity": format!("{}.0", rng.gen_range(10..100)),
        "location": format!("Aisle {}", rng.gen_range(1..20)),
        "barcode": format!("50{:011}", rng.gen_range(0..100_000_000_000u64)),
        "active": rng.gen_bool(0.9),
    })
}

fn attachment(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let sales = rng.gen_bool(0.5);
    let (context, type_id, type_name) = if sales {
        (
            refs.pick(rng, Resource::SalesInvoices),
            "SALES_INVOICE",
            "Sales Invoice",
        )
    } else {
        (
            refs.pick(rng, Resource::PurchaseInvoices),
            "PURCHASE_INVOICE",
            "Purchase Invoice",
        )
    };
    json!({
        "file_name": format!("receipt-{number}.pdf"),
        "mime_type": "application/pdf",
        "description": "Scanned receipt",
        "file_extension": ".pdf",
        "file_size": rng.gen_range(10_000..2_000_000),
        "attachment_context_type": enum_link("attachment_context_types", type_id, type_name),
        "attachment_context": context,
    })
}

fn contact_opening_balance(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let net = rng.gen_range(1_000..500_000i64);
    let tax = net / 5;
    json!({
        "transaction_type": enum_link("transaction_types", "CUSTOMER_OPENING_BALANCE_INVOICE", "Customer Opening Balance Invoice"),
        "contact_opening_balance_type": enum_link("contact_opening_balance_types", "INVOICE", "Invoice"),
        "date": format_date(created),
        "contact": refs.pick_contact(rng, CUSTOMER | VENDOR),
        "reference": format!("OB-{number}"),
        "details": "Opening balance",
        "net_amount": money(net),
        "tax_rate": refs.pick(rng, Resource::TaxRates),
        "tax_amount": money(tax),
        "total_amount": money(net + tax),
        "currency": gbp(),
    })
}

fn bank_opening_balance(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let amount = money(rng.gen_range(0..10_000_000i64));
    let debit = rng.gen_bool(0.8);
    json!({
        "bank_account": refs.pick(rng, Resource::BankAccounts),
        "date": format_date(created),
        "reference": format!("BOB-{number}"),
        "debit": if debit { amount.clone() } else { "0.00".to_owned() },
        "credit": if debit { "0.00".to_owned() } else { amount },
    })
}

fn ledger_opening_balance(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let amount = money(rng.gen_range(0..10_000_000i64));
    let debit = rng.gen_bool(0.5);
    json!({
        "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "details": format!("Opening balance {number}"),
        "debit": if debit { amount.clone() } else { "0.00".to_owned() },
        "credit": if debit { "0.00".to_owned() } else { amount },
    })
}

fn ledger_entry(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    let amount = money(rng.gen_range(100..1_000_000i64));
    let debit = rng.gen_bool(0.5);
    json!({
        "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "contact": refs.pick_contact(rng, CUSTOMER | VENDOR),
        "date": format_date(created),
        "details": format!("Entry {number}"),
        "debit": if debit { amount.clone() } else { "0.00".to_owned() },
        "credit": if debit { "0.00".to_owned() } else { amount },
        "transaction_type": enum_link("transaction_types", "JOURNAL", "Journal"),
        "is_reconciled": rng.gen_bool(0.3),
    })
}

fn transaction(rng: &mut ChaCha8Rng, number: u64, created: i64, refs: &Refs) -> Value {
    json!({
        "transaction_type": enum_link("transaction_types", "SALES_INVOICE", "Sales Invoice"),
        "date": format_date(created),
        "reference": format!("TX-{number}"),
        "total": money(rng.gen_range(100..1_000_000i64)),
        "contact": refs.pick_contact(rng, CUSTOMER | VENDOR),
        "deleted": false,
        "audit_trail_id": number,
    })
}

fn journal_code(rng: &mut ChaCha8Rng, number: u64) -> Value {
    let (code, name) = *[
        ("VE", "Ventes"),
        ("AC", "Achats"),
        ("BQ", "Banque"),
        ("OD", "Opérations diverses"),
    ]
    .choose(rng)
    .unwrap_or(&("OD", "Opérations diverses"));
    json!({
        "name": format!("{name} {number}"),
        "code": format!("{code}{number}"),
        "journal_code_type": enum_link("journal_code_types", code, name),
        "control_name": format!("{code}{number}"),
        "reserved": false,
    })
}

fn coa_account(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let (type_id, type_name, base) = *LEDGERS.choose(rng).unwrap_or(&LEDGERS[0]);
    json!({
        "name": format!("{type_name} template {number}"),
        "nominal_code": base + (number as u32 % 100),
        "ledger_account_type": enum_link("ledger_account_types", type_id, type_name),
        "ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "coa_template": enum_link("coa_templates", "STANDARD", "Standard"),
    })
}

fn service_rate_type(rng: &mut ChaCha8Rng, number: u64) -> Value {
    let name = *["Hourly", "Daily", "Call-out", "Fixed fee"]
        .choose(rng)
        .unwrap_or(&"Hourly");
    json!({
        "name": format!("{name} {number}"),
        "active": rng.gen_bool(0.9),
    })
}

fn tax_profile(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    json!({
        "tax_type": enum_link("tax_types", "STANDARD", "Standard"),
        "tax_type_name": format!("Standard profile {number}"),
        "collected_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "paid_ledger_account": refs.pick(rng, Resource::LedgerAccounts),
        "address_region": Value::Null,
    })
}

fn analysis_type(rng: &mut ChaCha8Rng, number: u64) -> Value {
    let name = *["Department", "Project", "Region", "Cost centre"]
        .choose(rng)
        .unwrap_or(&"Project");
    json!({
        "name": format!("{name} {number}"),
        "analysis_type_level": enum_link("analysis_type_levels", "TRANSACTION", "Transaction"),
        "active": true,
    })
}

fn analysis_type_category(rng: &mut ChaCha8Rng, number: u64, refs: &Refs) -> Value {
    let name = *["North", "South", "Retail", "Wholesale"]
        .choose(rng)
        .unwrap_or(&"North");
    json!({
        "name": format!("{name} {number}"),
        "code": format!("CAT{number:03}"),
        "analysis_type": refs.pick(rng, Resource::AnalysisTypes),
    })
}
