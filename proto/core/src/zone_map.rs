//! Cloud regions and node labels -> grid zones.
//!
//! A node's `topology.kubernetes.io/region` (or a Karmada Cluster's
//! `spec.region`) names a cloud region, not a grid. This module maps it to the
//! grid zone whose carbon intensity applies. Zone keys follow Electricity Maps
//! (`US-CAL-CISO`, `GB`, `DE`, …) because that is the most widely used
//! vocabulary; [`watttime_region`] translates a zone key into the WattTime
//! region name where the two differ.
//!
//! The built-in table ([`BUILTIN_REGIONS`]) covers the main AWS, GCP and Azure
//! regions plus the labels of the kind demo. A region's grid is a judgement
//! (data centres sit on a balancing area's edge, some clouds buy from several
//! utilities), so every entry can be overridden with [`ZoneMap::with_override`]
//! (the hub and agent expose that as `--zone-map REGION=ZONE`). An unknown
//! region is an error naming the closest known regions: silently guessing a
//! grid would steer work on wrong data.
use crate::zone::{InvalidZone, Zone};
use std::collections::BTreeMap;
use std::fmt;

/// Which naming scheme a region belongs to (for documentation and listings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Gcp,
    Azure,
    /// Labels used by the kind multi-cluster demo.
    Kind,
    /// Added by configuration.
    Custom,
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
            Cloud::Kind => "kind",
            Cloud::Custom => "custom",
        })
    }
}

/// One built-in row: cloud, region name, grid zone (Electricity Maps key), where.
pub type RegionRow = (Cloud, &'static str, &'static str, &'static str);

/// The built-in table. Zone choices follow where the data centres physically are
/// and which balancing area serves them; where that is disputed the choice is
/// the larger balancing area, and operators can override it.
#[rustfmt::skip]
pub const BUILTIN_REGIONS: &[RegionRow] = &[
    // AWS
    (Cloud::Aws, "us-east-1", "US-MIDA-PJM", "N. Virginia"),
    (Cloud::Aws, "us-east-2", "US-MIDA-PJM", "Ohio"),
    (Cloud::Aws, "us-west-1", "US-CAL-CISO", "N. California"),
    (Cloud::Aws, "us-west-2", "US-NW-BPAT", "Oregon"),
    (Cloud::Aws, "ca-central-1", "CA-QC", "Montréal"),
    (Cloud::Aws, "sa-east-1", "BR-CS", "São Paulo"),
    (Cloud::Aws, "eu-west-1", "IE", "Ireland"),
    (Cloud::Aws, "eu-west-2", "GB", "London"),
    (Cloud::Aws, "eu-west-3", "FR", "Paris"),
    (Cloud::Aws, "eu-central-1", "DE", "Frankfurt"),
    (Cloud::Aws, "eu-central-2", "CH", "Zurich"),
    (Cloud::Aws, "eu-north-1", "SE-SE3", "Stockholm"),
    (Cloud::Aws, "eu-south-1", "IT-NO", "Milan"),
    (Cloud::Aws, "eu-south-2", "ES", "Aragón"),
    (Cloud::Aws, "ap-northeast-1", "JP-TK", "Tokyo"),
    (Cloud::Aws, "ap-northeast-2", "KR", "Seoul"),
    (Cloud::Aws, "ap-northeast-3", "JP-KN", "Osaka"),
    (Cloud::Aws, "ap-southeast-1", "SG", "Singapore"),
    (Cloud::Aws, "ap-southeast-2", "AU-NSW", "Sydney"),
    (Cloud::Aws, "ap-south-1", "IN-WE", "Mumbai"),
    (Cloud::Aws, "af-south-1", "ZA", "Cape Town"),
    // GCP
    (Cloud::Gcp, "us-central1", "US-MIDW-MISO", "Iowa"),
    (Cloud::Gcp, "us-east1", "US-CAR-SCEG", "South Carolina"),
    (Cloud::Gcp, "us-east4", "US-MIDA-PJM", "N. Virginia"),
    (Cloud::Gcp, "us-east5", "US-MIDA-PJM", "Columbus"),
    (Cloud::Gcp, "us-south1", "US-TEX-ERCO", "Dallas"),
    (Cloud::Gcp, "us-west1", "US-NW-BPAT", "Oregon"),
    (Cloud::Gcp, "us-west2", "US-CAL-LDWP", "Los Angeles"),
    (Cloud::Gcp, "us-west3", "US-NW-PACE", "Salt Lake City"),
    (Cloud::Gcp, "us-west4", "US-NW-NEVP", "Las Vegas"),
    (Cloud::Gcp, "northamerica-northeast1", "CA-QC", "Montréal"),
    (Cloud::Gcp, "northamerica-northeast2", "CA-ON", "Toronto"),
    (Cloud::Gcp, "southamerica-east1", "BR-CS", "São Paulo"),
    (Cloud::Gcp, "europe-west1", "BE", "Belgium"),
    (Cloud::Gcp, "europe-west2", "GB", "London"),
    (Cloud::Gcp, "europe-west3", "DE", "Frankfurt"),
    (Cloud::Gcp, "europe-west4", "NL", "Netherlands"),
    (Cloud::Gcp, "europe-west6", "CH", "Zurich"),
    (Cloud::Gcp, "europe-west9", "FR", "Paris"),
    (Cloud::Gcp, "europe-north1", "FI", "Finland"),
    (Cloud::Gcp, "europe-central2", "PL", "Warsaw"),
    (Cloud::Gcp, "europe-southwest1", "ES", "Madrid"),
    (Cloud::Gcp, "asia-northeast1", "JP-TK", "Tokyo"),
    (Cloud::Gcp, "asia-southeast1", "SG", "Singapore"),
    (Cloud::Gcp, "asia-south1", "IN-WE", "Mumbai"),
    (Cloud::Gcp, "australia-southeast1", "AU-NSW", "Sydney"),
    // Azure
    (Cloud::Azure, "eastus", "US-MIDA-PJM", "Virginia"),
    (Cloud::Azure, "eastus2", "US-MIDA-PJM", "Virginia"),
    (Cloud::Azure, "centralus", "US-MIDW-MISO", "Iowa"),
    (Cloud::Azure, "northcentralus", "US-MIDA-PJM", "Illinois"),
    (Cloud::Azure, "southcentralus", "US-TEX-ERCO", "Texas"),
    (Cloud::Azure, "westus", "US-CAL-CISO", "California"),
    (Cloud::Azure, "westus2", "US-NW-GCPD", "Washington"),
    (Cloud::Azure, "westus3", "US-SW-SRP", "Arizona"),
    (Cloud::Azure, "westcentralus", "US-NW-PACE", "Wyoming"),
    (Cloud::Azure, "canadacentral", "CA-ON", "Toronto"),
    (Cloud::Azure, "canadaeast", "CA-QC", "Québec City"),
    (Cloud::Azure, "brazilsouth", "BR-CS", "São Paulo"),
    (Cloud::Azure, "northeurope", "IE", "Ireland"),
    (Cloud::Azure, "westeurope", "NL", "Netherlands"),
    (Cloud::Azure, "uksouth", "GB", "London"),
    (Cloud::Azure, "ukwest", "GB", "Cardiff"),
    (Cloud::Azure, "francecentral", "FR", "Paris"),
    (Cloud::Azure, "germanywestcentral", "DE", "Frankfurt"),
    (Cloud::Azure, "swedencentral", "SE-SE3", "Gävle"),
    (Cloud::Azure, "switzerlandnorth", "CH", "Zurich"),
    (Cloud::Azure, "norwayeast", "NO-NO1", "Oslo"),
    (Cloud::Azure, "polandcentral", "PL", "Warsaw"),
    (Cloud::Azure, "japaneast", "JP-TK", "Tokyo"),
    (Cloud::Azure, "southeastasia", "SG", "Singapore"),
    (Cloud::Azure, "centralindia", "IN-WE", "Pune"),
    (Cloud::Azure, "australiaeast", "AU-NSW", "New South Wales"),
    // kind demo: each label maps to a zone the shipped 2022 traces cover, so the
    // offline demo replays real data for every member.
    (Cloud::Kind, "kind-us-west", "US-CAL-CISO", "demo"),
    (Cloud::Kind, "kind-us-northwest", "US-NW-BPAT", "demo"),
    (Cloud::Kind, "kind-us-east", "US-MIDA-PJM", "demo"),
    (Cloud::Kind, "kind-us-northeast", "US-NY-NYIS", "demo"),
    (Cloud::Kind, "kind-us-central", "US-MIDW-MISO", "demo"),
    (Cloud::Kind, "kind-us-south", "US-TEX-ERCO", "demo"),
    (Cloud::Kind, "kind-us-southeast", "US-SE-SOCO", "demo"),
    (Cloud::Kind, "kind-eu-west", "GB", "demo"),
    (Cloud::Kind, "kind-gb", "GB", "demo"),
];

/// Electricity Maps zone key -> WattTime region, for zones where WattTime has a
/// region. WattTime regions are finer than balancing areas in places (CAISO,
/// PJM, ERCOT); the entry names the sub-region containing the main cloud
/// campuses. Override with `--watttime-region ZONE=REGION` and check a region
/// with WattTime's `/v3/region-from-loc`.
#[rustfmt::skip]
pub const WATTTIME_REGIONS: &[(&str, &str)] = &[
    ("US-CAL-CISO", "CAISO_NORTH"),
    ("US-NW-BPAT", "BPA"),
    ("US-MIDA-PJM", "PJM_DC"),
    ("US-NY-NYIS", "NYISO_NYC"),
    ("US-MIDW-MISO", "MISO_INDIANAPOLIS"),
    ("US-TEX-ERCO", "ERCOT_NORTHCENTRAL"),
    ("US-SE-SOCO", "SOCO"),
    ("GB", "UK"),
    ("DE", "DE"),
    ("IE", "IE"),
    ("FR", "FR"),
    ("NL", "NL"),
];

/// The WattTime region for an Electricity Maps zone key, if the built-in table
/// knows one.
pub fn watttime_region(zone: &str) -> Option<&'static str> {
    WATTTIME_REGIONS.iter().find(|(z, _)| z.eq_ignore_ascii_case(zone)).map(|(_, r)| *r)
}

/// Where a region maps to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneEntry {
    pub cloud: Cloud,
    /// The grid zone (Electricity Maps key).
    pub zone: Zone,
    /// Human note (city) for listings and docs.
    pub location: String,
}

/// A region that is not in the map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownRegion {
    pub region: String,
    /// Known regions closest to `region`, best first.
    pub suggestions: Vec<String>,
}

impl fmt::Display for UnknownRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown cloud region {:?}", self.region)?;
        if !self.suggestions.is_empty() {
            write!(f, "; did you mean {}?", self.suggestions.join(", "))?;
        }
        write!(f, " (map it explicitly with --zone-map {}=<grid zone>)", self.region)
    }
}

/// A malformed `REGION=ZONE` override.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid zone mapping {text:?}: {why}")]
pub struct InvalidOverride {
    pub text: String,
    pub why: String,
}

impl InvalidOverride {
    fn shape(text: &str) -> Self {
        Self { text: text.to_string(), why: "expected REGION=ZONE, both non-empty".into() }
    }
}

/// Cloud region -> grid zone lookups: the built-in table plus overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneMap {
    /// Keyed by lower-cased region name: clouds spell regions in lower case and
    /// labels typed by hand sometimes are not.
    entries: BTreeMap<String, ZoneEntry>,
}

impl Default for ZoneMap {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ZoneMap {
    /// The built-in table.
    pub fn builtin() -> Self {
        let entries = BUILTIN_REGIONS
            .iter()
            .map(|(cloud, region, zone, location)| {
                (
                    region.to_ascii_lowercase(),
                    ZoneEntry { cloud: *cloud, zone: Zone::known(zone), location: (*location).to_string() },
                )
            })
            .collect();
        Self { entries }
    }

    /// An empty map (only explicit mappings).
    pub fn empty() -> Self {
        Self { entries: BTreeMap::new() }
    }

    /// Maps `region` to `zone`, replacing any built-in entry.
    pub fn with_override(mut self, region: &str, zone: Zone) -> Self {
        self.insert(region, zone);
        self
    }

    pub fn insert(&mut self, region: &str, zone: Zone) {
        self.entries.insert(
            region.trim().to_ascii_lowercase(),
            ZoneEntry { cloud: Cloud::Custom, zone, location: String::new() },
        );
    }

    /// Applies `REGION=ZONE` overrides (as given on the command line).
    pub fn with_overrides<I, S>(mut self, overrides: I) -> Result<Self, InvalidOverride>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for o in overrides {
            let text = o.as_ref();
            let (region, zone) = parse_override(text)?;
            let zone = Zone::new(zone)
                .map_err(|e: InvalidZone| InvalidOverride { text: text.to_string(), why: e.to_string() })?;
            self.insert(region, zone);
        }
        Ok(self)
    }

    /// The grid zone of `region`, by name.
    pub fn zone_for(&self, region: &str) -> Result<&str, UnknownRegion> {
        self.entry(region).map(|e| e.zone.as_str())
    }

    /// The grid zone of `region`.
    pub fn zone_of(&self, region: &str) -> Result<&Zone, UnknownRegion> {
        self.entry(region).map(|e| &e.zone)
    }

    /// The full entry for `region`.
    pub fn entry(&self, region: &str) -> Result<&ZoneEntry, UnknownRegion> {
        let key = region.trim().to_ascii_lowercase();
        self.entries.get(&key).ok_or_else(|| UnknownRegion {
            region: region.to_string(),
            suggestions: closest(&key, self.entries.keys().map(String::as_str), 3),
        })
    }

    /// All (region, entry) pairs, sorted by region.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ZoneEntry)> {
        self.entries.iter().map(|(r, e)| (r.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Splits `REGION=ZONE`.
pub fn parse_override(s: &str) -> Result<(&str, &str), InvalidOverride> {
    match s.split_once('=') {
        Some((r, z)) if !r.trim().is_empty() && !z.trim().is_empty() => Ok((r.trim(), z.trim())),
        _ => Err(InvalidOverride::shape(s)),
    }
}

/// Up to `n` candidates closest to `target` by edit distance, best first. Only
/// plausible typos are offered: the distance must be at most a third of the
/// longer name (at least 2), or one name must contain the other.
pub fn closest<'a>(target: &str, candidates: impl Iterator<Item = &'a str>, n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = levenshtein(target, c);
            let limit = (target.len().max(c.len()) / 3).max(2);
            let contains = target.len() >= 4 && (c.contains(target) || target.contains(c));
            (d <= limit || contains).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, c)| c.to_string()).collect()
}

/// Classic Levenshtein distance over chars.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions_of_each_cloud() {
        let map = ZoneMap::builtin();
        assert_eq!(map.zone_for("us-west-1"), Ok("US-CAL-CISO"));
        assert_eq!(map.zone_for("europe-west2"), Ok("GB"));
        assert_eq!(map.zone_for("germanywestcentral"), Ok("DE"));
        assert_eq!(map.zone_for("kind-us-west"), Ok("US-CAL-CISO"));
        assert_eq!(map.entry("eastus").unwrap().cloud, Cloud::Azure);
    }

    #[test]
    fn lookup_ignores_case_and_whitespace() {
        let map = ZoneMap::builtin();
        assert_eq!(map.zone_for(" US-East-1 "), Ok("US-MIDA-PJM"));
    }

    #[test]
    fn builtin_table_has_no_duplicate_regions() {
        let mut seen = std::collections::BTreeSet::new();
        for (_, region, zone, _) in BUILTIN_REGIONS {
            assert!(seen.insert(region.to_ascii_lowercase()), "duplicate {region}");
            assert!(!zone.is_empty());
        }
        assert_eq!(ZoneMap::builtin().len(), BUILTIN_REGIONS.len());
    }

    #[test]
    fn overrides_replace_and_extend() {
        let map = ZoneMap::builtin().with_overrides(["us-east-1=US-NY-NYIS", "onprem-dc1 = DE"]).unwrap();
        assert_eq!(map.zone_for("us-east-1"), Ok("US-NY-NYIS"));
        assert_eq!(map.zone_for("onprem-dc1"), Ok("DE"));
        assert_eq!(map.entry("onprem-dc1").unwrap().cloud, Cloud::Custom);
        assert_eq!(map.zone_for("us-east-2"), Ok("US-MIDA-PJM"), "others untouched");
        assert!(ZoneMap::builtin().with_overrides(["no-equals"]).is_err());
        assert!(ZoneMap::builtin().with_overrides(["=GB"]).is_err());
        assert!(ZoneMap::builtin().with_overrides(["x="]).is_err());
        let bad_zone = ZoneMap::builtin().with_overrides(["x=not a zone"]).unwrap_err().to_string();
        assert!(bad_zone.contains("invalid grid zone"), "{bad_zone}");
    }

    #[test]
    fn unknown_region_suggests_close_matches() {
        let map = ZoneMap::builtin();
        let err = map.zone_for("us-esat-1").unwrap_err();
        assert_eq!(err.suggestions.first().map(String::as_str), Some("us-east-1"));
        let msg = err.to_string();
        assert!(msg.contains("\"us-esat-1\""), "{msg}");
        assert!(msg.contains("did you mean us-east-1"), "{msg}");
        assert!(msg.contains("--zone-map us-esat-1=<grid zone>"), "{msg}");

        let err = map.zone_for("westeurop").unwrap_err();
        assert_eq!(err.suggestions.first().map(String::as_str), Some("westeurope"));

        let err = map.zone_for("mars-north-7").unwrap_err();
        assert!(err.suggestions.is_empty(), "{:?}", err.suggestions);
        assert!(!err.to_string().contains("did you mean"));
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }

    #[test]
    fn watttime_regions_where_they_differ() {
        assert_eq!(watttime_region("US-CAL-CISO"), Some("CAISO_NORTH"));
        assert_eq!(watttime_region("gb"), Some("UK"));
        assert_eq!(watttime_region("XX"), None);
    }
}
