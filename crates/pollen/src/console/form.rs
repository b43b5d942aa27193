//! The create-instance form: the seed's flow (credentials, country, callback, signature key,
//! refresh interval, a checkbox per pollable Sage resource), the exact instance JSON it posts,
//! and validation problems placed next to the field their JSON Pointer names.

use std::collections::HashMap;
use std::fmt::Write;

use pollen_config::Country;
use pollen_sage::HUB_RESOURCES;
use serde_json::{json, Map, Value};

use super::html::{csrf_field, esc};

/// How a form field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Url,
    Number,
    /// Never filled back in: a secret the browser must not get again.
    Secret,
    Country,
    Checkbox,
}

/// One input: its form name, label, help, the JSON Pointer it fills, and its kind.
#[derive(Debug)]
struct Field {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    pointer: &'static str,
    kind: Kind,
}

const fn field(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    pointer: &'static str,
    kind: Kind,
) -> Field {
    Field {
        name,
        label,
        help,
        pointer,
        kind,
    }
}

/// The resources fieldset's pointer.
const RESOURCES_POINTER: &str = "/configuration/event.poller.configuration";

/// The fields in the order shown, grouped by [`GROUPS`].
const FIELDS: &[Field] = &[
    field(
        "name",
        "Instance name",
        "How the instance is listed; unique per instance.",
        "/name",
        Kind::Text,
    ),
    field(
        "tags",
        "Tags",
        "Comma-separated, optional.",
        "/tags",
        Kind::Text,
    ),
    field(
        "api_key",
        "Client ID",
        "oauth.api.key: your Sage app's client id.",
        "/configuration/oauth.api.key",
        Kind::Text,
    ),
    field(
        "api_secret",
        "Client secret",
        "oauth.api.secret.",
        "/configuration/oauth.api.secret",
        Kind::Secret,
    ),
    field(
        "code",
        "Authorization grant code",
        "providerData.code, exchanged once for tokens.",
        "/providerData/code",
        Kind::Secret,
    ),
    field(
        "oauth_callback_url",
        "OAuth callback URL",
        "oauth.callback.url: the redirect URI of your Sage app.",
        "/configuration/oauth.callback.url",
        Kind::Url,
    ),
    field(
        "country",
        "Country",
        "Required for the v3 API.",
        "/configuration/country",
        Kind::Country,
    ),
    field(
        "signature_secret",
        "Signing secret",
        "signature.secret (v3 only; optional).",
        "/configuration/signature.secret",
        Kind::Secret,
    ),
    field(
        "subscription_key",
        "Subscription key",
        "apim.subscription.key (v3 only; optional).",
        "/configuration/apim.subscription.key",
        Kind::Secret,
    ),
    field(
        "business_id",
        "Business id",
        "sage.business.id: one of the ids GET /businesses lists for the user.",
        "/configuration/sage.business.id",
        Kind::Text,
    ),
    field(
        "events_enabled",
        "Events on",
        "event.notification.enabled: poll and deliver events.",
        "/configuration/event.notification.enabled",
        Kind::Checkbox,
    ),
    field(
        "callback_url",
        "Callback URL",
        "event.notification.callback.url: where notifications are POSTed.",
        "/configuration/event.notification.callback.url",
        Kind::Url,
    ),
    field(
        "signature_key",
        "Signature key",
        "event.notification.signature.key: signs every notification (Elements-Webhook-Signature).",
        "/configuration/event.notification.signature.key",
        Kind::Secret,
    ),
    field(
        "refresh_interval",
        "Refresh interval (minutes)",
        "event.poller.refresh_interval.",
        "/configuration/event.poller.refresh_interval",
        Kind::Number,
    ),
    field(
        "base_url",
        "Sage API base URL",
        "base.url: leave empty for Sage itself; set it to try pollen against the simulator.",
        "/configuration/base.url",
        Kind::Url,
    ),
    field(
        "token_url",
        "Sage token URL",
        "oauth.token.url: leave empty for Sage itself.",
        "/configuration/oauth.token.url",
        Kind::Url,
    ),
];

/// Legends and the fields of each fieldset.
const GROUPS: &[(&str, &[&str])] = &[
    ("Instance", &["name", "tags"]),
    (
        "Sage credentials",
        &[
            "api_key",
            "api_secret",
            "code",
            "oauth_callback_url",
            "country",
            "signature_secret",
            "subscription_key",
        ],
    ),
    (
        "Events",
        &[
            "events_enabled",
            "callback_url",
            "signature_key",
            "refresh_interval",
        ],
    ),
];
/// The business choices: form value, label, help.
const BUSINESS_MODES: &[(&str, &str, &str)] = &[
    (
        "choose",
        "Choose after authorization",
        "The instance is created paused; its grant code is exchanged and the user's businesses \
         are listed. With several, you pick one and polling starts; with one, it starts at once.",
    ),
    (
        "lead",
        "The user's lead business",
        "Sage's default: no sage.business.id, polling starts at once.",
    ),
    (
        "id",
        "This business id",
        "Polling starts at once with sage.business.id set to the id below.",
    ),
];

/// Shown in the "advanced" part.
const ADVANCED_FIELDS: &[&str] = &["base_url", "token_url"];

/// The submitted (or default) form.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewForm {
    values: HashMap<String, String>,
    resources: Vec<String>,
    /// `json` when the advanced editor's JSON is to be posted as it is.
    pub(crate) mode: String,
    /// The advanced editor's text.
    pub(crate) json: String,
}

impl NewForm {
    /// The seed's defaults: events on, every 15 minutes, `customers`.
    pub(crate) fn defaults() -> NewForm {
        let mut values = HashMap::new();
        values.insert("events_enabled".into(), "on".into());
        values.insert("refresh_interval".into(), "15".into());
        values.insert("country".into(), "us".into());
        values.insert("business_mode".into(), "choose".into());
        let mut form = NewForm {
            values,
            resources: vec!["customers".into()],
            mode: "form".into(),
            json: String::new(),
        };
        form.json = pretty(&form.instance_json());
        form
    }

    /// Reads the urlencoded pairs (repeated `resource` keys are the ticked resources).
    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> NewForm {
        let mut form = NewForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "resource" => form.resources.push(value.clone()),
                "mode" => form.mode.clone_from(value),
                "instance_json" => form.json.clone_from(value),
                _ => {
                    form.values.insert(key.clone(), value.clone());
                }
            }
        }
        form
    }

    fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", |v| v.trim())
    }

    /// Whether the business is to be chosen once the grant is exchanged (the default choice):
    /// then the instance is created paused.
    pub(crate) fn choose_business_later(&self) -> bool {
        self.mode != "json" && self.value("business_mode") == "choose"
    }

    /// The instance JSON these fields make: the seed's shape, one `event.poller.configuration`
    /// entry per ticked resource, empty optional fields left out.
    pub(crate) fn instance_json(&self) -> Value {
        let mut configuration = Map::new();
        let mut put = |key: &str, name: &str| {
            let value = self.value(name);
            if !value.is_empty() {
                configuration.insert(key.into(), Value::String(value.into()));
            }
        };
        put("oauth.api.key", "api_key");
        put("oauth.api.secret", "api_secret");
        put("signature.secret", "signature_secret");
        put("apim.subscription.key", "subscription_key");
        put("country", "country");
        put("oauth.callback.url", "oauth_callback_url");
        put("event.notification.callback.url", "callback_url");
        put("event.notification.signature.key", "signature_key");
        put("event.poller.refresh_interval", "refresh_interval");
        put("base.url", "base_url");
        put("oauth.token.url", "token_url");
        if self.value("business_mode") == "id" {
            put("sage.business.id", "business_id");
        }
        configuration.insert(
            "event.notification.enabled".into(),
            Value::Bool(!self.value("events_enabled").is_empty()),
        );
        let mut resources = Map::new();
        for resource in &self.resources {
            resources.insert(resource.clone(), poller_entry(resource));
        }
        configuration.insert(
            "event.poller.configuration".into(),
            Value::Object(resources),
        );
        let mut provider = Map::new();
        if !self.value("code").is_empty() {
            provider.insert("code".into(), Value::String(self.value("code").into()));
        }
        let tags: Vec<Value> = self
            .value("tags")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Value::String(t.into()))
            .collect();
        json!({
            "element": {"key": "sageone"},
            "providerData": provider,
            "configuration": configuration,
            "tags": tags,
            "name": self.value("name"),
        })
    }

    /// The same form with every secret field emptied: what may be shown again.
    pub(crate) fn without_secrets(&self) -> NewForm {
        let mut form = self.clone();
        for f in FIELDS.iter().filter(|f| f.kind == Kind::Secret) {
            form.values.remove(f.name);
        }
        form.json = pretty(&form.instance_json());
        form
    }
}

/// The JSON as the editor shows it.
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// One resource's poller entry: the seed's `customers` entry with the resource's name, as
/// the vendor's documentation says to do it.
pub(crate) fn poller_entry(resource: &str) -> Value {
    let format = "yyyy-MM-dd'T'HH:mm:ss'Z'";
    json!({
        "url": format!(
            "/hubs/finance/{resource}?where=lastModifiedDate>='${{date:{format}}}' and attributes='created_at,updated_at"
        ),
        "idField": "id",
        "datesConfiguration": {
            "updatedDateField": "updated_at",
            "updatedDateFormat": format,
            "updatedDateTimezone": "GMT",
            "createdDateField": "created_at",
            "createdDateFormat": format,
            "createdDateTimezone": "GMT",
        },
    })
}

/// A validation problem: where it is and what it says.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub(crate) pointer: String,
    pub(crate) message: String,
}

/// The field (form name) a pointer concerns: the longest field pointer that is a prefix of it
/// at a segment boundary; `resources` for the poller configuration.
fn field_for(pointer: &str) -> Option<&'static str> {
    let within = |prefix: &str| {
        pointer == prefix
            || pointer
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if within(RESOURCES_POINTER) {
        return Some("resources");
    }
    FIELDS
        .iter()
        .filter(|f| within(f.pointer))
        .max_by_key(|f| f.pointer.len())
        .map(|f| f.name)
}

fn field_named(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The create page's form. `problems` go next to their field (or, in JSON mode and when no
/// field matches, next to the JSON editor); `general` above the form.
pub(crate) fn render(
    form: &NewForm,
    csrf: &str,
    problems: &[Problem],
    general: Option<&str>,
    paste: bool,
) -> String {
    let json_mode = form.mode == "json";
    let mut by_field: HashMap<&str, Vec<&Problem>> = HashMap::new();
    let mut at_editor: Vec<&Problem> = Vec::new();
    for problem in problems {
        match field_for(&problem.pointer) {
            Some(name) if !json_mode => by_field.entry(name).or_default().push(problem),
            _ => at_editor.push(problem),
        }
    }
    let mut out = String::new();
    out.push_str("<h1>Create instance</h1>");
    if general.is_some() || !problems.is_empty() {
        out.push_str(
            "<div class=\"error-summary\" role=\"alert\" tabindex=\"-1\" id=\"error-summary\">\
             <h2>The instance was not created</h2><ul>",
        );
        if let Some(general) = general {
            let _ = write!(out, "<li>{}</li>", esc(general));
        }
        for problem in problems {
            let target = match field_for(&problem.pointer) {
                Some(name) if !json_mode => format!("#field-{name}"),
                _ => "#field-instance_json".to_owned(),
            };
            let _ = write!(
                out,
                "<li><a href=\"{}\"><code>{}</code></a>: {}</li>",
                esc(&target),
                esc(&problem.pointer),
                esc(&problem.message)
            );
        }
        out.push_str("</ul></div>");
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/console/new\" id=\"new-instance\" novalidate>{}",
        csrf_field(csrf)
    );
    for (legend, names) in GROUPS {
        let _ = write!(out, "<fieldset><legend>{}</legend>", esc(legend));
        for name in *names {
            if let Some(f) = field_named(name) {
                render_field(&mut out, f, form, by_field.get(name).map(Vec::as_slice));
            }
        }
        out.push_str("</fieldset>");
    }
    render_business(
        &mut out,
        form,
        by_field.get("business_id").map(Vec::as_slice),
    );
    render_resources(&mut out, form, by_field.get("resources").map(Vec::as_slice));
    let _ = write!(
        out,
        "<details class=\"advanced\"{}><summary>Advanced: endpoints and the instance JSON</summary>",
        if paste || json_mode || !at_editor.is_empty() {
            " open"
        } else {
            ""
        }
    );
    for name in ADVANCED_FIELDS {
        if let Some(f) = field_named(name) {
            render_field(&mut out, f, form, by_field.get(name).map(Vec::as_slice));
        }
    }
    let editor_errors: String = at_editor
        .iter()
        .map(|p| {
            format!(
                "<li><code>{}</code>: {}</li>",
                esc(&p.pointer),
                esc(&p.message)
            )
        })
        .collect();
    let described = if at_editor.is_empty() {
        "help-instance_json"
    } else {
        "help-instance_json error-instance_json"
    };
    let _ = write!(
        out,
        "<div class=\"field{}\"><label for=\"field-instance_json\">Instance JSON</label>\
         <p class=\"help\" id=\"help-instance_json\">Exactly what “Create instance” posts, kept in step with \
         the fields above. Edit it, or paste an instance JSON you already have, and use \
         “Create from this JSON”.</p>{}\
         <textarea id=\"field-instance_json\" name=\"instance_json\" rows=\"18\" spellcheck=\"false\" \
         aria-describedby=\"{described}\"{}>{}</textarea>\
         <button type=\"submit\" name=\"mode\" value=\"json\">Create from this JSON</button></div>",
        if at_editor.is_empty() { "" } else { " invalid" },
        if at_editor.is_empty() {
            String::new()
        } else {
            format!("<ul class=\"error\" id=\"error-instance_json\">{editor_errors}</ul>")
        },
        if at_editor.is_empty() {
            ""
        } else {
            " aria-invalid=\"true\""
        },
        esc(&form.json),
    );
    out.push_str(
        "</details><p class=\"actions\"><button type=\"submit\" name=\"mode\" value=\"form\" \
         class=\"primary\">Create instance</button></p></form>",
    );
    out
}

fn render_field(out: &mut String, f: &Field, form: &NewForm, problems: Option<&[&Problem]>) {
    let problems = problems.unwrap_or_default();
    let id = format!("field-{}", f.name);
    let error_id = format!("error-{}", f.name);
    let help_id = format!("help-{}", f.name);
    let described = if problems.is_empty() {
        help_id.clone()
    } else {
        format!("{help_id} {error_id}")
    };
    let invalid = if problems.is_empty() {
        ""
    } else {
        " aria-invalid=\"true\""
    };
    let errors = if problems.is_empty() {
        String::new()
    } else {
        let items: String = problems
            .iter()
            .map(|p| format!("<span>{}</span>", esc(&p.message)))
            .collect();
        format!("<p class=\"error\" id=\"{error_id}\">{items}</p>")
    };
    let class = if problems.is_empty() {
        "field"
    } else {
        "field invalid"
    };
    let help = format!("<p class=\"help\" id=\"{help_id}\">{}</p>", esc(f.help));
    let value = form.value(f.name);
    match f.kind {
        Kind::Checkbox => {
            let _ = write!(
                out,
                "<div class=\"{class} check\"><input type=\"checkbox\" id=\"{id}\" name=\"{}\" \
                 aria-describedby=\"{described}\"{invalid}{}><label for=\"{id}\">{}</label>{help}{errors}</div>",
                f.name,
                if value.is_empty() { "" } else { " checked" },
                esc(f.label)
            );
        }
        Kind::Country => {
            let mut options = format!(
                "<option value=\"\"{}>(not set)</option>",
                if value.is_empty() { " selected" } else { "" }
            );
            for country in Country::ALL {
                let code = country.code();
                let _ = write!(
                    options,
                    "<option value=\"{code}\"{}>{}</option>",
                    if value.eq_ignore_ascii_case(code) {
                        " selected"
                    } else {
                        ""
                    },
                    code.to_ascii_uppercase()
                );
            }
            let _ = write!(
                out,
                "<div class=\"{class}\"><label for=\"{id}\">{}</label>{help}{errors}\
                 <select id=\"{id}\" name=\"{}\" aria-describedby=\"{described}\"{invalid}>{options}</select></div>",
                esc(f.label),
                f.name
            );
        }
        Kind::Text | Kind::Url | Kind::Number | Kind::Secret => {
            let (input_type, extra) = match f.kind {
                Kind::Url => ("url", ""),
                Kind::Number => ("number", " min=\"1\" inputmode=\"numeric\""),
                Kind::Secret => ("password", " autocomplete=\"new-password\""),
                _ => ("text", ""),
            };
            let shown = if f.kind == Kind::Secret { "" } else { value };
            let _ = write!(
                out,
                "<div class=\"{class}\"><label for=\"{id}\">{}</label>{help}{errors}\
                 <input type=\"{input_type}\" id=\"{id}\" name=\"{}\" value=\"{}\" \
                 aria-describedby=\"{described}\"{invalid}{extra}></div>",
                esc(f.label),
                f.name,
                esc(shown)
            );
        }
    }
}

/// The business fieldset: the three choices, and the id field of the third.
fn render_business(out: &mut String, form: &NewForm, problems: Option<&[&Problem]>) {
    let current = match form.value("business_mode") {
        "" => "lead",
        other => other,
    };
    out.push_str(
        "<fieldset id=\"field-business_mode\" class=\"business\"><legend>Business</legend>\
         <p class=\"help\">A Sage user may reach several businesses; an instance polls one. \
         Once it has polled, its business cannot change.</p><ul class=\"choices\">",
    );
    for (value, label, help) in BUSINESS_MODES {
        let id = format!("business-{value}");
        let _ = write!(
            out,
            "<li><input type=\"radio\" name=\"business_mode\" value=\"{value}\" id=\"{id}\" \
             aria-describedby=\"help-{id}\"{checked}><label for=\"{id}\">{label}</label>\
             <p class=\"help\" id=\"help-{id}\">{help}</p></li>",
            checked = if current == *value { " checked" } else { "" },
            label = esc(label),
            help = esc(help),
        );
    }
    out.push_str("</ul>");
    if let Some(f) = field_named("business_id") {
        render_field(out, f, form, problems);
    }
    out.push_str("</fieldset>");
}

fn render_resources(out: &mut String, form: &NewForm, problems: Option<&[&Problem]>) {
    let problems = problems.unwrap_or_default();
    let _ = write!(
        out,
        "<fieldset id=\"field-resources\" class=\"resources{}\"{}><legend>Resources to poll</legend>\
         <p class=\"help\">Each ticked resource gets the seed's <code>event.poller.configuration</code> \
         entry: changes since the last poll by <code>updated_at</code>, CREATED within the \
         created-check tolerance of <code>created_at</code>. ✝ marks resources whose deletions Sage \
         cannot report.</p>",
        if problems.is_empty() { "" } else { " invalid" },
        if problems.is_empty() {
            ""
        } else {
            " aria-describedby=\"error-resources\""
        }
    );
    if !problems.is_empty() {
        let items: String = problems
            .iter()
            .map(|p| {
                format!(
                    "<span><code>{}</code>: {}</span>",
                    esc(&p.pointer),
                    esc(&p.message)
                )
            })
            .collect();
        let _ = write!(out, "<p class=\"error\" id=\"error-resources\">{items}</p>");
    }
    out.push_str("<ul class=\"checks\">");
    for resource in HUB_RESOURCES {
        let id = format!("resource-{}", resource.name);
        let _ = write!(
            out,
            "<li><input type=\"checkbox\" name=\"resource\" value=\"{name}\" id=\"{id}\"{checked}>\
             <label for=\"{id}\">{name}{mark}</label></li>",
            name = esc(resource.name),
            checked = if form.resources.iter().any(|r| r == resource.name) {
                " checked"
            } else {
                ""
            },
            mark = if resource.deleted_since { "" } else { " ✝" },
        );
    }
    // A resource the form names that the table does not (from a pasted JSON) stays visible.
    for other in form
        .resources
        .iter()
        .filter(|r| !HUB_RESOURCES.iter().any(|h| h.name == r.as_str()))
    {
        let id = format!("resource-other-{}", esc(other));
        let _ = write!(
            out,
            "<li><input type=\"checkbox\" name=\"resource\" value=\"{name}\" id=\"{id}\" checked>\
             <label for=\"{id}\">{name} (not a Sage hub resource)</label></li>",
            name = esc(other),
        );
    }
    out.push_str("</ul></fieldset>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_make_the_seeds_poller_configuration() {
        let form = NewForm::defaults();
        let seed: Value = serde_json::from_str(crate::demo::SEED_INSTANCE).unwrap();
        assert_eq!(
            form.instance_json()["configuration"]["event.poller.configuration"],
            seed["configuration"]["event.poller.configuration"]
        );
    }

    #[test]
    fn ticked_resources_and_fields_fill_the_json() {
        let pairs: Vec<(String, String)> = [
            ("name", "Acme"),
            ("tags", "a, b,"),
            ("api_secret", "s3cret"),
            ("resource", "invoices"),
            ("resource", "vendors"),
            ("refresh_interval", "5"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let form = NewForm::from_pairs(&pairs);
        let json = form.instance_json();
        assert_eq!(json["name"], "Acme");
        assert_eq!(json["tags"], json!(["a", "b"]));
        assert_eq!(json["configuration"]["event.notification.enabled"], false);
        let resources = json["configuration"]["event.poller.configuration"]
            .as_object()
            .unwrap();
        assert_eq!(
            resources.keys().collect::<Vec<_>>(),
            ["invoices", "vendors"]
        );
        assert!(resources["invoices"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/hubs/finance/invoices?"));
        // Shown again, the secret is gone.
        let shown = form.without_secrets();
        assert!(!shown.json.contains("s3cret"));
        let html = render(&shown, "t", &[], None, false);
        assert!(!html.contains("s3cret"));
    }

    #[test]
    fn the_business_choice_fills_the_json_only_for_an_id() {
        let pairs = |mode: &str| -> Vec<(String, String)> {
            [("business_mode", mode), ("business_id", "b2")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        for (mode, later, business) in [
            ("choose", true, None),
            ("lead", false, None),
            ("id", false, Some("b2")),
        ] {
            let form = NewForm::from_pairs(&pairs(mode));
            assert_eq!(form.choose_business_later(), later, "{mode}");
            let json = form.instance_json();
            assert_eq!(
                json["configuration"]["sage.business.id"].as_str(),
                business,
                "{mode}"
            );
        }
        let defaults = NewForm::defaults();
        assert!(defaults.choose_business_later());
        let html = render(&defaults, "t", &[], None, false);
        assert!(html.contains("value=\"choose\" id=\"business-choose\" aria-describedby=\"help-business-choose\" checked"));
        assert_eq!(
            field_for("/configuration/sage.business.id"),
            Some("business_id")
        );
    }

    #[test]
    fn problems_go_next_to_the_field_their_pointer_names() {
        assert_eq!(
            field_for("/configuration/event.notification.callback.url"),
            Some("callback_url")
        );
        assert_eq!(
            field_for("/configuration/event.poller.configuration/customers/url"),
            Some("resources")
        );
        assert_eq!(field_for("/configuration/oauth.api.keyx"), None);
        assert_eq!(field_for("/providerData/code"), Some("code"));
        let problem = Problem {
            pointer: "/configuration/event.poller.refresh_interval".into(),
            message: "must be <a number>".into(),
        };
        let html = render(&NewForm::defaults(), "t", &[problem], None, false);
        let field = html
            .split("<div class=\"field invalid\">")
            .nth(1)
            .expect("an invalid field");
        assert!(field.contains("id=\"field-refresh_interval\""), "{field}");
        assert!(field.contains("must be &lt;a number&gt;"));
    }
}
