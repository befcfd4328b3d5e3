//! Who is on the other end of a stream.
use gridshift_ops::identity::{IdentityError, cluster_from_cert, validate_cluster_name};
use tonic::{Request, Status};

/// How agents authenticate.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Agents present a client certificate (verified by TLS against the client CA)
    /// whose SPIFFE URI SAN names their cluster in `trust_domain`.
    MutualTls { trust_domain: String },
    /// Plaintext, no identity: the Hello's cluster name is taken at its word.
    /// Only behind `--insecure`.
    Insecure,
}

impl ClientAuth {
    /// The cluster the peer may speak for, or `None` when any name is accepted.
    pub fn identity<T>(&self, request: &Request<T>) -> Result<Option<String>, Status> {
        match self {
            ClientAuth::Insecure => Ok(None),
            ClientAuth::MutualTls { trust_domain } => {
                let certs = request
                    .peer_certs()
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
                cluster_from_cert(&certs[0], trust_domain).map(Some).map_err(|e| match e {
                    IdentityError::Unparsable => Status::unauthenticated(e.to_string()),
                    _ => Status::permission_denied(e.to_string()),
                })
            }
        }
    }
}

/// Checks the Hello's claimed cluster against the peer's identity.
pub fn authorize(claimed: &str, identity: Option<&str>) -> Result<(), Status> {
    validate_cluster_name(claimed).map_err(|e| Status::invalid_argument(format!("hello: {e}")))?;
    match identity {
        Some(id) if id != claimed => Err(Status::permission_denied(format!(
            "this certificate speaks for cluster {id:?}, not {claimed:?}"
        ))),
        _ => Ok(()),
    }
}
