//! kube-rs typed clients (`Api<T>`) against the simulator: CRUD, selectors,
//! paging, conflicts, errors as metav1.Status, finalizers, binding.

mod common;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Status;
use serde_json::json;

fn api_error(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn configmap_crud_conflicts_and_status_errors() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    let created = api.create(&PostParams::default(), &cm("a", json!({"app": "x"}))).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

    let dup = api.create(&PostParams::default(), &cm("a", json!({}))).await.unwrap_err();
    let dup = api_error(dup);
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed.data = Some([("k".to_string(), "v2".to_string())].into());
    let replaced = api.replace("a", &PostParams::default(), &changed).await.unwrap();
    let rv2: u64 = replaced.metadata.resource_version.as_deref().unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    // The same (now stale) resourceVersion again: 409 Conflict.
    let stale = api_error(api.replace("a", &PostParams::default(), &changed).await.unwrap_err());
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
    assert!(stale.message.contains("the object has been modified"), "{}", stale.message);

    let missing = api_error(api.get("nope").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "configmaps \"nope\" not found");

    let elsewhere: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "no-such-ns");
    let err = api_error(elsewhere.create(&PostParams::default(), &cm("b", json!({}))).await.unwrap_err());
    assert_eq!(err.code, 404);
    assert!(err.message.contains("namespaces \"no-such-ns\" not found"));

    let gen_named: ConfigMap = serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let generated = api.create(&PostParams::default(), &gen_named).await.unwrap();
    let name = generated.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(api.get("a").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn patches_merge_json_strategic_and_apply() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    api.create(&PostParams::default(), &cm("p", json!({"a": "1"}))).await.unwrap();
    let pp = PatchParams::default();
    let merged = api
        .patch("p", &pp, &Patch::Merge(json!({"metadata": {"labels": {"b": "2", "a": null}}})))
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.unwrap(), [("b".to_string(), "2".to_string())].into());

    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "x"}])).unwrap();
    let patched = api.patch("p", &pp, &Patch::<()>::Json(ops)).await.unwrap();
    assert_eq!(patched.data.unwrap()["j"], "x");

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/j", "value": "y"}])).unwrap();
    assert_eq!(api_error(api.patch("p", &pp, &Patch::<()>::Json(failing)).await.unwrap_err()).code, 422);

    let strategic = api.patch("p", &pp, &Patch::Strategic(json!({"data": {"s": "1"}}))).await.unwrap();
    assert_eq!(strategic.data.unwrap().len(), 3);

    // An unchanged patch does not bump the resourceVersion.
    let again = api.patch("p", &pp, &Patch::Strategic(json!({"data": {"s": "1"}}))).await.unwrap();
    assert_eq!(again.metadata.resource_version, strategic.metadata.resource_version);

    let ssa = PatchParams::apply("gridshift-test");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "q"}, "data": {"x": "1", "y": "2"}});
    let created = api.patch("q", &ssa, &Patch::Apply(&applied)).await.unwrap();
    assert_eq!(created.data.as_ref().unwrap().len(), 2);
    let fewer =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "q"}, "data": {"x": "1"}});
    let shrunk = api.patch("q", &ssa, &Patch::Apply(&fewer)).await.unwrap();
    assert_eq!(
        shrunk.data.unwrap().keys().collect::<Vec<_>>(),
        vec!["x"],
        "apply drops fields the manager stopped setting"
    );
    let managed = shrunk.metadata.managed_fields.unwrap();
    assert_eq!(managed[0].manager.as_deref(), Some("gridshift-test"));
}

#[tokio::test]
async fn list_selectors_and_pages() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        api.create(&PostParams::default(), &cm(&format!("c{i}"), json!({"tier": tier}))).await.unwrap();
    }
    let even = api.list(&ListParams::default().labels("tier=even")).await.unwrap();
    assert_eq!(even.items.len(), 4);
    assert!(even.metadata.resource_version.is_some());
    let not_odd = api.list(&ListParams::default().labels("tier notin (odd)")).await.unwrap();
    assert_eq!(not_odd.items.len(), 4);
    let by_name = api.list(&ListParams::default().fields("metadata.name=c3")).await.unwrap();
    assert_eq!(by_name.items.len(), 1);
    let bad = api_error(api.list(&ListParams::default().fields("data.k=v")).await.unwrap_err());
    assert_eq!(bad.code, 400);

    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    loop {
        let page = api.list(&lp).await.unwrap();
        assert!(page.items.len() <= 3);
        names.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["gridshift.io/test".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    let pending = api.delete("held", &DeleteParams::default()).await.unwrap();
    assert!(pending.is_left(), "object still exists while a finalizer holds it");
    let now = api.get("held").await.unwrap();
    assert!(now.metadata.deletion_timestamp.is_some());
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);

    // Deleting a namespace deletes its contents.
    let ns_api: Api<Namespace> = Api::all(sim.client().unwrap());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "temp"}})).unwrap();
    ns_api.create(&PostParams::default(), &ns).await.unwrap();
    let in_ns: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "temp");
    in_ns.create(&PostParams::default(), &cm("x", json!({}))).await.unwrap();
    ns_api.delete("temp", &DeleteParams::default()).await.unwrap();
    assert_eq!(sim.count("", "configmaps"), 0);
}

#[tokio::test]
async fn empty_metadata_lists_and_maps_are_omitted_like_a_real_server() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    let mut obj = cm("f", json!({}));
    obj.metadata.finalizers = Some(vec!["gridshift.io/a".into()]);
    obj.metadata.annotations = Some(Default::default());
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.metadata.labels.is_none() && created.metadata.annotations.is_none());

    // Removing the last finalizer (as kube-runtime does) leaves no empty list...
    let remove = json!([{"op": "remove", "path": "/metadata/finalizers/0"}]);
    let patched = api
        .patch("f", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(remove).unwrap()))
        .await
        .unwrap();
    assert_eq!(patched.metadata.finalizers, None);
    // ...so adding one again the way kube-runtime's helper does (test null, add) succeeds.
    let add = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["gridshift.io/b"]},
    ]);
    let patched = api
        .patch("f", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(add).unwrap()))
        .await
        .unwrap();
    assert_eq!(patched.metadata.finalizers, Some(vec!["gridshift.io/b".to_string()]));
}

fn pod(name: &str, scheduler: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"schedulerName": scheduler, "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap()
}

#[tokio::test]
async fn pod_binding_honours_uid_precondition_and_conflicts() {
    let sim = common::sim().await;
    let client = sim.client().unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = pods.create(&PostParams::default(), &pod("p", "carbon-aware-scheduler")).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let defaulted = pods.create(&PostParams::default(), &pod("d", "")).await.unwrap();
    assert_eq!(defaulted.spec.unwrap().scheduler_name.as_deref(), Some("default-scheduler"));

    let unbound = pods
        .list(&ListParams::default().fields("spec.schedulerName=carbon-aware-scheduler,spec.nodeName="))
        .await
        .unwrap();
    assert_eq!(unbound.items.len(), 1);

    let bind = |uid: &str| {
        let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}});
        let req = http::Request::post("/api/v1/namespaces/default/pods/p/binding")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap();
        let client = client.clone();
        async move { client.request::<serde_json::Value>(req).await }
    };
    let wrong = api_error(bind("00000000-0000-0000-0000-000000000000").await.unwrap_err());
    assert_eq!(wrong.code, 409);
    assert!(wrong.message.contains("Precondition failed: UID in precondition"), "{}", wrong.message);

    let uid = created.metadata.uid.unwrap();
    let ok = bind(&uid).await.unwrap();
    assert_eq!(ok["status"], "Success");
    let bound = pods.get("p").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("n1"));
    let conds = bound.status.unwrap().conditions.unwrap();
    assert!(conds.iter().any(|c| c.type_ == "PodScheduled" && c.status == "True"));

    let twice = api_error(bind(&uid).await.unwrap_err());
    assert_eq!(twice.code, 409);
    assert!(twice.message.contains("already assigned to node \"n1\""), "{}", twice.message);

    // Scheduling gates block binding.
    let mut gated = pod("g", "carbon-aware-scheduler");
    gated.spec.as_mut().unwrap().scheduling_gates =
        Some(vec![serde_json::from_value(json!({"name": "wait"})).unwrap()]);
    pods.create(&PostParams::default(), &gated).await.unwrap();
    let req = http::Request::post("/api/v1/namespaces/default/pods/g/binding")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"metadata": {"name": "g"}, "target": {"name": "n1"}})).unwrap())
        .unwrap();
    assert_eq!(api_error(client.request::<serde_json::Value>(req).await.unwrap_err()).code, 409);

    // pods/status writes status only.
    let status = json!({"status": {"phase": "Running"}, "spec": {"nodeName": "elsewhere"}});
    let after = pods.patch_status("p", &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
    assert_eq!(after.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(after.spec.unwrap().node_name.as_deref(), Some("n1"));
}
