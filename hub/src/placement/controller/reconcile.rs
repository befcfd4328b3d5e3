//! One reconcile: read the CR, its target policy, the policy's bindings and the Karmada
//! Clusters fresh from the API server; locate the clusters; run the pure evaluation; write.
//!
//! The CR is read again rather than taken from the watch cache because its status is the
//! controller's memory (a pending make-before-break switch, the last switch time): a stale
//! copy could forget a switch in progress. A newly elected leader picks up from it too.
use super::karmada::policy_key;
use super::write::{self, Found};
use super::{Context, Error, cr_key, lifecycle};
use crate::placement::{bindings, directory, patch};
use gridshift_api::conditions::{READY, find};
use gridshift_api::policy::status::waiting_for_data;
use gridshift_api::policy::{CarbonAwareKarmadaPolicy as Cr, Observation, evaluate_policy};
use gridshift_core::Zone;
use gridshift_core::placement::Target;
use gridshift_core::placement::locate::{self, Located, Source};
use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;

pub async fn reconcile(cr: Arc<Cr>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = cr.namespace().unwrap_or_default();
    let key = cr_key(&cr);
    let api: Api<Cr> = Api::namespaced(ctx.client.clone(), &ns);
    let cr = match api.get_opt(&cr.name_any()).await? {
        Some(cr) if cr.metadata.deletion_timestamp.is_none() => cr,
        Some(deleting) => {
            lifecycle::finalize(&ctx, &deleting).await?;
            forget(&ctx, &key, &ObjectRef::from_obj(cr.as_ref()));
            return Ok(Action::await_change());
        }
        None => {
            forget(&ctx, &key, &ObjectRef::from_obj(cr.as_ref()));
            return Ok(Action::await_change());
        }
    };
    lifecycle::ensure_finalizer(&ctx, &cr).await?;
    let now = ctx.config.clock.now();

    let target = patch::target_ref(&cr.spec, &ns);
    let (policy, missing) = match &target {
        Ok(t) => match ctx.karmada.policy(t).await? {
            Some(p) => (Some(p), None),
            None => {
                let place = t.namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default();
                (None, Some(format!("{} {}{place} not found", t.kind, t.name)))
            }
        },
        Err(unknown) => (None, Some(unknown.to_string())),
    };
    let bound = match (&target, &policy) {
        (Ok(t), Some(p)) => ctx.karmada.bindings(&policy_key(t), p).await?,
        _ => Vec::new(),
    };
    let observed = bindings::observed_affinity(&bound);
    let current = policy.as_ref().map(|p| patch::current_cluster_names(p, observed.as_deref()));

    let facts = ctx.karmada.clusters().await?;
    let located = locate::locate(&cr.spec.cluster_locations, &facts, &ctx.config.zone_map, |c| {
        ctx.distributor.reported_zones(c)
    });
    for l in located.iter().filter(|l| l.zone.is_none()) {
        tracing::warn!(policy = %key, cluster = %l.name, "no grid zone known for this cluster; it is never chosen");
    }
    directory::register(&ctx.distributor, &key, &located);
    if let Some(waiting) = warming_up(&ctx, &cr, &key, &located, now).await? {
        return Ok(waiting);
    }
    let conflicts = zone_conflicts(&ctx, &located);
    let mut policy_in = cr.spec.policy();
    policy_in.clusters = located.iter().map(locate::Located::candidate).collect();
    policy_in.settings.refresh_settle = ctx.config.refresh_settle;

    let previous = cr.status.clone().unwrap_or_default();
    let incoming = previous.pending.as_ref().map(|p| p.incoming.clone()).unwrap_or_default();
    let ready = bindings::ready_clusters(&bound, &incoming);
    let target_state = match (&current, &missing) {
        (Some(c), _) => Target::Found(c),
        (None, Some(why)) => Target::Missing(why),
        (None, None) => Target::Missing("target policy not found"),
    };
    let obs = Observation {
        generation: cr.metadata.generation,
        target: target_state,
        ready: &ready,
        zone_conflicts: &conflicts,
        now,
    };
    let forecasts = ctx.forecasts.borrow().clone();
    let eval = evaluate_policy(&policy_in, &previous, &forecasts, obs);
    let next = eval.next_change.map_or(now + ctx.config.resync, |t| t.min(now + ctx.config.resync));

    let found = match (&target, &policy, &current) {
        (Ok(target), Some(policy), Some(current)) => {
            Some(Found { target, policy, current, observed: observed.as_deref() })
        }
        _ => None,
    };
    let ranking = eval.ranking.clone();
    let status = write::apply(&ctx, &cr, found, eval).await?;
    ctx.metrics.observe(&key, &ranking, &status.active_clusters);
    ctx.timers.schedule(ObjectRef::from_obj(&cr), next);
    ctx.retries.forget(&key);
    ctx.progress.send_modify(|p| {
        p.insert(key, now);
    });
    Ok(Action::await_change())
}

/// Holds the evaluation of a CR until the hub has tried each of its zones since it started
/// (or became the leader): evaluating on no data yet would start the fallback clock and
/// flip conditions for nothing. The status says so only for a CR never evaluated, or once
/// the wait outlasts the grace period; otherwise the last evaluation stands meanwhile.
async fn warming_up(
    ctx: &Context,
    cr: &Cr,
    key: &str,
    located: &[Located],
    now: Timestamp,
) -> Result<Option<Action>, Error> {
    let Some(settled) = &ctx.config.zones_settled else { return Ok(None) };
    let pending: Vec<&Zone> =
        located.iter().filter_map(|l| l.zone.as_ref()).filter(|z| !settled(z)).collect();
    if pending.is_empty() {
        ctx.waiting_since.lock().remove(key);
        return Ok(None);
    }
    let since = *ctx.waiting_since.lock().entry(key.to_string()).or_insert(now);
    let due = since + ctx.config.warmup_grace;
    let previous = cr.status.clone().unwrap_or_default();
    let never_evaluated = find(&previous.conditions, READY).is_none();
    if never_evaluated || now >= due {
        let names: Vec<String> = pending.iter().map(|z| z.to_string()).collect();
        let msg = format!(
            "waiting for the first carbon-intensity fetch of {} since {since}; not evaluated until then",
            names.join(", ")
        );
        let status = waiting_for_data(&previous, &msg, cr.metadata.generation, now);
        write::write_status(ctx, cr, &status).await?;
    }
    tracing::info!(policy = %key, zones = ?pending, "waiting for the first fetch of the policy's zones");
    // A failed first fetch changes no forecast, so look again on the clock too.
    let recheck = if now < due { due } else { now + ctx.config.warmup_grace };
    ctx.timers.schedule(ObjectRef::from_obj(cr), recheck.min(now + ctx.config.resync));
    Ok(Some(Action::await_change()))
}

/// One sentence per cluster whose connected agent serves another zone than the policy
/// locates it in (the agent's own zone wins for what it serves).
fn zone_conflicts(ctx: &Context, located: &[Located]) -> Vec<String> {
    located
        .iter()
        .filter(|l| l.source != Some(Source::Agent))
        .filter_map(|l| {
            let zone = l.zone.as_ref()?;
            let served = ctx.distributor.reported_zones(&l.name).filter(|z| !z.is_empty())?;
            let list: Vec<String> = served.iter().map(|z| z.to_string()).collect();
            (!served.contains(zone))
                .then(|| format!("{} is located in {zone} but its agent serves {}", l.name, list.join(", ")))
        })
        .collect()
}

fn forget(ctx: &Context, key: &str, obj: &ObjectRef<Cr>) {
    directory::unregister(&ctx.distributor, key);
    ctx.waiting_since.lock().remove(key);
    ctx.metrics.forget(key);
    ctx.timers.cancel(obj);
    ctx.retries.forget(&key.to_string());
    ctx.progress.send_if_modified(|p| p.remove(key).is_some());
}

/// Retries with exponential backoff per CR (real time: API errors heal in real time).
pub fn error_policy(cr: Arc<Cr>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = cr_key(&cr);
    ctx.metrics.failed(&key, err.kind());
    let delay = ctx.retries.failed(&key);
    tracing::warn!(policy = %key, error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
