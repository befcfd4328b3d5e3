//! Minting a CA, the hub's server certificate and per-cluster agent
//! certificates, for tests, the demo and small installs. Production installs
//! may use cert-manager instead; only the URI SAN convention matters
//! (see [`crate::identity`]).
use crate::identity::{agent_spiffe_id, validate_cluster_name};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error("writing {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
}

/// A certificate and its private key, PEM-encoded (and the certificate as DER).
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

impl Issued {
    /// Writes `<stem>.crt` and `<stem>.key` (the key readable by the owner only).
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(), MintError> {
        write_file(&dir.join(format!("{stem}.crt")), &self.cert_pem, false)?;
        write_file(&dir.join(format!("{stem}.key")), &self.key_pem, true)
    }
}

pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert: Issued,
}

impl CertificateAuthority {
    /// A new self-signed CA, valid for ten years.
    pub fn generate(common_name: &str) -> Result<Self, MintError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let (y, m, d) = years_from_now(10);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let issued =
            Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), cert_der: cert.der().to_vec() };
        Ok(Self { issuer: Issuer::new(params, key), cert: issued })
    }

    /// Loads a CA written earlier by [`Issued::write`].
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, MintError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let der = rustls_pem_der(cert_pem).unwrap_or_default();
        Ok(Self {
            issuer,
            cert: Issued { cert_pem: cert_pem.to_string(), key_pem: key_pem.to_string(), cert_der: der },
        })
    }

    pub fn certificate(&self) -> &Issued {
        &self.cert
    }

    /// The hub's server certificate for the given DNS names and IP addresses.
    pub fn issue_server(&self, hosts: &[String]) -> Result<Issued, MintError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name("gridshift-hub");
        for host in hosts {
            params.subject_alt_names.push(match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(host.as_str().try_into()?),
            });
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// An agent's client certificate naming `cluster` in `trust_domain`.
    pub fn issue_agent(&self, trust_domain: &str, cluster: &str) -> Result<Issued, MintError> {
        validate_cluster_name(cluster)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(&format!("gridshift-agent {cluster}"));
        params.subject_alt_names = vec![SanType::URI(agent_spiffe_id(trust_domain, cluster).try_into()?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Result<Issued, MintError> {
        let (y, m, d) = years_from_now(1);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), cert_der: cert.der().to_vec() })
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Gridshift");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// (year, month, day) `years` from today; day capped at 28 so every month has it.
fn years_from_now(years: i32) -> (i32, u8, u8) {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    (now.year() as i32 + years, now.month() as u8, now.day().min(28) as u8)
}

fn rustls_pem_der(pem: &str) -> Option<Vec<u8>> {
    crate::tls::certs_from_pem(pem.as_bytes()).ok()?.into_iter().next().map(|c| c.to_vec())
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), MintError> {
    let err = |source| MintError::Write { path: path.display().to_string(), source };
    std::fs::write(path, contents).map_err(err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

/// Reads a file written by [`Issued::write`].
pub fn read_file(path: &Path) -> Result<String, MintError> {
    std::fs::read_to_string(path)
        .map_err(|source| MintError::Read { path: path.display().to_string(), source })
}
