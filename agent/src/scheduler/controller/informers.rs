//! The watches that feed the scheduler: nodes, every non-terminal pod (whoever
//! schedules it: they all use node capacity), and the volume objects the volume
//! checks read (claims, volumes, storage classes). One merged stream of events.
use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_fn};
use tokio::sync::mpsc;

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

/// The running watches: one task per kind (decoding objects off the decision loop's
/// thread), merged into one channel. Dropping it stops them.
pub struct Watches {
    pub events: mpsc::Receiver<Result<Watched, watcher::Error>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the watches. Errors are retried with kube-runtime's default backoff; they
/// are passed on so the controller can log them.
pub fn watch_cluster(client: &kube::Client) -> Watches {
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
    let (tx, events) = mpsc::channel(4096);
    let tasks = streams
        .into_iter()
        .map(|mut stream| {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(item) = stream.next().await {
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    Watches { events, tasks }
}

/// managedFields are never read; dropping them saves memory on large clusters.
fn strip<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}
