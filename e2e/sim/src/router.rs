//! HTTP entry point: one fallback handler that parses Kubernetes API paths
//! (resources come and go with CRDs, so routes are not static), applies
//! injected faults, and hands the request to the verb handlers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{Method, StatusCode, header};

use crate::discovery;
use crate::error::ApiError;
use crate::faults::{RequestInfo, Verb};
use crate::handlers::{self, Call};
use crate::resource::{Registry, ResourceDef};
use crate::server::ClusterState;

pub(crate) fn app(state: Arc<ClusterState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

pub(crate) fn json_response(code: u16, body: impl Into<Bytes>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp
}

pub(crate) fn error_response(err: &ApiError) -> Response {
    let mut resp = json_response(err.code, err.to_status().to_string());
    if err.code == 429 || err.code == 503 {
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    resp
}

/// A parsed resource path.
struct Target {
    def: Arc<ResourceDef>,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    watch_path: bool,
}

fn not_found() -> ApiError {
    ApiError::new(404, "NotFound", "the server could not find the requested resource")
}

fn parse_target(reg: &Registry, path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    let (watch_path, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let owned = |s: Option<&&str>| s.map(|s| s.to_string());
    // "namespaces/{ns}/{plural}/..." unless {plural} is not a namespaced resource
    // ("namespaces/{name}/status" is the namespace's own subresource).
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && let Some(def) = reg.get(group, version, rest[2]).filter(|d| d.namespaced)
    {
        if rest.len() > 5 {
            return Err(not_found());
        }
        return Ok(Target {
            def,
            namespace: Some(rest[1].to_string()),
            name: owned(rest.get(3)),
            sub: owned(rest.get(4)),
            watch_path,
        });
    }
    let Some(plural) = rest.first() else { return Err(not_found()) };
    let def = reg.get(group, version, plural).ok_or_else(not_found)?;
    if rest.len() > 3 || (def.namespaced && rest.len() > 1) {
        return Err(not_found());
    }
    Ok(Target { def, namespace: None, name: owned(rest.get(1)), sub: owned(rest.get(2)), watch_path })
}

fn verb_of(method: &Method, t: &Target, query: &HashMap<String, String>) -> Result<Verb, ApiError> {
    let watching = t.watch_path || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    Ok(match (method.as_str(), t.name.is_some()) {
        ("GET", true) if watching => Verb::Watch,
        ("GET", true) => Verb::Get,
        ("GET", false) if watching => Verb::Watch,
        ("GET", false) => Verb::List,
        ("POST", false) => Verb::Create,
        ("POST", true) if t.sub.as_deref() == Some("binding") => Verb::Create,
        ("PUT", true) => Verb::Update,
        ("PATCH", true) => Verb::Patch,
        ("DELETE", true) => Verb::Delete,
        ("DELETE", false) => Verb::DeleteCollection,
        _ => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    })
}

async fn handle(State(st): State<Arc<ClusterState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(resp) = discovery::serve(&st, &parts.method, parts.uri.path()) {
        return resp;
    }
    let query: HashMap<String, String> =
        Query::try_from_uri(&parts.uri).map(|Query(q)| q).unwrap_or_default();
    let target = match parse_target(&st.registry, parts.uri.path()) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let verb = match verb_of(&parts.method, &target, &query) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let sub_ok = match target.sub.as_deref() {
        None => true,
        Some("status") => target.def.status_subresource,
        Some("binding") => target.def.binding_subresource && verb == Verb::Create,
        Some(_) => false,
    };
    if !sub_ok {
        return error_response(&not_found());
    }
    let resource = match &target.sub {
        Some(s) => format!("{}/{s}", target.def.plural),
        None => target.def.plural.clone(),
    };
    let decision =
        st.faults.decide(&RequestInfo { verb, resource: &resource, namespace: target.namespace.as_deref() });
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    if let Some(code) = decision.error {
        return error_response(&ApiError::for_code(code, format!("injected fault: {code} on {resource}")));
    }
    let body = match axum::body::to_bytes(body, 512 << 20).await {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading body: {e}"))),
    };
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let call = Call {
        def: target.def,
        ns: target.namespace,
        name: target.name,
        sub: target.sub,
        verb,
        query,
        content_type,
        body,
    };
    handlers::dispatch(&st, call, decision.close_watch_after).unwrap_or_else(|e| error_response(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaced_cluster_and_subresource_paths() {
        let reg = Registry::with_builtins();
        let t = parse_target(&reg, "/api/v1/namespaces/ns1/pods/p/binding").unwrap();
        assert_eq!(
            (t.namespace.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            (Some("ns1"), Some("p"), Some("binding"))
        );
        let t = parse_target(&reg, "/api/v1/namespaces/ns1/status").unwrap();
        assert_eq!(
            (t.def.plural.as_str(), t.name.as_deref(), t.sub.as_deref()),
            ("namespaces", Some("ns1"), Some("status"))
        );
        let t = parse_target(&reg, "/apis/coordination.k8s.io/v1/leases").unwrap();
        assert!(t.namespace.is_none() && t.name.is_none());
        assert!(parse_target(&reg, "/api/v1/pods/p").is_err(), "namespaced get needs a namespace");
        assert!(parse_target(&reg, "/apis/nope/v1/things").is_err());
    }
}
