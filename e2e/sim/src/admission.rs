//! Validating admission: checks that real clusters run as webhooks. Tests can
//! add their own; KEDA's ScaledObject webhook rule is built in.

use std::sync::Arc;

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// A validating check on one resource ("plural.group", e.g. "scaledobjects.keda.sh").
pub type Validator = Arc<dyn Fn(Operation, &Value) -> Result<(), String> + Send + Sync>;

/// The webhook denial the API server relays (400, like a webhook's default code).
pub fn denied(webhook: &str, message: &str) -> ApiError {
    ApiError::bad_request(format!("admission webhook \"{webhook}\" denied the request: {message}"))
}

/// KEDA's ScaledObject rule: minReplicaCount must not exceed maxReplicaCount
/// (which defaults to 100).
pub fn keda_scaledobject() -> Validator {
    Arc::new(|_, obj| {
        let spec = &obj["spec"];
        let min = spec["minReplicaCount"].as_i64().unwrap_or(0);
        let max = spec["maxReplicaCount"].as_i64().unwrap_or(100);
        if min > max {
            return Err(format!("MinReplicaCount={min} must be less than MaxReplicaCount={max}"));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keda_rejects_min_above_max() {
        let v = keda_scaledobject();
        assert!(
            v(Operation::Create, &json!({"spec": {"minReplicaCount": 3, "maxReplicaCount": 2}})).is_err()
        );
        assert!(v(Operation::Update, &json!({"spec": {"minReplicaCount": 3}})).is_ok());
        assert!(v(Operation::Update, &json!({"spec": {"minReplicaCount": 101}})).is_err());
    }
}
