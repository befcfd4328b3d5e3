//! A CR's life around its decisions: the finalizer that lets the hub see a delete, the
//! record of the target's placement before Gridshift first changed it (adoption), and
//! what a delete does to that placement (`spec.onDelete`).
//!
//! The record lives on the target policy itself (annotations), written in the same merge
//! patch as Gridshift's first placement, so it exists exactly when Gridshift has changed
//! something. A delete removes it; `Restore` puts the recorded `spec.placement` back with
//! a JSON patch that first tests the record is still the one read (a concurrent change
//! makes the patch fail and the delete is retried).
use super::{Context, Error, cr_key};
use crate::placement::patch::{self, TargetRef};
use gridshift_api::meta::{
    ANNOTATION_ADOPTED_BY, ANNOTATION_ORIGINAL_PLACEMENT, HUB_MANAGER, POLICY_FINALIZER,
};
use gridshift_api::policy::{CarbonAwareKarmadaPolicy as Cr, OnDelete};
use gridshift_ops::events::{Event, EventType};
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

fn params() -> PatchParams {
    PatchParams { field_manager: Some(HUB_MANAGER.into()), ..PatchParams::default() }
}

/// Adds the finalizer if it is missing. The merge patch carries the resourceVersion read,
/// so a concurrent change of the list makes it fail (and the reconcile retry) rather than
/// drop someone else's finalizer.
pub async fn ensure_finalizer(ctx: &Context, cr: &Cr) -> Result<(), Error> {
    if cr.finalizers().iter().any(|f| f == POLICY_FINALIZER) {
        return Ok(());
    }
    let mut list = cr.finalizers().to_vec();
    list.push(POLICY_FINALIZER.into());
    set_finalizers(ctx, cr, list).await
}

async fn set_finalizers(ctx: &Context, cr: &Cr, list: Vec<String>) -> Result<(), Error> {
    let api: Api<Cr> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"finalizers": list, "resourceVersion": cr.resource_version()}});
    api.patch(&cr.name_any(), &params(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// The annotations recording the target's placement before Gridshift's first write, to
/// merge into that write; `None` once recorded.
pub fn adoption_record(cr: &Cr, policy: &Value) -> Option<Value> {
    let annotations = policy.pointer("/metadata/annotations");
    if annotations.and_then(|a| a.get(ANNOTATION_ORIGINAL_PLACEMENT)).is_some() {
        return None;
    }
    let original = policy.pointer("/spec/placement").cloned().unwrap_or(Value::Null);
    Some(json!({
        ANNOTATION_ORIGINAL_PLACEMENT: original.to_string(),
        ANNOTATION_ADOPTED_BY: cr_key(cr),
    }))
}

/// What a delete does to the target (before the finalizer goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The recorded placement was put back.
    Restored,
    /// The placement stays as Gridshift left it; the record is removed.
    Kept,
    /// Nothing to do: the target is gone, of an unknown kind, or never changed by this CR.
    Untouched,
}

/// Handles a CR being deleted: applies `spec.onDelete` to its target, then removes the
/// finalizer. A target already gone does not block the delete.
pub async fn finalize(ctx: &Context, cr: &Cr) -> Result<Released, Error> {
    let ns = cr.namespace().unwrap_or_default();
    let released = match patch::target_ref(&cr.spec, &ns) {
        Ok(target) => release(ctx, cr, &target).await?,
        Err(_) => Released::Untouched,
    };
    if cr.finalizers().iter().any(|f| f == POLICY_FINALIZER) {
        let rest: Vec<String> = cr.finalizers().iter().filter(|f| *f != POLICY_FINALIZER).cloned().collect();
        set_finalizers(ctx, cr, rest).await?;
    }
    Ok(released)
}

async fn release(ctx: &Context, cr: &Cr, target: &TargetRef) -> Result<Released, Error> {
    let Some(policy) = ctx.karmada.policy(target).await? else { return Ok(Released::Untouched) };
    let annotations = policy.pointer("/metadata/annotations");
    let get = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str);
    let (Some(original), Some(owner)) = (get(ANNOTATION_ORIGINAL_PLACEMENT), get(ANNOTATION_ADOPTED_BY))
    else {
        return Ok(Released::Untouched);
    };
    if owner != cr_key(cr) {
        return Ok(Released::Untouched);
    }
    let path = |k: &str| format!("/metadata/annotations/{}", k.replace('~', "~0").replace('/', "~1"));
    let mut ops = vec![
        json!({"op": "test", "path": path(ANNOTATION_ORIGINAL_PLACEMENT), "value": original}),
        json!({"op": "remove", "path": path(ANNOTATION_ORIGINAL_PLACEMENT)}),
        json!({"op": "remove", "path": path(ANNOTATION_ADOPTED_BY)}),
    ];
    let released = match cr.spec.on_delete {
        OnDelete::Keep => Released::Kept,
        OnDelete::Restore => {
            // A record that does not parse was not written by us: leave the placement.
            let Ok(placement) = serde_json::from_str::<Value>(original) else {
                tracing::warn!(policy = %cr_key(cr), "the recorded original placement is not JSON; keeping the placement");
                return Ok(Released::Untouched);
            };
            let has_placement = policy.pointer("/spec/placement").is_some();
            match (placement.is_null(), has_placement) {
                (true, true) => ops.push(json!({"op": "remove", "path": "/spec/placement"})),
                (true, false) => {}
                (false, _) => ops.push(json!({"op": "add", "path": "/spec/placement", "value": placement})),
            }
            Released::Restored
        }
    };
    ctx.karmada.json_patch_policy(target, &Value::Array(ops)).await?;
    let (reason, note) = match released {
        Released::Restored => {
            ("PlacementRestored", "policy deleted: the placement from before Gridshift is restored")
        }
        _ => ("PlacementReleased", "policy deleted: the placement stays as Gridshift left it"),
    };
    tracing::info!(policy = %cr_key(cr), target = %target.name, reason, "released the target policy");
    let event = Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: note.into(),
        action: "Release".into(),
        related: None,
    };
    if let Err(e) = ctx.events.publish(&event, &cr.object_ref(&())).await {
        tracing::warn!(error = %e, policy = %cr.name_any(), "cannot record an event");
    }
    Ok(released)
}
