//! What a scenario reports per strategy, and the comparisons between strategies.
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// What runs without Gridshift.
    CarbonAgnostic,
    /// Gridshift's own decision functions with the given settings.
    Gridshift,
    /// The peers' rules: instantaneous ranking with no hysteresis (the original
    /// carbon-aware-karmada-operator) or threshold caps (the original carbon-aware-keda-operator).
    Peers,
    /// Perfect knowledge: the best hours within each job's slack; the cleanest zones each hour.
    Oracle,
}

impl Strategy {
    pub fn label(self) -> &'static str {
        match self {
            Self::CarbonAgnostic => "carbon-agnostic",
            Self::Gridshift => "gridshift",
            Self::Peers => "peers",
            Self::Oracle => "oracle",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Deferrable jobs in one zone.
    Temporal,
    /// A workload placed across clusters.
    Spatial,
    /// A KEDA-scaled queue worker under replica caps.
    Scaled,
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    pub strategy: Strategy,
    /// Which rule and settings produced this row.
    pub rule: String,
    /// Total emissions, gCO2eq.
    pub emissions_g: f64,
    /// Relative to carbon-agnostic (positive = less CO2).
    pub saved_vs_agnostic_pct: f64,
    /// (agnostic − this) / (agnostic − oracle); `None` when the oracle saves nothing.
    pub share_of_oracle_pct: Option<f64>,
    /// Placement changes (spatial only).
    pub switches: Option<usize>,
    pub switches_per_day: Option<f64>,
    /// Jobs started after their latest start (temporal), or replica-hours of work served
    /// after their deadline (scaled).
    pub deadline_misses: f64,
    /// Total delay: job-hours between arrival and start (temporal) or replica-hour·hours
    /// queued (scaled).
    pub work_delayed_hours: f64,
    /// How much work: jobs (temporal), replica-hours (scaled), hours placed (spatial).
    pub work_units: f64,
    /// Mean delay per job (temporal) or per replica-hour of work (scaled), hours.
    pub mean_delay_hours: f64,
    /// Work the simulation could not finish inside the traces (jobs or replica-hours);
    /// charged as if run at the end of its slack.
    pub unfinished: f64,
    /// Emissions per hour of the traces, for the charts.
    #[serde(skip)]
    pub hourly_g: Vec<f64>,
}

impl StrategyResult {
    pub fn new(strategy: Strategy, rule: impl Into<String>, hourly_g: Vec<f64>) -> Self {
        Self {
            strategy,
            rule: rule.into(),
            emissions_g: hourly_g.iter().sum(),
            saved_vs_agnostic_pct: 0.0,
            share_of_oracle_pct: None,
            switches: None,
            switches_per_day: None,
            deadline_misses: 0.0,
            work_units: 0.0,
            work_delayed_hours: 0.0,
            mean_delay_hours: 0.0,
            unfinished: 0.0,
            hourly_g,
        }
    }
}

/// What the charts overlay on the intensity lines.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Grid zone indices the scenario uses.
    pub zones: Vec<usize>,
    /// Spatial: per strategy, the zones serving in each hour (grid zone indices).
    pub placements: Vec<(Strategy, Vec<Vec<usize>>)>,
    /// Temporal / scaled: per strategy, work started in each hour (jobs or replica-hours).
    pub starts: Vec<(Strategy, Vec<f64>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub kind: Kind,
    pub zones: Vec<String>,
    /// What was simulated, e.g. "8736 jobs of 1h, slack 24h".
    pub workload: String,
    pub strategies: Vec<StrategyResult>,
    #[serde(skip)]
    pub decisions: Decisions,
}

impl ScenarioResult {
    /// Fills the comparisons once every strategy has run.
    pub fn finish(mut self) -> Self {
        let get = |s: Strategy| self.strategies.iter().find(|r| r.strategy == s).map(|r| r.emissions_g);
        let agnostic = get(Strategy::CarbonAgnostic);
        let oracle = get(Strategy::Oracle);
        for r in &mut self.strategies {
            if let Some(a) = agnostic.filter(|a| *a > 0.0) {
                r.saved_vs_agnostic_pct = (a - r.emissions_g) / a * 100.0;
                r.share_of_oracle_pct = oracle
                    .map(|o| a - o)
                    .filter(|gap| *gap > 1e-9 * a)
                    .map(|gap| (a - r.emissions_g) / gap * 100.0);
            }
        }
        self
    }

    pub fn get(&self, s: Strategy) -> Option<&StrategyResult> {
        self.strategies.iter().find(|r| r.strategy == s)
    }
}
