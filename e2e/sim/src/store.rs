//! The object store: one global resourceVersion counter, objects kept as
//! serialized JSON (so a list is mostly byte concatenation) plus the metadata
//! selectors need, and per resource a bounded event history for watch-from-RV.
//!
//! Every write happens under one write lock: RV allocation, the object map,
//! the history and the broadcast to watchers stay in one order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;

/// A stored object: its JSON bytes and what selectors and indexes need.
#[derive(Debug)]
pub struct Obj {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub rv: u64,
    pub api_version: String,
    pub labels: BTreeMap<String, String>,
    /// Values of the resource's selectable field paths ("" when absent).
    pub fields: Vec<(String, String)>,
    pub json: Bytes,
}

impl Obj {
    fn from_value(value: &Value, field_paths: &[String], rv: u64) -> Result<Self, ApiError> {
        let meta = &value["metadata"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let labels = meta["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default();
        let fields = field_paths.iter().map(|p| (p.clone(), field_value(value, p))).collect();
        let json = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Self {
            namespace: text(&meta["namespace"]),
            name: text(&meta["name"]),
            uid: text(&meta["uid"]),
            rv,
            api_version: text(&value["apiVersion"]),
            labels,
            fields,
            json: Bytes::from(json),
        })
    }

    pub fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.json).map_err(|e| ApiError::internal(format!("stored object: {e}")))
    }

    /// The value of a selectable field; `metadata.name`/`metadata.namespace` always work.
    pub fn field(&self, path: &str) -> Option<&str> {
        match path {
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(&self.namespace),
            _ => self.fields.iter().find(|(p, _)| p == path).map(|(_, v)| v.as_str()),
        }
    }
}

/// A dotted path's value as a field selector sees it.
pub fn field_value(value: &Value, path: &str) -> String {
    let mut cur = value;
    for part in path.split('.') {
        cur = &cur[part];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// A change, with the previous state so filtered watches can turn a change that
/// leaves (or enters) their selector into DELETED (or ADDED).
#[derive(Debug)]
pub struct Event {
    pub kind: EventType,
    pub obj: Arc<Obj>,
    pub prev: Option<Arc<Obj>>,
}

/// What a write closure decides.
pub enum Write {
    Put(Value),
    /// Remove the object; the value is its final state (carried by the DELETED event).
    Delete(Value),
    Unchanged,
}

struct Table {
    objects: BTreeMap<(String, String), Arc<Obj>>,
    history: VecDeque<Arc<Event>>,
    /// Watches from an RV below this get 410 Gone.
    compacted: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

struct Inner {
    rv: u64,
    tables: HashMap<String, Table>,
}

/// What a new watch starts from.
pub struct Subscription {
    /// Current objects, when the watch asked for initial state.
    pub snapshot: Option<Vec<Arc<Obj>>>,
    /// Events after the requested RV, when it asked for one.
    pub backlog: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The store's RV when the watch was registered.
    pub rv: u64,
}

pub struct Store {
    inner: RwLock<Inner>,
    history_limit: usize,
    channel_capacity: usize,
    /// Bumped to end every open watch (compaction, fault injection).
    epoch: watch::Sender<u64>,
}

/// The outcome of a write: the object as stored (or as deleted) and the event
/// it produced (None when nothing changed).
pub struct Written {
    pub obj: Arc<Obj>,
    pub kind: Option<EventType>,
}

pub struct ListResult {
    pub rv: u64,
    pub items: Vec<Arc<Obj>>,
    /// Key of the last item returned when more remain.
    pub more_after: Option<(String, String)>,
}

impl Store {
    pub fn new(history_limit: usize, channel_capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner { rv: 1, tables: HashMap::new() }),
            history_limit: history_limit.max(1),
            channel_capacity: channel_capacity.max(16),
            epoch: watch::Sender::new(0),
        }
    }

    fn new_table(&self) -> Table {
        Table {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            tx: broadcast::channel(self.channel_capacity).0,
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.inner.read().rv
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<Arc<Obj>> {
        let inner = self.inner.read();
        inner.tables.get(key)?.objects.get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// Objects in key order, optionally in one namespace, after a continue key,
    /// up to `limit` matches.
    pub fn list(
        &self,
        key: &str,
        ns: Option<&str>,
        after: Option<(String, String)>,
        limit: Option<usize>,
        filter: impl Fn(&Obj) -> bool,
    ) -> ListResult {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let inner = self.inner.read();
        let mut out = ListResult { rv: inner.rv, items: Vec::new(), more_after: None };
        let Some(table) = inner.tables.get(key) else { return out };
        let lower = match (&after, ns) {
            (Some(k), _) => Excluded(k.clone()),
            (None, Some(ns)) => Included((ns.to_string(), String::new())),
            (None, None) => Unbounded,
        };
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        for ((obj_ns, _), obj) in table.objects.range((lower, Unbounded)) {
            if ns.is_some_and(|ns| ns != obj_ns) {
                break;
            }
            if !filter(obj) {
                continue;
            }
            if out.items.len() == limit {
                out.more_after = out.items.last().map(|o| (o.namespace.clone(), o.name.clone()));
                break;
            }
            out.items.push(obj.clone());
        }
        out
    }

    /// Atomic read-modify-write of one object. The closure sees the current
    /// object; the store stamps the new resourceVersion into what it returns.
    pub fn write(
        &self,
        key: &str,
        field_paths: &[String],
        ns: &str,
        name: &str,
        f: impl FnOnce(Option<&Arc<Obj>>) -> Result<Write, ApiError>,
    ) -> Result<Written, ApiError> {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if !inner.tables.contains_key(key) {
            inner.tables.insert(key.to_string(), self.new_table());
        }
        let Some(table) = inner.tables.get_mut(key) else { unreachable!("inserted above") };
        let obj_key = (ns.to_string(), name.to_string());
        let current = table.objects.get(&obj_key).cloned();
        let (kind, mut value) = match f(current.as_ref())? {
            Write::Unchanged => {
                let obj = current.ok_or_else(|| ApiError::internal("unchanged write of a missing object"))?;
                return Ok(Written { obj, kind: None });
            }
            Write::Put(v) if current.is_some() => (EventType::Modified, v),
            Write::Put(v) => (EventType::Added, v),
            Write::Delete(v) => (EventType::Deleted, v),
        };
        let rv = inner.rv + 1;
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let obj = Arc::new(Obj::from_value(&value, field_paths, rv)?);
        inner.rv = rv;
        if kind == EventType::Deleted {
            table.objects.remove(&obj_key);
        } else {
            table.objects.insert(obj_key, obj.clone());
        }
        let event = Arc::new(Event { kind, obj: obj.clone(), prev: current });
        table.history.push_back(event.clone());
        while table.history.len() > self.history_limit {
            if let Some(old) = table.history.pop_front() {
                table.compacted = old.obj.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = table.tx.send(event);
        Ok(Written { obj, kind: Some(kind) })
    }

    /// Registers a watch. `from`: None = start with the current objects;
    /// Some(rv) = replay events after rv (Err(compacted) when rv is too old).
    pub fn subscribe(&self, key: &str, from: Option<u64>) -> Result<Subscription, u64> {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if !inner.tables.contains_key(key) {
            inner.tables.insert(key.to_string(), self.new_table());
        }
        let Some(table) = inner.tables.get(key) else { unreachable!("inserted above") };
        let rx = table.tx.subscribe();
        match from {
            None => Ok(Subscription {
                snapshot: Some(table.objects.values().cloned().collect()),
                backlog: Vec::new(),
                rx,
                rv: inner.rv,
            }),
            Some(rv) if rv < table.compacted => Err(table.compacted),
            Some(rv) => {
                let backlog = table.history.iter().filter(|e| e.obj.rv > rv).cloned().collect();
                Ok(Subscription { snapshot: None, backlog, rx, rv: inner.rv })
            }
        }
    }

    /// The lowest RV a watch on `key` may start from.
    #[cfg(test)]
    pub fn compacted(&self, key: &str) -> u64 {
        self.inner.read().tables.get(key).map_or(0, |t| t.compacted)
    }

    /// Forgets all history (like an etcd compaction at the current revision)
    /// and ends open watches: clients resuming from an older RV get 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.inner.write();
        // Bump the revision so that an RV equal to the last write is also too old,
        // as after a compaction that followed writes elsewhere.
        inner.rv += 1;
        let rv = inner.rv;
        for table in inner.tables.values_mut() {
            table.history.clear();
            table.compacted = rv;
        }
        drop(inner);
        self.close_watches();
    }

    pub fn close_watches(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    pub fn epoch(&self) -> watch::Receiver<u64> {
        self.epoch.subscribe()
    }

    /// Drops a resource's table (CRD deleted): open watches on it end.
    pub fn drop_table(&self, key: &str) {
        self.inner.write().tables.remove(key);
    }

    /// Number of objects per storage key (for tests and the benchmark).
    pub fn count(&self, key: &str) -> usize {
        self.inner.read().tables.get(key).map_or(0, |t| t.objects.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(store: &Store, name: &str) -> Arc<Obj> {
        let v = json!({"metadata": {"name": name, "namespace": "ns"}});
        store.write("configmaps", &[], "ns", name, |_| Ok(Write::Put(v))).unwrap().obj
    }

    #[test]
    fn writes_bump_one_global_revision() {
        let store = Store::new(10, 16);
        let a = put(&store, "a");
        let b = put(&store, "b");
        assert_eq!(b.rv, a.rv + 1);
        assert_eq!(store.current_rv(), b.rv);
        let stored: Value = serde_json::from_slice(&b.json).unwrap();
        assert_eq!(stored["metadata"]["resourceVersion"], b.rv.to_string());
    }

    #[test]
    fn history_ring_evicts_and_marks_compaction() {
        let store = Store::new(2, 16);
        let first = put(&store, "a");
        put(&store, "b");
        put(&store, "c");
        assert_eq!(store.compacted("configmaps"), first.rv);
        assert!(store.subscribe("configmaps", Some(first.rv - 1)).is_err());
        let sub = store.subscribe("configmaps", Some(first.rv)).unwrap();
        assert_eq!(sub.backlog.len(), 2);
    }

    #[test]
    fn list_pages_with_continue_keys() {
        let store = Store::new(10, 16);
        for n in ["a", "b", "c"] {
            put(&store, n);
        }
        let page = store.list("configmaps", Some("ns"), None, Some(2), |_| true);
        assert_eq!(page.items.len(), 2);
        let rest = store.list("configmaps", Some("ns"), page.more_after, Some(2), |_| true);
        assert_eq!(rest.items.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), vec!["c"]);
        assert!(rest.more_after.is_none());
    }
}
