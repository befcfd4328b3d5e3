//! An agent can only speak for its own cluster: a process presenting
//! member-gb's certificate while claiming to be member-us-west is refused, and
//! the real member-us-west is unaffected.
use gridshift_e2e::binaries::Binaries;
use gridshift_e2e::process::{ManagedProcess, http_get, metric};
use gridshift_e2e::{Fleet, FleetConfig};
use std::ffi::OsString;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_claiming_another_clusters_identity_is_refused() {
    gridshift_ops::install_crypto_provider();
    let mut config = FleetConfig::three_members("2022-03-15T00:00:00Z".parse().unwrap(), 60.0);
    config.members.retain(|m| m.name != "member-us-east");
    let mut fleet = Fleet::start(config).await.unwrap();

    let pki = fleet.work_dir.join("pki");
    let scratch = gridshift_sim::SimServer::start(gridshift_sim::SimConfig::default()).await.unwrap();
    let scratch_kubeconfig = fleet.work_dir.join("impostor.kubeconfig");
    scratch.write_kubeconfig(&scratch_kubeconfig).unwrap();
    let path = |name: &str| OsString::from(pki.join(name));
    let args: Vec<OsString> = vec![
        "--cluster-name=member-us-west".into(),
        format!("--hub-url=https://localhost:{}", fleet.hub_grpc_port).into(),
        "--tls-ca".into(),
        path("ca.crt"),
        "--tls-cert".into(),
        path("member-gb.crt"),
        "--tls-key".into(),
        path("member-gb.key"),
        "--node-zone=US-CAL-CISO".into(),
        "--ops-listen=127.0.0.1:0".into(),
        // Its own throwaway API server: nothing it writes can touch a member.
        "--features=configmap".into(),
        "--kubeconfig".into(),
        scratch_kubeconfig.clone().into(),
    ];
    let log = fleet.work_dir.join("impostor.log");
    let mut impostor = ManagedProcess::new(
        "impostor",
        &Binaries::get().unwrap().agent,
        args,
        vec![("GRIDSHIFT_LOG".into(), "info".into())],
        log,
    );
    impostor.start().unwrap();
    let [ops] = impostor.read_addrs("agent starting", ["ops"], Duration::from_secs(60)).await.unwrap();
    let ops_port = ops.port();

    let refused = impostor.wait_for_log("PermissionDenied", Duration::from_secs(30)).await;
    assert!(refused.is_ok(), "the impostor was not refused: {refused:?}");
    let metrics = http_get(ops_port, "/metrics").await.unwrap();
    assert_eq!(metric(&metrics, "gridshift_agent_hub_connected"), Some(0.0), "{metrics}");
    // The genuine member-us-west stays connected.
    fleet.wait_connected(Duration::from_secs(5)).await.unwrap();
    impostor.kill().await;
    fleet.stop().await;
}
