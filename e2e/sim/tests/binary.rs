//! The `gridshift-sim` binary: several clusters, CRDs applied, a kubeconfig
//! kube-rs uses as is.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

#[tokio::test]
async fn binary_serves_two_clusters_with_crds() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridshift-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--name",
            "karmada",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "member-a",
        ])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .arg("--crds")
        .arg(common::crds_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // "name url" lines come once the clusters, CRDs and kubeconfig are ready.
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().take(2).map(Result::unwrap).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(lines[0].starts_with("karmada http://127.0.0.1:"), "{lines:?}");
    assert!(lines[1].starts_with("member-a http://127.0.0.1:"), "{lines:?}");

    let config = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    for context in ["karmada", "member-a"] {
        let options = kube::config::KubeConfigOptions { context: Some(context.into()), ..Default::default() };
        let client = kube::Client::try_from(
            kube::Config::from_custom_kubeconfig(config.clone(), &options).await.unwrap(),
        )
        .unwrap();
        let namespaces = Api::<Namespace>::all(client.clone()).list(&ListParams::default()).await.unwrap();
        assert_eq!(namespaces.items.len(), 4, "default namespaces in {context}");
        let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject");
        let api: Api<DynamicObject> = Api::all_with(client, &ApiResource::from_gvk(&gvk));
        assert!(api.list(&ListParams::default()).await.unwrap().items.is_empty(), "CRD served in {context}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
