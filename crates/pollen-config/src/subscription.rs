//! `event.notification.subscriptions`: receivers besides the Open Connectors callback, each with
//! its own filter, signing and delivery lane (a pollen extension).

use std::collections::BTreeSet;

use pollen_template::{Mode, Where};
use serde_json::{Map, Value};

use crate::load::{absolute_url, read_section_default, standard_webhooks_secret};
use crate::model::{AbsoluteUrl, Extra};
use crate::poller::{caret_excerpt, encoded_array, located};
use crate::problem::{Problem, ProblemKind, Severity};
use crate::render::Secrets;
use crate::schema::Section;
use crate::secret::Secret;
use crate::walk::{child, describe, quote, Ctx};

/// Where `event.notification.subscriptions` is.
const SUBSCRIPTIONS: &str = "/configuration/event.notification.subscriptions";

/// The most subscriptions one instance may have: each is a delivery lane of its own and a copy
/// of every notification, so the number is bounded.
pub const MAX_SUBSCRIPTIONS: usize = 16;

/// The most requests one subscription may have in flight.
pub const MAX_IN_FLIGHT: u32 = 64;

/// The event types a subscription may ask for.
pub const EVENT_TYPES: [&str; 3] = ["CREATED", "UPDATED", "DELETED"];

/// The name no subscription may take: it names the Open Connectors callback where a receiver
/// is chosen by name (a replay to one receiver, a redelivery).
pub const CALLBACK_NAME: &str = "callback";

/// One entry of `event.notification.subscriptions`: a receiver besides the Open Connectors
/// callback (which is subscription 0), sent only the events its filter lets through.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Subscription {
    /// `name`: unique in the instance, 1 to 64 of `a-z`, `0-9`, `-` and `_`; names its lane; never `callback` ([`CALLBACK_NAME`]).
    pub name: String,
    /// `url`: where its notifications are POSTed.
    pub url: AbsoluteUrl,
    /// `resources`: only these resources' events (`None`: every resource).
    pub resources: Option<BTreeSet<String>>,
    /// `eventTypes`: only these types, upper case (`None`: all three).
    pub event_types: Option<BTreeSet<String>>,
    /// `where`: a CEQL clause on the record; only events whose record matches it.
    pub filter: Option<Where>,
    /// `signatureKey`: HMAC key of its `Elements-Webhook-Signature` header.
    pub signature_key: Option<Secret>,
    /// `standardWebhooksSecret`: adds the Standard Webhooks headers, as for the callback.
    pub standard_webhooks_secret: Option<Secret>,
    /// `maxInFlight`: requests in flight to it at most (`None`: the sender's default).
    pub max_in_flight: Option<u32>,
    /// `checkpoints`: whether it is sent checkpoints (see `event.notification.checkpoints`).
    pub checkpoints: bool,
    /// Keys pollen does not know, kept.
    pub extra: Extra,
}

impl Subscription {
    /// Whether events of `resource` go to this subscription.
    pub fn covers(&self, resource: &str) -> bool {
        self.resources.as_ref().is_none_or(|r| r.contains(resource))
    }

    /// The subscription in the instance JSON's shape, secrets as `secrets` says.
    pub fn to_json(&self, secrets: Secrets) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(self.name.clone()));
        map.insert("url".into(), Value::String(self.url.as_str().to_owned()));
        if let Some(resources) = &self.resources {
            map.insert("resources".into(), strings(resources));
        }
        if let Some(types) = &self.event_types {
            map.insert("eventTypes".into(), strings(types));
        }
        if let Some(filter) = &self.filter {
            map.insert("where".into(), Value::String(filter.to_string()));
        }
        if let Some(key) = &self.signature_key {
            map.insert("signatureKey".into(), secrets.show(key));
        }
        if let Some(secret) = &self.standard_webhooks_secret {
            map.insert("standardWebhooksSecret".into(), secrets.show(secret));
        }
        if let Some(n) = self.max_in_flight {
            map.insert("maxInFlight".into(), Value::from(n));
        }
        if self.checkpoints {
            map.insert("checkpoints".into(), Value::Bool(true));
        }
        secrets.extra(&self.extra, &mut map);
        Value::Object(map)
    }
}

fn strings(set: &BTreeSet<String>) -> Value {
    Value::Array(set.iter().cloned().map(Value::String).collect())
}

/// Reads `event.notification.subscriptions` (an array, or an array JSON-encoded in a string);
/// `resources` are the poller's resource names, for checking each subscription's `resources`.
pub(crate) fn read_subscriptions(
    ctx: &mut Ctx,
    configuration: &Map<String, Value>,
    resources: Option<&BTreeSet<String>>,
) -> Option<Vec<Subscription>> {
    let Some(value) = Ctx::present(configuration, "event.notification.subscriptions") else {
        return Some(Vec::new());
    };
    let items = encoded_array(ctx, value, SUBSCRIPTIONS)?;
    if items.len() > MAX_SUBSCRIPTIONS {
        ctx.error(
            ProblemKind::InvalidValue,
            SUBSCRIPTIONS,
            format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per instance, found {}",
                items.len()
            ),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = child(SUBSCRIPTIONS, &i.to_string());
        match read_one(ctx, item, &at, resources) {
            Some(sub) => {
                if !names.insert(sub.name.clone()) {
                    ctx.error(
                        ProblemKind::Inconsistent,
                        &child(&at, "name"),
                        format!(
                            "the name {} is used by an earlier subscription",
                            quote(&sub.name)
                        ),
                    );
                    ok = false;
                }
                out.push(sub);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_one(
    ctx: &mut Ctx,
    value: &Value,
    at: &str,
    resources: Option<&BTreeSet<String>>,
) -> Option<Subscription> {
    let map = ctx.object(value, at)?;
    let extra = ctx.unknown_keys(map, at, Section::Subscription, &[]);
    let name = ctx
        .required(map, at, "name", None)
        .and_then(|v| read_name(ctx, v, &child(at, "name")));
    let url = ctx
        .required(map, at, "url", None)
        .and_then(|v| absolute_url(ctx, v, &child(at, "url"), true));
    let resources = match Ctx::present(map, "resources") {
        None => Some(None),
        Some(v) => read_resources(ctx, v, &child(at, "resources"), resources).map(Some),
    };
    let event_types = match Ctx::present(map, "eventTypes") {
        None => Some(None),
        Some(v) => read_event_types(ctx, v, &child(at, "eventTypes")).map(Some),
    };
    let filter = match Ctx::present(map, "where") {
        None => Some(None),
        Some(v) => read_where(ctx, v, &child(at, "where")).map(Some),
    };
    let signature_key = match Ctx::present(map, "signatureKey") {
        None => Some(None),
        Some(v) => ctx
            .secret(v, &child(at, "signatureKey"), "the signature key")
            .map(Some),
    };
    let standard_webhooks = match Ctx::present(map, "standardWebhooksSecret") {
        None => Some(None),
        Some(v) => standard_webhooks_secret(ctx, v, &child(at, "standardWebhooksSecret")).map(Some),
    };
    let max_in_flight = match Ctx::present(map, "maxInFlight") {
        None => Some(None),
        Some(v) => read_max_in_flight(ctx, v, &child(at, "maxInFlight")).map(Some),
    };
    let checkpoints = read_section_default(
        ctx,
        map,
        at,
        Section::Subscription,
        "checkpoints",
        |ctx, v, at| ctx.boolean(v, at),
    );
    Some(Subscription {
        checkpoints: checkpoints?,
        name: name?,
        url: url?,
        resources: resources?,
        event_types: event_types?,
        filter: filter?,
        signature_key: signature_key?,
        standard_webhooks_secret: standard_webhooks?,
        max_in_flight: max_in_flight?,
        extra,
    })
}

fn read_name(ctx: &mut Ctx, value: &Value, at: &str) -> Option<String> {
    let name = ctx.string(value, at, "a subscription name")?;
    let fine = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !fine {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!(
                "a subscription name is 1 to 64 of a-z, 0-9, `-` and `_`, found {}",
                quote(&name)
            ),
        );
        return None;
    }
    if name == CALLBACK_NAME {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!("`{CALLBACK_NAME}` names the Open Connectors callback; choose another name"),
        );
        return None;
    }
    Some(name)
}

fn read_resources(
    ctx: &mut Ctx,
    value: &Value,
    at: &str,
    known: Option<&BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    let items = string_list(ctx, value, at, "resource names")?;
    let mut ok = true;
    for (i, name) in items.iter().enumerate() {
        if let Some(known) = known {
            if !known.contains(name) {
                let list: Vec<&str> = known.iter().map(String::as_str).collect();
                ctx.error(
                    ProblemKind::Inconsistent,
                    &child(at, &i.to_string()),
                    format!(
                        "{} is not a resource of event.poller.configuration (it has: {})",
                        quote(name),
                        if list.is_empty() {
                            "none".to_owned()
                        } else {
                            list.join(", ")
                        }
                    ),
                );
                ok = false;
            }
        }
    }
    if items.is_empty() {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            "an empty list would send nothing: leave `resources` out for every resource",
        );
        return None;
    }
    ok.then(|| items.into_iter().collect())
}

fn read_event_types(ctx: &mut Ctx, value: &Value, at: &str) -> Option<BTreeSet<String>> {
    let items = string_list(ctx, value, at, "event types")?;
    let mut out = BTreeSet::new();
    let mut ok = true;
    for (i, text) in items.iter().enumerate() {
        let upper = text.trim().to_ascii_uppercase();
        if EVENT_TYPES.contains(&upper.as_str()) {
            out.insert(upper);
        } else {
            ctx.error(
                ProblemKind::InvalidValue,
                &child(at, &i.to_string()),
                format!(
                    "unknown event type {}: expected CREATED, UPDATED or DELETED",
                    quote(text)
                ),
            );
            ok = false;
        }
    }
    if ok && out.is_empty() {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            "an empty list would send nothing: leave `eventTypes` out for every type",
        );
        return None;
    }
    ok.then_some(out)
}

/// A list of strings: a JSON array, or one string of comma-separated items.
fn string_list(ctx: &mut Ctx, value: &Value, at: &str, what: &str) -> Option<Vec<String>> {
    match value {
        Value::String(text) => Some(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.trim().to_owned()),
                    other => {
                        ctx.error(
                            ProblemKind::WrongType,
                            &child(at, &i.to_string()),
                            format!("expected a string, found {}", describe(other)),
                        );
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }
        other => {
            ctx.error(
                ProblemKind::WrongType,
                at,
                format!("expected an array of {what}, found {}", describe(other)),
            );
            None
        }
    }
}

/// The `where` clause, parsed strictly: it is evaluated against records as it stands, so it
/// may not hold `${...}` placeholders.
fn read_where(ctx: &mut Ctx, value: &Value, at: &str) -> Option<Where> {
    let text = ctx.string(value, at, "a CEQL where clause")?;
    match Where::parse(&text, Mode::Strict) {
        Ok(parsed) => {
            if let Some(offset) = text.find("${") {
                ctx.push(
                    Problem::new(
                        Severity::Error,
                        ProblemKind::Where,
                        at,
                        "a subscription's where clause is evaluated on each record as written: \
                         it cannot hold a ${...} template",
                    )
                    .with_excerpt(caret_excerpt(&text, offset)),
                );
                return None;
            }
            Some(parsed)
        }
        Err(err) => {
            ctx.push(located(
                Severity::Error,
                ProblemKind::Where,
                at,
                &err,
                &text,
                err.offset(),
            ));
            None
        }
    }
}

fn read_max_in_flight(ctx: &mut Ctx, value: &Value, at: &str) -> Option<u32> {
    let n = ctx.number(value, at, "a whole number of requests")?;
    if n.fract() != 0.0 || !(1.0..=f64::from(MAX_IN_FLIGHT)).contains(&n) {
        ctx.error(
            ProblemKind::InvalidValue,
            at,
            format!(
                "maxInFlight is a whole number from 1 to {MAX_IN_FLIGHT}, found {}",
                crate::walk::number(n)
            ),
        );
        return None;
    }
    // In range and whole: the conversion is exact.
    Some(n as u32)
}
