//! The decision loop. One task owns the cache, the queue and the forecast, so a
//! decision and the assumption it makes are never interleaved with another; API
//! writes run in [`report`](super::report) tasks and come back as outcomes.
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::api::Condition;
use super::cluster::{Changes, ClusterCache};
use super::informers::{self, KINDS, Watched};
use super::queue::SchedulingQueue;
use super::report::{BindJob, Next, Outcome, REASON_FAILED, ReportJob, Reporter};
use super::{ControllerConfig, ControllerError, Deps};
use crate::forecast::ForecastView;
use gridshift_core::scheduling::deferral::DeferralRequest;
use gridshift_core::scheduling::{
    Decision, REASON_SCHEDULING_GATED, REASON_UNSCHEDULABLE, REASON_WAITING, SchedulerConfig, schedule_one,
};
use gridshift_core::{Forecasts, Zone};
use gridshift_ops::events::{EventType, EventWriter};
use gridshift_ops::runtime::Shutdown;

pub(super) struct Driver {
    cfg: ControllerConfig,
    deps: Deps,
    leading: watch::Receiver<bool>,
    cache: ClusterCache,
    queue: SchedulingQueue,
    /// The agent's forecasts (shared with the stream client, never copied).
    forecasts: Forecasts,
    decisions: SchedulerConfig,
    /// A forecast has arrived since start (ends the data grace early).
    have_forecast: bool,
    started: Instant,
    synced: [bool; KINDS],
    reporter: Reporter,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    /// The zones configured on the command line (the first is the primary).
    configured_zones: Vec<Zone>,
}

impl Driver {
    pub(super) fn new(cfg: ControllerConfig, deps: Deps, leading: watch::Receiver<bool>) -> Self {
        let (tx, outcomes) = mpsc::unbounded_channel();
        let reporter = Reporter {
            client: deps.client.clone(),
            scheduler_name: cfg.scheduler_name.clone(),
            events: EventWriter::new(deps.client.clone(), &cfg.scheduler_name, &cfg.leader.identity),
            metrics: deps.metrics.clone(),
            clock: deps.clock.clone(),
            permits: Arc::new(Semaphore::new(cfg.bind_concurrency.max(1))),
            leading: leading.clone(),
            outcomes: tx,
            status: deps.status.clone(),
        };
        let configured_zones = deps.node_zones.as_ref().map(|z| z.borrow().clone()).unwrap_or_default();
        let mut driver = Self {
            configured_zones,
            cache: ClusterCache::new(&cfg.scheduler_name, cfg.zones.clone(), cfg.zone_map.clone()),
            queue: SchedulingQueue::new(cfg.queue),
            forecasts: Forecasts::default(),
            decisions: cfg.decisions.clone(),
            have_forecast: false,
            started: Instant::now(),
            synced: [false; KINDS],
            reporter,
            outcomes,
            leading,
            cfg,
            deps,
        };
        let view = driver.deps.forecast.current();
        driver.forecasts = view.forecasts.clone();
        driver.take_forecast(&view);
        driver
    }

    pub(super) async fn run(mut self, shutdown: Shutdown) -> Result<(), ControllerError> {
        let mut watches = informers::watch_cluster(&self.deps.client);
        let mut forecast = self.deps.forecast.clone();
        let mut forecast_open = true;
        let mut leading = self.leading.clone();
        let mut leader_open = true;
        let mut was_leading = *leading.borrow();
        self.deps.metrics.leader.set(i64::from(was_leading));
        loop {
            let real_deadline = self.queue.next_real_deadline();
            let clock_deadline = self.queue.next_clock_deadline();
            let ready = self.ready() && self.queue.has_active(Instant::now());
            let clock = self.deps.clock.clone();
            tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                Some(outcome) = self.outcomes.recv() => self.on_outcome(outcome),
                event = watches.events.recv() => match event {
                    Some(Ok(w)) => self.on_watched(w),
                    Some(Err(e)) => tracing::warn!(error = %e, "scheduler watch error; retrying"),
                    None => return Err(ControllerError::WatchesEnded),
                },
                changed = leading.changed(), if leader_open => match changed {
                    Ok(()) => {
                        let now = *leading.borrow_and_update();
                        self.deps.metrics.leader.set(i64::from(now));
                        if now && !was_leading {
                            tracing::info!("leading: scheduling pending pods");
                        }
                        was_leading = now;
                    }
                    Err(_) => leader_open = false,
                },
                view = forecast.changed(), if forecast_open => match view {
                    Ok(view) => {
                        if self.take_forecast(&view) {
                            self.queue.forecast_changed();
                        }
                    }
                    Err(_) => forecast_open = false,
                },
                _ = sleep_until(real_deadline) => {}
                _ = clock.sleep_until(clock_deadline.unwrap_or(Timestamp::MAX)), if clock_deadline.is_some() => {
                    self.queue.wake(clock.now());
                }
                _ = std::future::ready(()), if ready => self.schedule_next(),
            }
            let counts = self.queue.counts();
            if let Some(status) = &self.deps.status {
                status.set_pods_deferred(counts.waiting);
            }
            self.deps.metrics.set_queue(counts);
        }
    }

    /// Every watch has listed, and this replica leads.
    fn ready(&self) -> bool {
        self.synced.iter().all(|s| *s) && *self.leading.borrow()
    }

    fn grace_end(&self) -> Option<Instant> {
        (!self.have_forecast && self.started.elapsed() < self.cfg.data_grace)
            .then(|| self.started + self.cfg.data_grace)
    }

    /// Takes a new view of the forecast; `true` if the data changed. Heartbeats from
    /// the hub also publish a view (contact time); they change nothing here.
    fn take_forecast(&mut self, view: &ForecastView) -> bool {
        self.have_forecast |= view.updated_at.is_some() || view.last_hub_contact.is_some();
        if self.forecasts.same_series(&view.forecasts) {
            return false;
        }
        self.forecasts = view.forecasts.clone();
        true
    }

    fn on_watched(&mut self, w: Watched) {
        if w.is_init_done() {
            self.synced[w.kind_index()] = true;
        }
        let nodes = w.kind_index() == 0;
        let changes = self.cache.apply(w, self.deps.clock.now());
        self.on_changes(changes);
        if nodes && self.synced[0] {
            self.publish_zones();
        }
    }

    /// Tells the stream which zones to ask the hub for.
    fn publish_zones(&self) {
        let Some(tx) = &self.deps.node_zones else { return };
        let zones = self.cache.hello_zones(&self.configured_zones);
        tx.send_if_modified(|cur| {
            let changed = *cur != zones;
            if changed {
                tracing::info!(?zones, "grid zones of this cluster's nodes changed");
                *cur = zones;
            }
            changed
        });
    }

    fn on_changes(&mut self, ch: Changes) {
        let now = Instant::now();
        for uid in &ch.removed {
            self.queue.remove(uid);
        }
        for uid in &ch.added {
            self.queue.add(uid);
        }
        for uid in &ch.updated {
            self.queue.pod_updated(uid, now);
        }
        if ch.cluster {
            self.queue.cluster_changed(now);
        }
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        let now = Instant::now();
        match outcome {
            Outcome::Bound { uid } => {
                self.cache.snapshot.confirm(&uid);
                self.queue.remove(&uid);
            }
            // A failed binding releases what its assumption booked: pods that did not
            // fit meanwhile may fit now.
            Outcome::Conflict { uid, gone } => {
                self.forget(&uid, now);
                if gone {
                    self.queue.remove(&uid);
                } else {
                    self.queue.retry_later(&uid, now);
                }
            }
            Outcome::BindFailed { uid } => {
                self.forget(&uid, now);
                self.queue.retry_later(&uid, now);
            }
            Outcome::NotLeader { uid } => {
                self.forget(&uid, now);
                self.queue.retry_now(&uid);
            }
            Outcome::Reported { uid, next, written, announced } => {
                if let Some(p) = self.cache.pending.get_mut(&uid) {
                    p.condition = written;
                    if announced.is_some() {
                        p.announced_start = announced;
                    }
                }
                match next {
                    Next::Unschedulable => self.queue.unschedulable(&uid, now),
                    Next::WaitUntil(t) => self.queue.wait_until(&uid, t),
                }
            }
        }
    }

    fn forget(&mut self, uid: &str, now: Instant) {
        self.cache.snapshot.forget(uid);
        self.queue.cluster_changed(now);
    }

    /// Decides for the next pod in the queue and hands the API work to a task.
    fn schedule_next(&mut self) {
        let Some(uid) = self.queue.pop(Instant::now()) else { return };
        let Some(pending) = self.cache.pending.get(&uid) else {
            self.queue.remove(&uid);
            return;
        };
        let pod = pending.pod.clone();
        let mut info = self.cache.pod_info(&pod);
        info.created = super::cluster::effective_creation(info.created, pending.first_seen);
        let deferrable = matches!(info.deferral, DeferralRequest::Defer(_));
        if deferrable && self.grace_end().is_some() {
            // Just started, no forecast yet: hold opted-in pods briefly rather than
            // release them all for lack of data.
            self.queue.retry_later(&uid, Instant::now());
            return;
        }
        let now = self.deps.clock.now();
        let started = std::time::Instant::now();
        let decision = schedule_one(&self.decisions, &self.cache.snapshot, &info, &self.forecasts, now);
        self.deps.metrics.decision_seconds.observe(started.elapsed().as_secs_f64());
        let Some(pending) = self.cache.pending.get_mut(&uid) else { return };
        let current = pending.condition.clone();
        match decision {
            Decision::Bind(b) => {
                self.deps.metrics.attempt("bind");
                // The first baseline known for the pod: nearest to its creation.
                if pending.baseline.is_none() {
                    pending.baseline = b.baseline;
                }
                let baseline = pending.baseline;
                if let Err(e) = self.cache.snapshot.assume(&info, &b.node) {
                    tracing::warn!(pod = info.name, error = %e, "cannot assume the pod; retrying");
                    self.queue.retry_later(&uid, Instant::now());
                    return;
                }
                let invalid = matches!(info.deferral, DeferralRequest::Invalid(_));
                self.reporter.spawn_bind(BindJob {
                    uid,
                    pod,
                    node: b.node,
                    zone: b.zone,
                    intensity: b.intensity,
                    baseline,
                    first_seen: pending.first_seen,
                    deferral_note: b.deferral_note.map(|n| (n, invalid)),
                });
            }
            Decision::Wait(d) => {
                self.deps.metrics.attempt("waiting");
                if pending.baseline.is_none() {
                    pending.baseline = d.baseline;
                }
                if !pending.deferred_counted {
                    pending.deferred_counted = true;
                    self.deps.metrics.pods_deferred.inc();
                }
                let announce = pending.announced_start != Some(d.plan.start);
                self.reporter.spawn_report(ReportJob {
                    uid,
                    pod,
                    condition: Condition { reason: REASON_WAITING.into(), message: d.plan.message.clone() },
                    current,
                    event: announce.then(|| (EventType::Normal, REASON_WAITING, d.plan.message.clone())),
                    next: Next::WaitUntil(d.plan.recheck_by),
                    announced: announce.then_some(d.plan.start),
                });
            }
            Decision::Unschedulable { message } => {
                self.deps.metrics.attempt("unschedulable");
                tracing::debug!(pod = info.name, message, "unschedulable");
                self.reporter.spawn_report(ReportJob {
                    uid,
                    pod,
                    condition: Condition { reason: REASON_UNSCHEDULABLE.into(), message: message.clone() },
                    current,
                    event: Some((EventType::Warning, REASON_FAILED, message)),
                    next: Next::Unschedulable,
                    announced: None,
                });
            }
            Decision::Gated { message } => {
                self.deps.metrics.attempt("gated");
                self.reporter.spawn_report(ReportJob {
                    uid,
                    pod,
                    condition: Condition { reason: REASON_SCHEDULING_GATED.into(), message },
                    current,
                    event: None,
                    next: Next::Unschedulable,
                    announced: None,
                });
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
