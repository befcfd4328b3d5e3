//! The verbs: get, list, create, update, patch, delete, deletecollection and
//! pods/binding. Watch lives in `watch`. Read-modify-write happens inside the
//! store's write lock, so preconditions and conflicts are exact.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::crd;
use crate::error::ApiError;
use crate::faults::Verb;
use crate::meta::{now, str_at};
use crate::objects::{prepare_create, prepare_update};
use crate::patch::{self, PatchType};
use crate::resource::{ResourceDef, storage_key};
use crate::router::json_response;
use crate::selectors::{FieldSelector, LabelSelector, Selector};
use crate::server::ClusterState;
use crate::store::{EventType, Obj, Write, Written};
use crate::watch;

/// One API request, parsed.
pub(crate) struct Call {
    pub def: Arc<ResourceDef>,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    pub verb: Verb,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub body: Bytes,
}

impl Call {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn ns(&self) -> &str {
        self.ns.as_deref().unwrap_or_default()
    }

    fn strict(&self) -> bool {
        self.query.get("fieldValidation").is_some_and(|v| v.eq_ignore_ascii_case("strict"))
    }

    fn body_value(&self) -> Result<Value, ApiError> {
        if self.content_type.contains("protobuf") {
            return Err(ApiError::unsupported_media("protobuf request bodies are not supported; send JSON"));
        }
        if self.content_type.contains("yaml") {
            return serde_yaml::from_slice(&self.body)
                .map_err(|e| ApiError::bad_request(format!("invalid YAML: {e}")));
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    }
}

pub(crate) fn dispatch(
    st: &Arc<ClusterState>,
    call: Call,
    close_after: Option<Duration>,
) -> Result<Response, ApiError> {
    if call.def.namespaced && call.ns.is_none() && !matches!(call.verb, Verb::List | Verb::Watch) {
        return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    }
    if call.query.get("dryRun").is_some_and(|d| !d.is_empty()) {
        // Refusing beats writing what the client asked only to check.
        return Err(ApiError::bad_request("dryRun is not supported by gridshift-sim"));
    }
    match call.verb {
        Verb::Get => get(st, &call),
        Verb::List => list(st, &call),
        Verb::Watch => {
            let selector = selector(&call)?;
            watch::serve(st, call.def.clone(), call.ns.clone(), selector, &call.query, close_after)
        }
        Verb::Create if call.sub.as_deref() == Some("binding") => bind(st, &call),
        Verb::Create => {
            let value = call.body_value()?;
            let obj = create(st, &call.def, call.ns.as_deref(), value, call.strict())?;
            Ok(json_response(201, render(&call.def, &obj)?))
        }
        Verb::Update => update(st, &call),
        Verb::Patch => patch(st, &call),
        Verb::Delete => delete(st, &call),
        Verb::DeleteCollection => delete_collection(st, &call),
    }
}

/// The object as served at the requested version (custom resources may be
/// stored at another version of the same group: rewrite apiVersion only).
pub(crate) fn render(def: &ResourceDef, obj: &Obj) -> Result<Bytes, ApiError> {
    if obj.api_version == def.api_version() {
        return Ok(obj.json.clone());
    }
    let mut v = obj.value()?;
    v["apiVersion"] = json!(def.api_version());
    serde_json::to_vec(&v).map(Bytes::from).map_err(|e| ApiError::internal(e.to_string()))
}

pub(crate) fn selector(call: &Call) -> Result<Selector, ApiError> {
    let labels = LabelSelector::parse(call.query.get("labelSelector").map_or("", String::as_str))?;
    let fields = FieldSelector::parse(call.query.get("fieldSelector").map_or("", String::as_str), &call.def)?;
    Ok(Selector { labels, fields })
}

fn get(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let obj = st
        .store
        .get(&call.def.storage_key(), call.ns(), call.name())
        .ok_or_else(|| ApiError::not_found(&call.def.qualified(), call.name()))?;
    Ok(json_response(200, render(&call.def, &obj)?))
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

fn list(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let selector = selector(call)?;
    let key = call.def.storage_key();
    let limit = match call.query.get("limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request("invalid limit"))?),
        None => None,
    };
    // Continue tokens are "rv:namespace:name"; pages show the current state (see README).
    let (after, token_rv) = match call.query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let mut parts = token.splitn(3, ':');
            let (Some(rv), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ApiError::bad_request("continue key is not valid"));
            };
            (Some((ns.to_string(), name.to_string())), Some(parse_rv(rv)?))
        }
        None => (None, None),
    };
    let current = st.store.current_rv();
    if let Some(rv) = call.query.get("resourceVersion").filter(|r| !r.is_empty() && *r != "0") {
        let rv = parse_rv(rv)?;
        let exact = call.query.get("resourceVersionMatch").is_some_and(|m| m == "Exact");
        if rv > current {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {rv}, current: {current}"),
            ));
        }
        if exact && rv != current {
            return Err(ApiError::gone(format!("too old resource version: {rv} ({current})")));
        }
    }
    let result = st.store.list(&key, call.ns.as_deref(), after, limit, |o| selector.matches(o));
    let rv = token_rv.unwrap_or(result.rv);
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if let Some((ns, name)) = &result.more_after {
        meta["continue"] = json!(format!("{rv}:{ns}:{name}"));
    }
    let head = format!(
        r#"{{"kind":"{}","apiVersion":"{}","metadata":{},"items":["#,
        call.def.list_kind(),
        call.def.api_version(),
        meta
    );
    let rendered: Vec<Bytes> = result.items.iter().map(|o| render(&call.def, o)).collect::<Result<_, _>>()?;
    let size = head.len() + rendered.iter().map(|b| b.len() + 1).sum::<usize>() + 2;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    for (i, item) in rendered.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    Ok(json_response(200, body))
}

fn namespace_must_exist(st: &ClusterState, def: &ResourceDef, ns: Option<&str>) -> Result<(), ApiError> {
    match ns {
        Some(ns) if def.namespaced => {
            if st.store.get("namespaces", "", ns).is_none() {
                return Err(ApiError::not_found("namespaces", ns));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Create; used by POST and by the library's manifest loading.
pub(crate) fn create(
    st: &ClusterState,
    def: &ResourceDef,
    ns: Option<&str>,
    value: Value,
    strict: bool,
) -> Result<Arc<Obj>, ApiError> {
    namespace_must_exist(st, def, ns)?;
    let obj = prepare_create(st, def, ns, value, strict)?;
    let name = str_at(&obj, &["metadata", "name"]).to_string();
    let written = st.store.write(&def.storage_key(), &def.field_labels, ns.unwrap_or(""), &name, |cur| {
        if cur.is_some() {
            return Err(ApiError::already_exists(&def.qualified(), &name));
        }
        Ok(Write::Put(obj))
    })?;
    after_write(st, def, &written)?;
    Ok(written.obj)
}

fn update(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let def = &call.def;
    let value = call.body_value()?;
    if def.custom && call.sub.is_none() && str_at(&value, &["metadata", "resourceVersion"]).is_empty() {
        return Err(ApiError::invalid(
            &format!("{}.{}", def.kind, def.group),
            call.name(),
            &["metadata.resourceVersion: Invalid value: 0x0: must be specified for an update".into()],
        ));
    }
    let written = st.store.write(&def.storage_key(), &def.field_labels, call.ns(), call.name(), |cur| {
        let cur = cur.ok_or_else(|| ApiError::not_found(&def.qualified(), call.name()))?;
        prepare_update(st, def, &cur.value()?, value, call.sub.as_deref(), call.strict())
    })?;
    after_write(st, def, &written)?;
    Ok(json_response(200, render(def, &written.obj)?))
}

fn patch(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let def = &call.def;
    let kind = PatchType::from_content_type(&call.content_type).ok_or_else(|| {
        ApiError::unsupported_media(format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {:?})", call.content_type))
    })?;
    if kind == PatchType::Strategic && def.custom {
        return Err(ApiError::unsupported_media(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    let body = if kind == PatchType::Apply {
        serde_yaml::from_slice::<Value>(&call.body)
            .map_err(|e| ApiError::bad_request(format!("invalid apply patch: {e}")))?
    } else {
        serde_json::from_slice::<Value>(&call.body)
            .map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))?
    };
    let manager = call.query.get("fieldManager").cloned().unwrap_or_default();
    if kind == PatchType::Apply && manager.is_empty() {
        return Err(ApiError::bad_request("PATCH /apply requests require fieldManager"));
    }
    if kind == PatchType::Apply {
        namespace_must_exist(st, def, call.ns.as_deref())?;
    }
    let strict = call.strict();
    let mut created = false;
    let written = st.store.write(&def.storage_key(), &def.field_labels, call.ns(), call.name(), |cur| {
        let Some(cur) = cur else {
            if kind != PatchType::Apply || call.sub.is_some() {
                return Err(ApiError::not_found(&def.qualified(), call.name()));
            }
            let mut config = body.clone();
            config["metadata"]["name"] = json!(call.name());
            let applied = patch::apply(None, &config, &manager, !def.custom, &now())?;
            let managed = applied["metadata"]["managedFields"].clone();
            let mut obj = prepare_create(st, def, call.ns.as_deref(), applied, strict)?;
            obj["metadata"]["managedFields"] = managed;
            created = true;
            return Ok(Write::Put(obj));
        };
        let old = cur.value()?;
        let mut new = old.clone();
        match kind {
            PatchType::Merge => patch::merge_patch(&mut new, &body),
            PatchType::Json => patch::json_patch(&mut new, &body)?,
            PatchType::Strategic => patch::strategic_merge(&mut new, &body)?,
            PatchType::Apply => new = patch::apply(Some(&old), &body, &manager, !def.custom, &now())?,
        }
        prepare_update(st, def, &old, new, call.sub.as_deref(), strict)
    })?;
    after_write(st, def, &written)?;
    Ok(json_response(if created { 201 } else { 200 }, render(def, &written.obj)?))
}

/// DeleteOptions preconditions, as the API server checks them.
fn check_preconditions(def: &ResourceDef, obj: &Obj, opts: &Value) -> Result<(), ApiError> {
    let pre = &opts["preconditions"];
    if let Some(uid) = pre["uid"].as_str().filter(|u| !u.is_empty() && *u != obj.uid) {
        return Err(ApiError::conflict(
            &def.qualified(),
            &obj.name,
            &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", obj.uid),
        ));
    }
    if let Some(rv) = pre["resourceVersion"].as_str().filter(|r| !r.is_empty() && *r != obj.rv.to_string()) {
        return Err(ApiError::conflict(
            &def.qualified(),
            &obj.name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                obj.rv
            ),
        ));
    }
    Ok(())
}

/// Deletes one object: finalizers hold it (deletionTimestamp set) until removed.
pub(crate) fn delete_one(
    st: &ClusterState,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    opts: &Value,
) -> Result<Written, ApiError> {
    let written = st.store.write(&def.storage_key(), &def.field_labels, ns, name, |cur| {
        let cur = cur.ok_or_else(|| ApiError::not_found(&def.qualified(), name))?;
        check_preconditions(def, cur, opts)?;
        let mut v = cur.value()?;
        if crate::meta::is_empty_list(&v["metadata"]["finalizers"]) {
            return Ok(Write::Delete(v));
        }
        if !v["metadata"]["deletionTimestamp"].is_null() {
            return Ok(Write::Unchanged);
        }
        v["metadata"]["deletionTimestamp"] = json!(now());
        v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        Ok(Write::Put(v))
    })?;
    after_write(st, def, &written)?;
    Ok(written)
}

fn delete_options(call: &Call) -> Result<Value, ApiError> {
    if call.body.is_empty() { Ok(json!({})) } else { call.body_value() }
}

fn delete(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let opts = delete_options(call)?;
    let written = delete_one(st, &call.def, call.ns(), call.name(), &opts)?;
    // 200 when gone, 202 when finalizers still hold the object.
    let code = if written.kind == Some(EventType::Deleted) { 200 } else { 202 };
    Ok(json_response(code, render(&call.def, &written.obj)?))
}

fn delete_collection(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let selector = selector(call)?;
    let opts = delete_options(call)?;
    let items =
        st.store.list(&call.def.storage_key(), call.ns.as_deref(), None, None, |o| selector.matches(o)).items;
    let mut deleted = Vec::new();
    for obj in items {
        match delete_one(st, &call.def, &obj.namespace, &obj.name, &opts) {
            Ok(w) => deleted.push(w.obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let items: Vec<Value> = deleted.iter().map(|o| o.value()).collect::<Result<_, _>>()?;
    let list = json!({
        "kind": call.def.list_kind(),
        "apiVersion": call.def.api_version(),
        "metadata": {"resourceVersion": st.store.current_rv().to_string()},
        "items": items,
    });
    Ok(json_response(200, list.to_string()))
}

/// POST pods/{name}/binding, with kube-scheduler's UID (and RV) precondition.
fn bind(st: &ClusterState, call: &Call) -> Result<Response, ApiError> {
    let binding = call.body_value()?;
    let node = str_at(&binding, &["target", "name"]).to_string();
    let name = call.name();
    if node.is_empty() {
        return Err(ApiError::invalid("Binding", name, &["target.name: Required value".into()]));
    }
    let uid = str_at(&binding, &["metadata", "uid"]).to_string();
    let rv = str_at(&binding, &["metadata", "resourceVersion"]).to_string();
    let def = &call.def;
    let written = st.store.write(&def.storage_key(), &def.field_labels, call.ns(), name, |cur| {
        let cur = cur.ok_or_else(|| ApiError::not_found("pods", name))?;
        let opts = json!({"preconditions": {"uid": uid, "resourceVersion": rv}});
        check_preconditions(def, cur, &opts)?;
        let mut pod = cur.value()?;
        let refuse = |why: String| Err(ApiError::conflict("pods/binding", name, &why));
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            return refuse(format!("pod {name} is being deleted, cannot be assigned to a host"));
        }
        let bound = str_at(&pod, &["spec", "nodeName"]);
        if !bound.is_empty() {
            return refuse(format!("pod {name} is already assigned to node \"{bound}\""));
        }
        if !crate::meta::is_empty_list(&pod["spec"]["schedulingGates"]) {
            return refuse(format!("pod {name} has non-empty .spec.schedulingGates"));
        }
        pod["spec"]["nodeName"] = json!(node);
        if let Some(annotations) = binding["metadata"]["annotations"].as_object() {
            for (k, v) in annotations {
                pod["metadata"]["annotations"][k] = v.clone();
            }
        }
        set_condition(&mut pod, json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now()}));
        Ok(Write::Put(pod))
    })?;
    after_write(st, def, &written)?;
    let status =
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(json_response(201, status.to_string()))
}

fn set_condition(obj: &mut Value, cond: Value) {
    let conds = &mut obj["status"]["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    let Some(list) = conds.as_array_mut() else { return };
    match list.iter_mut().find(|c| c["type"] == cond["type"]) {
        Some(c) => *c = cond,
        None => list.push(cond),
    }
}

/// Side effects the API server's controllers would have: CRDs (un)serve
/// resources; deleting a namespace deletes what is in it.
fn after_write(st: &ClusterState, def: &ResourceDef, written: &Written) -> Result<(), ApiError> {
    let Some(kind) = written.kind else { return Ok(()) };
    if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
        let v = written.obj.value()?;
        let group = str_at(&v, &["spec", "group"]).to_string();
        let plural = str_at(&v, &["spec", "names", "plural"]).to_string();
        st.registry.remove(&group, &plural);
        if kind == EventType::Deleted {
            remove_all(st, &group, &plural)?;
        } else if v["metadata"]["deletionTimestamp"].is_null() {
            for d in crd::resource_defs(&v) {
                st.registry.insert(d);
            }
        }
    }
    if def.group.is_empty() && def.plural == "namespaces" && kind == EventType::Deleted {
        let ns = written.obj.name.clone();
        for d in st.registry.all().into_iter().filter(|d| d.namespaced) {
            for obj in st.store.list(&d.storage_key(), Some(&ns), None, None, |_| true).items {
                st.store.write(&d.storage_key(), &d.field_labels, &ns, &obj.name, |cur| match cur {
                    Some(c) => Ok(Write::Delete(c.value()?)),
                    None => Ok(Write::Unchanged),
                })?;
            }
        }
    }
    Ok(())
}

/// A deleted CRD takes its objects with it.
fn remove_all(st: &ClusterState, group: &str, plural: &str) -> Result<(), ApiError> {
    let key = storage_key(group, plural);
    for obj in st.store.list(&key, None, None, None, |_| true).items {
        st.store.write(&key, &[], &obj.namespace, &obj.name, |cur| match cur {
            Some(c) => Ok(Write::Delete(c.value()?)),
            None => Err(ApiError::not_found(plural, &obj.name)),
        })?;
    }
    st.store.drop_table(&key);
    Ok(())
}

/// Create-or-replace of a whole manifest (library use: CRDs, fixtures).
pub(crate) fn upsert(st: &ClusterState, value: Value) -> Result<Value, ApiError> {
    let av = str_at(&value, &["apiVersion"]).to_string();
    let kind = str_at(&value, &["kind"]).to_string();
    let def = st
        .registry
        .all()
        .into_iter()
        .find(|d| d.api_version() == av && d.kind == kind)
        .ok_or_else(|| ApiError::not_found("kind", &format!("{kind} in version {av}")))?;
    let ns = def.namespaced.then(|| match str_at(&value, &["metadata", "namespace"]) {
        "" => "default".to_string(),
        ns => ns.to_string(),
    });
    let name = str_at(&value, &["metadata", "name"]).to_string();
    let obj = match st.store.get(&def.storage_key(), ns.as_deref().unwrap_or(""), &name) {
        None => create(st, &def, ns.as_deref(), value, false)?,
        Some(_) => {
            let written = st.store.write(
                &def.storage_key(),
                &def.field_labels,
                ns.as_deref().unwrap_or(""),
                &name,
                |cur| {
                    let cur = cur.ok_or_else(|| ApiError::not_found(&def.qualified(), &name))?;
                    let mut new = value.clone();
                    new["metadata"]["resourceVersion"] = json!(cur.rv.to_string());
                    prepare_update(st, &def, &cur.value()?, new, None, false)
                },
            )?;
            after_write(st, &def, &written)?;
            written.obj
        }
    };
    obj.value()
}
