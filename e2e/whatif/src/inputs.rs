//! The simulator's inputs, as YAML documents (any number per file, any order):
//!
//! - `CarbonAwareKarmadaPolicy` and `CarbonAwareKedaScaler`: the same CRs users apply
//!   (only `metadata.name` and `spec` are read; the spec types are the controllers' own);
//! - `SchedulerSettings`: the carbon-aware scheduler's deferral planner settings;
//! - `Workload`: what runs (job arrivals, run times, slack; replica demand over time).
use gridshift_api::keda::CarbonAwareKedaScalerSpec;
use gridshift_api::policy::CarbonAwareKarmadaPolicySpec;
use gridshift_core::scheduling::PlannerConfig;
use gridshift_core::scheduling::deferral::parse_duration;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: {reason}")]
    Yaml { file: String, reason: String },
    #[error("{file}: document {index}: {reason}")]
    Document { file: String, index: usize, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// Everything read from the YAML files.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub karmada: BTreeMap<String, CarbonAwareKarmadaPolicySpec>,
    pub keda: BTreeMap<String, CarbonAwareKedaScalerSpec>,
    /// Deferral planner settings by `metadata.name` (each member cluster's agent has its
    /// own); the unnamed one (or the agent's defaults) applies to job groups naming none.
    pub planners: BTreeMap<String, Planner>,
    pub planner: Planner,
    pub workload: Workload,
}

/// The deferral planner's settings (`gridshift_core::scheduling::PlannerConfig`) and the
/// staleness bound its forecasts are judged by; omitted fields keep the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerSettings {
    pub staleness_bound: Option<String>,
    /// Relative cut in mean intensity worth waiting for (0.05 = 5%).
    pub min_improvement: Option<f64>,
    pub max_delay_cap: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    #[serde(default)]
    pub jobs: Vec<JobGroup>,
    #[serde(default)]
    pub placements: Vec<Placement>,
    #[serde(default)]
    pub scaled: Vec<Scaled>,
}

/// Batch jobs in one zone, deferrable like pods annotated `gridshift.io/max-delay` /
/// `gridshift.io/deadline` / `gridshift.io/expected-runtime` (temporal shifting).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobGroup {
    pub name: String,
    pub zone: String,
    pub arrivals: Arrivals,
    /// `gridshift.io/expected-runtime` (default 1h).
    #[serde(default = "one_hour")]
    pub runtime: String,
    /// `gridshift.io/max-delay`: may start this long after arrival.
    #[serde(default)]
    pub max_delay: Option<String>,
    /// Must have finished this long after arrival (`gridshift.io/deadline` = arrival + this).
    #[serde(default)]
    pub deadline_after: Option<String>,
    /// Power drawn by one running job, kW.
    #[serde(default = "one")]
    pub power_kw: f64,
    /// A CarbonAwareKedaScaler capping the ScaledJob that runs these jobs: the peers'
    /// threshold-cap rule to compare with. Optional.
    #[serde(default)]
    pub scaler: Option<String>,
    /// The ScaledJob's minReplicaCount (the cap is never below it).
    #[serde(default)]
    pub min_replica_count: i32,
    /// `metadata.name` of the SchedulerSettings of the cluster these jobs run in.
    #[serde(default)]
    pub scheduler: Option<String>,
}

/// When jobs arrive. Exactly one of `every`, `count` or `at`. Generated arrivals stop
/// early enough that every job's slack and run time fit inside the traces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arrivals {
    /// One job per period, from the first hour (plus `offset`).
    pub every: Option<String>,
    #[serde(default)]
    pub offset: Option<String>,
    /// This many jobs at uniformly random instants (seeded).
    pub count: Option<usize>,
    #[serde(default)]
    pub seed: u64,
    /// Explicit arrival instants (RFC 3339).
    #[serde(default)]
    pub at: Vec<Timestamp>,
}

/// A workload placed by a CarbonAwareKarmadaPolicy (spatial shifting).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    pub name: String,
    /// `metadata.name` of the CarbonAwareKarmadaPolicy.
    pub policy: String,
    #[serde(default)]
    pub replicas: Demand,
    #[serde(default = "one")]
    pub power_kw_per_replica: f64,
    /// How long an incoming cluster takes to report the workload applied and healthy.
    #[serde(default = "five_minutes")]
    pub ready_after: String,
    /// Where the workload runs without Gridshift (replicas spread evenly); default: every
    /// cluster of the policy.
    #[serde(default)]
    pub agnostic_clusters: Vec<String>,
}

/// A queue worker scaled by KEDA and capped by a CarbonAwareKedaScaler: work arrives as
/// replica-hours per hour and waits in the queue while the cap holds it back.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scaled {
    pub name: String,
    pub scaler: String,
    pub zone: String,
    pub demand: Demand,
    /// Work still queued this long after it arrived has missed its deadline.
    pub max_delay: String,
    #[serde(default)]
    pub min_replica_count: i32,
    #[serde(default = "one")]
    pub power_kw_per_replica: f64,
}

/// Replicas over time: a constant, or 24 values by UTC hour of day (repeated daily).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Demand {
    pub constant: Option<f64>,
    pub hourly: Option<Vec<f64>>,
}

impl Default for Demand {
    fn default() -> Self {
        Self { constant: Some(1.0), hourly: None }
    }
}

impl Demand {
    pub fn validate(&self, what: &str) -> Result<(), InputError> {
        match (&self.constant, &self.hourly) {
            (Some(c), None) if *c >= 0.0 => Ok(()),
            (None, Some(h)) if h.len() == 24 && h.iter().all(|v| *v >= 0.0) => Ok(()),
            _ => Err(InputError::Invalid(format!(
                "{what}: give either `constant: N` or `hourly: [24 non-negative values]`"
            ))),
        }
    }

    /// The demand during the hour starting at `t`.
    pub fn at(&self, t: Timestamp) -> f64 {
        match (&self.constant, &self.hourly) {
            (_, Some(h)) => h[(t.as_second().div_euclid(3600).rem_euclid(24)) as usize],
            (Some(c), None) => *c,
            (None, None) => 0.0,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn one_hour() -> String {
    "1h".into()
}
fn five_minutes() -> String {
    "5m".into()
}

/// A duration in the pod annotations' syntax (`24h`, `90m`, `1h30m`, `PT24H`).
pub fn duration(what: &str, text: &str) -> Result<SignedDuration, InputError> {
    parse_duration(text)
        .filter(|d| *d >= SignedDuration::ZERO)
        .ok_or_else(|| InputError::Invalid(format!("{what}: {text:?} is not a duration (e.g. 24h, 90m)")))
}

impl Inputs {
    /// Reads every document of one YAML file into `self`.
    pub fn add_yaml(&mut self, file: &str, text: &str) -> Result<(), InputError> {
        for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let err = |reason: String| InputError::Document { file: file.into(), index: index + 1, reason };
            let value = serde_yaml::Value::deserialize(doc)
                .map_err(|e| InputError::Yaml { file: file.into(), reason: e.to_string() })?;
            if value.is_null() {
                continue;
            }
            let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
            let name = value
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_string();
            let spec = value.get("spec").cloned().unwrap_or(serde_yaml::Value::Null);
            let parse_err = |e: serde_yaml::Error| err(format!("{kind} {name:?}: {e}"));
            match kind.as_str() {
                "CarbonAwareKarmadaPolicy" | "CarbonAwareKedaScaler" if name.is_empty() => {
                    return Err(err(format!("{kind} without metadata.name")));
                }
                "CarbonAwareKarmadaPolicy" => {
                    let spec = serde_yaml::from_value(spec).map_err(parse_err)?;
                    self.karmada.insert(name, spec);
                }
                "CarbonAwareKedaScaler" => {
                    let spec = serde_yaml::from_value(spec).map_err(parse_err)?;
                    self.keda.insert(name, spec);
                }
                "SchedulerSettings" => {
                    let s: SchedulerSettings = serde_yaml::from_value(spec).map_err(parse_err)?;
                    let config = s.planner_config().map_err(|e| err(e.to_string()))?;
                    if name.is_empty() {
                        self.planner = config;
                    } else {
                        self.planners.insert(name, config);
                    }
                }
                "Workload" => {
                    let w: Workload = serde_yaml::from_value(spec).map_err(parse_err)?;
                    self.workload.jobs.extend(w.jobs);
                    self.workload.placements.extend(w.placements);
                    self.workload.scaled.extend(w.scaled);
                }
                other => {
                    return Err(err(format!(
                        "unknown kind {other:?} (expected CarbonAwareKarmadaPolicy, CarbonAwareKedaScaler, \
                         SchedulerSettings or Workload)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks every cross-reference, so a run never fails half-way.
    pub fn validate(&self) -> Result<(), InputError> {
        let w = &self.workload;
        if w.jobs.is_empty() && w.placements.is_empty() && w.scaled.is_empty() {
            return Err(InputError::Invalid("no Workload with jobs, placements or scaled entries".into()));
        }
        for j in &w.jobs {
            if let Some(s) = &j.scaler {
                self.keda_spec(s, &j.name)?;
            }
            self.planner_for(j)?;
            duration(&format!("jobs {}: runtime", j.name), &j.runtime)?;
            if j.max_delay.is_none() && j.deadline_after.is_none() {
                return Err(InputError::Invalid(format!(
                    "jobs {}: set maxDelay and/or deadlineAfter",
                    j.name
                )));
            }
        }
        for p in &w.placements {
            let spec = self.karmada.get(&p.policy).ok_or_else(|| {
                InputError::Invalid(format!(
                    "placement {}: no CarbonAwareKarmadaPolicy {:?}",
                    p.name, p.policy
                ))
            })?;
            p.replicas.validate(&format!("placement {}: replicas", p.name))?;
            duration(&format!("placement {}: readyAfter", p.name), &p.ready_after)?;
            for c in &p.agnostic_clusters {
                if !spec.cluster_locations.iter().any(|l| &l.name == c) {
                    return Err(InputError::Invalid(format!(
                        "placement {}: agnosticClusters names {c:?}, not in policy {}",
                        p.name, p.policy
                    )));
                }
            }
        }
        for s in &w.scaled {
            self.keda_spec(&s.scaler, &s.name)?;
            s.demand.validate(&format!("scaled {}: demand", s.name))?;
            duration(&format!("scaled {}: maxDelay", s.name), &s.max_delay)?;
        }
        Ok(())
    }

    /// The planner settings a job group runs under.
    pub fn planner_for(&self, j: &JobGroup) -> Result<&Planner, InputError> {
        match &j.scheduler {
            None => Ok(&self.planner),
            Some(name) => self.planners.get(name).ok_or_else(|| {
                InputError::Invalid(format!("jobs {}: no SchedulerSettings {name:?}", j.name))
            }),
        }
    }

    pub fn keda_spec(&self, name: &str, user: &str) -> Result<&CarbonAwareKedaScalerSpec, InputError> {
        self.keda
            .get(name)
            .ok_or_else(|| InputError::Invalid(format!("{user}: no CarbonAwareKedaScaler {name:?}")))
    }
}

/// A member cluster's deferral planner: its settings and, when given, its own staleness
/// bound (else the run's, `--staleness-bound`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planner {
    pub config: PlannerConfig,
    pub staleness_bound: Option<SignedDuration>,
}

impl SchedulerSettings {
    pub fn planner_config(&self) -> Result<Planner, InputError> {
        let mut c = PlannerConfig::default();
        let staleness_bound =
            self.staleness_bound.as_deref().map(|s| duration("stalenessBound", s)).transpose()?;
        if let Some(m) = self.min_improvement {
            if !(0.0..1.0).contains(&m) {
                return Err(InputError::Invalid(format!("minImprovement {m} is not a fraction in [0, 1)")));
            }
            c.min_improvement = m;
        }
        if let Some(s) = &self.max_delay_cap {
            c.max_delay_cap = duration("maxDelayCap", s)?;
        }
        Ok(Planner { config: c, staleness_bound })
    }
}
