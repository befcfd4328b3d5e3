//! What the fleet is doing right now, read the way a user would: CR status on
//! the Karmada host, ConfigMaps, ScaledObjects and pods in each member, the
//! hub's metrics. The demo's view and the end-to-end tests share it.
use crate::fleet::{Fleet, Member};
use crate::process::http_get;
use crate::scenario::{NAMESPACE, SCALED_OBJECT};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct PolicyView {
    pub name: String,
    pub active: Vec<String>,
    /// (cluster, zone, intensity, valid) in the order the status lists them.
    pub clusters: Vec<(String, String, Option<f64>, bool)>,
    /// The message of the most telling condition (Switching, DataStale, …).
    pub reason: String,
    /// `status.estimatedCarbonAvoided`: the intensity gained (gCO2/kWh) at the last switch.
    pub last_switch_gain: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct MemberView {
    pub name: String,
    pub zone: String,
    /// Intensity now according to the member's carbon-intensity ConfigMap.
    pub configmap_intensity: Option<f64>,
    pub configmap_message: String,
    pub keda_cap: Option<i64>,
    pub keda_bucket: Option<i64>,
    pub eco_mode_off: Option<bool>,
    pub pods_bound: usize,
    pub pods_waiting: usize,
    pub pods_done: usize,
    /// Sum over bound pods of (baseline - placed) intensity, gCO2/kWh.
    pub pod_intensity_saved: f64,
}

#[derive(Debug, Clone, Default)]
pub struct FleetView {
    pub now: Option<Timestamp>,
    pub zones: BTreeMap<String, f64>,
    pub policies: Vec<PolicyView>,
    pub members: Vec<MemberView>,
}

pub fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

pub fn carbon_policies(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "gridshift.io",
        "v1alpha1",
        "CarbonAwareKarmadaPolicy",
        "carbonawarekarmadapolicies",
        Some(NAMESPACE),
    )
}

pub fn scaled_objects(client: &Client) -> Api<DynamicObject> {
    api(client, "keda.sh", "v1alpha1", "ScaledObject", "scaledobjects", Some(NAMESPACE))
}

pub fn keda_scalers(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "gridshift.io",
        "v1alpha1",
        "CarbonAwareKedaScaler",
        "carbonawarekedascalers",
        Some(NAMESPACE),
    )
}

impl FleetView {
    pub async fn read(fleet: &Fleet) -> anyhow::Result<FleetView> {
        let now = fleet.clock.now();
        let mut view = FleetView { now: Some(now), ..Default::default() };
        if let Ok(text) = http_get(fleet.hub_ops_port, "/metrics").await {
            view.zones = zone_intensities(&text);
        }
        let host = fleet.host.client()?;
        for policy in carbon_policies(&host).list(&ListParams::default()).await? {
            view.policies.push(policy_view(&policy));
        }
        for member in &fleet.members {
            // Simulated time runs fast: read "now" right before each member.
            view.members.push(member_view(member, fleet.clock.now()).await?);
        }
        Ok(view)
    }
}

/// `gridshift_carbon_intensity_gco2_per_kwh{zone="GB",...} 123` → GB: 123.
fn zone_intensities(metrics: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with("gridshift_carbon_intensity_gco2_per_kwh{")) {
        let zone = line.split("zone=\"").nth(1).and_then(|r| r.split('"').next());
        let value = line.rsplit(' ').next().and_then(|v| v.parse().ok());
        if let (Some(zone), Some(value)) = (zone, value) {
            out.insert(zone.to_string(), value);
        }
    }
    out
}

fn policy_view(policy: &DynamicObject) -> PolicyView {
    let status = &policy.data["status"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let clusters = status["clusters"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["location"].as_str().unwrap_or_default().to_string(),
                        number(&c["carbonIntensity"]["value"]),
                        c["isValid"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    PolicyView {
        name: policy.metadata.name.clone().unwrap_or_default(),
        active: strings(&status["activeClusters"]),
        clusters,
        reason: telling_condition(&status["conditions"]),
        last_switch_gain: number(&status["estimatedCarbonAvoided"]),
    }
}

/// A number, or a number in a string (the original operator's status keeps
/// intensities as strings).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

/// A true Switching/DataStale/TargetNotFound condition wins; else Ready's message.
fn telling_condition(conditions: &Value) -> String {
    let list = conditions.as_array().cloned().unwrap_or_default();
    let message = |c: &Value| {
        format!("{}: {}", c["reason"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or(""))
    };
    for kind in ["TargetNotFound", "DataStale", "Switching"] {
        if let Some(c) = list.iter().find(|c| c["type"] == kind && c["status"] == "True") {
            return format!("{kind} {}", message(c));
        }
    }
    list.iter().find(|c| c["type"] == "Ready").map(message).unwrap_or_default()
}

async fn member_view(member: &Member, now: Timestamp) -> anyhow::Result<MemberView> {
    let client = member.sim.client()?;
    let mut view =
        MemberView { name: member.name().into(), zone: member.primary_zone().into(), ..Default::default() };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    if let Some(cm) = cms.get_opt("carbon-intensity").await? {
        let data = cm.data.unwrap_or_default();
        view.configmap_message = data.get("message").cloned().unwrap_or_default();
        let records = cm.binary_data.unwrap_or_default().remove("data");
        let records: Vec<Value> = records.and_then(|b| serde_json::from_slice(&b.0).ok()).unwrap_or_default();
        view.configmap_intensity = current_record(&records, now);
    }
    if let Some(so) = scaled_objects(&client).get_opt(SCALED_OBJECT).await? {
        view.keda_cap = so.data["spec"]["maxReplicaCount"].as_i64();
    }
    if let Some(scaler) = keda_scalers(&client).get_opt(SCALED_OBJECT).await? {
        view.keda_bucket = scaler.data["status"]["bucket"].as_i64();
        view.eco_mode_off = scaler.data["status"]["ecoModeOff"].as_bool();
    }
    let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
    for pod in pods.list(&ListParams::default()).await? {
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
        match (bound, phase.as_str()) {
            (_, "Succeeded") => view.pods_done += 1,
            (true, _) => view.pods_bound += 1,
            (false, _) => view.pods_waiting += 1,
        }
        if bound {
            view.pod_intensity_saved += crate::accounting::intensity_saved(&pod).unwrap_or(0.0);
        }
    }
    Ok(view)
}

/// The record with `timestamp <= now < timestamp + duration` (exporter format).
pub fn current_record(records: &[Value], now: Timestamp) -> Option<f64> {
    records.iter().find_map(|r| {
        let start: Timestamp = r["timestamp"].as_str()?.parse().ok()?;
        let minutes = r["duration"].as_i64()?;
        let end = start + jiff::SignedDuration::from_mins(minutes);
        (start <= now && now < end).then(|| r["value"].as_f64()).flatten()
    })
}
