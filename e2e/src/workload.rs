//! The pods the demo feeds to the carbon-aware scheduler, and a minimal
//! kubelet that runs bound pods for their expected time and then completes
//! them (so nodes free up as in a real cluster).
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::HashMap;

pub const SCHEDULER_NAME: &str = "carbon-aware-scheduler";
const RUNTIME: SignedDuration = SignedDuration::from_hours(1);

/// Creates pods at a steady simulated rate: alternately one that must start
/// now and one that may wait (it must finish within `slack` of its creation).
pub struct PodSource {
    every: SignedDuration,
    slack: SignedDuration,
    next_at: Option<Timestamp>,
    created: u64,
}

impl PodSource {
    pub fn new(every: SignedDuration, slack: SignedDuration) -> Self {
        Self { every, slack, next_at: None, created: 0 }
    }

    /// Pods due by `now` (none are skipped when the caller falls behind).
    pub fn due(&mut self, now: Timestamp) -> Vec<Pod> {
        let mut out = Vec::new();
        let mut at = *self.next_at.get_or_insert(now);
        while at <= now {
            out.push(self.pod(at));
            at += self.every;
        }
        self.next_at = Some(at);
        out
    }

    fn pod(&mut self, at: Timestamp) -> Pod {
        self.created += 1;
        let deferrable = self.created.is_multiple_of(2);
        let name = format!("job-{:05}", self.created);
        let mut annotations = json!({"gridshift.io/expected-runtime": "1h"});
        if deferrable {
            annotations["gridshift.io/deadline"] = json!((at + self.slack).to_string());
        }
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": crate::scenario::NAMESPACE,
                "labels": {"app": "batch-job", "gridshift.io/demo-deferrable": deferrable.to_string()},
                "annotations": annotations,
            },
            "spec": {
                "schedulerName": SCHEDULER_NAME,
                "restartPolicy": "Never",
                "containers": [{"name": "job", "image": "registry.example/batch-job:1",
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]
            }
        }))
        .expect("a valid pod")
    }
}

/// Completes bound pods `RUNTIME` (simulated) after it first saw them bound.
#[derive(Default)]
pub struct Kubelet {
    bound_at: HashMap<String, Timestamp>,
}

impl Kubelet {
    pub async fn tick(&mut self, pods: &Api<Pod>, now: Timestamp) -> kube::Result<()> {
        for pod in pods.list(&ListParams::default()).await? {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
            if !bound || phase == "Succeeded" {
                continue;
            }
            let since = *self.bound_at.entry(name.clone()).or_insert(now);
            let patch = if now >= since + RUNTIME {
                json!({"status": {"phase": "Succeeded"}})
            } else if phase == "Pending" {
                json!({"status": {"phase": "Running"}})
            } else {
                continue;
            };
            pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await?;
        }
        Ok(())
    }
}

pub async fn create(pods: &Api<Pod>, new: Vec<Pod>) -> kube::Result<()> {
    for pod in new {
        pods.create(&PostParams::default(), &pod).await?;
    }
    Ok(())
}
