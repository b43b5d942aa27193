//! A local callback receiver that records every request and answers as told, per path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

/// How the receiver answers on one path.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    /// Never answer.
    pub(crate) hang: bool,
    /// Answer after this long.
    pub(crate) delay: Duration,
}

impl Answer {
    pub(crate) fn status(status: u16) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: String::new(),
            hang: false,
            delay: Duration::ZERO,
        }
    }

    /// 200 after `delay`.
    pub(crate) fn after(delay: Duration) -> Self {
        Answer {
            delay,
            ..Answer::status(200)
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn hang() -> Self {
        Answer {
            hang: true,
            ..Answer::status(200)
        }
    }
}

/// One received request.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Default)]
struct State {
    answers: Mutex<HashMap<String, Answer>>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Mutex<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver answering 200 on every path not set with [`Receiver::answer`].
    pub(crate) async fn start() -> Receiver {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { handle(&state, &method, &uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, state }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn answer(&self, path: &str, answer: Answer) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), answer);
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub(crate) fn received_on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// The most requests this receiver was answering at one time.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.state.in_flight.lock().unwrap().1
    }

    /// Waits until `count` requests arrived on `path`; panics after `within`.
    pub(crate) async fn wait_for(
        &self,
        path: &str,
        count: usize,
        within: Duration,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            let got = self.received_on(path);
            if got.len() >= count {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "only {} of {count} requests arrived on {path} within {within:?}",
                    self.received_on(path).len()
                );
            }
        }
    }
}

async fn handle(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    assert_eq!(method, Method::POST, "the sender only POSTs");
    let path = uri.path().to_owned();
    let answer = state
        .answers
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_else(|| Answer::status(200));
    state.received.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    state.arrived.notify_waiters();
    if answer.hang {
        std::future::pending::<()>().await;
    }
    {
        let mut in_flight = state.in_flight.lock().unwrap();
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
    }
    tokio::time::sleep(answer.delay).await;
    state.in_flight.lock().unwrap().0 -= 1;
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap(),
        answer.body.clone(),
    )
        .into_response();
    for (name, value) in &answer.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}
