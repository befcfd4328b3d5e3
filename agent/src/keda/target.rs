//! The KEDA objects the capper writes to (ScaledObject, ScaledJob): what it reads from
//! them and the merge patches it sends. Pure; the controller does the I/O.
//!
//! Only `spec.maxReplicaCount` and three metadata keys of ours are ever written, with a
//! JSON merge patch (never a full update, so nothing else KEDA or the user owns moves):
//! - annotation `gridshift.io/original-max-replica-count`: the value before the first cap
//!   (empty when it was unset, i.e. KEDA's default), restored when the cap is released;
//! - annotation `gridshift.io/capped-by`: `<namespace>/<name>` of the capping CR, for people;
//! - label `gridshift.io/keda-capper-uid`: the CR's uid, so the controller can list what a
//!   CR capped (after a retarget or on deletion) without scanning every object.
use gridshift_api::keda::KedaTarget;
use gridshift_api::meta::{ANNOTATION_CAPPED_BY, ANNOTATION_ORIGINAL, LABEL_CAPPER_UID};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// KEDA's pause annotations: a paused ScaledObject has no HPA and is left alone.
pub const PAUSED: &str = "autoscaling.keda.sh/paused";
pub const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";

pub const KINDS: [KedaTarget; 2] = [KedaTarget::ScaledObjects, KedaTarget::ScaledJobs];

pub fn api_resource(kind: KedaTarget) -> ApiResource {
    let (k, plural) = match kind {
        KedaTarget::ScaledObjects => ("ScaledObject", "scaledobjects"),
        KedaTarget::ScaledJobs => ("ScaledJob", "scaledjobs"),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("keda.sh", "v1alpha1", k), plural)
}

pub fn kind_name(kind: KedaTarget) -> &'static str {
    match kind {
        KedaTarget::ScaledObjects => "ScaledObject",
        KedaTarget::ScaledJobs => "ScaledJob",
    }
}

/// `maxReplicaCount` before Gridshift capped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Original {
    /// Not set: KEDA's default applies.
    Unset,
    Value(i32),
}

impl Original {
    fn annotation(self) -> String {
        match self {
            Original::Unset => String::new(),
            Original::Value(v) => v.to_string(),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if s.is_empty() { Some(Original::Unset) } else { s.parse().ok().map(Original::Value) }
    }
}

/// What the capper needs to know about one target object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub min_replica_count: Option<i32>,
    pub max_replica_count: Option<i32>,
    /// Why the object counts as paused, if it does.
    pub paused: Option<String>,
    /// uid of the CR whose cap is on the object, if any.
    pub capped_by_uid: Option<String>,
    /// The remembered original (present while capped).
    pub original: Option<Original>,
}

impl Target {
    pub fn from_object(obj: &DynamicObject) -> Self {
        let spec = obj.data.get("spec");
        let int = |key: &str| {
            spec.and_then(|s| s.get(key)).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok())
        };
        let annotations = obj.metadata.annotations.as_ref();
        let annotation = |key: &str| annotations.and_then(|a| a.get(key));
        let paused = match (annotation(PAUSED), annotation(PAUSED_REPLICAS)) {
            (_, Some(n)) => Some(format!("{PAUSED_REPLICAS}: \"{n}\"")),
            (Some(v), None) if v.eq_ignore_ascii_case("true") => Some(format!("{PAUSED}: \"{v}\"")),
            _ => None,
        };
        Self {
            min_replica_count: int("minReplicaCount"),
            max_replica_count: int("maxReplicaCount"),
            paused,
            capped_by_uid: obj.metadata.labels.as_ref().and_then(|l| l.get(LABEL_CAPPER_UID)).cloned(),
            original: annotation(ANNOTATION_ORIGINAL).and_then(|s| Original::parse(s)),
        }
    }

    /// The merge patch that puts `cap` on the object for the CR (`uid`, `namespace/name`),
    /// or `None` when it is already in place. The original is recorded on the first cap
    /// only, so later caps never overwrite it with a capped value.
    pub fn cap_patch(&self, cap: i32, uid: &str, capped_by: &str) -> Option<Value> {
        let ours = self.capped_by_uid.as_deref() == Some(uid);
        let original = match (ours, self.original) {
            (true, Some(original)) => original,
            _ => self.max_replica_count.map_or(Original::Unset, Original::Value),
        };
        if ours && self.original.is_some() && self.max_replica_count == Some(cap) {
            return None;
        }
        Some(json!({
            "metadata": {
                "labels": {LABEL_CAPPER_UID: uid},
                "annotations": {ANNOTATION_ORIGINAL: original.annotation(), ANNOTATION_CAPPED_BY: capped_by},
            },
            "spec": {"maxReplicaCount": cap},
        }))
    }

    /// The merge patch that gives the object its original maximum back and drops our
    /// keys. A recorded original below today's `minReplicaCount` would be refused by
    /// KEDA's webhook, so it is raised to the minimum.
    pub fn restore_patch(&self) -> Value {
        let max = match self.original {
            Some(Original::Value(v)) => json!(v.max(self.min_replica_count.unwrap_or(0))),
            Some(Original::Unset) => Value::Null,
            // No record (someone removed it): leave the current value.
            None => json!(self.max_replica_count),
        };
        json!({
            "metadata": {
                "labels": {LABEL_CAPPER_UID: null},
                "annotations": {ANNOTATION_ORIGINAL: null, ANNOTATION_CAPPED_BY: null},
            },
            "spec": {"maxReplicaCount": max},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).expect("object")
    }

    #[test]
    fn reads_counts_pause_and_our_keys() {
        let t = Target::from_object(&obj(json!({
            "metadata": {"name": "so", "annotations": {PAUSED: "True", ANNOTATION_ORIGINAL: ""},
                         "labels": {LABEL_CAPPER_UID: "u1"}},
            "spec": {"minReplicaCount": 2, "maxReplicaCount": 30}
        })));
        assert_eq!((t.min_replica_count, t.max_replica_count), (Some(2), Some(30)));
        assert_eq!(t.paused.as_deref(), Some("autoscaling.keda.sh/paused: \"True\""));
        assert_eq!((t.capped_by_uid.as_deref(), t.original), (Some("u1"), Some(Original::Unset)));

        let not_paused =
            obj(json!({"metadata": {"name": "so", "annotations": {PAUSED: "false"}}, "spec": {}}));
        assert_eq!(Target::from_object(&not_paused).paused, None);
        let replicas = obj(json!({"metadata": {"name": "so", "annotations": {PAUSED_REPLICAS: "0"}}}));
        assert!(Target::from_object(&replicas).paused.is_some());
    }

    #[test]
    fn first_cap_records_the_original_and_later_caps_keep_it() {
        let fresh = Target {
            min_replica_count: None,
            max_replica_count: Some(100),
            paused: None,
            capped_by_uid: None,
            original: None,
        };
        let p = fresh.cap_patch(10, "u1", "default/caks").expect("patch");
        assert_eq!(p["spec"]["maxReplicaCount"], 10);
        assert_eq!(p["metadata"]["annotations"][ANNOTATION_ORIGINAL], "100");
        assert_eq!(p["metadata"]["labels"][LABEL_CAPPER_UID], "u1");

        let capped = Target {
            max_replica_count: Some(10),
            capped_by_uid: Some("u1".into()),
            original: Some(Original::Value(100)),
            ..fresh.clone()
        };
        assert_eq!(capped.cap_patch(10, "u1", "default/caks"), None, "already in place");
        let p = capped.cap_patch(20, "u1", "default/caks").expect("patch");
        assert_eq!(p["metadata"]["annotations"][ANNOTATION_ORIGINAL], "100", "not the capped 10");

        let unset = Target { max_replica_count: None, ..fresh };
        let p = unset.cap_patch(5, "u1", "default/caks").expect("patch");
        assert_eq!(p["metadata"]["annotations"][ANNOTATION_ORIGINAL], "");
    }

    #[test]
    fn restore_gives_back_the_original_or_unsets() {
        let capped = Target {
            min_replica_count: Some(3),
            max_replica_count: Some(10),
            paused: None,
            capped_by_uid: Some("u1".into()),
            original: Some(Original::Value(100)),
        };
        let p = capped.restore_patch();
        assert_eq!(p["spec"]["maxReplicaCount"], 100);
        assert!(p["metadata"]["annotations"][ANNOTATION_ORIGINAL].is_null());
        assert!(p["metadata"]["labels"][LABEL_CAPPER_UID].is_null());
        let unset = Target { original: Some(Original::Unset), ..capped.clone() };
        assert!(unset.restore_patch()["spec"]["maxReplicaCount"].is_null());
        let below_min = Target { original: Some(Original::Value(1)), ..capped };
        assert_eq!(below_min.restore_patch()["spec"]["maxReplicaCount"], 3);
    }
}
