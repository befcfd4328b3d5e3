//! Discovery (/version, /api, /apis, resource lists) and OpenAPI. Only the
//! legacy (non-aggregated) discovery format is served: clients asking for
//! aggregated discovery get plain JSON and fall back, as with old servers.

use std::sync::Arc;

use axum::response::Response;
use http::Method;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resource::ResourceDef;
use crate::router::{error_response, json_response};
use crate::server::ClusterState;

const VERBS: [&str; 8] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

fn resource_entries(defs: &[Arc<ResourceDef>]) -> Vec<Value> {
    let mut out = Vec::new();
    for d in defs {
        let mut entry = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": VERBS,
        });
        if !d.short_names.is_empty() {
            entry["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            entry["categories"] = json!(d.categories);
        }
        out.push(entry);
        if d.status_subresource {
            out.push(
                json!({"name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced,
                "kind": d.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
        if d.binding_subresource {
            out.push(json!({"name": format!("{}/binding", d.plural), "singularName": "", "namespaced": d.namespaced,
                "kind": "Binding", "verbs": ["create"]}));
        }
    }
    out
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let gvs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    json!({"name": group, "versions": gvs, "preferredVersion": gvs.first().cloned().unwrap_or(Value::Null)})
}

fn ok(v: Value) -> Response {
    json_response(200, v.to_string())
}

fn not_found() -> Response {
    error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource"))
}

/// Answers discovery and meta paths; None for resource paths.
pub(crate) fn serve(st: &ClusterState, method: &Method, path: &str) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let resources = |group: &str, version: &str| -> Vec<Arc<ResourceDef>> {
        st.registry.all().into_iter().filter(|d| d.group == group && d.version == version).collect()
    };
    let resp = match segs.as_slice() {
        ["version"] => ok(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-gridshift-sim", "gitCommit": "",
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "rust",
            "compiler": "rustc", "platform": "linux/amd64",
        })),
        ["healthz" | "livez" | "readyz"] => json_response(200, "ok"),
        ["api"] => ok(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})),
        ["api", "v1"] => ok(json!({"kind": "APIResourceList", "groupVersion": "v1",
            "resources": resource_entries(&resources("", "v1"))})),
        ["apis"] => {
            let groups: Vec<Value> = st
                .registry
                .group_versions()
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, vs)| group_entry(g, vs))
                .collect();
            ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["apis", group] => match st.registry.group_versions().get(*group) {
            Some(vs) if !group.is_empty() => {
                let mut g = group_entry(group, vs);
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                ok(g)
            }
            _ => not_found(),
        },
        ["apis", group, version] => {
            let defs = resources(group, version);
            if defs.is_empty() {
                not_found()
            } else {
                ok(json!({"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": format!("{group}/{version}"), "resources": resource_entries(&defs)}))
            }
        }
        ["openapi", "v3"] => ok(openapi_root(st)),
        ["openapi", "v3", rest @ ..] => match openapi_group_version(st, rest) {
            Some(doc) => ok(doc),
            None => not_found(),
        },
        ["openapi", ..] => not_found(),
        _ => return None,
    };
    Some(resp)
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// The OpenAPI v3 index: one document per group/version.
fn openapi_root(st: &ClusterState) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, versions) in st.registry.group_versions() {
        for v in versions {
            let p = gv_path(&group, &v);
            // The hash changes with the resource set so clients refetch after CRD changes.
            let hash = st.store.current_rv();
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}));
        }
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document for one group/version: the PATCH operations
/// with their GVK and the fieldValidation parameter, so kubectl validates on
/// the server (fieldValidation=Strict) instead of needing full schemas.
/// Schemas are not published: kubectl falls back to its built-in types for
/// strategic merge and to JSON merge patch for custom resources.
fn openapi_group_version(st: &ClusterState, rest: &[&str]) -> Option<Value> {
    let (group, version) = match rest {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let defs: Vec<_> =
        st.registry.all().into_iter().filter(|d| d.group == group && d.version == version).collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for d in defs {
        let base = format!("/{}", gv_path(group, version));
        let path = if d.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
        } else {
            format!("{base}/{}/{{name}}", d.plural)
        };
        let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
        paths.insert(
            path,
            json!({"patch": {
                "operationId": format!("patch{}", d.kind),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": d.kind},
                "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
