//! The structural-schema subset of CRD validation: types, required, enum,
//! minimum/maximum, lengths and item counts, defaults, and pruning of fields
//! the schema does not know (unless `x-kubernetes-preserve-unknown-fields`).
//! CEL rules (`x-kubernetes-validations`), `pattern` and formats are not checked.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct Schema {
    ty: Option<String>,
    properties: BTreeMap<String, Schema>,
    required: Vec<String>,
    items: Option<Box<Schema>>,
    additional: Option<Box<Schema>>,
    enum_values: Vec<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    default: Option<Value>,
    preserve_unknown: bool,
    int_or_string: bool,
    embedded: bool,
    nullable: bool,
}

/// What validation found: errors (422) and pruned paths (unknown fields).
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: Vec<String>,
    pub pruned: Vec<String>,
}

impl Schema {
    pub fn from_value(v: &Value) -> Self {
        let sub = |key: &str| v.get(key).filter(|s| s.is_object()).map(|s| Box::new(Schema::from_value(s)));
        let flag = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
        let num = |key: &str| v.get(key).and_then(Value::as_f64);
        let count = |key: &str| v.get(key).and_then(Value::as_u64);
        Schema {
            ty: v.get("type").and_then(Value::as_str).map(str::to_string),
            properties: v
                .get("properties")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, s)| (k.clone(), Schema::from_value(s))).collect())
                .unwrap_or_default(),
            required: v
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            items: sub("items"),
            // additionalProperties: true means "any value", same as preserving unknown fields.
            additional: sub("additionalProperties"),
            enum_values: v.get("enum").and_then(Value::as_array).cloned().unwrap_or_default(),
            minimum: num("minimum"),
            maximum: num("maximum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            min_length: count("minLength"),
            max_length: count("maxLength"),
            min_items: count("minItems"),
            max_items: count("maxItems"),
            default: v.get("default").cloned(),
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields")
                || v.get("additionalProperties").and_then(Value::as_bool).unwrap_or(false),
            int_or_string: flag("x-kubernetes-int-or-string"),
            embedded: flag("x-kubernetes-embedded-resource"),
            nullable: flag("nullable"),
        }
    }

    /// Validates, defaults and prunes a whole custom resource in place. The
    /// root's apiVersion, kind and metadata are the API server's business.
    pub fn apply_to_object(&self, obj: &mut Value) -> Outcome {
        let mut out = Outcome::default();
        let Some(map) = obj.as_object_mut() else {
            out.errors.push("<root>: Invalid value: must be an object".into());
            return out;
        };
        for (key, schema) in &self.properties {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            schema.fill_default(map, key);
            if let Some(v) = map.get_mut(key) {
                schema.check(v, key, &mut out);
            }
        }
        for key in &self.required {
            if !map.contains_key(key) {
                out.errors.push(format!("{key}: Required value"));
            }
        }
        if !self.preserve_unknown {
            let known =
                |k: &str| matches!(k, "apiVersion" | "kind" | "metadata") || self.properties.contains_key(k);
            let unknown: Vec<String> = map.keys().filter(|k| !known(k)).cloned().collect();
            for k in unknown {
                map.remove(&k);
                out.pruned.push(k);
            }
        }
        out
    }

    fn fill_default(&self, map: &mut serde_json::Map<String, Value>, key: &str) {
        if map.get(key).is_some_and(Value::is_null) && !self.nullable {
            map.remove(key);
        }
        if !map.contains_key(key)
            && let Some(d) = &self.default
        {
            map.insert(key.to_string(), d.clone());
        }
    }

    fn check(&self, v: &mut Value, path: &str, out: &mut Outcome) {
        if v.is_null() {
            return;
        }
        if !self.type_ok(v) {
            let ty = self.ty.as_deref().unwrap_or("any");
            out.errors
                .push(format!("{path}: Invalid value: {}: {path} in body must be of type {ty}", short(v)));
            return;
        }
        if !self.enum_values.is_empty() && !self.enum_values.contains(v) {
            let allowed: Vec<String> = self.enum_values.iter().map(Value::to_string).collect();
            out.errors.push(format!(
                "{path}: Unsupported value: {}: supported values: {}",
                v,
                allowed.join(", ")
            ));
        }
        self.check_bounds(v, path, out);
        match v {
            Value::Object(map) => self.check_object(map, path, out),
            Value::Array(items) => {
                if let Some(schema) = &self.items {
                    for (i, item) in items.iter_mut().enumerate() {
                        schema.check(item, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_object(&self, map: &mut serde_json::Map<String, Value>, path: &str, out: &mut Outcome) {
        for (key, schema) in &self.properties {
            schema.fill_default(map, key);
            if let Some(v) = map.get_mut(key) {
                schema.check(v, &format!("{path}.{key}"), out);
            }
        }
        for key in &self.required {
            if !map.contains_key(key) {
                out.errors.push(format!("{path}.{key}: Required value"));
            }
        }
        let unknown: Vec<String> =
            map.keys().filter(|k| !self.properties.contains_key(*k)).cloned().collect();
        for key in unknown {
            if let Some(schema) = &self.additional {
                if let Some(v) = map.get_mut(&key) {
                    schema.check(v, &format!("{path}.{key}"), out);
                }
            } else if !(self.preserve_unknown
                || self.embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
            {
                map.remove(&key);
                out.pruned.push(format!("{path}.{key}"));
            }
        }
    }

    fn type_ok(&self, v: &Value) -> bool {
        if self.int_or_string {
            return v.is_string() || v.is_i64() || v.is_u64();
        }
        match self.ty.as_deref() {
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            _ => true,
        }
    }

    fn check_bounds(&self, v: &Value, path: &str, out: &mut Outcome) {
        if let Some(n) = v.as_f64() {
            if let Some(min) = self.minimum
                && (n < min || self.exclusive_minimum && n == min)
            {
                let op = if self.exclusive_minimum { "greater than" } else { "greater than or equal to" };
                out.errors.push(format!("{path}: Invalid value: {v}: {path} in body should be {op} {min}"));
            }
            if let Some(max) = self.maximum
                && (n > max || self.exclusive_maximum && n == max)
            {
                let op = if self.exclusive_maximum { "less than" } else { "less than or equal to" };
                out.errors.push(format!("{path}: Invalid value: {v}: {path} in body should be {op} {max}"));
            }
        }
        let len = match v {
            Value::String(s) => Some((s.chars().count() as u64, self.min_length, self.max_length, "chars")),
            Value::Array(a) => Some((a.len() as u64, self.min_items, self.max_items, "items")),
            _ => None,
        };
        if let Some((n, min, max, unit)) = len {
            if min.is_some_and(|m| n < m) {
                out.errors.push(format!(
                    "{path}: Invalid value: {}: should have at least {} {unit}",
                    short(v),
                    min.unwrap_or(0)
                ));
            }
            if max.is_some_and(|m| n > m) {
                out.errors
                    .push(format!("{path}: Too many: {n}: must have at most {} {unit}", max.unwrap_or(0)));
            }
        }
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        Value::String(_) => "\"string\"".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::from_value(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["target"],
                    "properties": {
                        "target": {"type": "string", "enum": ["a", "b"]},
                        "max": {"type": "integer", "minimum": 0, "maximum": 10, "default": 5},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "tags": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                }
            }
        }))
    }

    #[test]
    fn defaults_and_prunes() {
        let mut obj = json!({"kind": "X", "metadata": {"name": "x"}, "spec": {"target": "a", "junk": 1, "free": {"k": 1}, "tags": {"t": "v"}}, "extra": true});
        let out = schema().apply_to_object(&mut obj);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(obj["spec"]["max"], 5);
        assert_eq!(obj["spec"]["free"]["k"], 1);
        assert_eq!(obj["spec"]["tags"]["t"], "v");
        assert!(obj["spec"].get("junk").is_none());
        assert!(obj.get("extra").is_none());
        assert_eq!(out.pruned, vec!["spec.junk", "extra"]);
    }

    #[test]
    fn reports_required_type_enum_and_bounds() {
        let mut obj = json!({"spec": {"max": 11}});
        let out = schema().apply_to_object(&mut obj);
        assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
        assert!(out.errors.iter().any(|e| e.starts_with("spec.target: Required value")));
        assert!(out.errors.iter().any(|e| e.contains("less than or equal to 10")));
        let mut obj = json!({"spec": {"target": "c", "max": "x"}});
        let out = schema().apply_to_object(&mut obj);
        assert!(out.errors.iter().any(|e| e.contains("Unsupported value: \"c\"")));
        assert!(out.errors.iter().any(|e| e.contains("must be of type integer")));
    }
}
