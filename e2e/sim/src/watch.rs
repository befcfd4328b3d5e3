//! Watch: newline-delimited JSON events over a chunked response. Starts from
//! the current state (no RV, RV "0", or sendInitialEvents) or replays history
//! after an RV (410 Gone as an ERROR event when that RV was compacted away).
//! A watcher that falls behind the broadcast catches up from the history.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http::{StatusCode, header};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;
use crate::handlers::render;
use crate::resource::ResourceDef;
use crate::selectors::Selector;
use crate::server::ClusterState;
use crate::store::{Event, EventType, Obj};

struct Filter {
    def: Arc<ResourceDef>,
    ns: Option<String>,
    selector: Selector,
}

impl Filter {
    fn visible(&self, obj: &Obj) -> bool {
        self.ns.as_deref().is_none_or(|ns| ns == obj.namespace) && self.selector.matches(obj)
    }

    /// What this watcher sees of an event: an object entering the selection
    /// is ADDED, one leaving it is DELETED.
    fn translate(&self, ev: &Event) -> Option<EventType> {
        let now = self.visible(&ev.obj);
        let before = ev.prev.as_deref().is_some_and(|p| self.visible(p));
        match (ev.kind, before, now) {
            (EventType::Added, _, true) => Some(EventType::Added),
            (EventType::Modified, true, true) => Some(EventType::Modified),
            (EventType::Modified, false, true) => Some(EventType::Added),
            (EventType::Modified, true, false) => Some(EventType::Deleted),
            (EventType::Deleted, b, n) if b || n => Some(EventType::Deleted),
            _ => None,
        }
    }
}

fn line(kind: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.extend_from_slice(br#"{"type":""#);
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(br#"","object":"#);
    b.extend_from_slice(object);
    b.extend_from_slice(b"}\n");
    b.freeze()
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": meta});
    line("BOOKMARK", obj.to_string().as_bytes())
}

fn error_event(err: &ApiError) -> Bytes {
    line("ERROR", err.to_status().to_string().as_bytes())
}

fn flag(query: &HashMap<String, String>, key: &str) -> bool {
    query.get(key).is_some_and(|v| v == "true" || v == "1")
}

pub(crate) fn serve(
    st: &Arc<ClusterState>,
    def: Arc<ResourceDef>,
    ns: Option<String>,
    selector: Selector,
    query: &HashMap<String, String>,
    close_after: Option<Duration>,
) -> Result<Response, ApiError> {
    let bookmarks = flag(query, "allowWatchBookmarks");
    let initial_events = flag(query, "sendInitialEvents");
    if initial_events && query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            "ListOptions",
            "",
            &["resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into()],
        ));
    }
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(_) if initial_events => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?,
        ),
    };
    let mut timeout = match query.get("timeoutSeconds") {
        Some(s) => {
            Duration::from_secs(s.parse().map_err(|_| ApiError::bad_request("invalid timeoutSeconds"))?)
        }
        None => st.config.watch_timeout,
    };
    if let Some(c) = close_after {
        timeout = timeout.min(c);
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let key = def.storage_key();
    let filter = Filter { def, ns, selector };
    match st.store.subscribe(&key, from) {
        Err(compacted) => {
            let rv = from.unwrap_or_default();
            let err = ApiError::gone(format!("too old resource version: {rv} ({compacted})"));
            let _ = tx.try_send(Ok(error_event(&err)));
        }
        Ok(sub) => {
            let st = st.clone();
            let task = Streamer { st, filter, key, tx, bookmarks, initial_events, timeout };
            tokio::spawn(task.run(sub, from));
        }
    }
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok(resp)
}

struct Streamer {
    st: Arc<ClusterState>,
    filter: Filter,
    key: String,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    bookmarks: bool,
    initial_events: bool,
    timeout: Duration,
}

impl Streamer {
    async fn send(&self, b: Bytes) -> bool {
        self.tx.send(Ok(b)).await.is_ok()
    }

    async fn send_event(&self, kind: EventType, obj: &Obj) -> bool {
        match render(&self.filter.def, obj) {
            Ok(json) => self.send(line(kind.as_str(), &json)).await,
            Err(e) => {
                // Tell the client why, then end the watch.
                self.send(error_event(&e)).await;
                false
            }
        }
    }

    async fn run(self, sub: crate::store::Subscription, from: Option<u64>) {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut epoch = self.st.store.epoch();
        epoch.mark_unchanged();
        let mut last_rv = from.unwrap_or(sub.rv);
        for obj in sub.snapshot.iter().flatten() {
            if self.filter.visible(obj) && !self.send_event(EventType::Added, obj).await {
                return;
            }
        }
        if self.initial_events && !self.send(bookmark(&self.filter.def, sub.rv, true)).await {
            return;
        }
        for ev in &sub.backlog {
            last_rv = ev.obj.rv;
            if let Some(kind) = self.filter.translate(ev)
                && !self.send_event(kind, &ev.obj).await
            {
                return;
            }
        }
        let mut rx = sub.rx;
        let mut ticker = tokio::time::interval(self.st.config.bookmark_interval);
        ticker.reset();
        loop {
            tokio::select! {
                received = rx.recv() => match received {
                    Ok(ev) => {
                        if ev.obj.rv <= last_rv {
                            continue;
                        }
                        last_rv = ev.obj.rv;
                        if let Some(kind) = self.filter.translate(&ev)
                            && !self.send_event(kind, &ev.obj).await
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the broadcast: continue from history.
                        match self.st.store.subscribe(&self.key, Some(last_rv)) {
                            Ok(again) => {
                                rx = again.rx;
                                for ev in &again.backlog {
                                    last_rv = ev.obj.rv;
                                    if let Some(kind) = self.filter.translate(ev)
                                        && !self.send_event(kind, &ev.obj).await
                                    {
                                        return;
                                    }
                                }
                            }
                            Err(compacted) => {
                                let err = ApiError::gone(format!("too old resource version: {last_rv} ({compacted})"));
                                let _ = self.send(error_event(&err)).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if self.bookmarks => {
                    if !self.send(bookmark(&self.filter.def, last_rv, false)).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = epoch.changed() => return,
                _ = self.tx.closed() => return,
            }
        }
    }
}
