//! Shared test helpers: a scripted local HTTP server, fixtures, sinks.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gridshift_carbon::ForecastSink;
use gridshift_core::{Forecasts, Series, Zone};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn fixture(path: &str) -> String {
    let p = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {p}: {e}"))
}

pub fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

/// One scripted HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    /// Never answer (to exercise the client timeout).
    pub hang: bool,
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Self {
        Self { status: 200, body: body.into(), headers: vec![], hang: false }
    }

    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self { status, body: body.into(), headers: vec![], hang: false }
    }

    pub fn hang() -> Self {
        Self { status: 200, body: String::new(), headers: vec![], hang: true }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct Script {
    /// Persistent reply per path.
    routes: HashMap<String, Reply>,
    /// One-shot replies, consumed before the persistent one.
    queued: HashMap<String, VecDeque<Reply>>,
    log: Vec<Recorded>,
}

/// An HTTP server on 127.0.0.1:0 answering from a script; records requests.
#[derive(Clone)]
pub struct MockServer {
    pub base: String,
    script: Arc<Mutex<Script>>,
}

impl MockServer {
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = axum::Router::new().fallback(handle).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base: format!("http://{addr}"), script }
    }

    /// `base` + `prefix` (e.g. "/v3").
    pub fn url(&self, prefix: &str) -> String {
        format!("{}{prefix}", self.base)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.script.lock().routes.insert(path.to_string(), reply);
    }

    pub fn push(&self, path: &str, reply: Reply) {
        self.script.lock().queued.entry(path.to_string()).or_default().push_back(reply);
    }

    pub fn calls(&self, path: &str) -> usize {
        self.script.lock().log.iter().filter(|r| r.path == path).count()
    }

    pub fn total_calls(&self) -> usize {
        self.script.lock().log.len()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().log.clone()
    }

    pub fn last(&self, path: &str) -> Option<Recorded> {
        self.script.lock().log.iter().rev().find(|r| r.path == path).cloned()
    }
}

async fn handle(State(script): State<Arc<Mutex<Script>>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let reply = {
        let mut s = script.lock();
        s.log.push(Recorded {
            path: path.clone(),
            query: req.uri().query().unwrap_or_default().to_string(),
            headers: req.headers().clone(),
        });
        let queued = s.queued.get_mut(&path).and_then(VecDeque::pop_front);
        queued.or_else(|| {
            // Prefix match lets one script entry serve paths with parameters
            // in them (the UK API puts times in the path).
            s.routes
                .iter()
                .filter(|(p, _)| path.starts_with(p.as_str()))
                .max_by_key(|(p, _)| p.len())
                .map(|(_, r)| r.clone())
        })
    };
    let Some(reply) = reply else {
        return Response::builder().status(404).body(Body::from("{\"error\":\"no such route\"}")).unwrap();
    };
    if reply.hang {
        std::future::pending::<()>().await;
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    builder = builder.header("content-type", "application/json");
    for (k, v) in &reply.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder.body(Body::from(reply.body)).unwrap()
}

/// A sink that remembers everything published and withdrawn.
#[derive(Default)]
pub struct RecordingSink {
    pub published: Mutex<Vec<Vec<Series>>>,
    pub withdrawn: Mutex<Vec<String>>,
    pub latest: Mutex<BTreeMap<String, Series>>,
    pub notify: tokio::sync::Notify,
}

impl RecordingSink {
    pub fn publish_count(&self) -> usize {
        self.published.lock().len()
    }

    pub fn latest(&self, zone: &str) -> Option<Series> {
        self.latest.lock().get(zone).cloned()
    }
}

impl ForecastSink for RecordingSink {
    fn update(&self, forecasts: &Forecasts, published: &[Zone], withdrawn: &[Zone]) {
        let mut latest = self.latest.lock();
        if !published.is_empty() {
            let series: Vec<Series> = published.iter().filter_map(|z| forecasts.get(z).cloned()).collect();
            for s in &series {
                latest.insert(s.zone.to_string(), s.clone());
            }
            self.published.lock().push(series);
        }
        self.withdrawn.lock().extend(withdrawn.iter().map(Zone::to_string));
        for z in withdrawn {
            latest.remove(z.as_str());
        }
        self.notify.notify_waiters();
    }
}
