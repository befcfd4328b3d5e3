//! Certificates for the fleet: a CA, the hub's server certificate (localhost,
//! 127.0.0.1) and one SPIFFE client certificate per member cluster.
use gridshift_ops::mint::CertificateAuthority;
use std::path::Path;

pub const TRUST_DOMAIN: &str = "gridshift.local";

pub fn mint(dir: &Path, clusters: &[&str]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ca = CertificateAuthority::generate("Gridshift e2e CA")?;
    ca.certificate().write(dir, "ca")?;
    ca.issue_server(&["localhost".to_string(), "127.0.0.1".to_string()])?.write(dir, "hub")?;
    for cluster in clusters {
        ca.issue_agent(TRUST_DOMAIN, cluster)?.write(dir, cluster)?;
    }
    Ok(())
}
