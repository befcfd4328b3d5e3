//! What one reconcile writes: the placement (never in dry run), the CR status, an event.
//!
//! Order matters for make-before-break when a write fails. A move that adds clusters writes
//! the status (which remembers the pending switch) first: if the placement write then fails,
//! the next round finds the switch pending and re-adds the incoming clusters; it never sees
//! an enlarged placement without knowing which clusters are incoming, which it would treat
//! as "remove the extras" with no readiness check. A move that removes clusters writes the
//! placement first, then the status that ends the switch.
use super::karmada::policy_key;
use super::{Context, Error};
use crate::placement::bindings::PolicyKey;
use crate::placement::patch::{self, PlacementError, TargetRef};
use gridshift_api::conditions::policy::PLACEMENT_REJECTED;
use gridshift_api::conditions::{READY, set_condition};
use gridshift_api::meta::HUB_MANAGER;
use gridshift_api::policy::{
    CarbonAwareKarmadaPolicy as Cr, CarbonAwareKarmadaPolicyStatus as Status, Evaluation, PlacementForm,
};
use gridshift_core::placement::{Decision, PlacementPlan, Ranking};
use gridshift_ops::events::{Event, EventType};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The target policy as found this round.
pub struct Found<'a> {
    pub target: &'a TargetRef,
    pub policy: &'a Value,
    pub current: &'a [String],
    /// The `clusterAffinities` group Karmada's scheduler observed.
    pub observed: Option<&'a str>,
}

/// Status as a JSON merge patch; optional fields now empty are sent as null, which removes them.
pub fn status_patch(status: &Status) -> Result<Value, serde_json::Error> {
    let mut v = serde_json::to_value(status)?;
    if let Value::Object(m) = &mut v {
        for k in [
            "conditions",
            "observedGeneration",
            "lastSwitchTime",
            "pending",
            "estimatedCarbonAvoided",
            "noDataSince",
            "onFallback",
        ] {
            m.entry(k).or_insert(Value::Null);
        }
    }
    Ok(json!({ "status": v }))
}

pub(crate) async fn write_status(ctx: &Context, cr: &Cr, status: &Status) -> Result<(), Error> {
    if cr.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<Cr> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    let params = PatchParams { field_manager: Some(HUB_MANAGER.into()), ..PatchParams::default() };
    api.patch_status(&cr.name_any(), &params, &Patch::Merge(status_patch(status)?)).await?;
    Ok(())
}

/// The clusters a static weight list names.
fn weighted_clusters(policy: &Value) -> BTreeSet<String> {
    let list = policy.pointer("/spec/placement/replicaScheduling/weightPreference/staticWeightList");
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|w| w.pointer("/targetCluster/clusterNames").and_then(Value::as_array))
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// Weights from intensity; a cluster kept without data weighs like the dirtiest known one.
fn weights(placement: &[String], ranking: &Ranking) -> Vec<(String, i64)> {
    let worst = placement.iter().filter_map(|n| ranking.intensity_of(n)).reduce(f64::max).unwrap_or(1.0);
    let pairs: Vec<(String, f64)> =
        placement.iter().map(|n| (n.clone(), ranking.intensity_of(n).unwrap_or(worst))).collect();
    patch::weights_from_intensity(&pairs)
}

/// The patch this plan needs, if any. Weights change only with the cluster set (or when they
/// do not list it), so they move no more often than the dwell time allows.
fn patch_for(
    cr: &Cr,
    found: &Found<'_>,
    plan: &PlacementPlan,
    ranking: &Ranking,
) -> Result<Option<Value>, PlacementError> {
    let names_change = plan.writes(found.current);
    match cr.spec.placement_form {
        PlacementForm::ClusterNames if names_change => {
            patch::cluster_names_patch(found.policy, &plan.placement, found.observed).map(Some)
        }
        PlacementForm::ClusterNames => Ok(None),
        PlacementForm::Weighted => {
            let listed = weighted_clusters(found.policy);
            let wanted: BTreeSet<String> = plan.placement.iter().cloned().collect();
            if plan.placement.is_empty() || (!names_change && listed == wanted) {
                return Ok(None);
            }
            patch::weighted_patch(found.policy, &weights(&plan.placement, ranking), found.observed).map(Some)
        }
    }
}

fn event_kind(decision: Decision) -> (EventType, &'static str) {
    match decision {
        Decision::Initial => (EventType::Normal, "PlacementInitialised"),
        Decision::AddIncoming => (EventType::Normal, "SwitchStarted"),
        Decision::AwaitIncoming => (EventType::Normal, "SwitchResumed"),
        Decision::CompleteSwitch => (EventType::Normal, "Switched"),
        Decision::AbortSwitch => (EventType::Warning, "SwitchAborted"),
        Decision::Fallback => (EventType::Warning, "FallbackPlacement"),
        Decision::Keep => (EventType::Normal, "WeightsUpdated"),
    }
}

fn policy_reference(t: &TargetRef) -> ObjectReference {
    ObjectReference {
        api_version: Some(t.api_version.into()),
        kind: Some(t.kind.into()),
        name: Some(t.name.clone()),
        namespace: t.namespace.clone(),
        ..ObjectReference::default()
    }
}

async fn publish_event(ctx: &Context, cr: &Cr, found: &Found<'_>, plan: &PlacementPlan) {
    let (type_, reason) = event_kind(plan.decision);
    let event = Event {
        type_,
        reason: reason.into(),
        note: format!("placement [{}]: {}", plan.placement.join(", "), plan.reason),
        action: "Place".into(),
        related: Some(policy_reference(found.target)),
    };
    // An event is an explanation, not the decision: failing to record one fails nothing.
    if let Err(e) = ctx.events.publish(&event, &cr.object_ref(&())).await {
        tracing::warn!(error = %e, policy = %cr.name_any(), "cannot record an event");
    }
}

/// Writes what `eval` decided. Returns the status as written.
pub async fn apply(
    ctx: &Context,
    cr: &Cr,
    found: Option<Found<'_>>,
    eval: Evaluation,
) -> Result<Status, Error> {
    let Evaluation { plan, mut status, ranking, .. } = eval;
    let (Some(plan), Some(found)) = (plan, found) else {
        write_status(ctx, cr, &status).await?;
        return Ok(status);
    };
    if cr.spec.dry_run {
        write_status(ctx, cr, &status).await?;
        return Ok(status);
    }
    let patch = match patch_for(cr, &found, &plan, &ranking) {
        Ok(Some(patch)) => patch,
        Ok(None) => {
            write_status(ctx, cr, &status).await?;
            return Ok(status);
        }
        Err(e) => {
            // The user must fix the target policy; its next change brings us back.
            let (g, now) = (cr.metadata.generation, ctx.config.clock.now());
            let msg = format!("cannot place on {}: {e}", plan.placement.join(", "));
            set_condition(&mut status.conditions, READY, false, PLACEMENT_REJECTED, msg, g, now);
            tracing::warn!(policy = %cr.name_any(), error = %e, "placement not written");
            write_status(ctx, cr, &status).await?;
            return Ok(status);
        }
    };
    // Gridshift's first write to the target records what it replaces (`spec.onDelete`).
    let mut patch = patch;
    if let Some(record) = super::lifecycle::adoption_record(cr, found.policy) {
        json_patch::merge(&mut patch, &json!({"metadata": {"annotations": record}}));
    }
    let adds_clusters = plan.pending.is_some();
    if adds_clusters {
        write_status(ctx, cr, &status).await?;
    }
    ctx.karmada.patch_policy(found.target, &patch).await?;
    let key = match policy_key(found.target) {
        PolicyKey::Propagation { namespace, name } => format!("{namespace}/{name}"),
        PolicyKey::ClusterPropagation { name } => name,
    };
    tracing::info!(
        policy = %cr.name_any(), target = %key, decision = plan.decision.name(),
        placement = ?plan.placement, reason = %plan.reason, "placement written"
    );
    ctx.metrics.wrote(&super::cr_key(cr), plan.decision.name());
    if !adds_clusters {
        write_status(ctx, cr, &status).await?;
    }
    publish_event(ctx, cr, &found, &plan).await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridshift_api::policy::PendingStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn status_patch_clears_what_is_gone() {
        let mut s = Status { active_clusters: vec!["fr".into()], ..Status::default() };
        let cleared = status_patch(&s).unwrap();
        assert_eq!(cleared["status"]["pending"], Value::Null);
        assert_eq!(cleared["status"]["lastSwitchTime"], Value::Null);
        assert_eq!(cleared["status"]["activeClusters"], json!(["fr"]));
        s.pending = Some(PendingStatus {
            incoming: vec!["fr".into()],
            outgoing: vec![],
            since: Time("2022-06-01T00:00:00Z".parse().unwrap()),
            to_fallback: false,
        });
        assert_eq!(status_patch(&s).unwrap()["status"]["pending"]["incoming"], json!(["fr"]));
    }

    #[test]
    fn weights_treat_missing_data_as_the_dirtiest() {
        use gridshift_core::Zone;
        use gridshift_core::placement::RankedCluster;
        let c = |n: &str, v: Option<f64>| RankedCluster {
            name: n.into(),
            zone: Zone::new(&n.to_uppercase()).ok(),
            intensity: v,
            valid_from: None,
            valid_to: None,
            carried_since: None,
            mismatched_signal: None,
        };
        let r = Ranking { clusters: vec![c("fr", Some(50.0)), c("es", Some(100.0)), c("de", None)] };
        let w = weights(&["de".into(), "es".into(), "fr".into()], &r);
        assert_eq!(w, [("de".into(), 50), ("es".into(), 50), ("fr".into(), 100)]);
        let p = json!({"spec": {"placement": {"replicaScheduling": {"weightPreference": {"staticWeightList": [
            {"targetCluster": {"clusterNames": ["fr"]}, "weight": 2}, {"targetCluster": {"clusterNames": ["es"]}, "weight": 1}
        ]}}}}});
        assert_eq!(weighted_clusters(&p), ["es".to_string(), "fr".to_string()].into());
    }
}
