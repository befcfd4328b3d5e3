//! Kubernetes events (events.k8s.io/v1): every Gridshift controller explains itself
//! through this one writer, in the shape kube-scheduler and kube-runtime write them
//! (`reportingController`, `reportingInstance`, `action`, `regarding`, `related`).
//!
//! Repeats of the same event (same object, reason and message) within 10 minutes are
//! folded into one event's `series` (count, lastObservedTime) instead of new objects.
//! Unlike kube-runtime's `Recorder`, the message is part of that key: a changed
//! message ("0/N nodes are available: …", a new placement) is a new event, never an
//! old one re-counted.
use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use parking_lot::Mutex;

const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(10);
/// The API server refuses notes over 1 kB.
const MAX_NOTE: usize = 1024;

/// One event to publish about an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub type_: EventType,
    /// Short, CamelCase, stable: what users filter on.
    pub reason: String,
    /// The sentence a user reads (cut to 1 kB).
    pub note: String,
    /// What was being done: "Scheduling", "Binding", "Place", "Reconcile"…
    pub action: String,
    /// A second object the event concerns (e.g. the Karmada policy a placement wrote).
    pub related: Option<ObjectReference>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    reason: String,
    note: String,
}

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    count: i32,
    first: Timestamp,
}

/// Publishes events as `controller` (instance `instance`, the pod name); cheap to clone
/// (clones share the repeat cache).
#[derive(Clone)]
pub struct EventWriter {
    client: kube::Client,
    controller: String,
    instance: String,
    seen: Arc<Mutex<SeenCache>>,
}

#[derive(Default)]
struct SeenCache {
    by_key: HashMap<Key, Seen>,
    /// Old entries are swept at most once a minute, not on every event: with
    /// thousands of pods bound per minute a sweep per event would be quadratic.
    last_sweep: Option<Timestamp>,
}

impl EventWriter {
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            seen: Arc::default(),
        }
    }

    /// Creates the event, or counts a repeat of a recent identical one.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let now = Timestamp::now();
        let note = truncate(&event.note, MAX_NOTE);
        let key = Key {
            uid: regarding.uid.clone().or_else(|| regarding.name.clone()).unwrap_or_default(),
            reason: event.reason.clone(),
            note: note.clone(),
        };
        let repeat = {
            let mut seen = self.seen.lock();
            if seen.last_sweep.is_none_or(|t| now.duration_since(t) > SignedDuration::from_mins(1)) {
                seen.by_key.retain(|_, s| now.duration_since(s.first) < SERIES_WINDOW);
                seen.last_sweep = Some(now);
            }
            seen.by_key.get_mut(&key).filter(|s| now.duration_since(s.first) < SERIES_WINDOW).map(|s| {
                s.count += 1;
                s.clone()
            })
        };
        if let Some(s) = repeat {
            let series = EventSeries { count: s.count, last_observed_time: MicroTime(now) };
            let patch = serde_json::json!({ "series": series });
            api.patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            return Ok(());
        }
        let object = regarding.name.clone().unwrap_or_default();
        let name = format!("{object}.{:x}", now.as_nanosecond());
        let k8s = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(event.type_.as_str().into()),
            reason: Some(event.reason.clone()),
            action: Some(event.action.clone()),
            note: Some(note),
            regarding: Some(regarding.clone()),
            related: event.related.clone(),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &k8s).await?;
        self.seen.lock().by_key.insert(key, Seen { name, count: 1, first: now });
        Ok(())
    }
}

/// `s` cut to at most `max` bytes on a character boundary, marked with "...".
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        assert_eq!(super::truncate("short", 10), "short");
        let long = "é".repeat(600);
        let cut = super::truncate(&long, 1024);
        assert!(cut.len() <= 1024 && cut.ends_with("..."));
    }
}
