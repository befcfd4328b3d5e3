//! Fault injection, switchable at runtime: latency, error responses per verb
//! and resource (with a probability and an optional count), watches closed
//! early, and closing every open watch at once.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::store::Store;

/// The API verb of a request, as in RBAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Delay the response.
    Latency(Duration),
    /// Answer with this status code (a `metav1.Status` with the matching reason).
    Error(u16),
    /// End matching watches this long after they start.
    CloseWatchAfter(Duration),
}

/// One rule. Unset matchers match everything.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub verb: Option<Verb>,
    /// Resource plural, optionally with a subresource: "pods", "pods/binding".
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub action: FaultAction,
    /// Chance in [0, 1] that a matching request is hit.
    pub probability: f64,
    /// Stop after firing this many times.
    pub times: Option<u32>,
}

impl FaultRule {
    fn new(action: FaultAction) -> Self {
        Self { verb: None, resource: None, namespace: None, action, probability: 1.0, times: None }
    }

    pub fn error(code: u16) -> Self {
        Self::new(FaultAction::Error(code))
    }

    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultAction::Latency(delay))
    }

    pub fn close_watch_after(after: Duration) -> Self {
        Self::new(FaultAction::CloseWatchAfter(after)).verb(Verb::Watch)
    }

    pub fn verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p.clamp(0.0, 1.0);
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, req: &RequestInfo<'_>) -> bool {
        self.verb.is_none_or(|v| v == req.verb)
            && self.resource.as_deref().is_none_or(|r| r == req.resource)
            && self.namespace.as_deref().is_none_or(|n| Some(n) == req.namespace)
    }
}

/// Handle returned by [`Faults::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultId(u64);

struct Entry {
    id: FaultId,
    rule: FaultRule,
    fired: u64,
}

#[derive(Default)]
struct State {
    next: u64,
    rules: Vec<Entry>,
}

/// What a request is, for matching.
pub(crate) struct RequestInfo<'a> {
    pub verb: Verb,
    /// "pods" or "pods/status".
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
}

/// What the matching rules decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub latency: Duration,
    pub error: Option<u16>,
    pub close_watch_after: Option<Duration>,
}

/// Runtime fault switchboard of one simulated cluster. Cheap to clone.
#[derive(Clone)]
pub struct Faults {
    state: Arc<Mutex<State>>,
    store: Arc<Store>,
}

impl Faults {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self { state: Arc::default(), store }
    }

    pub fn add(&self, rule: FaultRule) -> FaultId {
        let mut state = self.state.lock();
        state.next += 1;
        let id = FaultId(state.next);
        state.rules.push(Entry { id, rule, fired: 0 });
        id
    }

    pub fn remove(&self, id: FaultId) {
        self.state.lock().rules.retain(|e| e.id != id);
    }

    pub fn clear(&self) {
        self.state.lock().rules.clear();
    }

    /// How many times a rule has fired so far (0 once removed).
    pub fn fired(&self, id: FaultId) -> u64 {
        self.state.lock().rules.iter().find(|e| e.id == id).map_or(0, |e| e.fired)
    }

    /// Ends every open watch now; clients re-watch from their last RV.
    pub fn close_watches(&self) {
        self.store.close_watches();
    }

    /// Forgets the event history: re-watches from an older RV get 410 Gone.
    pub fn compact(&self) {
        self.store.compact();
    }

    pub(crate) fn decide(&self, req: &RequestInfo<'_>) -> Decision {
        let mut decision = Decision::default();
        let mut state = self.state.lock();
        for entry in state.rules.iter_mut() {
            if !entry.rule.matches(req) || entry.rule.times.is_some_and(|t| entry.fired >= u64::from(t)) {
                continue;
            }
            if entry.rule.probability < 1.0 && rand::random::<f64>() >= entry.rule.probability {
                continue;
            }
            entry.fired += 1;
            match entry.rule.action {
                FaultAction::Latency(d) => decision.latency += d,
                FaultAction::Error(code) => {
                    decision.error.get_or_insert(code);
                }
                FaultAction::CloseWatchAfter(d) => {
                    decision.close_watch_after = Some(decision.close_watch_after.map_or(d, |c| c.min(d)));
                }
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_verb_resource_and_count() {
        let faults = Faults::new(Arc::new(Store::new(10, 16)));
        let id = faults.add(FaultRule::error(500).verb(Verb::Patch).resource("scaledobjects").times(1));
        let req = RequestInfo { verb: Verb::Patch, resource: "scaledobjects", namespace: Some("a") };
        let other = RequestInfo { verb: Verb::Get, resource: "scaledobjects", namespace: Some("a") };
        assert_eq!(faults.decide(&other).error, None);
        assert_eq!(faults.decide(&req).error, Some(500));
        assert_eq!(faults.decide(&req).error, None, "times(1) fires once");
        assert_eq!(faults.fired(id), 1);
    }
}
