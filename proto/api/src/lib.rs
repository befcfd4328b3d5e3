//! Gridshift's Kubernetes API: the custom resources users write, the conditions and
//! reasons their status carries, and how a decision of `gridshift-core` becomes that
//! status. Types only and pure functions; no client (kube-core, not kube).
//!
//! | module | what |
//! |---|---|
//! | [`policy`] | `CarbonAwareKarmadaPolicy` (the hub's placement); [`policy::status`] renders a placement step |
//! | [`keda`] | `CarbonAwareKedaScaler` (the agent's KEDA caps); [`keda::status`] renders a cap reconcile |
//! | [`conditions`] | condition types and reasons as constants; setting a condition |
//! | [`meta`] | the field manager, annotation and label keys Gridshift writes |
#![forbid(unsafe_code)]

pub mod conditions;
pub mod keda;
pub mod meta;
pub mod policy;

/// Every CRD manifest (`crds/`), as YAML, in a stable order.
pub fn crd_manifests() -> Result<Vec<(&'static str, String)>, serde_yaml::Error> {
    use kube_core::CustomResourceExt;
    Ok(vec![
        (
            "carbonawarekarmadapolicies.gridshift.io.yaml",
            serde_yaml::to_string(&policy::CarbonAwareKarmadaPolicy::crd())?,
        ),
        (
            "carbonawarekedascalers.gridshift.io.yaml",
            serde_yaml::to_string(&keda::CarbonAwareKedaScaler::crd())?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Fails when a file under `crds/` no longer matches its type.
    /// `GRIDSHIFT_UPDATE_CRDS=1` regenerates them; otherwise the test never writes.
    #[test]
    fn committed_crds_match_the_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crds");
        for (file, generated) in super::crd_manifests().expect("CRDs serialize") {
            let path = dir.join(file);
            if std::env::var("GRIDSHIFT_UPDATE_CRDS").as_deref() == Ok("1") {
                std::fs::write(&path, &generated).expect("write CRD");
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "{} is stale; regenerate with GRIDSHIFT_UPDATE_CRDS=1 cargo test -p gridshift-api",
                path.display()
            );
        }
    }
}
