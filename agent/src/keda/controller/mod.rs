//! The CarbonAwareKedaScaler controller: a thin I/O adapter around
//! `gridshift_core::caps::decide`.
//!
//! Reconciles a CR when it changes, when its target (ScaledObject/ScaledJob) changes, when
//! the hub's forecast changes, and at the next instant its decision may change (forecast
//! point boundary, schedule edge, staleness) on the injectable clock. Writes only
//! `spec.maxReplicaCount` (and our bookkeeping keys, see `target`) with a merge patch under
//! field manager `gridshift-agent`; gives the original back when the CR is deleted
//! (finalizer) or stops targeting the object.
pub mod source;

use super::metrics::{KedaMetrics, ScalerLabels};
use super::target::{KINDS, Target, api_resource, kind_name};
use crate::forecast::{ForecastHandle, ForecastView};
use crate::status::StatusReporter;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use gridshift_api::keda::status::{Note, Outcome, merge_patch, next_status, notes};
use gridshift_api::keda::{CarbonAwareKedaScaler, KedaTarget, KedaTargetRef};
use gridshift_api::meta::{AGENT_MANAGER, ANNOTATION_CAPPED_BY, KEDA_FINALIZER, LABEL_CAPPER_UID};
use gridshift_core::SharedClock;
use gridshift_core::caps::decide;
use gridshift_ops::events::{Event, EventType, EventWriter};
use gridshift_ops::runtime::{ClockTimers, Component, ComponentError, Retries, Shutdown};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct KedaConfig {
    /// Real-time resync of every CR: re-reads `localConfigMap` sources, which are not watched.
    pub resync: Duration,
    /// Real-time delay before a failed reconcile is first retried (doubling to a minute).
    pub error_requeue: Duration,
    /// `reportingInstance` of our events (the pod name).
    pub instance: String,
    /// Where the caps in effect are reported to the hub.
    pub report: Option<StatusReporter>,
}

impl Default for KedaConfig {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(300),
            error_requeue: Duration::from_secs(5),
            instance: AGENT_MANAGER.into(),
            report: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(Box<finalizer::Error<ReconcileError>>),
}

struct Ctx {
    client: Client,
    /// The controller's cache of CRs: which capper uids still exist.
    store: Store<CarbonAwareKedaScaler>,
    clock: SharedClock,
    forecast: ForecastHandle,
    events: EventWriter,
    metrics: KedaMetrics,
    /// Each CR's next review (`namespace/name`); any falling due reconciles every CR.
    wakeups: Arc<ClockTimers<String>>,
    retries: Retries<String>,
    config: KedaConfig,
}

/// The capper as a component of the agent.
pub struct KedaComponent {
    pub client: Client,
    pub clock: SharedClock,
    pub forecast: ForecastHandle,
    pub metrics: KedaMetrics,
    pub config: KedaConfig,
}

impl Component for KedaComponent {
    fn name(&self) -> &'static str {
        "KEDA capper"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        let this = *self;
        Box::pin(async move {
            run(this.client, this.clock, this.forecast, this.metrics, this.config, shutdown).await;
            Ok(())
        })
    }
}

/// Runs the controller until `shutdown`.
pub async fn run(
    client: Client,
    clock: SharedClock,
    forecast: ForecastHandle,
    metrics: KedaMetrics,
    config: KedaConfig,
    shutdown: Shutdown,
) {
    let crs: Api<CarbonAwareKedaScaler> = Api::all(client.clone());
    let mut controller = Controller::new(crs, watcher::Config::default());
    let store = controller.store();
    for kind in KINDS {
        let ar = api_resource(kind);
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        controller =
            controller.watches_with(api, ar, watcher::Config::default(), scalers_of(store.clone(), kind));
    }
    let wakeups = ClockTimers::new(clock.clone());
    let ctx = Arc::new(Ctx {
        events: EventWriter::new(client.clone(), AGENT_MANAGER, &config.instance),
        retries: Retries::new(config.error_requeue, Duration::from_secs(60)),
        store: store.clone(),
        client,
        clock: clock.clone(),
        forecast: forecast.clone(),
        metrics,
        wakeups: wakeups.clone(),
        config,
    });
    controller
        .reconcile_all_on(forecast_changes(forecast))
        .reconcile_all_on(wakeups.due_any())
        .graceful_shutdown_on(async move { shutdown.wait().await })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "KEDA capper controller");
            }
        })
        .await;
}

/// The CRs a KEDA object event concerns: those targeting it, and the one whose cap is on it.
fn scalers_of(
    store: Store<CarbonAwareKedaScaler>,
    kind: KedaTarget,
) -> impl Fn(DynamicObject) -> Vec<ObjectRef<CarbonAwareKedaScaler>> + Send + Sync + 'static {
    move |obj| {
        let (namespace, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
        let capper = obj.labels().get(LABEL_CAPPER_UID).cloned();
        store
            .state()
            .iter()
            .filter(|cr| {
                let r = &cr.spec.keda_target_ref;
                let targets = cr.spec.keda_target == kind && r.name == name && r.namespace == namespace;
                targets || (capper.is_some() && cr.uid() == capper)
            })
            .map(|cr| ObjectRef::from_obj(cr.as_ref()))
            .collect()
    }
}

/// Yields when the hub's forecast for this cluster changes (not on every heartbeat).
fn forecast_changes(handle: ForecastHandle) -> impl Stream<Item = ()> + Send + 'static {
    let same = |a: &ForecastView, b: &ForecastView| {
        a.forecasts.same_series(&b.forecasts) && a.primary_zone == b.primary_zone
    };
    let last = handle.current();
    futures::stream::unfold((handle, last), move |(mut handle, last)| async move {
        loop {
            let next = handle.changed().await.ok()?;
            if !same(&last, &next) {
                return Some(((), (handle, next)));
            }
        }
    })
}

async fn reconcile(cr: Arc<CarbonAwareKedaScaler>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let namespace = cr.namespace().unwrap_or_default();
    ctx.metrics.reconciles.get_or_create(&ScalerLabels::new(&namespace, &cr.name_any())).inc();
    let api: Api<CarbonAwareKedaScaler> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, KEDA_FINALIZER, cr, |event| async {
        match event {
            finalizer::Event::Apply(cr) => apply(&cr, &ctx).await,
            finalizer::Event::Cleanup(cr) => cleanup(&cr, &ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

fn error_policy(cr: Arc<CarbonAwareKedaScaler>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    let (namespace, name) = (cr.namespace().unwrap_or_default(), cr.name_any());
    ctx.metrics.reconcile_errors.get_or_create(&ScalerLabels::new(&namespace, &name)).inc();
    let retry_in = ctx.retries.failed(&format!("{namespace}/{name}"));
    tracing::warn!(%namespace, %name, error = %error, ?retry_in, "reconcile failed");
    Action::requeue(retry_in)
}

fn params() -> PatchParams {
    PatchParams { field_manager: Some(AGENT_MANAGER.into()), ..PatchParams::default() }
}

async fn apply(cr: &CarbonAwareKedaScaler, ctx: &Ctx) -> Result<Action, ReconcileError> {
    let now = ctx.clock.now();
    let (namespace, name, uid) =
        (cr.namespace().unwrap_or_default(), cr.name_any(), cr.uid().unwrap_or_default());
    let spec = &cr.spec;
    let (kind, tref) = (spec.keda_target, &spec.keda_target_ref);
    let target_desc = format!("{} {}/{}", kind_name(kind), tref.namespace, tref.name);

    let sourced =
        source::fetch(&spec.carbon_intensity_forecast_data_source, &ctx.forecast.current(), &ctx.client, now)
            .await;
    let targets =
        Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &tref.namespace, &api_resource(kind));
    let object = match targets.get_opt(&tref.name).await {
        Ok(object) => object,
        // KEDA not installed (the kind is not served): the target cannot exist.
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => return Err(e.into()),
    };
    let mut target = object.as_ref().map(Target::from_object);
    // A cap left by a CR that no longer exists (its finalizer was removed by hand) is
    // adopted with its recorded original, rather than blocking the target forever.
    if let Some(t) = target.as_mut()
        && let Some(other) = t.capped_by_uid.clone()
        && other != uid
        && !ctx.store.state().iter().any(|c| c.uid().as_deref() == Some(other.as_str()))
    {
        tracing::info!(%namespace, %name, target = target_desc, orphaned_by = other, "adopting an orphaned cap");
        t.capped_by_uid = Some(uid.clone());
    }
    let min = target.as_ref().and_then(|t| t.min_replica_count);
    let decision = decide(&spec.cap_rules(), &sourced.forecasts, sourced.zone_name(), min, now);
    let next_review = decision.as_ref().ok().and_then(|d| d.next_review);
    let outcome = match (decision, target) {
        (Err(invalid), _) => Outcome::Invalid(invalid),
        (Ok(_), None) => Outcome::TargetNotFound,
        (Ok(decision), Some(t)) => match (&t.paused, &t.capped_by_uid) {
            (Some(why), _) => Outcome::Paused { decision, why: why.clone() },
            (None, Some(other)) if *other != uid => {
                let by = object.as_ref().and_then(|o| o.annotations().get(ANNOTATION_CAPPED_BY).cloned());
                Outcome::Claimed { by: by.unwrap_or_else(|| format!("with uid {other}")) }
            }
            (None, _) => {
                let patch = t.cap_patch(decision.max_replicas, &uid, &format!("{namespace}/{name}"));
                if let Some(patch) = &patch {
                    targets.patch(&tref.name, &params(), &Patch::Merge(patch)).await?;
                    tracing::info!(%namespace, %name, target = target_desc, max = decision.max_replicas, reason = decision.reason, "capped");
                }
                Outcome::Applied { decision, written: patch.is_some() }
            }
        },
    };
    // Only a spec change (generation not yet in status) can have moved the target away
    // from an object this CR capped; status is written after the release, so a failed
    // release is retried. A CR that cannot be acted on writes nothing, not even releases.
    let spec_changed = cr.status.as_ref().and_then(|s| s.observed_generation) != cr.meta().generation;
    if spec_changed && !matches!(outcome, Outcome::Invalid(_)) {
        release(ctx, cr, &uid, Some((kind, tref))).await?;
    }

    let prev = cr.status.clone().unwrap_or_default();
    let next =
        next_status(&prev, &outcome, &target_desc, sourced.problem.as_deref(), cr.meta().generation, now);
    if next != prev {
        let api: Api<CarbonAwareKedaScaler> = Api::namespaced(ctx.client.clone(), &namespace);
        api.patch_status(&name, &params(), &Patch::Merge(merge_patch(&prev, &next))).await?;
    }
    for note in notes(&prev, &next, &outcome) {
        publish(ctx, cr, note).await;
    }
    record_metrics(ctx, cr, &next);
    let key = format!("{namespace}/{name}");
    if let Some(report) = &ctx.config.report {
        report.set_capping(&key, matches!(outcome, Outcome::Applied { .. }));
    }
    ctx.retries.forget(&key);
    ctx.wakeups.set(key, next_review);
    Ok(Action::requeue(ctx.config.resync))
}

fn record_metrics(
    ctx: &Ctx,
    cr: &CarbonAwareKedaScaler,
    status: &gridshift_api::keda::CarbonAwareKedaScalerStatus,
) {
    let labels = ScalerLabels::new(&cr.namespace().unwrap_or_default(), &cr.name_any());
    let m = &ctx.metrics;
    m.default_max_replicas.get_or_create(&labels).set(i64::from(cr.spec.eco_mode_off.max_replicas));
    if let Some(max) = status.applied_max_replicas {
        m.max_replicas.get_or_create(&labels).set(i64::from(max));
    }
    match status.carbon_intensity {
        Some(v) => {
            m.carbon_intensity.get_or_create(&labels).set(v);
        }
        None => {
            m.carbon_intensity.remove(&labels);
        }
    }
    m.eco_mode_off.get_or_create(&labels).set(i64::from(status.eco_mode_off.unwrap_or(false)));
}

async fn cleanup(cr: &CarbonAwareKedaScaler, ctx: &Ctx) -> Result<Action, ReconcileError> {
    let (namespace, name) = (cr.namespace().unwrap_or_default(), cr.name_any());
    release(ctx, cr, &cr.uid().unwrap_or_default(), None).await?;
    ctx.metrics.forget(&ScalerLabels::new(&namespace, &name));
    let key = format!("{namespace}/{name}");
    if let Some(report) = &ctx.config.report {
        report.set_capping(&key, false);
    }
    ctx.retries.forget(&key);
    ctx.wakeups.set(key, None);
    Ok(Action::await_change())
}

/// Gives every object capped by the CR `uid`, except `keep`, its original maximum back.
async fn release(
    ctx: &Ctx,
    cr: &CarbonAwareKedaScaler,
    uid: &str,
    keep: Option<(KedaTarget, &KedaTargetRef)>,
) -> Result<usize, ReconcileError> {
    let mut released = 0;
    for kind in KINDS {
        let ar = api_resource(kind);
        let all = Api::<DynamicObject>::all_with(ctx.client.clone(), &ar);
        let capped = match all.list(&ListParams::default().labels(&format!("{LABEL_CAPPER_UID}={uid}"))).await
        {
            Ok(list) => list.items,
            Err(kube::Error::Api(s)) if s.code == 404 => continue, // kind not served
            Err(e) => return Err(e.into()),
        };
        for obj in capped {
            let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
            if keep.is_some_and(|(k, r)| k == kind && r.namespace == ns && r.name == name) {
                continue;
            }
            let t = Target::from_object(&obj);
            let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ns, &ar);
            match api.patch(&name, &params(), &Patch::Merge(t.restore_patch())).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            let message = format!("released {} {ns}/{name}: maxReplicaCount restored", kind_name(kind));
            tracing::info!(scaler = cr.name_any(), "{message}");
            publish(ctx, cr, Note { warning: false, reason: "MaxReplicaCountRestored", message }).await;
            released += 1;
        }
    }
    Ok(released)
}

/// Best effort: an event that cannot be published is logged, never fails the reconcile.
async fn publish(ctx: &Ctx, cr: &CarbonAwareKedaScaler, note: Note) {
    let event = Event {
        type_: if note.warning { EventType::Warning } else { EventType::Normal },
        reason: note.reason.into(),
        note: note.message,
        action: "Reconcile".into(),
        related: None,
    };
    if let Err(e) = ctx.events.publish(&event, &cr.object_ref(&())).await {
        tracing::warn!(error = %e, reason = note.reason, "cannot publish event");
    }
}
