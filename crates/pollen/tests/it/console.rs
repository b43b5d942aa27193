//! The web console in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! its chromedriver. Signs in, creates an instance against the simulator by ticking resources,
//! watches events arrive live while the simulator changes records, re-delivers a failed
//! notification, sees a validation error next to its field, and has a form without its CSRF
//! token refused, and lists the alerts of failing polls. `UPDATE_SCREENSHOTS=1` saves each page under `docs/screenshots/`.
//!
//! chromedriver must be installed (`.ci/run` installs `chromium` and `chromium-driver`); the
//! test fails, naming the package, when it is not.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::TimeDelta;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pollen::api::{serve, ApiSecrets, ServeOptions};
use pollen::receiver::Receiver;
use pollen_sage_sim::{ApiVersion, Resource, SimConfig, Simulator};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const CODE: &str = "1c6ff4089d58d80e86482ab7d5b97f15dd7b041d";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// Everything the browser waits for happens within this.
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, and a headless Chromium session through it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        assert!(
            Path::new(&driver_path).exists(),
            "{driver_path} is missing: the console's browser tests need Debian's `chromium` and \
             `chromium-driver` (`apt-get install -y chromium chromium-driver`; .ci/run does it)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            // chromedriver is plain HTTP on 127.0.0.1: no TLS connector.
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(error) if tokio::time::Instant::now() > deadline => {
                    panic!("chromedriver did not start a Chromium session within 20 s: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigating");
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .text()
            .await
            .expect("its text")
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        field.clear().await.expect("clearing");
        field.send_keys(value).await.expect("typing");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("running `{script}`: {e}"))
    }

    /// Waits until `script` returns true, polling; panics naming `what` after [`WAIT`].
    async fn until(&self, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.script(script).await == Value::Bool(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let body = self.script("return document.body.innerText").await;
                panic!("waited {WAIT:?} for {what}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A PNG of the whole page (the window grown to its height, at most 2400 px); saved as
    /// `docs/screenshots/NAME.png` with `UPDATE_SCREENSHOTS=1`.
    async fn screenshot(&self, name: &str) {
        let size = self
            .script("return [window.outerWidth, window.outerHeight, window.innerHeight, document.documentElement.scrollHeight]")
            .await;
        let number = |i: usize| u32::try_from(size[i].as_u64().unwrap_or(0)).unwrap_or(0);
        let (width, height) = (number(0), number(1));
        let chrome = height.saturating_sub(number(2));
        let full = (number(3) + chrome).clamp(height, 2400);
        self.client
            .set_window_size(width, full)
            .await
            .expect("resizing");
        self.script(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); return true",
        )
        .await;
        let png = self.client.screenshot().await.expect("a screenshot");
        self.client
            .set_window_size(width, height)
            .await
            .expect("resizing back");
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            let dir = screenshots_dir();
            std::fs::create_dir_all(&dir).expect("docs/screenshots");
            std::fs::write(dir.join(format!("{name}.png")), png).expect("writing the screenshot");
        }
    }

    /// Ends the browser session (Chromium exits); dropping stops chromedriver.
    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// A failed test does not leave chromedriver running.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// `pollen serve` in-process over a temporary SQLite store.
async fn start_service() -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<pollen::Result<()>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("pollen.db").display());
    let store = pollen::db::open_store(&url).await.expect("store");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut options = ServeOptions::new();
    options.engine.allow_private_callbacks = true;
    options.engine.refresh_interval = Some(TimeDelta::seconds(1));
    options.engine.first_poll_within = Some(TimeDelta::seconds(1));
    options.engine.delivery_interval = Duration::from_millis(200);
    options.engine.shutdown_grace = Duration::from_secs(5);
    options.engine.alerts.after_failures = 2;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        store,
        ApiSecrets::new("console-user", "console-org"),
        options,
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop, task, dir)
}

/// JavaScript: the id of a notification in the events table refused exactly twice (its next
/// retry is at least 12.8 s away, so it is still failing when the test clicks), or null.
const TWICE_REFUSED: &str =
    "(() => { for (const row of document.querySelectorAll('#events tr')) { \
     const cells = [...row.cells].map(c => c.innerText.trim()); \
     const input = row.querySelector('form input[name=id]'); \
     if (input && cells.includes('2 (401, 401)')) return input.value; } return null; })()";

/// A JavaScript string literal.
fn js(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 3,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    sim.add_authorization_code(CODE, ApiVersion::V31);
    // The first callback answers 401 to everything (it expects another key): deliveries fail.
    let (refusing, _refused) = Receiver::start(b"not-the-instance-key")
        .await
        .expect("receiver");
    let (receiver, mut events) = Receiver::start(b"console-test-key")
        .await
        .expect("receiver");
    let (addr, stop, task, _dir) = start_service().await;
    let base = format!("http://{addr}/console");
    let browser = Browser::start().await;

    // Signed out, every page leads to the sign-in form; wrong secrets are refused.
    browser.goto(&format!("{base}/")).await;
    browser
        .until(
            "the sign-in page",
            "return location.pathname === '/console/login'",
        )
        .await;
    browser.screenshot("sign-in").await;
    browser.fill("#user", "console-user").await;
    browser.fill("#organization", "wrong").await;
    browser.click("form.narrow button[type=submit]").await;
    browser
        .until(
            "the wrong-secret message",
            "return !!document.getElementById('login-error')",
        )
        .await;
    // The skip link is the first stop of the keyboard.
    browser
        .client
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .send_keys("\u{E004}")
        .await
        .expect("Tab");
    assert_eq!(
        browser
            .script("return document.activeElement.className")
            .await,
        json!("skip")
    );
    browser.fill("#user", "console-user").await;
    browser.fill("#organization", "console-org").await;
    browser.click("form.narrow button[type=submit]").await;
    browser.until("the instance list", "return location.pathname === '/console/' && document.querySelector('h1').textContent === 'Instances'").await;
    let cookie = browser
        .client
        .get_named_cookie("pollen_session")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );

    // Workers: this process, alive, its heartbeat fresh, marked as the one answering.
    browser.click("nav a[href='/console/workers']").await;
    browser
        .until(
            "the workers page",
            "return document.querySelector('h1').textContent === 'Workers' \
             && [...document.querySelectorAll('table.workers tbody tr')].some(r => \
               r.innerText.includes('(this one)') && r.innerText.includes('alive') \
               && r.innerText.includes(' s (ttl 30 s)'))",
        )
        .await;
    let rows = browser
        .script("return document.querySelectorAll('table.workers tbody tr').length")
        .await;
    assert_eq!(rows, 1, "one worker serves this database");
    let budgets = browser
        .script("return [...document.querySelectorAll('h2')].some(h => h.textContent === 'Sage rate budgets')")
        .await;
    assert_eq!(budgets, true, "the workers page shows the rate budgets");

    // Create: the seed's flow, resources ticked; first with a bad callback URL.
    browser.click("nav a[href='/console/new']").await;
    browser
        .until(
            "the create form",
            "return !!document.getElementById('new-instance')",
        )
        .await;
    browser.fill("#field-name", "Browser test").await;
    browser.fill("#field-tags", "e2e, console").await;
    browser.fill("#field-api_key", "client-id").await;
    browser.fill("#field-api_secret", "client-secret").await;
    browser.fill("#field-code", CODE).await;
    browser
        .fill("#field-oauth_callback_url", "https://mycoolapp.com")
        .await;
    browser.fill("#field-callback_url", "not a url").await;
    browser
        .fill("#field-signature_key", "console-test-key")
        .await;
    browser.fill("#field-refresh_interval", "1").await;
    browser.click("#resource-vendors").await;
    browser.click("details.advanced summary").await;
    browser
        .fill("#field-base_url", &sim.handle().v31_base_url())
        .await;
    browser
        .fill("#field-token_url", &sim.handle().token_url())
        .await;
    // The advanced editor shows the exact JSON, kept in step by the page's script.
    browser
        .until(
            "the JSON preview with both resources",
            "const j = JSON.parse(document.getElementById('field-instance_json').value); \
             const r = j.configuration['event.poller.configuration']; \
             return !!(r && r.customers && r.vendors && j.name === 'Browser test')",
        )
        .await;
    let preview: Value = serde_json::from_str(
        browser
            .script("return document.getElementById('field-instance_json').value")
            .await
            .as_str()
            .expect("text"),
    )
    .expect("the preview is JSON");
    assert_eq!(
        preview["configuration"]["event.poller.refresh_interval"],
        "1"
    );
    assert_eq!(preview["tags"], json!(["e2e", "console"]));
    assert!(
        preview["configuration"]["event.poller.configuration"]["vendors"]["url"]
            .as_str()
            .expect("a url")
            .starts_with("/hubs/finance/vendors?where=")
    );
    browser.screenshot("create-instance").await;
    browser.click("button[name=mode][value=form]").await;
    browser
        .until(
            "the refused form",
            "return !!document.getElementById('error-summary')",
        )
        .await;
    // The problem is next to the callback URL field, and only there among the fields.
    let error = browser.text("#error-callback_url").await;
    assert!(!error.is_empty(), "no message next to the callback URL");
    assert_eq!(
        browser
            .script(
                "return document.getElementById('field-callback_url').getAttribute('aria-invalid')"
            )
            .await,
        json!("true")
    );
    assert_eq!(
        browser
            .script("return document.querySelectorAll('.field.invalid').length")
            .await,
        json!(1)
    );
    // Saved or not, secrets are not sent back.
    let source = browser.client.source().await.expect("source");
    assert!(
        !source.contains("client-secret")
            && !source.contains(CODE)
            && !source.contains("console-test-key")
    );
    browser.screenshot("create-instance-error").await;

    // Fixed (the callback refuses deliveries, for now), secrets typed again, created.
    browser.fill("#field-callback_url", &refusing.url()).await;
    browser.fill("#field-api_secret", "client-secret").await;
    browser.fill("#field-code", CODE).await;
    browser
        .fill("#field-signature_key", "console-test-key")
        .await;
    browser.click("button[name=mode][value=form]").await;
    browser
        .until(
            "the instance page",
            "return location.pathname.startsWith('/console/instances/')",
        )
        .await;
    let path = browser.script("return location.pathname").await;
    let instance_id = path
        .as_str()
        .expect("a path")
        .rsplit('/')
        .next()
        .expect("an id")
        .to_owned();
    assert!(browser.text(".flash").await.contains("created"));
    let source = browser.client.source().await.expect("source");
    assert!(
        !source.contains("client-secret") && !source.contains("console-test-key"),
        "a saved secret was shown"
    );

    // Changes in the simulator appear on the open page without a reload.
    browser
        .script("window.notReloaded = true; return true")
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut created = Vec::new();
    for n in 0..3 {
        let record = sim
            .create(
                Resource::Contacts,
                &json!({"contact_types": [{"id": "CUSTOMER"}], "name": format!("Browser {n}")}),
            )
            .expect("a customer");
        created.push(record.id().to_owned());
    }
    let vendor = sim
        .create(
            Resource::Contacts,
            &json!({"contact_types": [{"id": "VENDOR"}], "name": "Browser vendor"}),
        )
        .expect("a vendor");
    for id in created.iter().chain([&vendor.id().to_owned()]) {
        browser
            .until(
                &format!("an event for {id}"),
                &format!(
                    "return document.getElementById('events').innerText.includes({})",
                    js(id)
                ),
            )
            .await;
    }
    // A deletion arrives as DELETED.
    sim.delete(Resource::Contacts, &created[0])
        .expect("deleting a customer");
    browser
        .until(
            "the DELETED event",
            "return document.getElementById('events').innerText.includes('DELETED')",
        )
        .await;
    assert_eq!(
        browser.script("return window.notReloaded === true").await,
        json!(true),
        "the page reloaded"
    );
    let events_text = browser.text("#events").await;
    assert!(
        events_text.contains("CREATED") && events_text.contains("vendors"),
        "{events_text}"
    );
    // Every delivery fails (401): after two attempts the next retry is at least 12 s away.
    browser
        .until(
            "a notification refused twice",
            &format!("return {TWICE_REFUSED} !== null"),
        )
        .await;
    browser
        .until(
            "failing deliveries in the status",
            "return document.querySelector('#status .health dd.bad') !== null",
        )
        .await;
    // The chart follows live too.
    browser
        .until(
            "the live chart",
            "return document.getElementById('chart').innerText.includes('DELETED 1')",
        )
        .await;
    browser.screenshot("instance").await;

    // Point the callback at the right receiver, then re-deliver one failed notification.
    browser.fill("#callback_url", &receiver.url()).await;
    browser.click("form.inline-form button[type=submit]").await;
    browser.until("the saved callback", "return (document.querySelector('.flash') || {}).textContent === 'Callback URL saved; the next delivery uses it.'").await;
    let target = browser
        .script(&format!("return {TWICE_REFUSED}"))
        .await
        .as_str()
        .expect("a failing notification")
        .to_owned();
    browser
        .click(&format!(
            "#events form button[aria-label='Redeliver notification {target}']"
        ))
        .await;
    browser.until("the requeue message", "return ((document.querySelector('.flash') || {}).textContent || '').includes('1 notification requeued')").await;
    let event = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let event = events.recv().await.expect("the receiver runs");
            if event.notification_id == target {
                return event;
            }
        }
    })
    .await
    .expect("the re-delivered notification within 15 s");
    assert!(event.signature_valid);

    // Rewinding a resource past its watermark is refused with the rule's reason.
    browser.fill("#rewind_to", "2999-01-01T00:00:00Z").await;
    browser.click("form.rewind button[type=submit]").await;
    browser
        .until(
            "the refused rewind",
            "return document.body.innerText.includes('would skip changes')",
        )
        .await;
    // Back to a minute ago: rewound, the flash says so.
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    let minute_ago = (chrono::Utc::now() - chrono::TimeDelta::minutes(1)).to_rfc3339();
    browser.fill("#rewind_to", &minute_ago).await;
    browser.click("form.rewind button[type=submit]").await;
    browser
        .until(
            "the rewind",
            "return ((document.querySelector('.flash') || {}).textContent || '').includes('rewound to')",
        )
        .await;

    // Replay everything the instance wrote: the preview counts it, the start re-sends each
    // notification (now to the right receiver) with its id, the table shows it done.
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    browser.fill("#replay_since", "2000-01-01T00:00:00Z").await;
    browser.click("form.replay button[type=submit]").await;
    browser
        .until(
            "the replay preview",
            "return document.getElementById('replay-preview') !== null",
        )
        .await;
    let count: usize = browser
        .text("#replay-preview strong")
        .await
        .trim()
        .parse()
        .expect("a count");
    assert!(count >= 3, "customers, vendors and a deletion: {count}");
    browser.screenshot("replay-preview").await;
    while events.try_recv().is_ok() {}
    browser.click("button.primary").await;
    browser
        .until(
            "the started replay",
            "return ((document.querySelector('.flash') || {}).textContent || '').startsWith('Replay ')",
        )
        .await;
    let mut replayed = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while replayed.len() < count {
            let event = events.recv().await.expect("the receiver runs");
            assert!(event.signature_valid);
            replayed.insert(event.notification_id);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} of {count} notifications replayed in 20 s",
            replayed.len()
        )
    });
    browser
        .until(
            "the finished replay",
            "return document.querySelector('#replays .badge.ok') !== null",
        )
        .await;
    let table = browser.text("#replays").await;
    assert!(table.contains(&format!("{count} of {count}")), "{table}");

    // A second subscription, CREATED only, signed with its own key: added in the form, listed
    // with its filters in its own row.
    let (second, second_events) = Receiver::start(b"second-key").await.expect("receiver");
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    browser.fill("#sub_name", "second").await;
    browser.fill("#sub_url", &second.url()).await;
    browser
        .click("form.subscription input[name=event_type][value=CREATED]")
        .await;
    browser.fill("#sub_key", "second-key").await;
    browser.click("form.subscription button[type=submit]").await;
    browser
        .until(
            "the saved subscription",
            "return ((document.querySelector('.flash') || {}).textContent || '').includes('Subscription second saved')",
        )
        .await;
    let lane_row = "#subscriptions tr[data-lane$='/second']";
    assert!(
        browser.text(lane_row).await.contains("CREATED"),
        "{}",
        browser.text("#subscriptions").await
    );
    // Delivery to it is covered by `subscriptions::two_subscriptions_with_different_filters_each_get_only_their_events`.
    drop((second, second_events));
    browser.screenshot("subscriptions").await;
    while events.try_recv().is_ok() {}

    // The notification's page: body, headers, attempts with their response codes.
    browser
        .goto(&format!("{base}/notifications/{target}"))
        .await;
    browser
        .until("the delivered notification", "return document.body.innerText.includes('delivered') && document.body.innerText.includes('200')")
        .await;
    let page = browser.text("main").await;
    assert!(
        page.contains("401") && page.contains("elements-webhook-id"),
        "{page}"
    );
    assert!(
        page.contains("\"objectType\": \"customers\"")
            || page.contains("\"objectType\": \"vendors\""),
        "the body: {page}"
    );
    browser.screenshot("notification").await;

    // The list, with both charts, while deliveries go on.
    browser.goto(&format!("{base}/")).await;
    browser
        .until(
            "the list",
            "return document.body.innerText.includes('Browser test')",
        )
        .await;
    let chart = browser.text("#chart").await;
    assert!(
        chart.contains("Events per minute") && chart.contains("Delivery latency"),
        "{chart}"
    );
    browser.screenshot("instances").await;

    // A pasted instance JSON: its problems are listed at the editor with their pointers.
    browser.goto(&format!("{base}/new?paste=1")).await;
    let mut pasted: Value =
        serde_json::from_str(pollen::demo::SEED_INSTANCE).expect("the seed instance");
    pasted["configuration"]["event.poller.refresh_interval"] = json!("soon");
    browser
        .fill("#field-instance_json", &pasted.to_string())
        .await;
    browser.click("button[name=mode][value=json]").await;
    browser
        .until(
            "the pasted JSON's problem",
            "return !!document.getElementById('error-instance_json')",
        )
        .await;
    let problem = browser.text("#error-instance_json").await;
    assert!(
        problem.contains("/configuration/event.poller.refresh_interval"),
        "{problem}"
    );

    // A form without its CSRF token is refused and changes nothing.
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    browser
        .script("document.querySelector('form[action$=\"/pause\"] input[name=csrf]').remove(); return true")
        .await;
    browser.click("form[action$='/pause'] button").await;
    browser
        .until(
            "the refusal",
            "return document.querySelector('h1').textContent === 'Form refused'",
        )
        .await;
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    assert!(
        browser
            .client
            .find(Locator::Css("form[action$='/pause']"))
            .await
            .is_ok(),
        "the instance was paused without a CSRF token"
    );
    // With it, pausing works.
    browser.click("form[action$='/pause'] button").await;
    browser
        .until(
            "the paused instance",
            "return (document.querySelector('.flash') || {}).textContent === 'Polling paused.'",
        )
        .await;

    // At phone width, without sideways scrolling.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("phone width");
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    assert_eq!(
        browser
            .script("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "the page scrolls sideways at phone width"
    );
    browser.screenshot("instance-phone").await;
    browser
        .client
        .set_window_size(1280, 1000)
        .await
        .expect("desktop width");

    // Rotating the signing key: the generated key is shown once, the old one signs on until
    // the grace period ends, or until "Stop it now".
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    browser.click("form.rotate button[type=submit]").await;
    browser
        .until(
            "the generated key",
            "return document.getElementById('generated-key') !== null",
        )
        .await;
    let generated = browser.text("#generated-key").await;
    assert_eq!(generated.trim().len(), 64, "{generated}");
    assert!(browser.text("#rotated").await.contains("signs too until"));
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    let source = browser.client.source().await.expect("source");
    assert!(
        !source.contains(generated.trim()),
        "a saved key was shown again"
    );
    assert!(
        browser
            .text("dl.keys")
            .await
            .contains("the replaced key signs too until"),
        "{}",
        browser.text("dl.keys").await
    );
    browser.click("form[action$='/keys/drop'] button").await;
    browser
        .until(
            "the dropped key",
            "return ((document.querySelector('.flash') || {}).textContent || '').includes('no longer sign')",
        )
        .await;
    assert!(!browser.text("dl.keys").await.contains("signs too until"));

    // Delete, with its confirmation; then sign out.
    // Alerts: the instance resumed, every Sage call fails, so its polls fail in a row; the
    // bell counts the open alerts and the alerts page lists them.
    browser
        .goto(&format!("{base}/instances/{instance_id}"))
        .await;
    browser.click("form[action$='/resume'] button").await;
    browser
        .until(
            "the resumed instance",
            "return !document.querySelector(\"form[action$='/resume']\")",
        )
        .await;
    sim.inject(
        pollen_sage_sim::Fault::probability(
            pollen_sage_sim::FaultKind::ServiceUnavailable,
            1.0,
            11,
        )
        .on_path_prefix("/v3.1/"),
    )
    .expect("a fault");
    browser.goto(&format!("{base}/alerts")).await;
    let mut listed = false;
    for _ in 0..60 {
        let found = browser
            .script(
                "return [...document.querySelectorAll('table.alerts tbody tr.open')]\
                 .some(r => r.innerText.includes('polls_failing'))",
            )
            .await;
        if found == true {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.goto(&format!("{base}/alerts")).await;
    }
    assert!(listed, "no open polls_failing alert listed within 30 s");
    let bell = browser.text("a.bell .count").await;
    assert!(
        bell.trim().parse::<u64>().unwrap_or(0) >= 1,
        "the bell: {bell}"
    );
    browser.screenshot("alerts").await;
    sim.clear_faults();

    browser
        .goto(&format!("{base}/instances/{instance_id}/delete"))
        .await;
    browser.click("button.danger").await;
    browser
        .until(
            "the deletion",
            "return ((document.querySelector('.flash') || {}).textContent || '').includes('deleted')",
        )
        .await;
    browser.click("form.signout button").await;
    browser
        .until(
            "the sign-in page",
            "return location.pathname === '/console/login'",
        )
        .await;
    browser.goto(&format!("{base}/")).await;
    browser
        .until(
            "signed out",
            "return location.pathname === '/console/login'",
        )
        .await;

    browser.close().await;

    // Every console response carries the CSP; a sign-in without its token is refused.
    let client = reqwest::Client::new();
    let login = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("the sign-in page");
    let csp = login
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let cookie = |response: &reqwest::Response| {
        response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        cookie(&login).contains("HttpOnly; SameSite=Strict") && !cookie(&login).contains("Secure"),
        "{}",
        cookie(&login)
    );
    let behind_tls = client
        .get(format!("{base}/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("the sign-in page");
    assert!(
        cookie(&behind_tls).ends_with("; Secure"),
        "{}",
        cookie(&behind_tls)
    );
    let forged = client
        .post(format!("{base}/login"))
        .form(&[("user", "console-user"), ("organization", "console-org")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(forged.status().as_u16(), 403);
    assert!(
        forged.headers().get("set-cookie").is_none(),
        "a session without a token"
    );

    // Signed in without a browser, a live stream stays open until the server stops.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let form = plain
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("the sign-in page");
    let login_cookie = cookie(&form);
    let login_cookie = login_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let html = form.text().await.expect("the form");
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's token")
        .to_owned();
    let signed_in = plain
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("user", "console-user"),
            ("organization", "console-org"),
        ])
        .send()
        .await
        .expect("signing in");
    assert_eq!(signed_in.status().as_u16(), 303);
    let session = cookie(&signed_in);
    let session = session.split(';').next().unwrap_or_default().to_owned();
    assert!(session.starts_with("pollen_session="), "{session}");
    let live = plain
        .get(format!("{base}/live"))
        .header("cookie", &session)
        .send()
        .await
        .expect("the live stream");
    assert_eq!(live.status().as_u16(), 200);
    assert_eq!(
        live.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );

    let _ = stop.send(());
    // The stream ends (the body completes) rather than holding the server open.
    tokio::time::timeout(Duration::from_secs(15), live.bytes())
        .await
        .expect("the live stream ends within 15 s of the stop")
        .expect("a clean end");
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("serve stops within 15 s (live streams end)")
        .expect("the serve task")
        .expect("serve ends cleanly");
    receiver.shutdown().await;
    refusing.shutdown().await;
}

/// The create form's default business choice against a user with two businesses: the
/// instance is created paused, the picker lists both, picking the second starts polling it
/// (and only it), and once it has polled its business cannot be chosen again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choosing_the_business_after_authorization_in_a_real_browser() {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 3,
            businesses: 2,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    sim.add_authorization_code(CODE, ApiVersion::V31);
    let lead = sim.lead_business();
    let second = sim.businesses()[1].clone();
    let (receiver, _events) = Receiver::start(b"business-test-key")
        .await
        .expect("receiver");
    let (addr, stop, task, _dir) = start_service().await;
    let base = format!("http://{addr}/console");
    let browser = Browser::start().await;

    browser.goto(&format!("{base}/login")).await;
    browser.fill("#user", "console-user").await;
    browser.fill("#organization", "console-org").await;
    browser.click("form.narrow button[type=submit]").await;
    browser
        .until("signed in", "return location.pathname === '/console/'")
        .await;

    browser.goto(&format!("{base}/new")).await;
    // "Choose after authorization" is the default.
    assert_eq!(
        browser
            .script("return document.getElementById('business-choose').checked")
            .await,
        json!(true)
    );
    browser.fill("#field-name", "Two businesses").await;
    browser.fill("#field-api_key", "client-id").await;
    browser.fill("#field-api_secret", "client-secret").await;
    browser.fill("#field-code", CODE).await;
    browser
        .fill("#field-oauth_callback_url", "https://mycoolapp.com")
        .await;
    browser.fill("#field-callback_url", &receiver.url()).await;
    browser
        .fill("#field-signature_key", "business-test-key")
        .await;
    browser.fill("#field-refresh_interval", "1").await;
    browser.click("details.advanced summary").await;
    browser
        .fill("#field-base_url", &sim.handle().v31_base_url())
        .await;
    browser
        .fill("#field-token_url", &sim.handle().token_url())
        .await;
    browser.click("button[name=mode][value=form]").await;
    browser
        .until(
            "the business picker",
            "return location.pathname.endsWith('/business') && !!document.getElementById('choose-business')",
        )
        .await;
    assert!(
        browser.text(".flash").await.contains("2 businesses"),
        "{}",
        browser.text(".flash").await
    );
    let page = browser.text("main").await;
    assert!(
        page.contains(lead.name()) && page.contains(second.name()) && page.contains("paused"),
        "{page}"
    );
    assert_eq!(
        browser
            .script("return document.querySelector('input[name=business]:checked').value")
            .await,
        json!(lead.id()),
        "the lead business is preselected"
    );
    browser.screenshot("choose-business").await;
    let path = browser
        .script("return location.pathname")
        .await
        .as_str()
        .expect("a path")
        .to_owned();
    let instance_path = path.trim_end_matches("/business").to_owned();

    // Nothing is polled while the choice is pending.
    assert_eq!(sim.request_counts().get("GET /v3.1/contacts", 200), 0);
    browser.click("#business-1").await;
    browser.click("#choose-business button[type=submit]").await;
    browser
        .until(
            "the instance page",
            &format!("return location.pathname === {}", js(&instance_path)),
        )
        .await;
    assert_eq!(
        browser.text(".flash").await,
        format!("Polling business “{}”.", second.name())
    );
    assert_eq!(
        browser.text("#business").await,
        format!("business {}", second.id())
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let customer = json!({"contact_types": [{"id": "CUSTOMER"}], "name": "Picked"});
    let theirs = lead.create(Resource::Contacts, &customer).expect("lead");
    let ours = second
        .create(Resource::Contacts, &customer)
        .expect("second");
    browser
        .until(
            "the second business's customer",
            &format!(
                "return document.getElementById('events').innerText.includes({})",
                js(ours.id())
            ),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = browser.text("#events").await;
    assert!(
        !events.contains(theirs.id()),
        "the lead business was polled: {events}"
    );

    // Polled now: no more choosing.
    browser.goto(&format!("http://{addr}{instance_path}")).await;
    assert!(
        browser
            .client
            .find(Locator::Css(&format!("a[href='{instance_path}/business']")))
            .await
            .is_err(),
        "the choose link is still offered"
    );
    browser
        .goto(&format!("http://{addr}{instance_path}/business"))
        .await;
    let refusal = browser.text("main").await;
    assert!(
        refusal.contains(&format!(
            "This instance has already polled business {}",
            second.id()
        )),
        "{refusal}"
    );

    browser.close().await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("serve stops within 15 s")
        .expect("the serve task")
        .expect("serve ends cleanly");
    receiver.shutdown().await;
}
