//! The forecast store's state in a ConfigMap: written by the leader (it is the store's
//! `PersistBackend`), followed by every other replica.
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures::StreamExt;
use futures::future::BoxFuture;
use gridshift_api::meta::HUB_MANAGER;
use gridshift_carbon::ForecastStore;
use gridshift_carbon::store::persist::FORMAT_VERSION;
use gridshift_carbon::store::{PersistBackend, PersistError, PersistedState};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::io::{Read, Write};

/// The key of the gzipped JSON state in `binaryData`.
pub const STATE_KEY: &str = "state.json.gz";
/// What one ConfigMap holds, with room for its metadata.
const MAX_STATE_BYTES: usize = 1000 * 1024;

/// The ConfigMap `namespace/name` holding the leader's forecast store.
#[derive(Clone)]
pub struct SharedState {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
}

impl SharedState {
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self { api: Api::namespaced(client, namespace), namespace: namespace.into(), name: name.into() }
    }

    fn where_(&self) -> String {
        format!("ConfigMap {}/{}", self.namespace, self.name)
    }

    fn corrupt(&self, reason: impl ToString) -> PersistError {
        PersistError::Corrupt { path: self.where_(), reason: reason.to_string() }
    }

    fn io(&self, reason: impl ToString) -> PersistError {
        PersistError::Io { path: self.where_(), reason: reason.to_string() }
    }

    /// The state in `cm`, if it holds one.
    pub fn decode(&self, cm: &ConfigMap) -> Result<Option<PersistedState>, PersistError> {
        let Some(bytes) = cm.binary_data.as_ref().and_then(|d| d.get(STATE_KEY)) else { return Ok(None) };
        let mut json = Vec::new();
        GzDecoder::new(&bytes.0[..]).read_to_end(&mut json).map_err(|e| self.corrupt(e))?;
        let state: PersistedState = serde_json::from_slice(&json).map_err(|e| self.corrupt(e))?;
        if state.version != FORMAT_VERSION {
            return Err(self.corrupt(format!("format version {} (expected {FORMAT_VERSION})", state.version)));
        }
        Ok(Some(state))
    }

    pub fn encode(&self, state: &PersistedState) -> Result<Vec<u8>, PersistError> {
        let json = serde_json::to_vec(state).map_err(|e| self.io(e))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&json).map_err(|e| self.io(e))?;
        let bytes = gz.finish().map_err(|e| self.io(e))?;
        if bytes.len() > MAX_STATE_BYTES {
            return Err(self.io(format!(
                "{} zones take {} bytes compressed, more than a ConfigMap holds ({MAX_STATE_BYTES})",
                state.zones.len(),
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

impl PersistBackend for SharedState {
    fn load(&self) -> BoxFuture<'_, Result<Option<PersistedState>, PersistError>> {
        Box::pin(async move {
            match self.api.get_opt(&self.name).await.map_err(|e| self.io(e))? {
                Some(cm) => self.decode(&cm),
                None => Ok(None),
            }
        })
    }

    fn save<'a>(&'a self, state: &'a PersistedState) -> BoxFuture<'a, Result<(), PersistError>> {
        Box::pin(async move {
            let bytes = self.encode(state)?;
            let cm = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/managed-by": HUB_MANAGER},
                },
                "binaryData": {STATE_KEY: ByteString(bytes)},
            });
            // Server-side apply creates or replaces the one field we own.
            let params = PatchParams::apply(HUB_MANAGER).force();
            self.api.patch(&self.name, &params, &Patch::Apply(&cm)).await.map_err(|e| self.io(e))?;
            Ok(())
        })
    }
}

/// Follows the shared state into `store` until `stop`: each version the leader writes
/// is adopted (newer series only, so the leader's own writes coming back change
/// nothing). The store is marked warm once the state was read the first time, whether
/// there was one or not.
pub async fn follow(store: ForecastStore, shared: SharedState, stop: impl std::future::Future<Output = ()>) {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", shared.name));
    let events = watcher(shared.api.clone(), config).default_backoff();
    let mut events = std::pin::pin!(events);
    let mut stop = std::pin::pin!(stop);
    loop {
        let event = tokio::select! {
            _ = &mut stop => return,
            e = events.next() => match e { Some(e) => e, None => return },
        };
        match event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => match shared.decode(&cm) {
                Ok(Some(state)) => {
                    let adopted = store.adopt(&state);
                    tracing::debug!(adopted, saved_at = %state.saved_at, "followed the leader's forecasts");
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "ignoring the shared forecast state"),
            },
            Ok(watcher::Event::InitDone) => {
                // The leader is warm once it has tried every zone itself.
                if !store.is_fetching() {
                    store.mark_warm();
                }
                tracing::info!(state = %shared.where_(), "following the leader's forecasts");
            }
            Ok(watcher::Event::Init | watcher::Event::Delete(_)) => {}
            Err(e) => tracing::warn!(error = %e, "watching the shared forecast state"),
        }
    }
}
