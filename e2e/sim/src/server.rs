//! Starting simulated clusters: one HTTP server (plain http on loopback) per
//! cluster, each with its own store, registry and fault switchboard.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admission::{self, Validator};
use crate::error::SimError;
use crate::faults::Faults;
use crate::resource::Registry;
use crate::store::Store;
use crate::{handlers, router};

/// Settings of one simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Cluster (and kubeconfig context) name.
    pub name: String,
    /// Events kept per resource for watches that resume from a resourceVersion;
    /// older resume points get 410 Gone.
    pub history_limit: usize,
    /// Per-resource broadcast buffer; a watcher further behind catches up from history.
    pub watch_channel_capacity: usize,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Watch length when the client sends no timeoutSeconds.
    pub watch_timeout: Duration,
    /// Install KEDA's ScaledObject admission rule (min <= max).
    pub keda_webhook: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            name: "sim".into(),
            history_limit: 20_000,
            watch_channel_capacity: 4096,
            bookmark_interval: Duration::from_secs(10),
            watch_timeout: Duration::from_secs(1800),
            keda_webhook: true,
        }
    }
}

/// Shared state behind one cluster's HTTP server.
pub(crate) struct ClusterState {
    pub config: SimConfig,
    pub registry: Registry,
    pub store: Arc<Store>,
    pub faults: Faults,
    /// (resource "plural.group", webhook name, check).
    validators: RwLock<Vec<(String, String, Validator)>>,
}

impl ClusterState {
    pub(crate) fn validators_for(&self, resource: &str) -> Vec<(String, Validator)> {
        self.validators
            .read()
            .iter()
            .filter(|(r, _, _)| r == resource)
            .map(|(_, n, v)| (n.clone(), v.clone()))
            .collect()
    }
}

/// One running simulated cluster. Dropping it stops the server.
pub struct SimServer {
    state: Arc<ClusterState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Binds, seeds the default namespaces and serves in the background.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let store = Arc::new(Store::new(config.history_limit, config.watch_channel_capacity));
        let state = Arc::new(ClusterState {
            faults: Faults::new(store.clone()),
            registry: Registry::with_builtins(),
            store,
            validators: RwLock::new(Vec::new()),
            config: config.clone(),
        });
        if config.keda_webhook {
            state.validators.write().push((
                "scaledobjects.keda.sh".into(),
                "vscaledobject.kb.io".into(),
                admission::keda_scaledobject(),
            ));
        }
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            handlers::upsert(&state, obj).map_err(|source| SimError::Api {
                what: format!("namespace {ns}"),
                source: Box::new(source),
            })?;
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind { addr: config.listen.to_string(), source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr: config.listen.to_string(), source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router::app(state.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::warn!(error = %e, "simulated API server stopped");
            }
        });
        tracing::info!(name = %config.name, %addr, "simulated API server listening");
        Ok(Self { state, addr, shutdown: Some(tx), task: Some(task) })
    }

    pub fn name(&self) -> &str {
        &self.state.config.name
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` — plain HTTP, no authentication.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube-rs configuration for this cluster (default namespace "default").
    pub fn kube_config(&self) -> kube::Config {
        let uri: http::Uri = self.url().parse().unwrap_or_default();
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config
    }

    pub fn client(&self) -> Result<kube::Client, SimError> {
        kube::Client::try_from(self.kube_config()).map_err(|e| SimError::Kube(e.to_string()))
    }

    /// A kubeconfig with one context named after the cluster.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&[(self.name().to_string(), self.url())])
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        write_file(path, &self.kubeconfig_yaml())
    }

    pub fn faults(&self) -> Faults {
        self.state.faults.clone()
    }

    /// Adds a validating admission check on a resource ("plural.group", or a
    /// core plural such as "pods"); a rejection is relayed as a webhook denial.
    pub fn add_validator(&self, resource: &str, webhook: &str, check: Validator) {
        self.state.validators.write().push((resource.into(), webhook.into(), check));
    }

    /// Creates or replaces every object in a (multi-document) YAML or JSON text.
    pub fn apply_yaml(&self, text: &str) -> Result<Vec<Value>, SimError> {
        let mut out = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| SimError::Parse { path: "<yaml>".into(), message: e.to_string() })?;
            if value.is_null() {
                continue;
            }
            let what = format!("{} {}", value["kind"], value["metadata"]["name"]);
            out.push(
                handlers::upsert(&self.state, value)
                    .map_err(|source| SimError::Api { what, source: Box::new(source) })?,
            );
        }
        Ok(out)
    }

    /// Creates or replaces one object (namespace "default" when unset), bypassing HTTP.
    pub fn upsert(&self, object: Value) -> Result<Value, SimError> {
        let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
        handlers::upsert(&self.state, object)
            .map_err(|source| SimError::Api { what, source: Box::new(source) })
    }

    pub fn apply_file(&self, path: &Path) -> Result<Vec<Value>, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SimError::Io { path: path.display().to_string(), source })?;
        self.apply_yaml(&text).map_err(|e| match e {
            SimError::Parse { message, .. } => SimError::Parse { path: path.display().to_string(), message },
            other => other,
        })
    }

    /// Applies every .yaml/.yml/.json file of a directory, in name order.
    pub fn apply_dir(&self, dir: &Path) -> Result<Vec<Value>, SimError> {
        let io = |source| SimError::Io { path: dir.display().to_string(), source };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(self.apply_file(&f)?);
        }
        Ok(out)
    }

    /// Number of stored objects of a resource (group "" for core).
    pub fn count(&self, group: &str, plural: &str) -> usize {
        self.state.store.count(&crate::resource::storage_key(group, plural))
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store.current_rv()
    }

    /// Stops serving: open watches end, then the server.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop(&mut self) {
        self.state.store.close_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Several independent clusters in one process (e.g. a Karmada host and members).
pub struct SimFleet {
    clusters: BTreeMap<String, SimServer>,
}

impl SimFleet {
    /// Starts one cluster per name, each on its own free port.
    pub async fn start(names: &[&str], base: SimConfig) -> Result<Self, SimError> {
        let mut clusters = BTreeMap::new();
        for name in names {
            let config = SimConfig { name: name.to_string(), ..base.clone() };
            clusters.insert(name.to_string(), SimServer::start(config).await?);
        }
        Ok(Self { clusters })
    }

    pub fn get(&self, name: &str) -> Option<&SimServer> {
        self.clusters.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &SimServer)> {
        self.clusters.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// One kubeconfig with a context per cluster; the first is current.
    pub fn kubeconfig_yaml(&self) -> String {
        let entries: Vec<_> = self.clusters.values().map(|s| (s.name().to_string(), s.url())).collect();
        kubeconfig_yaml(&entries)
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        write_file(path, &self.kubeconfig_yaml())
    }
}

/// Kubeconfig text for (name, url) pairs: cluster, user and context share the name.
pub fn kubeconfig_yaml(entries: &[(String, String)]) -> String {
    let clusters: Vec<Value> =
        entries.iter().map(|(n, u)| json!({"name": n, "cluster": {"server": u}})).collect();
    let users: Vec<Value> = entries.iter().map(|(n, _)| json!({"name": n, "user": {}})).collect();
    let contexts: Vec<Value> = entries
        .iter()
        .map(|(n, _)| json!({"name": n, "context": {"cluster": n, "user": n, "namespace": "default"}}))
        .collect();
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": entries.first().map(|(n, _)| n.clone()).unwrap_or_default(),
        "preferences": {},
    });
    serde_yaml::to_string(&config).unwrap_or_default()
}

fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError::Io { path: path.display().to_string(), source })
}
