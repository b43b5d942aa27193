//! The seed's examples, and the fixture that sets every key, load into the values they spell.

use std::time::Duration;

use pollen_config::{ApiVersion, Country, ElementKey, InstanceConfig, Secrets};

use crate::support::{load, read_instance};

#[test]
fn the_seed_example_loads_with_its_values_and_defaults() {
    let loaded = load("seed-example.json");
    let config = &loaded.config;
    assert_eq!(config.element, ElementKey::SageOne);
    assert_eq!(config.name, "API_Polling");
    assert_eq!(config.tags, ["Test"]);
    assert_eq!(
        config.provider_data.code.as_ref().map(|c| c.expose()),
        Some("1c6ff4089d58d80e86482ab7d5b97f15dd7b041d")
    );
    let c = &config.configuration;
    assert_eq!(c.oauth.api_key, "xxxxxxxxxxxxxxxxxx");
    assert_eq!(c.oauth.api_secret.expose(), "xxxxxxxxxxxxxxxxxxxxxx");
    assert_eq!(
        c.oauth.callback_url.as_ref().map(|u| u.as_str()),
        Some("https://mycoolapp.com") // as written: it is the OAuth redirect_uri
    );
    assert_eq!(c.sage.api_version, ApiVersion::V3_1);
    assert_eq!(c.sage.country, Some(Country::Us));
    assert!(c.notification.enabled);
    assert_eq!(
        c.notification.callback_url.as_ref().map(|u| u.as_str()),
        Some("http://mycoolapp.com")
    );
    assert_eq!(c.poller.refresh_interval, Duration::from_secs(15 * 60));
    assert_eq!(c.poller.timezone.as_str(), "UTC");
    assert_eq!(c.poller.backfill_since, None);

    let names: Vec<&str> = c.poller.resources.keys().map(String::as_str).collect();
    assert_eq!(names, ["customers"]);
    let customers = &c.poller.resources["customers"];
    assert_eq!(customers.url.path(), "/hubs/finance/customers");
    assert_eq!(
        customers.url.where_text(),
        Some("lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at")
    );
    assert_eq!(customers.id_field.as_str(), "id");
    let updated = &customers.dates.updated;
    assert_eq!(
        updated.field.as_ref().map(|f| f.as_str()),
        Some("updated_at")
    );
    assert_eq!(
        updated.format.as_ref().map(|f| f.as_str()),
        Some("yyyy-MM-dd'T'HH:mm:ss'Z'")
    );
    assert_eq!(updated.timezone.as_str(), "GMT");
    assert_eq!(
        customers.dates.created.field.as_ref().map(|f| f.as_str()),
        Some("created_at")
    );
    assert!(customers.filter_by_updated_date);
    assert!(!customers.filter_by_current_date);
    assert_eq!(customers.created_check_tolerance, Duration::from_secs(10));
    assert_eq!(customers.page_size, None);
    assert_eq!(customers.poll_delay, Duration::ZERO);

    // The only warning: the vendor's unterminated quote.
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with(
        "warning: /configuration/event.poller.configuration/customers/url: unterminated"
    ));
}

#[test]
fn the_filled_in_request_body_maps_uk_and_decimal_minutes() {
    let config = load("seed-request-body-filled.json").config;
    assert_eq!(config.configuration.sage.country, Some(Country::Gb));
    assert_eq!(
        config.configuration.poller.refresh_interval,
        Duration::from_secs(30)
    );
}

#[test]
fn every_key_is_read() {
    let config = load("every-key.json").config;
    let c = &config.configuration;
    assert_eq!(
        c.sage.business_id.as_deref(),
        Some("7d5a3e3c1b1c4f0f9a9e3b0f6c2d1e4a")
    );
    assert_eq!(config.tags, ["single"]);
    assert_eq!(config.provider_data.code, None);
    assert_eq!(
        config
            .provider_data
            .refresh_token
            .as_ref()
            .map(|t| t.expose()),
        Some("refresh-token-a0c4f3")
    );
    assert_eq!(
        c.notification.headers,
        [
            ("X-Count".to_owned(), "3".to_owned()),
            ("X-Tenant".to_owned(), "acme".to_owned())
        ]
    );
    let basic = c.notification.basic.as_ref().expect("basic auth");
    assert_eq!(
        (basic.username.as_str(), basic.password.expose()),
        ("pollen", "basic-pass-19fe07")
    );
    assert_eq!(
        c.notification.signature_key.as_ref().map(|k| k.expose()),
        Some("sig-key-5e8d21")
    );
    assert_eq!(
        c.notification
            .standard_webhooks_secret
            .as_ref()
            .map(|k| k.expose()),
        Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
    );
    assert_eq!(
        c.poller.backfill_since.map(|t| t.to_rfc3339()),
        Some("2023-12-31T23:00:00+00:00".to_owned())
    );
    assert_eq!(c.poller.timezone.as_str(), "Europe/Paris");
    assert_eq!(
        c.sage.base_url.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:8080/v3.1")
    );
    assert_eq!(
        c.oauth.token_url.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:8080/token")
    );
    let customers = &c.poller.resources["customers"];
    assert!(customers.filter_by_current_date);
    assert_eq!(
        customers.created_check_tolerance,
        Duration::from_millis(12_500)
    );
    assert_eq!(customers.page_size, Some(100));
    assert_eq!(customers.poll_delay, Duration::from_secs(30));
}

#[test]
fn the_legacy_urls_migrate_to_resources() {
    let config = load("legacy-urls.json").config;
    let resources = &config.configuration.poller.resources;
    let customers = &resources["customers"];
    assert_eq!(customers.url.path(), "/hubs/finance/customers");
    assert_eq!(
        customers.dates.updated.field.as_ref().map(|f| f.as_str()),
        Some("updated_at")
    );
    assert_eq!(
        customers.dates.created.field.as_ref().map(|f| f.as_str()),
        Some("created_at")
    );
    // The created format and zone default to the updated ones.
    assert_eq!(
        customers.dates.created.format.as_ref().map(|f| f.as_str()),
        Some("yyyy-MM-dd'T'HH:mm:ss'Z'")
    );
    assert_eq!(customers.dates.created.timezone.as_str(), "GMT");
    assert_eq!(resources["invoices"].dates.updated.field, None);
}

#[test]
fn the_resource_level_zone_is_accepted() {
    let config = load("resource-level-timezone.json").config;
    let customers = &config.configuration.poller.resources["customers"];
    assert_eq!(customers.dates.updated.timezone.as_str(), "EST");
    assert_eq!(customers.dates.created.timezone.as_str(), "EST");
}

#[test]
fn unknown_keys_are_kept() {
    let config = load("unknown-keys.json").config;
    assert_eq!(
        config.configuration.extra.get("pagination.max"),
        Some(&"200".into())
    );
    assert_eq!(config.extra.get("id"), Some(&12345.into()));
    let customers = &config.configuration.poller.resources["customers"];
    assert_eq!(customers.extra.get("idfield"), Some(&"id".into()));
    // The misspelt key is not read: the default applies.
    assert_eq!(customers.id_field.as_str(), "id");
}

#[test]
fn subscriptions_are_read_with_their_filters_and_secrets_hidden() {
    let loaded = load("subscriptions-valid.json");
    let subs = &loaded.config.configuration.notification.subscriptions;
    let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["billing", "crm"]);
    let billing = &subs[0];
    assert_eq!(billing.url.as_str(), "https://billing.example.com/hook");
    assert!(billing.covers("invoices") && !billing.covers("customers"));
    let types: Vec<&str> = billing
        .event_types
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    assert_eq!(types, ["CREATED", "UPDATED"]);
    assert_eq!(
        billing.filter.as_ref().map(ToString::to_string).as_deref(),
        Some("total_amount > 1000 AND currency.id = 'GBP'")
    );
    assert_eq!(billing.max_in_flight, Some(2));
    assert_eq!(
        billing.signature_key.as_ref().map(|k| k.expose()),
        Some("s3cret")
    );
    let crm = &subs[1];
    assert!(crm.covers("customers") && crm.covers("invoices"));
    assert!(crm.event_types.is_none() && crm.filter.is_none() && crm.max_in_flight.is_none());

    let shown = format!("{:?} {}", loaded.config, loaded.config.to_masked_json());
    assert!(
        !shown.contains("s3cret") && !shown.contains("whsec_C2FV"),
        "{shown}"
    );
}

/// Loading what `to_json(Secrets::Expose)` writes gives the same configuration back.
#[test]
fn serialisation_round_trips() {
    for name in [
        "seed-example.json",
        "every-key.json",
        "legacy-urls.json",
        "unknown-keys.json",
        "resource-level-timezone.json",
        "subscriptions-valid.json",
    ] {
        let first = load(name).config;
        let written = first.to_json(Secrets::Expose);
        let second = InstanceConfig::from_json_value(&written)
            .unwrap_or_else(|e| panic!("{name}: reloading {written}: {e}"))
            .config;
        assert_eq!(
            format!("{first:?}"),
            format!("{second:?}"),
            "{name} changed through {written}"
        );
        assert_eq!(second.to_json(Secrets::Expose), written, "{name}");
    }
}

#[test]
fn values_come_back_as_strings_like_the_vendor() {
    let config = load("seed-example.json").config;
    let json = config.to_masked_json();
    let conf = &json["configuration"];
    assert_eq!(conf["event.poller.refresh_interval"], "15");
    assert_eq!(conf["event.notification.enabled"], "true");
    assert_eq!(conf["country"], "us");
    let poller = conf["event.poller.configuration"]
        .as_str()
        .expect("a JSON string");
    let poller: serde_json::Value = serde_json::from_str(poller).expect("JSON inside");
    assert_eq!(poller["customers"]["createdCheckTolerance"], 10);
    assert_eq!(
        poller["customers"]["url"],
        serde_json::from_str::<serde_json::Value>(&read_instance("seed-example.json")).unwrap()
            ["configuration"]["event.poller.configuration"]["customers"]["url"]
    );
}

#[test]
fn where_clauses_are_parsed_from_raw_and_encoded_urls() {
    let config = load("seed-example.json").config;
    let customers = &config.configuration.poller.resources["customers"];
    let clause = customers.url.where_clause().expect("a where clause");
    assert_eq!(
        clause.to_string(),
        "lastModifiedDate >= '${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' AND attributes = 'created_at,updated_at'"
    );
    assert_eq!(clause.expr.placeholders().len(), 1);
    assert!(customers.url.template().has_placeholders());

    let config = load("where-encoded-and-ampersands.json").config;
    let resources = &config.configuration.poller.resources;
    let customers = resources["customers"].url.where_clause().expect("decoded");
    assert_eq!(
        customers.to_string(),
        "lastModifiedDate >= '${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' AND name = 'Acme'"
    );
    let invoices = &resources["invoices"].url;
    assert_eq!(
        invoices.where_text(),
        Some("lastModifiedDate>='${epoch}' and name='A&B'")
    );
    assert_eq!(
        invoices.query(),
        "pageSize=50&where=lastModifiedDate>='${epoch}' and name='A&B'&orderBy=id"
    );
}

#[test]
fn templates_expand_in_the_poller_zone() {
    use chrono::{TimeZone, Utc};
    let config = load("every-key.json").config;
    let url = &config.configuration.poller.resources["customers"].url;
    let at = Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap();
    // `${date:...}` is in event.poller.timezone (Europe/Paris, UTC+1 in January).
    assert_eq!(
        url.template().expand(at),
        "/hubs/finance/customers?where=lastModifiedDate>='2026-01-15T11:00:00Z' and attributes='created_at,updated_at'"
    );
}
