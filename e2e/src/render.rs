//! The demo's live view: one readable screen per frame.
use crate::observe::FleetView;
use std::fmt::Write;

pub fn frame(view: &FleetView, header: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    let zones: Vec<String> = view.zones.iter().map(|(z, v)| format!("{z} {v:.0}")).collect();
    let _ = writeln!(
        out,
        "Grid intensity now (gCO2/kWh, hub): {}",
        if zones.is_empty() { "-".into() } else { zones.join("  ") }
    );
    let _ = writeln!(out, "\nPlacement");
    for p in &view.policies {
        let ranked: Vec<String> = p
            .clusters
            .iter()
            .map(|(name, zone, value, valid)| {
                let v = value.map_or("?".into(), |v| format!("{v:.0}"));
                let mark = if p.active.contains(name) { "*" } else { " " };
                if *valid {
                    format!("{mark}{name}({zone}) {v}")
                } else {
                    format!("{mark}{name}({zone}) invalid")
                }
            })
            .collect();
        let active = if p.active.is_empty() { "(not yet)".into() } else { p.active.join(", ") };
        let _ = writeln!(out, "  {:<16} → {active}", p.name);
        let _ = writeln!(out, "      ranked: {}", ranked.join(" | "));
        if !p.reason.is_empty() {
            let _ = writeln!(out, "      why:    {}", truncate(&p.reason, 110));
        }
    }
    let _ = writeln!(out, "\nMember clusters");
    let _ = writeln!(
        out,
        "  {:<16} {:<12} {:>9} {:>9} {:>7} {:>6} {:>8} {:>5}",
        "member", "zone", "ConfigMap", "KEDA cap", "bucket", "bound", "waiting", "done"
    );
    for m in &view.members {
        let cm = m.configmap_intensity.map_or("-".into(), |v| format!("{v:.0}"));
        let cap = m.keda_cap.map_or("-".into(), |v| v.to_string());
        let bucket = match (m.eco_mode_off, m.keda_bucket) {
            (Some(true), _) => "eco off".to_string(),
            (_, Some(b)) => b.to_string(),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {:<16} {:<12} {:>9} {:>9} {:>7} {:>6} {:>8} {:>5}",
            m.name, m.zone, cm, cap, bucket, m.pods_bound, m.pods_waiting, m.pods_done
        );
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
