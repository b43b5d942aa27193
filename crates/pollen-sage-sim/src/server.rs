//! Starting and stopping the simulator, its shared state and the Rust control API.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::Router;
use chrono::{DateTime, Utc};
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::activity::{ActivityConfig, ActivityTask};
use crate::auth::{ApiVersion, Auth, TokenSet};
use crate::businesses::{BusinessData, SimBusiness, MAX_BUSINESSES};
use crate::clock::{Clock, ClockMode};
use crate::counters::{endpoint_key, Counters, RequestCounts};
use crate::error::{SimError, SimErrorKind};
use crate::faults::{Fault, FaultKind, Faults};
use crate::limits::{Admission, BusinessCalls, Limits};
use crate::requests::{LoggedRequest, Pending, RequestLog};
use crate::resource::Resource;
use crate::store::{Change, Record, RecordOrder};

/// How a simulator starts.
///
/// Build it with `SimConfig::default()` and change the fields you need. `Debug` redacts the
/// signing secret, the subscription key and the client secret.
#[derive(Clone)]
pub struct SimConfig {
    /// Seed of the deterministic records (default 1).
    pub seed: u64,
    /// Records seeded per resource (default 100).
    pub records: usize,
    /// Seeded records are created and updated in the 90 days before this instant (default
    /// `2025-01-01T00:00:00Z`), so the same seed and count give the same records on every run
    /// whatever the clock says.
    pub seed_epoch: DateTime<Utc>,
    /// Access token lifetime on the simulator's clock (default 300 s, like Sage).
    pub token_lifetime: Duration,
    /// The clock at start (default real time).
    pub clock: ClockMode,
    /// Check `X-Signature` on v3 requests (default off: Sage stopped checking in 2017).
    pub verify_signatures: bool,
    /// The v3 signing secret clients sign with (default `sim-signing-secret`).
    pub signing_secret: String,
    /// The `Ocp-Apim-Subscription-Key` v3 requests must carry; `None` accepts any non-empty
    /// value (default).
    pub subscription_key: Option<String>,
    /// The OAuth client id the token endpoint requires; `None` accepts any (default).
    pub client_id: Option<String>,
    /// The OAuth client secret the token endpoint requires; `None` accepts any (default).
    pub client_secret: Option<String>,
    /// Where an update leaves a record in list order (default [`RecordOrder::Insertion`]).
    pub order: RecordOrder,
    /// API requests the request log keeps, the newest (default 10,000; 0 turns it off).
    pub request_log_capacity: usize,
    /// How many businesses the authorized user has (default 1, at most 100). Each has its own
    /// records: the lead business (the first, `resource_owner_id`) is seeded with `seed`, the
    /// others with seeds derived from it. Requests pick one with `X-Business` (v3.1) or
    /// `X-Site` (v3); without the header they go to the lead business.
    pub businesses: usize,
    /// At most this many API calls per business in any trailing 60 seconds of real time
    /// (default `None`: unlimited; Sage v3 allows 200). A call over it is answered 429 with
    /// `Retry-After` (whole seconds until enough counted calls have left the window) and is not
    /// counted as a call. Counted are the requests under `/v3.1` and the v3 accounts and core
    /// APIs, for the business `X-Business` / `X-Site` names (the lead without); not `/_sim/...`
    /// and not the OAuth endpoints. [`SimHandle::set_rate_limit`] changes it while running;
    /// [`SimHandle::business_calls`] tells what each business was sent.
    pub rate_limit: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            records: 100,
            seed_epoch: DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default(),
            token_lifetime: Duration::from_secs(300),
            clock: ClockMode::Real,
            verify_signatures: false,
            signing_secret: "sim-signing-secret".to_owned(),
            subscription_key: None,
            client_id: None,
            client_secret: None,
            order: RecordOrder::Insertion,
            request_log_capacity: 10_000,
            businesses: 1,
            rate_limit: None,
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<any>" };
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("records", &self.records)
            .field("seed_epoch", &self.seed_epoch)
            .field("token_lifetime", &self.token_lifetime)
            .field("clock", &self.clock)
            .field("verify_signatures", &self.verify_signatures)
            .field("signing_secret", &"<redacted>")
            .field(
                "subscription_key",
                &redacted(self.subscription_key.is_some()),
            )
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(self.client_secret.is_some()))
            .field("order", &self.order)
            .field("request_log_capacity", &self.request_log_capacity)
            .field("businesses", &self.businesses)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// Everything a request handler or control call needs.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: SimConfig,
    pub(crate) clock: Clock,
    /// The user's businesses, the lead first; each has its own records.
    pub(crate) businesses: Vec<BusinessData>,
    pub(crate) auth: Auth,
    pub(crate) faults: Faults,
    pub(crate) counters: Counters,
    pub(crate) requests: RequestLog,
    /// The rate limit and the calls per business, indexed like `businesses`.
    pub(crate) limits: Limits,
    pub(crate) activity: Mutex<Option<ActivityTask>>,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl State {
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_secs()
    }

    /// The lead business: requests without `X-Business` / `X-Site` go there.
    pub(crate) fn lead(&self) -> &BusinessData {
        &self.businesses[0]
    }

    /// The business with this id, if the user has it.
    pub(crate) fn business(&self, id: &str) -> Option<&BusinessData> {
        self.businesses.iter().find(|b| b.id == id)
    }

    /// Re-seeds every business: the lead with `seed`, the others with seeds derived from it.
    pub(crate) fn reseed(&self, seed: u64, records: usize) {
        let epoch = self.config.seed_epoch.timestamp();
        for business in &self.businesses {
            business.store.seed(
                crate::businesses::business_seed(seed, business.index),
                records,
                epoch,
            );
        }
    }
}

/// Entry point: [`Simulator::start`].
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Binds `addr` (use port 0 for any free port), seeds the records and starts serving in the
    /// background on the current tokio runtime.
    pub async fn start(addr: SocketAddr, config: SimConfig) -> Result<RunningSim, SimError> {
        if !(1..=MAX_BUSINESSES).contains(&config.businesses) {
            return Err(SimError::new(
                SimErrorKind::InvalidConfig,
                format!(
                    "businesses must be between 1 and {MAX_BUSINESSES}, not {}",
                    config.businesses
                ),
            ));
        }
        let listener = TcpListener::bind(addr).await.map_err(|err| {
            SimError::new(SimErrorKind::Io, format!("cannot listen on {addr}: {err}"))
        })?;
        let local = listener.local_addr().map_err(|err| {
            SimError::new(
                SimErrorKind::Io,
                format!("cannot read the bound address: {err}"),
            )
        })?;
        let mut ids = ChaCha8Rng::seed_from_u64(config.seed ^ 0xB05_1E55);
        let owner = format!("{:032x}", ids.gen::<u128>());
        let user = format!("{:032x}", ids.gen::<u128>());
        let lifetime = i64::try_from(config.token_lifetime.as_secs()).unwrap_or(i64::MAX);
        let businesses = crate::businesses::build(
            config.businesses,
            &owner,
            &mut ids,
            config.order,
            (config.seed, config.records, config.seed_epoch.timestamp()),
        );
        let state = Arc::new(State {
            clock: Clock::new(config.clock),
            businesses,
            auth: Auth::new(owner, user, lifetime),
            faults: Faults::default(),
            counters: Counters::default(),
            requests: RequestLog::new(config.request_log_capacity),
            limits: Limits::new(config.rate_limit, config.businesses),
            activity: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
            config,
        });
        let router = crate::api::router(Arc::clone(&state));
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), router, stop_rx));
        tracing::debug!(addr = %local, "sage simulator listening");
        Ok(RunningSim {
            handle: SimHandle { state, addr: local },
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// The error a service returns to make hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct Dropped;

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // Small responses must not wait for Nagle's algorithm.
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let router = router.clone();
                let service = hyper::service::service_fn(move |request| {
                    dispatch(Arc::clone(&state), router.clone(), request)
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// Applies faults, counts and logs the request, routes it and stamps the `Date` header.
async fn dispatch(
    state: Arc<State>,
    router: Router,
    request: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let path = request.uri().path();
    if path == "/_sim" || path.starts_with("/_sim/") {
        return Ok(route(&state, router, request).await);
    }
    let endpoint = endpoint_key(request.method().as_str(), path);
    if !state.requests.enabled() {
        return answer(&state, router, request, endpoint).await;
    }
    let seq = state.requests.arrive();
    let header = |name: http::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let grant = crate::auth::bearer(header(http::header::AUTHORIZATION).as_deref())
        .and_then(|token| state.auth.family_of(token));
    let pending = Pending {
        method: request.method().as_str().to_owned(),
        path: path.to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        endpoint: endpoint.clone(),
        grant,
        user_agent: header(http::header::USER_AGENT),
        started: Utc::now(),
    };
    // Logged when answered, or with 499 if the client goes away first and hyper drops this.
    let mut entry = LogOnDrop {
        state: Arc::clone(&state),
        seq,
        pending: Some(pending),
        status: CLIENT_CLOSED,
    };
    let answered = answer(&state, router, request, endpoint).await;
    entry.status = answered.as_ref().map_or(0, |r| r.status().as_u16());
    answered
}

/// The request log's status of a request whose client closed the connection before the
/// answer was ready (nginx's convention).
pub(crate) const CLIENT_CLOSED: u16 = 499;

/// Records a request in the log when dropped: after its answer, or when hyper abandons it.
struct LogOnDrop {
    state: Arc<State>,
    seq: u64,
    pending: Option<Pending>,
    status: u16,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.state.requests.record(self.seq, pending, self.status);
        }
    }
}

/// Answers an API request: 429 when it is over its business's rate limit, else the first
/// fault that fires, or the route; counts it.
async fn answer(
    state: &Arc<State>,
    router: Router,
    request: Request<Incoming>,
    endpoint: String,
) -> Result<Response<Body>, Dropped> {
    let path = request.uri().path();
    // Before faults and before any work: a refused call uses up no fault and does nothing.
    if let Some(Admission::Rejected { retry_after }) = admission(state, &request) {
        let response = with_date(state, crate::api::too_many_requests(Some(retry_after)));
        state.counters.record(endpoint, response.status().as_u16());
        return Ok(response);
    }
    let response = match state.faults.pick(path) {
        None => route(state, router, request).await,
        Some(FaultKind::DropConnection) => {
            state.counters.record(endpoint, 0);
            return Err(Dropped);
        }
        Some(FaultKind::TooManyRequests { retry_after }) => {
            crate::api::too_many_requests(retry_after)
        }
        Some(FaultKind::InternalServerError) => crate::api::sage_error(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            "InternalServerError",
            "An unexpected error occurred.",
            "",
        ),
        Some(FaultKind::NotFound) => crate::api::sage_error(
            http::StatusCode::NOT_FOUND,
            "error",
            "RecordNotFound",
            "Resource not found",
            "",
        ),
        Some(FaultKind::ServiceUnavailable) => crate::api::sage_error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry later.",
            "",
        ),
        Some(FaultKind::RevokeToken) => {
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok());
            if let Some(token) = crate::auth::bearer(header) {
                state.auth.revoke(token);
            }
            crate::api::token_error(crate::auth::TokenProblem::Unknown)
        }
        Some(FaultKind::Slow { delay }) => {
            tokio::time::sleep(delay).await;
            route(state, router, request).await
        }
        Some(FaultKind::MalformedJson) => malformed(route(state, router, request).await).await,
    };
    state.counters.record(endpoint, response.status().as_u16());
    Ok(response)
}

/// What the rate limit says about an API request, counting it for its business; `None` for
/// a request it does not count (not an API path, or a business the user does not have).
fn admission(state: &State, request: &Request<Incoming>) -> Option<Admission> {
    let version = crate::limits::counted_version(request.uri().path())?;
    let business = crate::businesses::business_for(state, version, request.headers()).ok()?;
    Some(state.limits.admit(business.index))
}

async fn route(state: &State, router: Router, request: Request<Incoming>) -> Response<Body> {
    let result: Result<Response<Body>, Infallible> = router.oneshot(request).await;
    let response = match result {
        Ok(response) => response,
        Err(never) => match never {},
    };
    with_date(state, response)
}

/// The response with a `Date` header from the simulator's clock.
fn with_date(state: &State, mut response: Response<Body>) -> Response<Body> {
    let secs = u64::try_from(state.now()).unwrap_or(0);
    let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    if let Ok(value) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(http::header::DATE, value);
    }
    response
}

/// The same response with its body cut in half: valid headers, unparseable JSON.
async fn malformed(response: Response<Body>) -> Response<Body> {
    use http_body_util::BodyExt as _;
    let (mut parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let cut = if bytes.len() >= 2 {
        bytes.slice(..bytes.len() / 2)
    } else {
        bytes::Bytes::from_static(b"{\"$items\":[")
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(cut))
}

/// A cloneable handle on a running simulator: its address and the Rust control API.
#[derive(Debug, Clone)]
pub struct SimHandle {
    state: Arc<State>,
    addr: SocketAddr,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`: the server root (`/token`, `/_sim/...` hang under it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The v3.1 API base: `http://ADDR/v3.1`.
    pub fn v31_base_url(&self) -> String {
        format!("http://{}/v3.1", self.addr)
    }

    /// The v3 API base of a region (`us ca uki de es fr`):
    /// `http://ADDR/{region}/sageone/accounts/v3`.
    pub fn v3_base_url(&self, region: &str) -> String {
        format!("http://{}/{region}/sageone/accounts/v3", self.addr)
    }

    /// The token endpoint: `http://ADDR/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The lead business's id: v3's `resource_owner_id`, the value of `X-Site`.
    pub fn resource_owner_id(&self) -> &str {
        &self.state.auth.resource_owner_id
    }

    /// The user's businesses, the lead business first ([`SimConfig::businesses`]).
    pub fn businesses(&self) -> Vec<SimBusiness> {
        (0..self.state.businesses.len())
            .map(|index| SimBusiness {
                state: Arc::clone(&self.state),
                index,
            })
            .collect()
    }

    /// The business with this id, to act on its records; `None` if the user has no such
    /// business.
    pub fn business(&self, id: &str) -> Option<SimBusiness> {
        self.state.business(id).map(|b| SimBusiness {
            state: Arc::clone(&self.state),
            index: b.index,
        })
    }

    /// The lead business: what the record methods below act on.
    pub fn lead_business(&self) -> SimBusiness {
        SimBusiness {
            state: Arc::clone(&self.state),
            index: 0,
        }
    }

    /// The configuration it started with.
    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// Replaces all records of every business with `records` per resource generated from
    /// `seed` (the lead's; the others' derive from it), and clears the change logs.
    pub fn reseed(&self, seed: u64, records: usize) {
        self.state.reseed(seed, records);
    }

    /// Creates a record in the lead business: realistic generated fields, overridden by the
    /// object `fields` (or `Value::Null`), timestamps from the simulator's clock.
    pub fn create(&self, resource: Resource, fields: &Value) -> Result<Record, SimError> {
        self.lead_business().create(resource, fields)
    }

    /// Merges the object `fields` into a live record of the lead business and moves its
    /// `updated_at` to now.
    pub fn update(&self, resource: Resource, id: &str, fields: &Value) -> Result<Record, SimError> {
        self.lead_business().update(resource, id, fields)
    }

    /// Deletes a live record of the lead business: sets its `deleted_at` to now (it then
    /// shows under `deleted_since` only).
    pub fn delete(&self, resource: Resource, id: &str) -> Result<Record, SimError> {
        self.lead_business().delete(resource, id)
    }

    /// A record of the lead business by id, deleted or not.
    pub fn record(&self, resource: Resource, id: &str) -> Option<Record> {
        self.lead_business().record(resource, id)
    }

    /// Every record of a resource of the lead business in list order, deleted ones included.
    pub fn records(&self, resource: Resource) -> Vec<Record> {
        self.lead_business().records(resource)
    }

    /// The lead business's whole change log since the last seed.
    pub fn changes(&self) -> Vec<Change> {
        self.lead_business().changes()
    }

    /// The lead business's changes with `seq` greater than `after_seq`.
    pub fn changes_since(&self, after_seq: u64) -> Vec<Change> {
        self.lead_business().changes_since(after_seq)
    }

    /// The simulator's now (whole seconds).
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// How the clock runs.
    pub fn clock_mode(&self) -> ClockMode {
        self.state.clock.mode()
    }

    /// Stops the clock at `at` (whole seconds).
    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.state.clock.set_mode(ClockMode::Manual(at));
    }

    /// Moves the clock forward by `by` (whole seconds); a real clock becomes manual.
    pub fn advance_clock(&self, by: Duration) -> DateTime<Utc> {
        self.state
            .clock
            .advance(i64::try_from(by.as_secs()).unwrap_or(i64::MAX))
    }

    /// Lets the clock follow real time again.
    pub fn use_real_clock(&self) {
        self.state.clock.set_mode(ClockMode::Real);
    }

    /// Adds a fault. Faults are tried in the order added; the first that fires applies.
    pub fn inject(&self, fault: Fault) -> Result<(), SimError> {
        self.state.faults.add(fault)
    }

    /// The faults still active (`Next` ones with their remaining count).
    pub fn faults(&self) -> Vec<Fault> {
        self.state.faults.list()
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// The request counters so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.state.counters.snapshot()
    }

    /// Sets every request counter back to zero.
    pub fn reset_request_counts(&self) {
        self.state.counters.reset();
    }

    /// The request log: every answered API request (control requests excluded) in arrival
    /// order, at most [`SimConfig::request_log_capacity`] of the newest.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.state.requests.since(0)
    }

    /// The logged requests with `seq` greater than `after_seq`.
    pub fn request_log_since(&self, after_seq: u64) -> Vec<LoggedRequest> {
        self.state.requests.since(after_seq)
    }

    /// How many logged requests were discarded because the log was full.
    pub fn request_log_dropped(&self) -> u64 {
        self.state.requests.dropped()
    }

    /// Empties the request log.
    pub fn clear_request_log(&self) {
        self.state.requests.clear();
    }

    /// The rate limit now: at most this many API calls per business in any trailing 60 s
    /// ([`SimConfig::rate_limit`]); `None` is unlimited.
    pub fn rate_limit(&self) -> Option<u32> {
        self.state.limits.limit()
    }

    /// Changes the rate limit from the next request on (`None` lifts it). The calls of the
    /// trailing minute still count against a new limit.
    pub fn set_rate_limit(&self, limit: Option<u32>) {
        self.state.limits.set_limit(limit);
    }

    /// The API calls sent to the business `business_id` since the start or
    /// [`SimHandle::reset_business_calls`]: accepted, rejected by the rate limit, the busiest
    /// minute and calls per minute. All zeros for an id the user does not have.
    pub fn business_calls(&self, business_id: &str) -> BusinessCalls {
        let index = self
            .state
            .business(business_id)
            .map_or(usize::MAX, |b| b.index);
        self.state.limits.snapshot(index, business_id)
    }

    /// [`SimHandle::business_calls`] of every business, the lead first.
    pub fn all_business_calls(&self) -> Vec<BusinessCalls> {
        self.state
            .businesses
            .iter()
            .map(|b| self.state.limits.snapshot(b.index, &b.id))
            .collect()
    }

    /// Sets every business's call counts back to zero. The rate limit still remembers the
    /// calls of the trailing minute, so a reset does not let a client burst past it.
    pub fn reset_business_calls(&self) {
        self.state.limits.reset();
    }

    /// A fresh single-use authorization code (valid 60 s on the simulator's clock).
    pub fn authorization_code(&self, version: ApiVersion) -> String {
        self.state.auth.new_code(version, self.state.now())
    }

    /// Accepts `code` once as an authorization code, e.g. the `providerData.code` of an
    /// instance JSON (valid 60 s on the simulator's clock).
    pub fn add_authorization_code(&self, code: &str, version: ApiVersion) {
        self.state.auth.add_code(code, version, self.state.now());
    }

    /// Issues tokens directly, as if a code had been exchanged.
    pub fn issue_tokens(&self, version: ApiVersion) -> TokenSet {
        self.state.auth.issue(version, self.state.now())
    }

    /// Revokes every access and refresh token.
    pub fn revoke_all_tokens(&self) {
        self.state.auth.revoke_all();
    }

    /// Starts the activity generator (replacing a running one).
    pub fn start_activity(&self, config: ActivityConfig) -> Result<(), SimError> {
        crate::activity::start(&self.state, config)
    }

    /// Stops the activity generator; returns how many changes it made.
    pub fn stop_activity(&self) -> u64 {
        crate::activity::stop(&self.state)
    }

    /// Whether the activity generator is running (it stops by itself after `max_changes`).
    pub fn activity_running(&self) -> bool {
        crate::activity::running(&self.state)
    }
}

/// A running simulator. It derefs to its [`SimHandle`] for the control API; dropping it stops
/// the server without waiting, [`RunningSim::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct RunningSim {
    handle: SimHandle,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::ops::Deref for RunningSim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl RunningSim {
    /// A cloneable handle for other tasks.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting connections, lets requests in flight finish (at most 5 s) and stops the
    /// activity generator.
    pub async fn shutdown(mut self) {
        crate::activity::stop(&self.handle.state);
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until `signal` resolves, then shuts down gracefully: what `pollen sage-sim`
    /// runs after printing [`SimHandle::base_url`].
    pub async fn serve_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        crate::activity::stop(&self.handle.state);
        let _ = self.stop.send(true);
    }
}
