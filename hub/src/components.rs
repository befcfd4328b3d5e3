//! The parts `gridshift-hub serve` runs, as runtime components: the forecast store and
//! the agents' stream server (the placement controller is
//! [`crate::placement::controller::PlacementComponent`]).
use crate::distribution::Distributor;
use crate::grpc::HubServer;
use crate::metrics::StreamMetrics;
use futures::future::BoxFuture;
use gridshift_carbon::ForecastStore;
use gridshift_ops::runtime::{Component, ComponentError, ReadinessHandle, Shutdown};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// The forecast store: fetches what agents and policies want, from start to shutdown.
/// The hub turns ready once the store has restored its state and tried every zone, so
/// a new replica streams data rather than an empty snapshot.
pub struct StoreComponent {
    pub store: Arc<ForecastStore>,
    pub metrics: gridshift_carbon::Metrics,
    /// Whose wanted zones wake the store (a new agent's zone is fetched at once).
    pub distributor: Distributor,
    pub readiness: ReadinessHandle,
}

impl Component for StoreComponent {
    fn name(&self) -> &'static str {
        "forecast store"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let StoreComponent { store, distributor, readiness, .. } = *self;
            let mut wanted = distributor.watch_wanted();
            let waker = store.clone();
            tokio::spawn(async move {
                while wanted.changed().await.is_ok() {
                    waker.wake();
                }
            });
            let mut warm = store.warmed_up();
            tokio::spawn(async move {
                if warm.wait_for(|w| *w).await.is_ok() {
                    readiness.ready();
                    tracing::info!("forecasts loaded: ready");
                }
            });
            store.run(async move { shutdown.wait().await }).await;
            Ok(())
        })
    }
}

/// The agents' forecast stream, already listening; drained on shutdown.
pub struct StreamComponent {
    pub server: HubServer,
    pub metrics: StreamMetrics,
}

impl Component for StreamComponent {
    fn name(&self) -> &'static str {
        "forecast stream"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            shutdown.wait().await;
            self.server.shutdown(Duration::from_secs(10)).await;
            Ok(())
        })
    }
}

/// Replicas sharing one store: follows the leader's forecasts into this replica's store
/// and publishes the zones this replica's agents need (see [`crate::replicas`]).
pub struct ReplicaComponent {
    pub store: Arc<ForecastStore>,
    pub shared: crate::replicas::SharedState,
    pub wanted: crate::replicas::WantedExchange,
    pub distributor: Distributor,
}

impl Component for ReplicaComponent {
    fn name(&self) -> &'static str {
        "replica state"
    }

    fn register_metrics(&self, _: &mut Registry) {}

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let ReplicaComponent { store, shared, wanted, distributor } = *self;
            // The leader fetches what other replicas' agents need as soon as they say so.
            let (waker, mut peers) = (store.clone(), wanted.peers().watch());
            tokio::spawn(async move {
                while peers.changed().await.is_ok() {
                    waker.wake();
                }
            });
            let own = distributor.clone();
            let stop = shutdown.clone();
            let exchange = wanted.run(move || own.wanted_zones(), distributor.watch_wanted(), async move {
                stop.wait().await
            });
            let stop = shutdown.clone();
            let follow = crate::replicas::follow((*store).clone(), shared, async move { stop.wait().await });
            tokio::join!(exchange, follow);
            Ok(())
        })
    }
}

/// Every replica: the zones the policies need and each cluster's zone (see
/// [`crate::placement::directory`]).
pub struct DirectoryComponent {
    pub client: kube::Client,
    pub zone_map: gridshift_core::zone_map::ZoneMap,
    pub distributor: Distributor,
}

impl Component for DirectoryComponent {
    fn name(&self) -> &'static str {
        "cluster directory"
    }

    fn register_metrics(&self, _: &mut Registry) {}

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let this = *self;
            crate::placement::directory::run(this.client, this.zone_map, this.distributor, async move {
                shutdown.wait().await
            })
            .await;
            Ok(())
        })
    }
}
