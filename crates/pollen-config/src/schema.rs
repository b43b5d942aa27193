//! The one table of every key pollen reads: the loader takes its known keys and its defaults
//! from here, and `cargo xtask codegen` renders it as `docs/configuration.md`.

/// Where in the instance JSON a key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// The top level of the instance JSON.
    Instance,
    /// `element`.
    Element,
    /// `providerData`.
    ProviderData,
    /// `configuration`.
    Configuration,
    /// One resource of `event.poller.configuration`.
    Resource,
    /// A resource's `datesConfiguration`.
    Dates,
    /// One entry of `event.notification.subscriptions`.
    Subscription,
}

impl Section {
    /// Every section, in documentation order.
    pub const ALL: [Section; 7] = [
        Section::Instance,
        Section::Element,
        Section::ProviderData,
        Section::Configuration,
        Section::Resource,
        Section::Dates,
        Section::Subscription,
    ];

    /// How the section is named in the documentation.
    pub fn title(self) -> &'static str {
        match self {
            Section::Instance => "Instance (top level)",
            Section::Element => "`element`",
            Section::ProviderData => "`providerData`",
            Section::Configuration => "`configuration`",
            Section::Resource => "`configuration` → `event.poller.configuration` → *resource*",
            Section::Dates => "*resource* → `datesConfiguration`",
            Section::Subscription => {
                "`configuration` → `event.notification.subscriptions` → *subscription*"
            }
        }
    }

    fn intro(self) -> &'static str {
        match self {
            Section::Instance => "The body of the vendor's `POST /instances`.",
            Section::Element => "Which connector the instance belongs to.",
            Section::ProviderData => {
                "How pollen obtains its first OAuth tokens: an authorization grant code (single use, \
                 valid 60 s), or tokens you already hold. At least one of the three is required."
            }
            Section::Configuration => {
                "Every value may be a JSON string, as the vendor stores them: `\"true\"`, `\"15\"`. \
                 An empty string or `null` counts as absent."
            }
            Section::Resource => {
                "One entry per resource to poll; the key is the resource name (`customers`), which \
                 becomes the events' `objectType`."
            }
            Section::Dates => {
                "How to read each record's dates, to tell CREATED from UPDATED and to drop records \
                 that did not change since the last poll."
            }
            Section::Subscription => {
                "A receiver besides `event.notification.callback.url` (which stays subscription 0, \
                 unchanged). Each has its own delivery lane: retries, deactivation, in-flight limit \
                 and metrics of its own. It is sent the events its filters let through, at most 10 \
                 per notification, with the callback's event ids and notification ids of its own. At \
                 most 16 per instance. pollen extension."
            }
        }
    }
}

/// A key's default, as the documentation shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultValue {
    /// The key must be present.
    Required,
    /// Absent means what the text says (no value is substituted).
    Absent(&'static str),
    /// This value is used when the key is absent, read exactly as if the user had written it.
    Value(&'static str),
}

/// One documented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyDoc {
    /// The section the key belongs to.
    pub section: Section,
    /// The key as written in the JSON.
    pub key: &'static str,
    /// The accepted values.
    pub value: &'static str,
    /// The default.
    pub default: DefaultValue,
    /// An example value, as JSON.
    pub example: &'static str,
    /// What the key does.
    pub description: &'static str,
    /// Whether the value is a secret: masked in `Debug`, logs and masked serialisations.
    pub secret: bool,
}

const fn key(
    section: Section,
    key: &'static str,
    value: &'static str,
    default: DefaultValue,
    example: &'static str,
    description: &'static str,
) -> KeyDoc {
    KeyDoc {
        section,
        key,
        value,
        default,
        example,
        description,
        secret: false,
    }
}

const fn secret(
    section: Section,
    key: &'static str,
    default: DefaultValue,
    example: &'static str,
    description: &'static str,
) -> KeyDoc {
    KeyDoc {
        section,
        key,
        value: "string (secret)",
        default,
        example,
        description,
        secret: true,
    }
}

use DefaultValue::{Absent, Required, Value};
use Section::{Configuration, Dates, Element, Instance, ProviderData, Resource, Subscription};

/// Every key pollen reads, by section.
pub const KEYS: &[KeyDoc] = &[
    key(Instance, "element", "object", Required, r#"{"key": "sageone"}"#, "The connector."),
    key(Instance, "providerData", "object", Required, r#"{"code": "1c6ff408..."}"#, "OAuth grant code or tokens."),
    key(Instance, "configuration", "object", Required, r#"{"oauth.api.key": "..."}"#, "The instance configuration."),
    key(Instance, "name", "string", Required, r#""API_Polling""#, "The instance's name (`instanceName` in notifications)."),
    key(Instance, "tags", "array of strings, or one string", Absent("no tags"), r#"["Test"]"#, "Free tags (`instanceTags` in notifications)."),
    key(Element, "key", "`sageone`", Required, r#""sageone""#, "The connector key; `sageone` is Sage Business Cloud Accounting."),
    secret(ProviderData, "code", Absent("no code exchange"), r#""1c6ff4089d58d80e86482ab7d5b97f15dd7b041d""#, "Authorization grant code from the OAuth callback; exchanged for tokens once."),
    secret(ProviderData, "access_token", Absent("obtained from `code` or `refresh_token`"), r#""eyJ0eXAi...""#, "An access token you already hold (Sage v3.1 access tokens live 5 minutes)."),
    secret(ProviderData, "refresh_token", Absent("obtained from `code`"), r#""c9a1...""#, "A refresh token you already hold; pollen stores every rotated one."),
    key(Configuration, "oauth.api.key", "string", Required, r#""4b6f...""#, "Client ID of your Sage app."),
    secret(Configuration, "oauth.api.secret", Required, r#""Zk3...""#, "Client secret of your Sage app."),
    key(Configuration, "oauth.callback.url", "absolute URL", Absent("required when `providerData.code` is set"), r#""https://mycoolapp.com""#, "Callback (redirect) URL registered with your Sage app; sent again when exchanging the code."),
    key(Configuration, "oauth.token.url", "absolute http(s) URL", Absent("the token endpoint of the API version and country"), r#""https://oauth.accounting.sage.com/token""#, "Token endpoint override."),
    key(Configuration, "sage.api.version", "`v3.1` or `v3`", Value("v3.1"), r#""v3""#, "Sage API generation: `v3.1` (current) or `v3` (Columbus, signed requests). pollen extension."),
    key(Configuration, "country", "`ca` `de` `es` `fr` `gb` `ie` `us` (`uk` means `gb`; any case)", Absent("required for `v3`"), r#""US""#, "Country of the Sage business; picks the v3 region."),
    secret(Configuration, "signature.secret", Absent("required for `v3`"), r#""a1b2...""#, "Signing secret of your Sage app (v3 `X-Signature`)."),
    secret(Configuration, "apim.subscription.key", Absent("required for `v3`"), r#""f00d...""#, "Subscription primary key (v3 `Ocp-Apim-Subscription-Key`)."),
    key(Configuration, "sage.business.id", "string: the id of one of the authorized user's businesses (`GET /businesses`)", Absent("the user's lead business"), r#""7d5a3e3c1b1c4f0f9a9e3b0f6c2d1e4a""#, "Which business to poll when the user has several (sent as `X-Business`; v3.1 only; `GET /instances/{id}/businesses` lists them). Cannot change once the instance has completed a poll. pollen extension."),
    key(Configuration, "sage.rate_limit", "whole number of calls a minute, 1 to 100000", Absent("the process default (`--sage-rate-limit`, 200, Sage's v3 limit)"), r#""120""#, "The rate budget of this instance's Sage business: every instance of the business, in every worker sharing the database, draws from one token bucket of this many calls a minute; incremental polls go before back-fills and reconciliation. Give every instance of one business the same value. pollen extension."),
    key(Configuration, "base.url", "absolute http(s) URL", Absent("the API base of the version and country"), r#""https://api.accounting.sage.com/v3.1""#, "API base override (a proxy, or the simulator)."),
    key(Configuration, "event.vendor.type", "`polling`", Value("polling"), r#""polling""#, "How events are obtained; pollen only polls."),
    key(Configuration, "event.notification.enabled", "boolean", Value("false"), "true", "Whether to poll and send notifications at all."),
    key(Configuration, "event.notification.callback.url", "absolute http(s) URL", Absent("required when notifications are enabled"), r#""https://mycoolapp.com/events""#, "Where notifications are POSTed."),
    secret(Configuration, "event.notification.signature.key", Absent("no `Elements-Webhook-Signature` header"), r#""whsec...""#, "HMAC-SHA256 key of the `Elements-Webhook-Signature` header."),
    secret(Configuration, "event.notification.standard_webhooks.secret", Absent("no Standard Webhooks headers"), r#""whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD""#, "`whsec_` + base64 of 24 to 64 random bytes: adds `webhook-id`, `webhook-timestamp` and `webhook-signature` ([Standard Webhooks](https://www.standardwebhooks.com/) v1). pollen extension."),
    key(Configuration, "event.notification.checkpoints", "boolean", Value("false"), "true", "After each poll that completes a resource's window, send the callback a checkpoint: the window, how many events it held and a digest of their ids, chained to the previous checkpoint, so the receiver can prove it has every event (see docs/events.md, and `pollen-receiver`). pollen extension."),
    key(Configuration, "event.notification.alerts.url", "absolute http(s) URL", Absent("this instance's alerts go only to the server-wide `--alerts-url`"), r#""https://ops.example.com/pollen-alerts""#, "Where this instance's operational alerts are POSTed (a subscription deactivated, notifications that failed their last retry, re-authorization needed, polls failing or stalled, and each recovering; see docs/events.md). pollen extension."),
    secret(Configuration, "event.notification.alerts.secret", Absent("alerts are sent unsigned"), r#""whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD""#, "`whsec_` + base64 of 24 to 64 random bytes: signs the alerts to `event.notification.alerts.url` with Standard Webhooks headers. pollen extension."),
    key(Configuration, "event.notification.basic.username", "string", Absent("no basic authentication"), r#""pollen""#, "HTTP basic-auth user for the callback; needs the password too."),
    secret(Configuration, "event.notification.basic.password", Absent("no basic authentication"), r#""hunter2""#, "HTTP basic-auth password for the callback; needs the username too."),
    key(Configuration, "event.notification.callback.headers", "object of header name to string, or that object JSON-encoded in a string", Absent("no extra headers"), r#"{"X-Tenant": "acme"}"#, "Extra headers sent with every notification."),
    key(Configuration, "event.notification.subscriptions", "array of subscriptions, or that array JSON-encoded in a string", Absent("only the callback"), r#"[{"name": "billing", "url": "https://billing.example.com/hook", "resources": ["invoices"]}]"#, "More receivers, each with its own filter and lane (see below). pollen extension."),
    key(Configuration, "event.poller.refresh_interval", "number of minutes > 0 (decimals allowed)", Value("15"), r#""15""#, "Time between two polls of a resource."),
    key(Configuration, "event.poller.timezone", "time zone id (`UTC`, `Europe/Paris`, `EST`, `-08:00`)", Value("UTC"), r#""UTC""#, "Zone of `${date:...}` in poller URLs. pollen extension."),
    key(Configuration, "event.poller.backfill_since", "RFC 3339 date-time", Absent("the instance's creation: records older than it do not fire"), r#""2024-01-01T00:00:00Z""#, "Where the first poll starts. pollen extension."),
    key(Configuration, "event.poller.reconcile_interval", "number of minutes >= 0 (decimals allowed); 0 turns it off", Value("1440"), r#""60""#, "How often a resource whose endpoint has no `deleted_since` is reconciled: its ids are walked and DELETED is emitted for known records that are gone (each confirmed by a lookup). pollen extension."),
    key(Configuration, "event.poller.configuration", "object of resource name to resource, or that object JSON-encoded in a string", Absent("nothing is polled"), r#"{"customers": {"url": "..."}}"#, "The resources to poll (see below)."),
    key(Configuration, "event.poller.urls", "string: one `resource|url|xPathFilter|updatedDateField|updatedDateFormat|updatedDateTimeZone|createdDateField|createdDateFormat|createdDateTimeZone` per line", Absent("nothing"), r#""customers|/hubs/finance/customers?where=...|""#, "The vendor's legacy form, migrated to `event.poller.configuration`; ignored when that is set too."),
    key(Resource, "url", "hub path with `${...}` date templates and a CEQL `where` (not percent-encoded)", Required, r#""/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'""#, "What to fetch; the templates expand to the poll date."),
    key(Resource, "idField", "dotted path", Value("id"), r#""id""#, "Where each record's id is; becomes the events' `objectId`."),
    key(Resource, "datesConfiguration", "object", Absent("no dates: every record is UPDATED"), r#"{"updatedDateField": "updated_at"}"#, "See the next section."),
    key(Resource, "updatedDateTimezone", "time zone id", Absent("see `datesConfiguration`"), r#""GMT""#, "Accepted here as in one vendor example; `datesConfiguration.updatedDateTimezone` wins."),
    key(Resource, "filterByUpdatedDate", "boolean", Value("true"), "false", "Drop records whose updated date is not after the poll date."),
    key(Resource, "filterByCurrentDate", "boolean", Value("false"), "true", "Also drop records updated after the poll started (the next poll sees them)."),
    key(Resource, "createdCheckTolerance", "seconds ≥ 0 (decimals allowed)", Value("10"), "10", "Created and updated dates closer than this mean CREATED."),
    key(Resource, "pageSize", "integer ≥ 1 (Sage serves at most 200)", Absent("the connector's page size"), "100", "Records per page requested from the API."),
    key(Resource, "pollDelay", "seconds ≥ 0 (decimals allowed)", Value("0"), "30", "Subtracted from the poll date, for APIs whose search index lags."),
    key(Dates, "updatedDateField", "dotted path", Absent("no updated date: every record is UPDATED and none is filtered"), r#""updated_at""#, "Last-modified date of each record."),
    key(Dates, "updatedDateFormat", "Java date pattern, or `milliseconds` / `seconds` (epoch)", Absent("RFC 3339 / ISO 8601"), r#""yyyy-MM-dd'T'HH:mm:ss'Z'""#, "How to parse the updated date."),
    key(Dates, "updatedDateTimezone", "time zone id", Value("GMT"), r#""GMT""#, "Zone of updated dates that carry none."),
    key(Dates, "createdDateField", "dotted path", Absent("no created date: every record is UPDATED"), r#""created_at""#, "Creation date of each record."),
    key(Dates, "createdDateFormat", "as `updatedDateFormat`", Absent("the updated date's format"), r#""yyyy-MM-dd'T'HH:mm:ss'Z'""#, "How to parse the created date."),
    key(Dates, "createdDateTimezone", "time zone id", Absent("the updated date's zone"), r#""GMT""#, "Zone of created dates that carry none."),
    key(Subscription, "name", "1 to 64 of `a-z` `0-9` `-` `_`, unique in the instance, not `callback`", Required, r#""billing""#, "Names the subscription in the API, the console, the metrics (`subscription` label) and its notification ids."),
    key(Subscription, "url", "absolute http(s) URL", Required, r#""https://billing.example.com/hook""#, "Where its notifications are POSTed."),
    key(Subscription, "resources", "array of resource names of `event.poller.configuration` (or one comma-separated string)", Absent("every resource"), r#"["invoices", "customers"]"#, "Only these resources' events."),
    key(Subscription, "eventTypes", "array of `CREATED` `UPDATED` `DELETED` (any case; or one comma-separated string)", Absent("all three"), r#"["CREATED"]"#, "Only these event types."),
    key(Subscription, "where", "CEQL clause (see docs/ceql.md), without `${...}` templates", Absent("every record"), r#""total_amount > 1000 and currency.id = 'GBP'""#, "Only events whose record matches. A DELETED event is sent unless its record shows it does not match (deletion records often carry only an id)."),
    secret(Subscription, "signatureKey", Absent("no `Elements-Webhook-Signature` header"), r#""s3cret""#, "HMAC-SHA256 key of its `Elements-Webhook-Signature` header."),
    secret(Subscription, "standardWebhooksSecret", Absent("no Standard Webhooks headers"), r#""whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD""#, "As `event.notification.standard_webhooks.secret`, for this subscription."),
    key(Subscription, "maxInFlight", "whole number 1 to 64", Absent("4, the sender's per-endpoint limit"), "2", "Requests in flight to this subscription at most."),
    key(Subscription, "checkpoints", "boolean", Value("false"), "true", "As `event.notification.checkpoints`, for this subscription: its checkpoints cover exactly the events its filter let through."),
];

/// The documented keys of one section.
pub fn keys(section: Section) -> impl Iterator<Item = &'static KeyDoc> {
    KEYS.iter().filter(move |k| k.section == section)
}

/// The entry of one key.
pub(crate) fn doc(section: Section, name: &str) -> Option<&'static KeyDoc> {
    keys(section).find(|k| k.key == name)
}

/// The default text of a key that has a [`DefaultValue::Value`].
pub(crate) fn default_value(section: Section, name: &str) -> &'static str {
    match doc(section, name).map(|k| k.default) {
        Some(Value(text)) => text,
        // Only reached through a typo in this crate; the unit test below reads every key.
        _ => panic!("schema: `{name}` has no default value"),
    }
}

/// `docs/configuration.md`: every key, its values, default and an example.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Instance configuration reference\n\n\
         <!-- Generated by `cargo xtask codegen` from crates/pollen-config/src/schema.rs: \
         do not edit; `cargo xtask tidy` fails when it is stale. -->\n\n\
         pollen reads the instance JSON of SAP Open Connectors unchanged: the body of the \
         vendor's `POST /instances`. `pollen validate FILE...` checks files against this page.\n\n\
         - Booleans and numbers may be written as JSON values or as strings (`true` or `\"true\"`).\n\
         - Every problem is reported at once, each with the JSON Pointer of the offending value; \
         inside `event.poller.configuration` the pointer continues into the resources even when \
         that value is a JSON-encoded string.\n\
         - Keys pollen does not know are kept (and returned by the management API) but reported \
         as warnings.\n\
         - Values still holding a placeholder of the vendor's documentation (`<minutes>`) are \
         errors.\n\
         - Secrets are never printed: `Debug` output and masked serialisations show `***`.\n\n",
    );
    for section in Section::ALL {
        out.push_str(&format!(
            "## {}\n\n{}\n\n",
            section.title(),
            section.intro()
        ));
        out.push_str("| key | value | default | example | meaning |\n");
        out.push_str("|---|---|---|---|---|\n");
        for k in keys(section) {
            let default = match k.default {
                Required => "**required**".to_owned(),
                Absent(text) => format!("— ({text})"),
                Value(text) => format!("`{text}`"),
            };
            let value = if k.secret {
                format!("{} 🔒", k.value)
            } else {
                k.value.to_owned()
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.key,
                cell(&value),
                cell(&default),
                code_cell(k.example),
                cell(k.description)
            ));
        }
        out.push('\n');
    }
    out.push_str(CHECKS);
    out
}

const CHECKS: &str = "## Checks across keys\n\n\
- `event.notification.callback.url` is required, absolute and `http`/`https` when \
`event.notification.enabled` is true.\n\
- `signature.secret`, `apim.subscription.key` and `country` are required for `sage.api.version` `v3` only.\n\
- `oauth.callback.url` is required when `providerData.code` is set.\n\
- `event.notification.basic.username` and `.password` go together.\n\
- A resource whose `where` clause holds a date template but which has no \
`datesConfiguration.updatedDateField` is a warning: records cannot be filtered or classified by date.\n\
- A poller configuration while `event.notification.enabled` is false is a warning: nothing is polled.\n\
- The URL's `where` value is the rest of the query up to an `&` outside quotes and `${...}`; it is \
parsed as CEQL leniently: an unterminated quote (as in the vendor's own example) is a warning. A \
value written percent-encoded (`%27` and no raw quote) is decoded first.\n\
- `${date:...}` with a literal `'Z'` while `event.poller.timezone` is not UTC is a warning: the \
date would be local time marked as UTC.\n\
- URL templates, date patterns and zones are compiled at load time; their errors show the \
string with a caret under the offending spot.\n";

/// A table cell: pipes escaped, so the table survives any text.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A table cell in code font; backticks inside need a longer fence.
fn code_cell(text: &str) -> String {
    if text.contains('`') {
        format!("`` {} ``", cell(text))
    } else {
        format!("`{}`", cell(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_per_section() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                assert!(
                    !(a.section == b.section && a.key == b.key),
                    "duplicate {}",
                    a.key
                );
            }
        }
    }
}
