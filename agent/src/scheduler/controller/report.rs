//! The API work after a decision, run off the decision loop (one task per decided
//! pod, bounded by a semaphore): the binding and its events, or the PodScheduled=False
//! condition and its event. Each task ends by telling the loop what to do with the pod.
use std::sync::Arc;

use gridshift_core::SharedClock;
use gridshift_ops::events::{Event, EventType, EventWriter};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{Semaphore, mpsc, watch};

use super::api::{self, BindError, Condition};
use super::metrics::SchedulerMetrics;

/// Event reasons, as kube-scheduler writes them, plus ours for deferral.
pub const REASON_SCHEDULED: &str = "Scheduled";
pub const REASON_FAILED: &str = "FailedScheduling";
/// An opted-in pod starts now rather than later (the message says why).
pub const REASON_STARTING_NOW: &str = "StartingNow";
/// The deferral annotations could not be read; the pod was scheduled at once.
pub const REASON_INVALID_DEFERRAL: &str = "InvalidDeferral";

/// What the loop does with the pod next.
#[derive(Debug)]
pub enum Outcome {
    Bound {
        uid: String,
    },
    /// The binding was refused; `gone`: the pod no longer needs us.
    Conflict {
        uid: String,
        gone: bool,
    },
    BindFailed {
        uid: String,
    },
    /// Leadership was lost before the binding was sent.
    NotLeader {
        uid: String,
    },
    Reported {
        uid: String,
        next: Next,
        written: Option<Condition>,
        announced: Option<Timestamp>,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Next {
    Unschedulable,
    WaitUntil(Timestamp),
}

/// Shared by the tasks.
#[derive(Clone)]
pub struct Reporter {
    pub client: kube::Client,
    pub scheduler_name: String,
    pub events: EventWriter,
    pub metrics: SchedulerMetrics,
    pub clock: SharedClock,
    pub permits: Arc<Semaphore>,
    pub leading: watch::Receiver<bool>,
    pub outcomes: mpsc::UnboundedSender<Outcome>,
    pub status: Option<crate::status::StatusReporter>,
}

/// A decided binding.
pub struct BindJob {
    pub uid: String,
    pub pod: Arc<Pod>,
    pub node: String,
    pub zone: Option<gridshift_core::Zone>,
    pub intensity: Option<f64>,
    pub baseline: Option<f64>,
    pub first_seen: Timestamp,
    /// For opted-in pods: why they start now; `true` when the annotations were invalid.
    pub deferral_note: Option<(String, bool)>,
}

/// A decided PodScheduled=False report.
pub struct ReportJob {
    pub uid: String,
    pub pod: Arc<Pod>,
    pub condition: Condition,
    /// Write the condition only if it differs from this (what the pod shows).
    pub current: Option<Condition>,
    /// (type, reason, message) of the event to emit, if any.
    pub event: Option<(EventType, &'static str, String)>,
    pub next: Next,
    pub announced: Option<Timestamp>,
}

impl Reporter {
    pub fn spawn_bind(&self, job: BindJob) {
        let r = self.clone();
        tokio::spawn(async move {
            let outcome = r.bind(&job).await;
            let bound = matches!(outcome, Outcome::Bound { .. });
            let _ = r.outcomes.send(outcome);
            if bound {
                r.bound_events(&job).await;
            }
        });
    }

    pub fn spawn_report(&self, job: ReportJob) {
        let r = self.clone();
        tokio::spawn(async move {
            let outcome = r.report(job).await;
            let _ = r.outcomes.send(outcome);
        });
    }

    async fn bind(&self, job: &BindJob) -> Outcome {
        let uid = job.uid.clone();
        let Ok(_permit) = self.permits.acquire().await else {
            return Outcome::NotLeader { uid };
        };
        // Checked as late as possible: a replica that lost the lease must not bind.
        if !*self.leading.borrow() {
            return Outcome::NotLeader { uid };
        }
        let now = self.clock.now();
        let annotations = api::accounting_annotations(job.zone.as_deref(), job.intensity, job.baseline, now);
        match api::bind(&self.client, &job.pod, &job.node, annotations).await {
            Ok(()) => {
                self.metrics.account(job.zone.as_deref(), job.intensity, job.baseline);
                if let Some(status) = &self.status {
                    status.pod_bound();
                }
                let waited = now.duration_since(job.first_seen).as_secs_f64().max(0.0);
                self.metrics.pending_to_bound_seconds.observe(waited);
                Outcome::Bound { uid }
            }
            Err(BindError::Conflict(msg)) => {
                self.metrics.bind_conflicts.inc();
                let gone =
                    !api::still_pending(&self.client, &job.pod, &self.scheduler_name).await.unwrap_or(true);
                tracing::info!(
                    pod = pod_name(&job.pod),
                    node = job.node,
                    gone,
                    reason = msg,
                    "binding refused (409)"
                );
                Outcome::Conflict { uid, gone }
            }
            Err(BindError::Gone) => Outcome::Conflict { uid, gone: true },
            Err(BindError::Other(e)) => {
                self.metrics.api_errors.inc();
                tracing::warn!(pod = pod_name(&job.pod), node = job.node, error = %e, "binding failed");
                let note = format!("Binding rejected: {e}");
                self.event(&job.pod, EventType::Warning, REASON_FAILED, "Binding", &note).await;
                Outcome::BindFailed { uid }
            }
        }
    }

    async fn bound_events(&self, job: &BindJob) {
        let pod = &job.pod;
        if let Some((note, invalid)) = &job.deferral_note {
            let (t, reason) = if *invalid {
                (EventType::Warning, REASON_INVALID_DEFERRAL)
            } else {
                (EventType::Normal, REASON_STARTING_NOW)
            };
            self.event(pod, t, reason, "Scheduling", note).await;
        }
        let mut note = format!("Successfully assigned {} to {}", pod_name(pod), job.node);
        if let (Some(zone), Some(i)) = (&job.zone, job.intensity) {
            note.push_str(&format!(" (grid zone {zone}, {i:.0} gCO2eq/kWh"));
            if let Some(b) = job.baseline {
                note.push_str(&format!("; carbon-agnostic baseline {b:.0}"));
            }
            note.push(')');
        }
        self.event(pod, EventType::Normal, REASON_SCHEDULED, "Binding", &note).await;
    }

    async fn report(&self, job: ReportJob) -> Outcome {
        let _permit = self.permits.acquire().await;
        let mut written = job.current.clone();
        if job.current.as_ref() != Some(&job.condition) {
            match api::set_unscheduled(&self.client, &job.pod, &job.condition, self.clock.now()).await {
                Ok(()) => written = Some(job.condition.clone()),
                Err(e) => {
                    self.metrics.api_errors.inc();
                    tracing::warn!(pod = pod_name(&job.pod), error = %e, "cannot set PodScheduled=False");
                }
            }
        }
        if let Some((t, reason, note)) = &job.event {
            self.event(&job.pod, *t, reason, "Scheduling", note).await;
        }
        Outcome::Reported { uid: job.uid, next: job.next, written, announced: job.announced }
    }

    async fn event(&self, pod: &Pod, t: EventType, reason: &str, action: &str, note: &str) {
        let event = Event {
            type_: t,
            reason: reason.into(),
            note: note.into(),
            action: action.into(),
            related: None,
        };
        if let Err(e) = self.events.publish(&event, &api::pod_ref(pod)).await {
            self.metrics.api_errors.inc();
            tracing::debug!(pod = pod_name(pod), reason, error = %e, "cannot write event");
        }
    }
}

pub fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}
