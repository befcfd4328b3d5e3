//! Accumulates what the demo observed frame by frame into the closing table:
//! switches, time-weighted intensity of the chosen clusters against
//! carbon-agnostic operation (all candidate clusters equally), KEDA caps, pods.
use crate::observe::FleetView;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Default)]
struct PolicyTally {
    last_active: Vec<String>,
    switches: u32,
    /// Time-weighted sums of intensity (hours × gCO2/kWh) and of hours.
    chosen: f64,
    agnostic: f64,
    hours: f64,
    last_switch_gain: Option<f64>,
}

#[derive(Debug, Default)]
struct MemberTally {
    cap_hours: f64,
    hours: f64,
    bound: usize,
    waiting_max: usize,
    done: usize,
    saved: f64,
}

#[derive(Debug, Default)]
pub struct Summary {
    last: Option<Timestamp>,
    policies: BTreeMap<String, PolicyTally>,
    members: BTreeMap<String, MemberTally>,
}

impl Summary {
    pub fn observe(&mut self, view: &FleetView) {
        let Some(now) = view.now else { return };
        let hours = self.last.map_or(0.0, |l| now.duration_since(l).as_secs_f64() / 3600.0).max(0.0);
        self.last = Some(now);
        for p in &view.policies {
            let t = self.policies.entry(p.name.clone()).or_default();
            // A switch completes when a cluster leaves; make-before-break first
            // adds the incoming one, which is not a switch yet.
            let dropped = t.last_active.iter().any(|c| !p.active.contains(c));
            if !p.active.is_empty() && dropped {
                t.switches += 1;
            }
            if !p.active.is_empty() {
                t.last_active = p.active.clone();
            }
            let valid: Vec<(&String, f64)> =
                p.clusters.iter().filter(|c| c.3).filter_map(|c| c.2.map(|v| (&c.0, v))).collect();
            let chosen: Vec<f64> =
                valid.iter().filter(|(n, _)| p.active.contains(n)).map(|(_, v)| *v).collect();
            if !chosen.is_empty() && !valid.is_empty() {
                t.chosen += hours * mean(&chosen);
                t.agnostic += hours * mean(&valid.iter().map(|(_, v)| *v).collect::<Vec<_>>());
                t.hours += hours;
            }
            t.last_switch_gain = p.last_switch_gain.or(t.last_switch_gain);
        }
        for m in &view.members {
            let t = self.members.entry(m.name.clone()).or_default();
            if let Some(cap) = m.keda_cap {
                t.cap_hours += hours * cap as f64;
                t.hours += hours;
            }
            t.bound = m.pods_bound + m.pods_done;
            t.done = m.pods_done;
            t.waiting_max = t.waiting_max.max(m.pods_waiting);
            t.saved = m.pod_intensity_saved;
        }
    }

    pub fn switches(&self, policy: &str) -> u32 {
        self.policies.get(policy).map_or(0, |t| t.switches)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Placement (CarbonAwareKarmadaPolicy)");
        let _ = writeln!(
            out,
            "  {:<18} {:>8} {:>14} {:>16} {:>9} {:>22}",
            "policy", "switches", "chosen g/kWh", "agnostic g/kWh", "reduction", "last switch, g/kWh"
        );
        for (name, t) in &self.policies {
            let (chosen, agnostic) = (t.chosen / t.hours.max(1e-9), t.agnostic / t.hours.max(1e-9));
            let avoided = t.last_switch_gain.map_or("-".to_string(), |g| format!("{g:.0}"));
            let _ = writeln!(
                out,
                "  {:<18} {:>8} {:>14.0} {:>16.0} {:>8.1}% {:>22}",
                name,
                t.switches,
                chosen,
                agnostic,
                percent(chosen, agnostic),
                avoided
            );
        }
        let _ = writeln!(out, "Member clusters (KEDA caps, carbon-aware scheduler)");
        let _ = writeln!(
            out,
            "  {:<16} {:>13} {:>11} {:>12} {:>10} {:>22}",
            "member", "mean KEDA cap", "pods bound", "max waiting", "completed", "mean g/kWh saved/pod"
        );
        for (name, t) in &self.members {
            let cap = if t.hours > 0.0 { format!("{:.1}", t.cap_hours / t.hours) } else { "-".into() };
            let per_pod = if t.bound > 0 { format!("{:.1}", t.saved / t.bound as f64) } else { "-".into() };
            let _ = writeln!(
                out,
                "  {:<16} {:>13} {:>11} {:>12} {:>10} {:>22}",
                name, cap, t.bound, t.waiting_max, t.done, per_pod
            );
        }
        out
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn percent(chosen: f64, agnostic: f64) -> f64 {
    if agnostic > 0.0 { 100.0 * (agnostic - chosen) / agnostic } else { 0.0 }
}
