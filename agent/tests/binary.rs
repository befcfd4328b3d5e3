//! The `gridshift-agent` binary against gridshift-sim, with no hub: it reloads the
//! forecast it wrote before a restart from the ConfigMap, serves it, and keeps the
//! ConfigMap saying so.
mod common;

use common::{hourly, sim, t0, wait_for};
use gridshift_agent::configmap::format::encode;
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use std::process::{Command, Stdio};

#[tokio::test]
async fn a_restarted_agent_without_a_hub_serves_its_last_forecast() {
    let sim = sim().await;
    let client = sim.client().expect("client");
    let kubeconfig = std::env::temp_dir().join(format!(
        "gridshift-agent-test-{}-{}",
        std::process::id(),
        sim.addr().port()
    ));
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");

    // What the agent wrote before it stopped: a day of data obtained at t0.
    let series = hourly(t0(), t0(), &[200.0; 24]);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("carbon-intensity".into());
    encode(&series, t0(), "forecast from the hub").expect("encode").apply_to(&mut cm);
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    api.create(&PostParams::default(), &cm).await.expect("create");

    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let restart_at = t0() + SignedDuration::from_hours(2);
    let mut agent = Command::new(env!("CARGO_BIN_EXE_gridshift-agent"))
        .args(["--cluster-name", "member-gb", "--insecure", "--node-zone", "GB", "--features", "configmap"])
        .args(["--hub-url", &format!("http://{unreachable}"), "--ops-listen", "127.0.0.1:0"])
        .args(["--clock-start", &restart_at.to_string()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("agent starts");

    // The message can only name the data's age if the reloaded forecast reached the view.
    let served =
        "hub not reached since the agent started; serving the last forecast it wrote here; data for GB is 2h";
    let cm = wait_for(&api, "carbon-intensity", "the restarted agent's write", |cm| {
        cm.and_then(|cm| cm.data.as_ref()).is_some_and(|d| d["message"].starts_with(served))
    })
    .await
    .expect("ConfigMap");
    let data = cm.data.expect("data");
    assert_eq!(data["numOfRecords"], "24");
    assert_eq!(data["generatedAt"], t0().to_string());
    assert!(data["lastHeartbeatTime"].parse::<jiff::Timestamp>().expect("RFC3339") >= restart_at);

    agent.kill().expect("kill");
    agent.wait().expect("wait");
    let _ = std::fs::remove_file(kubeconfig);
}
