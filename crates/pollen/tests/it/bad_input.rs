//! Bad instance JSONs through `pollen validate` and the management API, as data.
//!
//! Every `fixtures/bad/config/NAME.json` (broken JSON, wrong types, hostile templates, where
//! clauses, URLs and date formats, invalid UTF-8 ...) and every generated input below (10 MB
//! strings, 2 MB templates and where clauses, nesting 100,000 deep, 2,000 bad resources: too
//! large to commit) goes through both surfaces:
//!
//! - `pollen validate NAME.json`: exit code, stdout and stderr, compared with
//!   `NAME.validate.expected`;
//! - `POST /instances`, and `PUT` and `PATCH /instances/{id}` of an existing instance for
//!   inputs under 1 MB: status and JSON body of each, compared with `NAME.api.expected`;
//!   afterwards no instance was created and the existing one is unchanged.
//!
//! `UPDATE_FIXTURES=1` rewrites the expected files. Beyond the comparison, every case asserts
//! what must hold for any bad input: exit code 1 (never a crash), a 4xx (never a 5xx), an
//! answer within a deadline, output of bounded size, and no secret in it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pollen::api::{serve, ApiSecrets, ServeOptions, BASE_PATH};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const AUTH: &str = "User test-user, Organization test-org";

/// No answer, message or report may be longer than this, whatever the input's size.
const MAX_OUTPUT: usize = 64 * 1024;

/// A secret value used in the corpus: it must never be printed.
const SECRET: &str = "hunter2-do-not-print";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bad/config")
}

/// The seed instance, parsed.
fn seed() -> Value {
    serde_json::from_str(pollen::demo::SEED_INSTANCE).expect("the seed parses")
}

/// The seed with `url` as its only resource's hub URL.
fn seed_with_url(url: &str) -> Vec<u8> {
    let mut instance = seed();
    instance["configuration"]["event.poller.configuration"]["customers"]["url"] = json!(url);
    instance.to_string().into_bytes()
}

const TEN_MB: usize = 10 << 20;
const DEEP: usize = 100_000;

/// Inputs too large to commit, generated here: (name, bytes).
fn generated() -> Vec<(&'static str, Vec<u8>)> {
    let mut huge_key = seed();
    huge_key["element"]["key"] = json!("k".repeat(TEN_MB));
    let mut huge_secret = seed();
    huge_secret["configuration"]["oauth.api.secret"] = json!([SECRET.repeat(TEN_MB / 20)]);
    let mut huge_interval = seed();
    huge_interval["configuration"]["event.poller.refresh_interval"] = json!("9".repeat(TEN_MB));
    let mut deep_poller_string = seed();
    deep_poller_string["configuration"]["event.poller.configuration"] =
        json!(format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP)));
    let mut many_resources = seed();
    let resource =
        many_resources["configuration"]["event.poller.configuration"]["customers"].clone();
    let mut resources = serde_json::Map::new();
    for n in 0..2_000 {
        let mut bad = resource.clone();
        bad["url"] = json!(format!("/hubs/finance/customers?where=a{n} =="));
        resources.insert(format!("r{n:05}"), bad);
    }
    many_resources["configuration"]["event.poller.configuration"] = Value::Object(resources);
    vec![
        (
            "generated-huge-element-key",
            huge_key.to_string().into_bytes(),
        ),
        (
            "generated-huge-secret",
            huge_secret.to_string().into_bytes(),
        ),
        (
            "generated-huge-refresh-interval",
            huge_interval.to_string().into_bytes(),
        ),
        // Templates and where clauses of 2 MB, not 10: they go through several linear passes
        // (template, URL split, percent-decoding, CEQL), about 1 s per MB in a debug build.
        (
            "generated-huge-template",
            seed_with_url(&format!(
                "/hubs/finance/customers?where=lastModifiedDate>='${{date:{}",
                "y".repeat(2 << 20)
            )),
        ),
        (
            "generated-huge-where-clause",
            seed_with_url(&format!(
                "/hubs/finance/customers?where={} ==",
                "a".repeat(2 << 20)
            )),
        ),
        (
            "generated-deep-where-clause",
            seed_with_url(&format!(
                "/hubs/finance/customers?where={}a = 1{}",
                "(".repeat(DEEP),
                ")".repeat(DEEP)
            )),
        ),
        (
            "generated-deep-json-arrays",
            format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP)).into_bytes(),
        ),
        (
            "generated-deep-json-objects",
            format!("{}1{}", "{\"a\":".repeat(DEEP), "}".repeat(DEEP)).into_bytes(),
        ),
        (
            "generated-deep-poller-configuration-string",
            deep_poller_string.to_string().into_bytes(),
        ),
        (
            "generated-many-bad-resources",
            many_resources.to_string().into_bytes(),
        ),
    ]
}

/// Every case: the committed corpus, then the generated inputs.
fn cases() -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .expect("reading fixtures/bad/config")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 file name")
                .to_owned();
            (name, std::fs::read(&path).expect("reading a case"))
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "too few cases under fixtures/bad/config");
    cases.extend(
        generated()
            .into_iter()
            .map(|(name, bytes)| (name.to_owned(), bytes)),
    );
    cases
}

/// Compares `actual` with `fixtures/bad/config/{file}`, or writes it when `UPDATE_FIXTURES=1`.
fn check(file: &str, actual: &str) {
    assert!(
        actual.len() <= MAX_OUTPUT,
        "{file}: {} bytes of output, more than {MAX_OUTPUT}",
        actual.len()
    );
    assert!(!actual.contains(SECRET), "{file}: a secret was printed");
    let path = corpus_dir().join(file);
    if std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&path, actual).expect("writing expected");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (run `cargo xtask fixtures` to create it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{}", path.display());
}

/// `pollen validate NAME.json` in a directory holding only that file, within 60 s.
fn validate(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = format!("{name}.json");
    std::fs::write(dir.path().join(&file), bytes).expect("writing the input");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(["validate", &file])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting pollen");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        stderr.read_to_end(&mut text).map(|_| text)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for pollen") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pollen validate {file}: no answer within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().expect("stdout reader").expect("stdout");
    let stderr = err.join().expect("stderr reader").expect("stderr");
    assert_eq!(
        status.code(),
        Some(1),
        "pollen validate {file} must exit 1: {}",
        String::from_utf8_lossy(&stderr)
    );
    format!(
        "exit: 1\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr),
    )
}

#[test]
fn bad_instances_through_validate() {
    for (name, bytes) in cases() {
        let actual = validate(&name, &bytes);
        check(&format!("{name}.validate.expected"), &actual);
    }
}

/// A running `serve` on 127.0.0.1 over a SQLite store in a temporary directory.
struct Service {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<pollen::Result<()>>,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Service {
    async fn start() -> Service {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("pollen.db").display());
        let store = pollen::db::open_store(&url).await.expect("store");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut options = ServeOptions::new();
        // Large enough that the 10 MB inputs reach the validator.
        options.body_limit = 32 << 20;
        options.engine.allow_private_callbacks = true;
        options.engine.shutdown_grace = Duration::from_secs(2);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            store,
            ApiSecrets::new("test-user", "test-org"),
            options,
            async {
                let _ = stopped.await;
            },
        ));
        Service {
            base: format!("http://{addr}{BASE_PATH}"),
            stop: Some(stop),
            task,
            _dir: dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    /// Sends `body` as JSON; the status and the body (JSON when it parses).
    async fn send(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", AUTH)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", AUTH)
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("serve stops within 10 s")
            .expect("the serve task");
        result.expect("serve ends cleanly");
    }
}

/// A valid instance that makes no network call when registered: tokens instead of a code,
/// Sage and the callback on a closed local port, a long interval.
fn existing_instance() -> Value {
    json!({
        "element": {"key": "sageone"},
        "providerData": {"access_token": "access", "refresh_token": "refresh"},
        "configuration": {
            "oauth.api.key": "client-id",
            "oauth.api.secret": "client-secret",
            "base.url": "http://127.0.0.1:9/v3.1",
            "oauth.token.url": "http://127.0.0.1:9/token",
            "event.notification.enabled": true,
            "event.notification.callback.url": "http://127.0.0.1:9/events",
            "event.poller.refresh_interval": 600,
            "event.poller.configuration": {
                "customers": {"url": "/hubs/finance/customers"}
            }
        },
        "name": "existing"
    })
}

fn render(method: &str, status: u16, body: &Value) -> String {
    format!(
        "{method} -> {status}\n{}\n",
        serde_json::to_string_pretty(body).expect("JSON")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_instances_through_the_api() {
    let service = Service::start().await;
    let (status, created) = service
        .send(
            reqwest::Method::POST,
            "/instances",
            existing_instance().to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    let path = format!("/instances/{id}");
    let before = service.get(&path).await;

    for (name, bytes) in cases() {
        let (post_status, post) = service
            .send(reqwest::Method::POST, "/instances", bytes.clone())
            .await;
        // The PUT of an existing instance goes through the same validation: sent for the
        // smaller inputs only, to keep the test fast in a debug build.
        let put = if bytes.len() < 1 << 20 {
            let (status, body) = service
                .send(reqwest::Method::PUT, &path, bytes.clone())
                .await;
            assert!((400..500).contains(&status), "{name}: PUT {status}");
            let (patch_status, patch) = service.send(reqwest::Method::PATCH, &path, bytes).await;
            assert!(
                (400..500).contains(&patch_status),
                "{name}: PATCH {patch_status}"
            );
            Some(format!(
                "{}{}",
                render("PUT /instances/{id}", status, &body),
                render("PATCH /instances/{id}", patch_status, &patch)
            ))
        } else {
            None
        };
        assert!(
            (400..500).contains(&post_status),
            "{name}: POST {post_status}"
        );
        let listed = service.get("/instances").await;
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(1),
            "{name}: an instance was created: {listed}"
        );
        assert_eq!(
            service.get(&path).await,
            before,
            "{name}: the PUT changed it"
        );
        let actual = format!(
            "{}{}",
            render("POST /instances", post_status, &post),
            put.unwrap_or_default()
        );
        check(&format!("{name}.api.expected"), &actual);
    }
    service.stop().await;
}
