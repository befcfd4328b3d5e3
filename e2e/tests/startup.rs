//! A fleet whose hub cannot start fails at once and says why: the hub's own
//! error, not a timeout with the reason scrolled away.
use gridshift_e2e::{Fleet, FleetConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_cannot_start_fails_the_fleet_with_its_error() {
    gridshift_ops::install_crypto_provider();
    let mut config = FleetConfig::three_members("2022-03-15T00:00:00Z".parse().unwrap(), 60.0);
    config.extra_hub_args = vec!["--zone-map=this-is-not-a-mapping".into()];
    let Err(error) = Fleet::start(config).await else {
        panic!("the fleet started with a hub given a broken --zone-map");
    };
    let text = format!("{error:#}");
    assert!(text.contains("hub exited"), "{text}");
    assert!(text.contains("this-is-not-a-mapping"), "the hub's error is missing: {text}");
    assert!(!text.contains("Stack backtrace"), "a backtrace buries the error: {text}");
}
