//! What the API server does to an object on its way into storage: metadata
//! it owns (uid, timestamps, generation), kind defaults, the split between a
//! resource and its status subresource, schema validation and admission.

use serde_json::{Value, json};

use crate::admission::Operation;
use crate::crd;
use crate::error::ApiError;
use crate::meta::{is_empty_list, name_suffix, new_uid, now, str_at};
use crate::resource::ResourceDef;
use crate::server::ClusterState;
use crate::store::Write;

/// Checks apiVersion/kind, fills them in when absent.
fn check_type(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    };
    let av = def.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(av));
        }
        Some(v) if v == av => {}
        Some(v) => {
            // Another served version of the same resource is fine: stored as sent for now.
            let (group, _) = v.rsplit_once('/').unwrap_or(("", v));
            if group != def.group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({av})"
                )));
            }
            map.insert("apiVersion".into(), json!(av));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(def.kind));
        }
        Some(k) if k == def.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
    }
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), json!({}));
    }
    Ok(())
}

/// Names for create: the request's namespace wins, generateName expands.
pub fn prepare_create(
    st: &ClusterState,
    def: &ResourceDef,
    ns: Option<&str>,
    mut obj: Value,
    strict: bool,
) -> Result<Value, ApiError> {
    check_type(def, &mut obj)?;
    let meta = &mut obj["metadata"];
    match (ns, meta["namespace"].as_str()) {
        (Some(url), Some(body)) if !body.is_empty() && body != url => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        _ => {}
    }
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    } else if let Some(m) = meta.as_object_mut() {
        m.remove("namespace");
    }
    if str_at(meta, &["name"]).is_empty() {
        let prefix = str_at(meta, &["generateName"]);
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &def.kind,
                "",
                &["metadata.name: Required value: name or generateName is required".into()],
            ));
        }
        meta["name"] = json!(format!("{prefix}{}", name_suffix()));
    }
    if let Some(m) = meta.as_object_mut() {
        for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            m.remove(k);
        }
    }
    meta["uid"] = json!(new_uid());
    meta["creationTimestamp"] = json!(now());
    if def.custom || def.plural == "customresourcedefinitions" {
        meta["generation"] = json!(1);
    }
    apply_kind_defaults(def, &mut obj);
    if def.custom
        && def.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    finish(st, def, &mut obj, strict, Operation::Create)?;
    Ok(obj)
}

/// Defaults the API server applies to built-in kinds we serve.
fn apply_kind_defaults(def: &ResourceDef, obj: &mut Value) {
    if !def.group.is_empty() {
        return;
    }
    match def.plural.as_str() {
        "pods" => {
            if str_at(obj, &["spec", "schedulerName"]).is_empty() {
                obj["spec"]["schedulerName"] = json!("default-scheduler");
            }
            if obj["spec"]["restartPolicy"].is_null() {
                obj["spec"]["restartPolicy"] = json!("Always");
            }
            // Pod status on create is the API server's: Pending, whatever was sent.
            obj["status"] = json!({"phase": "Pending"});
        }
        "namespaces" => {
            obj["status"] = json!({"phase": "Active"});
            if let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) {
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            }
        }
        _ => {}
    }
}

/// Schema, CRD status, admission: the last steps before storage.
fn finish(
    st: &ClusterState,
    def: &ResourceDef,
    obj: &mut Value,
    strict: bool,
    op: Operation,
) -> Result<(), ApiError> {
    let name = str_at(obj, &["metadata", "name"]).to_string();
    drop_empty_metadata(obj);
    if let Some(schema) = &def.schema {
        let outcome = schema.apply_to_object(obj);
        if !outcome.errors.is_empty() {
            return Err(ApiError::invalid(&format!("{}.{}", def.kind, def.group), &name, &outcome.errors));
        }
        if strict && !outcome.pruned.is_empty() {
            let fields: Vec<String> =
                outcome.pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            return Err(ApiError::bad_request(format!(".{}", fields.join(", ")))
                .with_details(&def.qualified(), &name));
        }
    }
    if def.plural == "customresourcedefinitions" && def.group == "apiextensions.k8s.io" {
        crd::validate(obj)?;
        obj["status"] = crd::status(obj);
    }
    for (webhook, check) in st.validators_for(&def.qualified()) {
        check(op, obj).map_err(|m| crate::admission::denied(&webhook, &m))?;
    }
    Ok(())
}

/// ObjectMeta's lists and maps are `omitempty`: a real API server never
/// serves `finalizers: []`, and clients rely on it (kube-runtime's finalizer
/// helper tests `/metadata/finalizers` against null).
fn drop_empty_metadata(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|field, v| {
            let omitempty =
                matches!(field.as_str(), "finalizers" | "labels" | "annotations" | "ownerReferences");
            !(omitempty
                && (v.is_null()
                    || v.as_array().is_some_and(Vec::is_empty)
                    || v.as_object().is_some_and(|m| m.is_empty())))
        });
    }
}

/// The part of an object that moves `metadata.generation`.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    v
}

/// Turns a requested new state into the write to store. `sub` is "status"
/// for the status subresource.
pub fn prepare_update(
    st: &ClusterState,
    def: &ResourceDef,
    old: &Value,
    mut new: Value,
    sub: Option<&str>,
    strict: bool,
) -> Result<Write, ApiError> {
    check_type(def, &mut new)?;
    let name = str_at(old, &["metadata", "name"]).to_string();
    let new_name = str_at(&new, &["metadata", "name"]);
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    let old_rv = str_at(old, &["metadata", "resourceVersion"]).to_string();
    let sent_rv = str_at(&new, &["metadata", "resourceVersion"]);
    if !sent_rv.is_empty() && sent_rv != old_rv {
        return Err(ApiError::stale(&def.qualified(), &name));
    }
    let mut out = if sub == Some("status") {
        // The status subresource writes status only.
        let mut out = old.clone();
        out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        if out["status"].is_null()
            && let Some(m) = out.as_object_mut()
        {
            m.remove("status");
        }
        out
    } else {
        if def.status_subresource {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]
        {
            match old["metadata"].get(k) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        new["metadata"]["name"] = json!(name);
        match old["metadata"].get("namespace") {
            Some(ns) => new["metadata"]["namespace"] = ns.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        if old["metadata"].get("managedFields").is_some() && new["metadata"].get("managedFields").is_none() {
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
        }
        new
    };
    out["metadata"]["resourceVersion"] = json!(old_rv);
    let tracks_generation = def.custom || def.plural == "customresourcedefinitions";
    if tracks_generation && sub.is_none() && spec_part(&out) != spec_part(old) {
        out["metadata"]["generation"] = json!(old["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
    }
    if sub.is_none() {
        finish(st, def, &mut out, strict, Operation::Update)?;
    } else if def.plural == "customresourcedefinitions" {
        out["status"] = crd::status(&out);
    }
    let deleting = !out["metadata"]["deletionTimestamp"].is_null();
    if deleting && is_empty_list(&out["metadata"]["finalizers"]) {
        return Ok(Write::Delete(out));
    }
    if out == *old {
        return Ok(Write::Unchanged);
    }
    Ok(Write::Put(out))
}
