//! The zones each replica's agents need, shared through one ConfigMap (a key per
//! replica, each written only by its replica with a merge patch, so writers never
//! conflict). The leader fetches the union; an entry not renewed for [`ENTRY_TTL`] (a
//! replica that died) is ignored.
use futures::StreamExt;
use gridshift_core::{SharedClock, Zone};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;

/// How often a replica renews its entry (clock time).
pub const RENEW_EVERY: SignedDuration = SignedDuration::from_mins(5);
/// How long an entry counts after it was written.
pub const ENTRY_TTL: SignedDuration = SignedDuration::from_mins(15);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    zones: BTreeSet<Zone>,
    at: Timestamp,
}

/// The zones other replicas' agents need, as last read. Cheap to clone.
#[derive(Clone, Default)]
pub struct WantedZones {
    zones: Arc<RwLock<BTreeSet<Zone>>>,
    changed: Arc<watch::Sender<u64>>,
}

impl WantedZones {
    pub fn get(&self) -> BTreeSet<Zone> {
        self.zones.read().clone()
    }

    /// Changes when [`WantedZones::get`] does.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn set(&self, zones: BTreeSet<Zone>) {
        let mut held = self.zones.write();
        if *held != zones {
            *held = zones;
            self.changed.send_modify(|n| *n += 1);
        }
    }
}

pub struct WantedExchange {
    api: Api<ConfigMap>,
    name: String,
    identity: String,
    clock: SharedClock,
    peers: WantedZones,
}

impl WantedExchange {
    /// `identity` names this replica's key (a pod name is a valid ConfigMap key).
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        clock: SharedClock,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            clock,
            peers: WantedZones::default(),
        }
    }

    /// What the other replicas' agents need.
    pub fn peers(&self) -> WantedZones {
        self.peers.clone()
    }

    async fn publish(&self, zones: &BTreeSet<Zone>) -> Result<(), kube::Error> {
        let entry = Entry { zones: zones.clone(), at: self.clock.now() };
        let value = serde_json::to_string(&entry).unwrap_or_default();
        self.write(json!({"data": {self.identity.as_str(): value}})).await
    }

    async fn write(&self, patch: serde_json::Value) -> Result<(), kube::Error> {
        let params = PatchParams {
            field_manager: Some(gridshift_api::meta::HUB_MANAGER.into()),
            ..Default::default()
        };
        match self.api.patch(&self.name, &params, &Patch::Merge(&patch)).await {
            Err(kube::Error::Api(e)) if e.code == 404 => {
                let mut cm: ConfigMap = serde_json::from_value(patch).unwrap_or_default();
                cm.metadata.name = Some(self.name.clone());
                match self.api.create(&PostParams::default(), &cm).await {
                    // Another replica created it meanwhile: patch that.
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        Box::pin(self.write(serde_json::to_value(&cm).unwrap_or_default())).await
                    }
                    other => other.map(|_| ()),
                }
            }
            other => other.map(|_| ()),
        }
    }

    fn read(&self, cm: &ConfigMap) {
        let now = self.clock.now();
        let zones = cm
            .data
            .iter()
            .flatten()
            .filter(|(k, _)| **k != self.identity)
            .filter_map(|(_, v)| serde_json::from_str::<Entry>(v).ok())
            .filter(|e| now.duration_since(e.at) <= ENTRY_TTL)
            .flat_map(|e| e.zones)
            .collect();
        self.peers.set(zones);
    }

    /// Publishes `own` (this replica's agents' zones) as it changes and every
    /// [`RENEW_EVERY`], and reads the others', until `stop`; then removes this
    /// replica's entry.
    pub async fn run(
        self,
        own: impl Fn() -> BTreeSet<Zone>,
        mut own_changed: watch::Receiver<u64>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let events = watcher(self.api.clone(), config).default_backoff().applied_objects();
        let mut events = std::pin::pin!(events);
        let mut stop = std::pin::pin!(stop);
        let mut published: Option<(BTreeSet<Zone>, Timestamp)> = None;
        loop {
            let zones = own();
            let now = self.clock.now();
            let due = published.as_ref().is_none_or(|(z, at)| *z != zones || now >= *at + RENEW_EVERY);
            if due {
                match self.publish(&zones).await {
                    Ok(()) => published = Some((zones, now)),
                    Err(e) => tracing::warn!(error = %e, "cannot publish this replica's wanted zones"),
                }
            }
            // Re-read the entries as they age, too (a dead replica's drop out).
            let renew_at =
                published.as_ref().map_or(now + SignedDuration::from_secs(10), |(_, at)| *at + RENEW_EVERY);
            tokio::select! {
                _ = &mut stop => break,
                _ = own_changed.changed() => {}
                _ = self.clock.sleep_until(renew_at) => {}
                e = events.next() => match e {
                    Some(Ok(cm)) => self.read(&cm),
                    Some(Err(e)) => tracing::warn!(error = %e, "watching the replicas' wanted zones"),
                    None => break,
                },
            }
        }
        if let Err(e) = self.write(json!({"data": {self.identity.as_str(): null}})).await {
            tracing::debug!(error = %e, "cannot remove this replica's wanted zones");
        }
    }
}
