//! The built-in kinds a Helm chart installs (Deployments, Services, RBAC,
//! PodDisruptionBudgets) are served through typed and discovery-driven clients
//! alike. They are stored only: no controller acts on them.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::json;

#[tokio::test]
async fn chart_kinds_are_discoverable_with_their_scope() {
    let sim = common::sim().await;
    let discovery = Discovery::new(sim.client().unwrap()).run().await.unwrap();
    let mut found = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            found.push((ar.group.clone(), ar.kind.clone(), caps.scope == Scope::Namespaced));
        }
    }
    for (group, kind, namespaced) in [
        ("apps", "Deployment", true),
        ("apps", "StatefulSet", true),
        ("apps", "DaemonSet", true),
        ("", "Service", true),
        ("batch", "Job", true),
        ("policy", "PodDisruptionBudget", true),
        ("rbac.authorization.k8s.io", "ClusterRole", false),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", false),
        ("rbac.authorization.k8s.io", "Role", true),
        ("rbac.authorization.k8s.io", "RoleBinding", true),
    ] {
        assert!(
            found.contains(&(group.to_string(), kind.to_string(), namespaced)),
            "{group}/{kind} (namespaced: {namespaced}) not discovered in {found:?}"
        );
    }
}

#[tokio::test]
async fn deployments_keep_spec_and_status_apart() {
    let sim = common::sim().await;
    let api: Api<Deployment> = Api::namespaced(sim.client().unwrap(), "default");
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "hub", "labels": {"app": "hub"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "hub"}},
            "template": {
                "metadata": {"labels": {"app": "hub"}},
                "spec": {"containers": [{"name": "hub", "image": "gridshift:dev"}]}
            }
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &deploy).await.unwrap();
    // The status subresource writes status only; a main-resource write leaves it.
    let status = json!({"status": {"replicas": 2, "readyReplicas": 1}});
    api.patch_status("hub", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    let scaled = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 0}});
    let got = api.patch("hub", &PatchParams::default(), &Patch::Merge(&scaled)).await.unwrap();
    assert_eq!(got.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(got.status.as_ref().unwrap().ready_replicas, Some(1));
    // Strategic merge keys containers by name, as for pods.
    let image =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "hub", "image": "gridshift:v2"}]}}}});
    let got = api.patch("hub", &PatchParams::default(), &Patch::Strategic(&image)).await.unwrap();
    let containers = &got.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!((containers.len(), containers[0].image.as_deref()), (1, Some("gridshift:v2")));
    // Stored only: no ReplicaSet or pod appears.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::all(sim.client().unwrap());
    assert!(pods.list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn services_pdbs_and_rbac_round_trip() {
    let sim = common::sim().await;
    let client = sim.client().unwrap();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "gridshift-hub"},
        "spec": {"type": "NodePort", "selector": {"app": "hub"},
                 "ports": [{"name": "grpc", "port": 7443, "targetPort": "grpc", "nodePort": 30443}]}
    }))
    .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    services.create(&PostParams::default(), &svc).await.unwrap();
    let got = services.get("gridshift-hub").await.unwrap();
    assert_eq!(got.spec.unwrap().ports.unwrap()[0].node_port, Some(30443));

    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "hub"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "hub"}}}
    }))
    .unwrap();
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    assert_eq!(pdbs.list(&ListParams::default()).await.unwrap().items.len(), 1);

    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": "gridshift-agent"},
        "rules": [{"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]}]
    }))
    .unwrap();
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles.create(&PostParams::default(), &role).await.unwrap();
    let got = roles.get("gridshift-agent").await.unwrap();
    assert_eq!(got.rules.unwrap()[0].verbs, ["create"]);
    assert!(got.metadata.namespace.is_none(), "ClusterRoles are cluster-scoped");

    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "leases"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leases"},
        "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": "default"}]
    }))
    .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client, "kube-system");
    bindings.create(&PostParams::default(), &binding).await.unwrap();
    assert_eq!(bindings.get("leases").await.unwrap().subjects.unwrap()[0].name, "agent");
}
