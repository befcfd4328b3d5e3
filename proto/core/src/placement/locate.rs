//! Which grid zone each member cluster draws power from (DESIGN §6). Pure. In order:
//! the CR's `clusterLocations[].location`; the Karmada Cluster's `gridshift.io/grid-zone`
//! label (a grid zone, as written); its `spec.region`, `topology.kubernetes.io/region`
//! label, or `spec.zones`/`spec.zone` through the zone map; the zones its agent reported
//! on the forecast stream. When the CR lists no clusters, every Karmada Cluster is a candidate.
use super::{Candidate, ClusterLocation};
use crate::zone::Zone;
use crate::zone_map::ZoneMap;
use serde_json::Value;

/// A Cluster label naming the grid zone directly (no cloud-region lookup).
pub const GRID_ZONE_LABEL: &str = "gridshift.io/grid-zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// What the Karmada API says about one member cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterFacts {
    pub name: String,
    pub region: Option<String>,
    pub zones: Vec<String>,
    pub grid_zone_label: Option<String>,
    pub region_label: Option<String>,
}

impl ClusterFacts {
    /// From a `cluster.karmada.io/v1alpha1` Cluster object.
    pub fn from_object(cluster: &Value) -> Option<Self> {
        fn text(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
        }
        let label = |k: &str| text(cluster.get("metadata")?.get("labels")?.get(k)).map(str::to_string);
        let mut zones: Vec<String> = cluster
            .pointer("/spec/zones")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|z| text(Some(z))).map(str::to_string).collect())
            .unwrap_or_default();
        zones.extend(text(cluster.pointer("/spec/zone")).map(str::to_string));
        Some(Self {
            name: text(cluster.pointer("/metadata/name"))?.to_string(),
            region: text(cluster.pointer("/spec/region")).map(str::to_string),
            zones,
            grid_zone_label: label(GRID_ZONE_LABEL),
            region_label: label(REGION_LABEL),
        })
    }
}

/// Where a cluster's zone came from, for logs and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Policy,
    ClusterLabel,
    ClusterRegion,
    ClusterZone,
    Agent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub name: String,
    /// `None`: no source knows (or the name given is not a zone); the cluster is ranked
    /// without data (invalid, never chosen).
    pub zone: Option<Zone>,
    pub source: Option<Source>,
}

impl Located {
    /// As the ranking takes it.
    pub fn candidate(&self) -> Candidate {
        Candidate { name: self.name.clone(), zone: self.zone.clone() }
    }
}

/// The region a cloud availability zone belongs to: `us-east-1a` → `us-east-1`,
/// `europe-west1-b` → `europe-west1`.
fn region_of_zone(zone: &str) -> Option<&str> {
    if let Some((region, suffix)) = zone.rsplit_once('-')
        && suffix.len() == 1
        && suffix.chars().all(|c| c.is_ascii_alphabetic())
    {
        return Some(region);
    }
    zone.strip_suffix(|c: char| c.is_ascii_alphabetic()).filter(|r| r.ends_with(|c: char| c.is_ascii_digit()))
}

fn from_facts(facts: &ClusterFacts, map: &ZoneMap) -> Option<(Zone, Source)> {
    if let Some(z) = &facts.grid_zone_label {
        // A label that is not a zone name names no zone: the other sources are asked.
        if let Ok(z) = Zone::new(z) {
            return Some((z, Source::ClusterLabel));
        }
    }
    let region = facts.region.iter().chain(&facts.region_label);
    if let Some(z) = region.filter_map(|r| map.zone_of(r).ok()).next() {
        return Some((z.clone(), Source::ClusterRegion));
    }
    facts
        .zones
        .iter()
        .find_map(|z| map.zone_of(z).ok().or_else(|| region_of_zone(z).and_then(|r| map.zone_of(r).ok())))
        .map(|z| (z.clone(), Source::ClusterZone))
}

/// Locates every candidate cluster. `agent_zones` gives the zones a cluster's agent reported.
pub fn locate(
    declared: &[ClusterLocation],
    clusters: &[ClusterFacts],
    map: &ZoneMap,
    agent_zones: impl Fn(&str) -> Option<Vec<Zone>>,
) -> Vec<Located> {
    let find = |name: &str| clusters.iter().find(|c| c.name == name);
    let resolve = |name: &str| {
        let found = find(name).and_then(|f| from_facts(f, map)).or_else(|| {
            // Several zones: the first by name, so the choice is stable across reconciles.
            let mut zones = agent_zones(name)?;
            zones.sort();
            zones.into_iter().next().map(|z| (z, Source::Agent))
        });
        Located {
            name: name.to_string(),
            zone: found.as_ref().map(|f| f.0.clone()),
            source: found.map(|f| f.1),
        }
    };
    if declared.is_empty() {
        let mut names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        return names.into_iter().map(resolve).collect();
    }
    declared
        .iter()
        .map(|d| match d.location.trim() {
            "" => resolve(&d.name),
            zone => {
                Located { name: d.name.clone(), zone: Zone::new(zone).ok(), source: Some(Source::Policy) }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(v: Value) -> ClusterFacts {
        ClusterFacts::from_object(&v).unwrap()
    }

    fn loc(name: &str, location: &str) -> ClusterLocation {
        ClusterLocation { name: name.into(), location: location.into() }
    }

    fn zones(ls: &[Located]) -> Vec<(&str, Option<&str>, Option<Source>)> {
        ls.iter().map(|l| (l.name.as_str(), l.zone.as_ref().map(Zone::as_str), l.source)).collect()
    }

    #[test]
    fn every_source_in_order() {
        let clusters = vec![
            facts(
                json!({"metadata": {"name": "labelled", "labels": {GRID_ZONE_LABEL: "GB", REGION_LABEL: "us-east-1"}},
                         "spec": {"region": "us-west-2"}}),
            ),
            facts(
                json!({"metadata": {"name": "region"}, "spec": {"region": "us-west-1", "zones": ["eu-west-1a"]}}),
            ),
            facts(
                json!({"metadata": {"name": "region-label", "labels": {REGION_LABEL: "eu-west-1"}}, "spec": {}}),
            ),
            facts(json!({"metadata": {"name": "az"}, "spec": {"zones": ["us-west-2b"]}})),
            facts(json!({"metadata": {"name": "gcp-az"}, "spec": {"zone": "europe-west1-b"}})),
            facts(json!({"metadata": {"name": "unknown-region"}, "spec": {"region": "mars-1"}})),
        ];
        let map = ZoneMap::builtin();
        let agent = |c: &str| {
            (c == "unknown-region" || c == "agent-only").then(|| vec![Zone::known("PL"), Zone::known("DE")])
        };
        let declared = [
            loc("declared", "FR"),
            loc("labelled", ""),
            loc("region", ""),
            loc("region-label", " "),
            loc("az", ""),
            loc("gcp-az", ""),
            loc("unknown-region", ""),
            loc("agent-only", ""),
            loc("nowhere", ""),
        ];
        let got = locate(&declared, &clusters, &map, agent);
        let gcp = map.zone_for("europe-west1").ok();
        assert_eq!(
            zones(&got),
            [
                ("declared", Some("FR"), Some(Source::Policy)),
                ("labelled", Some("GB"), Some(Source::ClusterLabel)),
                ("region", Some("US-CAL-CISO"), Some(Source::ClusterRegion)),
                ("region-label", Some("IE"), Some(Source::ClusterRegion)),
                ("az", Some("US-NW-BPAT"), Some(Source::ClusterZone)),
                ("gcp-az", gcp, gcp.map(|_| Source::ClusterZone)),
                ("unknown-region", Some("DE"), Some(Source::Agent)),
                ("agent-only", Some("DE"), Some(Source::Agent)),
                ("nowhere", None, None),
            ]
        );
        assert_eq!(
            got[8].candidate(),
            Candidate { name: "nowhere".into(), zone: None },
            "unknown: no zone, ranked invalid"
        );
    }

    #[test]
    fn no_declared_clusters_means_every_karmada_cluster() {
        let clusters = vec![
            facts(json!({"metadata": {"name": "b"}, "spec": {"region": "us-west-1"}})),
            facts(json!({"metadata": {"name": "a", "labels": {GRID_ZONE_LABEL: "GB"}}, "spec": {}})),
        ];
        let got = locate(&[], &clusters, &ZoneMap::builtin(), |_| None);
        assert_eq!(
            zones(&got),
            [
                ("a", Some("GB"), Some(Source::ClusterLabel)),
                ("b", Some("US-CAL-CISO"), Some(Source::ClusterRegion))
            ]
        );
        assert!(ClusterFacts::from_object(&json!({"metadata": {}})).is_none(), "a Cluster needs a name");
    }

    #[test]
    fn availability_zone_to_region() {
        assert_eq!(region_of_zone("us-east-1a"), Some("us-east-1"));
        assert_eq!(region_of_zone("europe-west1-b"), Some("europe-west1"));
        assert_eq!(region_of_zone("1"), None);
        assert_eq!(region_of_zone("westeurope"), None);
    }
}
