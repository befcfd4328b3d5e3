//! Cluster identities in certificates.
//!
//! An agent proves which member cluster it speaks for with its client
//! certificate: a URI SAN `spiffe://<trust-domain>/cluster/<name>`. SPIFFE IDs
//! are what service meshes and cert-manager's csi-driver-spiffe already issue,
//! they name a workload rather than a host, and a URI SAN cannot be confused
//! with a DNS name a certificate is also valid for.
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("the certificate could not be parsed")]
    Unparsable,
    #[error("the certificate has no URI SAN spiffe://{trust_domain}/cluster/<name>")]
    Missing { trust_domain: String },
    #[error("the certificate names several clusters")]
    Ambiguous,
    #[error("invalid cluster name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
}

/// The SPIFFE ID an agent certificate carries.
pub fn agent_spiffe_id(trust_domain: &str, cluster: &str) -> String {
    format!("spiffe://{trust_domain}/cluster/{cluster}")
}

/// Cluster names are Karmada Cluster names: DNS-1123 subdomains of at most 63
/// characters (they also appear in label values).
pub fn validate_cluster_name(name: &str) -> Result<(), IdentityError> {
    let invalid = |why| Err(IdentityError::InvalidName { name: name.to_string(), why });
    if name.is_empty() || name.len() > 63 {
        return invalid("must be 1 to 63 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return invalid("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let first_last = [name.as_bytes()[0], name.as_bytes()[name.len() - 1]];
    if !first_last.iter().all(|b| b.is_ascii_alphanumeric()) {
        return invalid("must start and end with a letter or digit");
    }
    Ok(())
}

/// The cluster named by a DER certificate's SPIFFE URI SAN in `trust_domain`.
pub fn cluster_from_cert(der: &[u8], trust_domain: &str) -> Result<String, IdentityError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| IdentityError::Unparsable)?;
    let prefix = format!("spiffe://{trust_domain}/cluster/");
    let mut found: Option<String> = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(cluster) = uri.strip_prefix(&prefix)
            {
                if found.as_deref().is_some_and(|f| f != cluster) {
                    return Err(IdentityError::Ambiguous);
                }
                found = Some(cluster.to_string());
            }
        }
    }
    let cluster = found.ok_or_else(|| IdentityError::Missing { trust_domain: trust_domain.to_string() })?;
    validate_cluster_name(&cluster)?;
    Ok(cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::CertificateAuthority;

    #[test]
    fn reads_the_cluster_from_an_agent_certificate() {
        let ca = CertificateAuthority::generate("test ca").unwrap();
        let agent = ca.issue_agent("gridshift.local", "member-1").unwrap();
        assert_eq!(cluster_from_cert(&agent.cert_der, "gridshift.local").unwrap(), "member-1");
        assert!(matches!(
            cluster_from_cert(&agent.cert_der, "other.domain"),
            Err(IdentityError::Missing { .. })
        ));
        let server = ca.issue_server(&["localhost".into()]).unwrap();
        assert!(matches!(
            cluster_from_cert(&server.cert_der, "gridshift.local"),
            Err(IdentityError::Missing { .. })
        ));
    }

    #[test]
    fn validates_cluster_names() {
        assert!(validate_cluster_name("member-1").is_ok());
        assert!(validate_cluster_name("eu.west-2").is_ok());
        for bad in ["", "Member", "-a", "a-", "a_b", &"x".repeat(64)] {
            assert!(validate_cluster_name(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
