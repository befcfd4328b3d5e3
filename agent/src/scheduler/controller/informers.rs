//! The watches that feed the scheduler: nodes, every non-terminal pod (whoever
//! schedules it: they all use node capacity), and the volume objects the volume
//! checks read (claims, volumes, storage classes). One merged stream of events.
use futures::stream::{BoxStream, StreamExt, select_all};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_fn};

/// One watch event, by kind. Each is moved once, from the stream into the cache, so
/// the size difference between kinds costs nothing worth a box per event.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Watched {
    Node(Event<Node>),
    Pod(Event<Pod>),
    Claim(Event<PersistentVolumeClaim>),
    Volume(Event<PersistentVolume>),
    Class(Event<StorageClass>),
}

/// Which kinds the scheduler watches (all of them must have listed before it decides).
pub const KINDS: usize = 5;

impl Watched {
    /// Index of the kind, for "has every watch finished its initial list".
    pub fn kind_index(&self) -> usize {
        match self {
            Self::Node(_) => 0,
            Self::Pod(_) => 1,
            Self::Claim(_) => 2,
            Self::Volume(_) => 3,
            Self::Class(_) => 4,
        }
    }

    pub fn is_init_done(&self) -> bool {
        matches!(
            self,
            Self::Node(Event::InitDone)
                | Self::Pod(Event::InitDone)
                | Self::Claim(Event::InitDone)
                | Self::Volume(Event::InitDone)
                | Self::Class(Event::InitDone)
        )
    }
}

/// kube-scheduler's pod informer selector: finished pods hold nothing. A pod that
/// finishes leaves the watch (delivered as a deletion).
pub const POD_FIELD_SELECTOR: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// The merged watch. Errors are retried with kube-runtime's default backoff; they are
/// yielded so the controller can log them.
pub fn watch_cluster(client: &kube::Client) -> BoxStream<'static, Result<Watched, watcher::Error>> {
    let cfg = watcher::Config::default();
    let pods = watcher::Config::default().fields(POD_FIELD_SELECTOR);
    let streams: Vec<BoxStream<'static, Result<Watched, watcher::Error>>> = vec![
        watch_fn(Api::<Node>::all(client.clone()), cfg.clone())
            .default_backoff()
            .map(|r| r.map(|e| Watched::Node(e.modify(strip))))
            .boxed(),
        watch_fn(Api::<Pod>::all(client.clone()), pods)
            .default_backoff()
            .map(|r| r.map(|e| Watched::Pod(e.modify(strip))))
            .boxed(),
        watch_fn(Api::<PersistentVolumeClaim>::all(client.clone()), cfg.clone())
            .default_backoff()
            .map(|r| r.map(Watched::Claim))
            .boxed(),
        watch_fn(Api::<PersistentVolume>::all(client.clone()), cfg.clone())
            .default_backoff()
            .map(|r| r.map(Watched::Volume))
            .boxed(),
        watch_fn(Api::<StorageClass>::all(client.clone()), cfg)
            .default_backoff()
            .map(|r| r.map(Watched::Class))
            .boxed(),
    ];
    select_all(streams).boxed()
}

/// managedFields are never read; dropping them saves memory on large clusters.
fn strip<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}
