//! CustomResourceDefinitions: validation of the CRD itself, the resources it
//! serves, and the status the API server reports (Established at once).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta::{now, str_at};
use crate::resource::ResourceDef;
use crate::schema::Schema;

/// Checks what the API server would reject outright (422).
pub fn validate(crd: &Value) -> Result<(), ApiError> {
    let name = str_at(crd, &["metadata", "name"]);
    let group = str_at(crd, &["spec", "group"]);
    let plural = str_at(crd, &["spec", "names", "plural"]);
    let mut causes = Vec::new();
    if group.is_empty() {
        causes.push("spec.group: Required value".to_string());
    }
    if plural.is_empty() {
        causes.push("spec.names.plural: Required value".to_string());
    }
    if str_at(crd, &["spec", "names", "kind"]).is_empty() {
        causes.push("spec.names.kind: Required value".to_string());
    }
    if !matches!(str_at(crd, &["spec", "scope"]), "Namespaced" | "Cluster") {
        causes
            .push("spec.scope: Unsupported value: supported values: \"Cluster\", \"Namespaced\"".to_string());
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let versions = crd["spec"]["versions"].as_array().cloned().unwrap_or_default();
    if versions.iter().filter(|v| v["storage"] == true).count() != 1 {
        causes.push(
            "spec.versions: Invalid value: must have exactly one version marked as storage version".into(),
        );
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("CustomResourceDefinition.apiextensions.k8s.io", name, &causes))
    }
}

/// The resources a CRD serves, one per served version.
pub fn resource_defs(crd: &Value) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let kind = str_at(names, &["kind"]).to_string();
    let singular = match str_at(names, &["singular"]) {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let mut defs = Vec::new();
    for version in spec["versions"].as_array().into_iter().flatten() {
        if version["served"] == false {
            continue;
        }
        let schema = version["schema"].get("openAPIV3Schema").map(|s| Arc::new(Schema::from_value(s)));
        let fields = version["selectableFields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["jsonPath"].as_str())
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        defs.push(ResourceDef {
            group: str_at(spec, &["group"]).to_string(),
            version: str_at(version, &["name"]).to_string(),
            kind: kind.clone(),
            plural: str_at(names, &["plural"]).to_string(),
            singular: singular.clone(),
            namespaced: spec["scope"] == "Namespaced",
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: version["subresources"].get("status").is_some(),
            binding_subresource: false,
            field_labels: fields,
            schema,
            custom: true,
        });
    }
    defs
}

/// What the API server's CRD controllers report once the names are accepted.
pub fn status(crd: &Value) -> Value {
    let t = now();
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "acceptedNames": crd["spec"]["names"],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": t},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": t},
        ],
        "storedVersions": storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_versions_become_resources() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v0", "served": false, "storage": false}
                ]}
        });
        validate(&crd).unwrap();
        let defs = resource_defs(&crd);
        assert_eq!(defs.len(), 1);
        assert!(defs[0].namespaced && defs[0].status_subresource && defs[0].custom);
        assert_eq!(defs[0].singular, "widget");
        assert_eq!(defs[0].short_names, vec!["wd"]);
        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("wrong");
        assert_eq!(validate(&bad).unwrap_err().code, 422);
    }
}
