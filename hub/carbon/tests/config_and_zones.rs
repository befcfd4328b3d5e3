//! Flags, secrets handling, and the zone map as the hub and agent use it.
mod common;

use clap::Parser;
use common::*;
use gridshift_carbon::config::{ConfigError, ProviderKind};
use gridshift_carbon::{CarbonArgs, Metrics, ZoneMap};
use gridshift_core::{ManualClock, SharedClock, Zone};
use jiff::SignedDuration;
use std::sync::Arc;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    carbon: CarbonArgs,
}

fn parse(args: &[&str]) -> CarbonArgs {
    Cli::try_parse_from(std::iter::once("hub").chain(args.iter().copied())).unwrap().carbon
}

fn clock() -> SharedClock {
    Arc::new(ManualClock::new(ts("2022-06-01T00:00:00Z")))
}

#[test]
fn flags_build_a_store_config_and_chain() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("em-key");
    std::fs::write(&key, "secret-em-key\n").unwrap();
    let traces = format!("{}/../../e2e/data/carbon-intensity-open", env!("CARGO_MANIFEST_DIR"));
    let args = parse(&[
        "--carbon-providers",
        "electricitymaps,uk,replay",
        "--em-api-key-file",
        key.to_str().unwrap(),
        "--replay-dir",
        &traces,
        "--carbon-zone-providers",
        "GB=ukcarbonintensity+electricitymaps",
        "--carbon-staleness-bound",
        "3h",
        "--carbon-backoff-base",
        "10s",
        "--carbon-zones",
        "DE,GB",
        "--zone-map",
        "onprem-1=DE",
    ]);
    assert_eq!(args.providers, vec![ProviderKind::ElectricityMaps, ProviderKind::Uk, ProviderKind::Replay]);
    let cfg = args.store_config().unwrap();
    assert_eq!(cfg.staleness_bound, SignedDuration::from_hours(3));
    assert_eq!(cfg.backoff.base, SignedDuration::from_secs(10));
    assert_eq!(cfg.static_zones, [Zone::known("DE"), Zone::known("GB")].into());
    let chain = args.provider_chain(&clock(), &Metrics::default()).unwrap();
    assert_eq!(chain.names(), vec!["electricitymaps", "ukcarbonintensity", "replay"]);
    let gb: Vec<&str> = chain.order_for("GB").iter().map(|i| chain.provider(*i).name()).collect();
    assert_eq!(gb, vec!["ukcarbonintensity", "electricitymaps"]);
    let de: Vec<&str> = chain.order_for("DE").iter().map(|i| chain.provider(*i).name()).collect();
    assert_eq!(de, vec!["electricitymaps"], "UK and replay cannot serve DE");
    assert_eq!(args.zone_map().unwrap().zone_for("onprem-1"), Ok("DE"));
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    install_crypto();
    let args = parse(&[
        "--carbon-providers",
        "watttime",
        "--watttime-username",
        "u",
        "--watttime-password",
        "pw-123456",
    ]);
    assert!(!format!("{args:?}").contains("pw-123456"));
    let chain = args.provider_chain(&clock(), &Metrics::default()).unwrap();
    assert!(!format!("{chain:?}").contains("pw-123456"));

    let args = parse(&["--carbon-providers", "electricitymaps"]);
    let err = args.provider_chain(&clock(), &Metrics::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("--em-api-key-file"), "{err}");

    let args = parse(&["--carbon-providers", "electricitymaps", "--em-api-key-file", "/nonexistent/key"]);
    let err = args.provider_chain(&clock(), &Metrics::default()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/key"), "{err}");
}

#[test]
fn bad_flags_are_rejected_clearly() {
    assert!(Cli::try_parse_from(["hub", "--carbon-staleness-bound", "soon"]).is_err());
    assert!(Cli::try_parse_from(["hub", "--carbon-providers", "carbonwizard"]).is_err());
    install_crypto();
    let args = parse(&[
        "--replay-dir",
        &format!("{}/../../e2e/data/carbon-intensity-open", env!("CARGO_MANIFEST_DIR")),
        "--carbon-zone-providers",
        "GB=nosuch",
    ]);
    let err = args.provider_chain(&clock(), &Metrics::default()).unwrap_err();
    assert!(err.to_string().contains("unknown provider \"nosuch\""), "{err}");
}

#[test]
fn zone_map_known_regions_override_and_suggestions() {
    let map = ZoneMap::builtin();
    assert_eq!(map.zone_for("us-east-1"), Ok("US-MIDA-PJM"));
    assert_eq!(map.zone_for("europe-west4"), Ok("NL"));
    assert_eq!(map.zone_for("uksouth"), Ok("GB"));
    assert_eq!(map.zone_for("kind-us-west"), Ok("US-CAL-CISO"));

    let args = parse(&["--zone-map", "us-east-1=US-NY-NYIS", "--zone-map", "lab=GB"]);
    let map = args.zone_map().unwrap();
    assert_eq!(map.zone_for("us-east-1"), Ok("US-NY-NYIS"));
    assert_eq!(map.zone_for("lab"), Ok("GB"));

    let err = map.zone_for("eu-centrl-1").unwrap_err();
    assert_eq!(err.suggestions[0], "eu-central-1");
    assert!(err.to_string().contains("did you mean eu-central-1"), "{err}");

    let bad = parse(&["--zone-map", "nonsense"]);
    assert!(bad.zone_map().unwrap_err().to_string().contains("REGION=ZONE"));
}
