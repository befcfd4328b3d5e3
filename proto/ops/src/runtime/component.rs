//! The shape every long-running part of a binary takes, and the runtime that runs them
//! next to the ops endpoint (`/metrics`, `/healthz`, `/readyz`) until shutdown.
use super::Shutdown;
use crate::http::{self, Readiness};
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

pub type ComponentError = Box<dyn std::error::Error + Send + Sync>;

/// A long-running part of a binary (the forecast store, the stream server, a controller).
pub trait Component: Send + 'static {
    /// Names the component in logs.
    fn name(&self) -> &'static str;

    /// Registers the component's metrics; called once, before anything runs.
    fn register_metrics(&self, _registry: &mut Registry) {}

    /// Runs until `shutdown` triggers. An error is logged and makes the process exit
    /// non-zero when it stops; the other components keep serving meanwhile.
    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>>;
}

/// Whether the process is ready, as `/readyz` reports it. Components that gate
/// readiness (the hub's store, until it has tried every zone) mark it.
#[derive(Clone, Debug)]
pub struct ReadinessHandle {
    tx: Arc<watch::Sender<Result<(), String>>>,
    shutdown: Shutdown,
}

impl ReadinessHandle {
    /// Ready, unless shutting down (a process never turns ready again once stopping).
    pub fn ready(&self) {
        let stopping = self.shutdown.receiver();
        // Under the channel's lock: shutdown marks "stopping" before writing readiness.
        self.tx.send_if_modified(|r| !*stopping.borrow() && std::mem::replace(r, Ok(())).is_err());
    }
}

/// Runs components next to the ops endpoint until shutdown.
pub struct Runtime {
    registry: Registry,
    components: Vec<Box<dyn Component>>,
    shutdown: Shutdown,
    ready: Arc<watch::Sender<Result<(), String>>>,
}

impl Runtime {
    /// `readiness`: what `/readyz` says at start (`Err(why)` until a component marks ready).
    pub fn new(readiness: Result<(), String>) -> Self {
        Self {
            registry: Registry::default(),
            components: Vec::new(),
            shutdown: Shutdown::new(),
            ready: Arc::new(watch::Sender::new(readiness)),
        }
    }

    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    pub fn readiness(&self) -> ReadinessHandle {
        ReadinessHandle { tx: self.ready.clone(), shutdown: self.shutdown.clone() }
    }

    /// For metrics that belong to no component (collectors, build info).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn add(&mut self, component: impl Component) {
        component.register_metrics(&mut self.registry);
        self.components.push(Box::new(component));
    }

    /// Serves the ops endpoint on `ops_listen`, calls `started` with its address, runs
    /// every component until SIGTERM or Ctrl-C, then stops them and waits for all.
    /// Returns the first component error, if any.
    pub async fn run(
        self,
        ops_listen: SocketAddr,
        started: impl FnOnce(SocketAddr),
    ) -> Result<(), ComponentError> {
        let Runtime { registry, components, shutdown, ready } = self;
        let readiness: Readiness = ready.subscribe();
        let ops = http::serve(ops_listen, Arc::new(registry), readiness).await?;
        started(ops);
        shutdown.on_signal();
        let tasks: Vec<_> = components
            .into_iter()
            .map(|c| {
                let name = c.name();
                let run = c.run(shutdown.clone());
                let task = tokio::spawn(async move {
                    let result = run.await;
                    // Said at once: the other components keep serving until shutdown.
                    if let Err(e) = &result {
                        tracing::error!(component = name, error = %e, "component failed");
                    }
                    result
                });
                (name, task)
            })
            .collect();
        shutdown.wait().await;
        // Mark "stopping" first (see ReadinessHandle::ready), then turn unready.
        ready.send_modify(|r| *r = Err("shutting down".into()));
        let mut first_error = None;
        for (name, task) in tasks {
            let error: Option<ComponentError> = match task.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(join) => {
                    tracing::error!(component = name, error = %join, "component panicked");
                    Some(Box::new(join))
                }
            };
            if let Some(e) = error {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
