//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
//! strategic merge patch (built-in kinds; merge keys by field name), and a
//! server-side apply that tracks each apply manager's fields in managedFields.

use serde_json::{Map, Value, json};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    let invalid = |e: json_patch::PatchError| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    };
    // Applied op by op on a copy (all or nothing), because the API server's JSON patch
    // (evanphx/json-patch) reads a missing member as null: `test` with value null passes
    // on an absent field. kube-runtime's finalizer helper relies on that.
    let mut doc = target.clone();
    for op in ops.0 {
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut doc, &[op]).map_err(invalid)?;
    }
    *target = doc;
    Ok(())
}

/// The merge key of a list field of a built-in kind, by field name. Items are
/// looked at too, because `ports` is keyed differently in pods and services.
fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "readinessGates" => {
            if field == "readinessGates" {
                "conditionType"
            } else {
                "name"
            }
        }
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" | "taints" => {
            if field == "taints" {
                "key"
            } else {
                "topologyKey"
            }
        }
        "hostAliases" => "ip",
        _ => return None,
    })
}

/// Lists of scalars merged as sets (patchStrategy: merge).
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return Ok(());
    }
    if !target.is_object() {
        *target = json!({});
    }
    let Some(map) = target.as_object_mut() else { unreachable!("made an object above") };
    for (key, pv) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (map.get_mut(field), pv.as_array()) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        match pv {
            Value::Null => {
                map.remove(key);
            }
            Value::Object(inner) if inner.get("$patch").and_then(Value::as_str) == Some("delete") => {
                map.remove(key);
            }
            Value::Object(_) => strategic_merge(map.entry(key.clone()).or_insert(Value::Null), pv)?,
            Value::Array(items) => {
                let existing = map.entry(key.clone()).or_insert_with(|| json!([]));
                merge_list(key, existing, items)?;
            }
            _ => {
                map.insert(key.clone(), pv.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(field: &str, existing: &mut Value, items: &[Value]) -> Result<(), ApiError> {
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        let kept = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
        *existing = Value::Array(kept);
        return Ok(());
    }
    let key = merge_key(field, items.first());
    let Value::Array(list) = existing else {
        *existing = Value::Array(items.to_vec());
        return Ok(());
    };
    if is_set_list(field) {
        for item in items {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
        return Ok(());
    }
    let Some(key) = key else {
        *list = items.to_vec();
        return Ok(());
    };
    for item in items {
        let id = item.get(key).cloned().unwrap_or(Value::Null);
        let pos = list.iter().position(|e| e.get(key) == Some(&id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                list.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_merge(&mut list[p], item)?,
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item)?;
                list.push(fresh);
            }
        }
    }
    Ok(())
}

/// The `fieldsV1` tree of an applied configuration: which fields it sets.
pub fn fields_of(config: &Value, builtin: bool) -> Value {
    fn walk(v: &Value, field: &str, builtin: bool) -> Value {
        match v {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, child) in map {
                    if field.is_empty() && matches!(k.as_str(), "apiVersion" | "kind") {
                        continue;
                    }
                    if field == "metadata"
                        && matches!(k.as_str(), "name" | "namespace" | "resourceVersion" | "uid")
                    {
                        continue;
                    }
                    out.insert(format!("f:{k}"), walk(child, k, builtin));
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let key = if builtin { merge_key(field, items.first()) } else { None };
                let Some(key) = key else { return json!({}) };
                let mut out = Map::new();
                for item in items {
                    let id = json!({ key: item.get(key).cloned().unwrap_or(Value::Null) });
                    let mut sub = walk(item, "", builtin);
                    sub[".".to_string()] = json!({});
                    out.insert(format!("k:{id}"), sub);
                }
                Value::Object(out)
            }
            _ => json!({}),
        }
    }
    walk(config, "", builtin)
}

/// Removes from `live` what `old` owned and `new` no longer sets.
fn remove_dropped(live: &mut Value, old: &Value, new: &Value) {
    let Some(old) = old.as_object() else { return };
    for (entry, old_child) in old {
        let new_child = new.get(entry);
        if let Some(k) = entry.strip_prefix("f:") {
            let Some(map) = live.as_object_mut() else { continue };
            match new_child {
                None => {
                    map.remove(k);
                }
                Some(nc) => {
                    if let Some(lv) = map.get_mut(k) {
                        remove_dropped(lv, old_child, nc);
                    }
                }
            }
        } else if let Some(id) = entry.strip_prefix("k:") {
            let (Ok(Value::Object(id)), Some(list)) =
                (serde_json::from_str::<Value>(id), live.as_array_mut())
            else {
                continue;
            };
            let matches = |e: &Value| id.iter().all(|(k, v)| e.get(k) == Some(v));
            match new_child {
                None => list.retain(|e| !matches(e)),
                Some(nc) => {
                    if let Some(e) = list.iter_mut().find(|e| matches(e)) {
                        remove_dropped(e, old_child, nc);
                    }
                }
            }
        }
    }
}

/// Server-side apply of `config` by `manager` onto `live` (None = create).
/// Simplification: ownership is tracked per apply manager only; conflicts with
/// other managers are never reported, so `force` changes nothing.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    builtin: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let new_fields = fields_of(config, builtin);
    let mut out = live.cloned().unwrap_or_else(|| json!({}));
    let mut managed: Vec<Value> = out["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    let mine = managed.iter().position(|m| m["manager"] == manager && m["operation"] == "Apply");
    if let Some(i) = mine {
        let old_fields = managed[i]["fieldsV1"].clone();
        remove_dropped(&mut out, &old_fields, &new_fields);
        managed.remove(i);
    }
    apply_merge(&mut out, config, "", builtin);
    managed.push(json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": config["apiVersion"],
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": new_fields,
    }));
    out["metadata"]["managedFields"] = Value::Array(managed);
    Ok(out)
}

/// Apply's merge: maps merge, keyed lists merge by key, other lists are atomic.
fn apply_merge(target: &mut Value, config: &Value, field: &str, builtin: bool) {
    match config {
        Value::Object(cfg) => {
            if !target.is_object() {
                *target = json!({});
            }
            let Some(map) = target.as_object_mut() else { return };
            for (k, v) in cfg {
                apply_merge(map.entry(k.clone()).or_insert(Value::Null), v, k, builtin);
            }
        }
        Value::Array(items) => {
            let key = if builtin { merge_key(field, items.first()) } else { None };
            match (key, target.as_array_mut()) {
                (Some(key), Some(list)) => {
                    for item in items {
                        match list.iter_mut().find(|e| e.get(key) == item.get(key)) {
                            Some(e) => apply_merge(e, item, "", builtin),
                            None => list.push(item.clone()),
                        }
                    }
                }
                _ => *target = config.clone(),
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merges_containers_by_name_and_deletes() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
            "metadata": {"finalizers": ["f1"], "labels": {"k": "v", "gone": "1"}}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "z"}, {"name": "b", "$patch": "delete"}, {"name": "c", "image": "w"}]},
            "metadata": {"finalizers": ["f2"], "labels": {"gone": null}}});
        strategic_merge(&mut pod, &patch).unwrap();
        assert_eq!(
            pod["spec"]["containers"],
            json!([{"name": "a", "image": "z"}, {"name": "c", "image": "w"}])
        );
        assert_eq!(pod["metadata"]["finalizers"], json!(["f1", "f2"]));
        assert_eq!(pod["metadata"]["labels"], json!({"k": "v"}));
    }

    #[test]
    fn apply_removes_fields_the_manager_dropped() {
        let first = json!({"apiVersion": "x/v1", "kind": "P", "metadata": {"name": "p"},
            "spec": {"clusterAffinity": {"clusterNames": ["a"]}}});
        let live = apply(None, &first, "hub", false, "t").unwrap();
        let mut live2 = live.clone();
        live2["spec"]["other"] = json!("kept");
        let second = json!({"apiVersion": "x/v1", "kind": "P", "metadata": {"name": "p"},
            "spec": {"clusterAffinities": [{"affinityName": "x"}]}});
        let out = apply(Some(&live2), &second, "hub", false, "t").unwrap();
        assert!(out["spec"].get("clusterAffinity").is_none(), "{out}");
        assert_eq!(out["spec"]["other"], "kept");
        assert_eq!(out["spec"]["clusterAffinities"][0]["affinityName"], "x");
        assert_eq!(out["metadata"]["managedFields"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn json_patch_errors_are_422() {
        let mut v = json!({"a": 1});
        let err = json_patch(&mut v, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
        assert_eq!(err.code, 422);
        // A failing op leaves the object as it was.
        let ops = json!([{"op": "add", "path": "/b", "value": 1}, {"op": "test", "path": "/a", "value": 2}]);
        assert!(json_patch(&mut v, &ops).is_err());
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn json_patch_test_reads_a_missing_member_as_null() {
        // What kube-runtime's finalizer helper sends to an object without finalizers.
        let mut v = json!({"metadata": {"name": "x"}});
        let ops = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]},
        ]);
        json_patch(&mut v, &ops).unwrap();
        assert_eq!(v["metadata"]["finalizers"], json!(["f"]));
        // Present now: testing for null fails, as on a real API server.
        assert_eq!(json_patch(&mut v, &ops).unwrap_err().code, 422);
    }
}
