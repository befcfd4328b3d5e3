//! Loading TLS material with errors that name the file and what is wrong with it
//! (tonic's own errors at handshake time are much harder to act on).
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{what} {path}: no PEM certificate found")]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("{what} {path}: no PEM private key found (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { what: &'static str, path: PathBuf },
}

/// PEM text of a certificate chain, private key or CA bundle, validated on load.
#[derive(Clone)]
pub struct Pem(pub Vec<u8>);

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, rustls::pki_types::pem::Error> {
    CertificateDer::pem_slice_iter(pem).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

/// Reads a PEM file that must hold at least one certificate.
pub fn read_certs(what: &'static str, path: &Path) -> Result<Pem, TlsError> {
    let pem = read(path)?;
    match certs_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(Pem(pem)),
        _ => Err(TlsError::NoCertificate { what, path: path.to_path_buf() }),
    }
}

/// Reads a PEM file that must hold a private key.
pub fn read_key(what: &'static str, path: &Path) -> Result<Pem, TlsError> {
    let pem = read(path)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(_) => Ok(Pem(pem)),
        Err(_) => Err(TlsError::NoKey { what, path: path.to_path_buf() }),
    }
}

/// Server TLS; with `client_ca`, clients must present a certificate it signed.
pub fn server_config(cert: &Pem, key: &Pem, client_ca: Option<&Pem>) -> ServerTlsConfig {
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(&cert.0, &key.0));
    if let Some(ca) = client_ca {
        config = config.client_ca_root(Certificate::from_pem(&ca.0)).client_auth_optional(false);
    }
    config
}

/// Client TLS trusting `ca`, presenting `identity` (cert, key) when given.
pub fn client_config(ca: &Pem, identity: Option<(&Pem, &Pem)>, server_name: &str) -> ClientTlsConfig {
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.0)).domain_name(server_name);
    if let Some((cert, key)) = identity {
        config = config.identity(Identity::from_pem(&cert.0, &key.0));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.crt");
        std::fs::write(&path, "not pem").unwrap();
        let err = read_certs("hub certificate", &path).unwrap_err().to_string();
        assert!(
            err.contains("hub certificate") && err.contains("hub.crt") && err.contains("no PEM certificate")
        );
        let err = read_key("hub key", &dir.path().join("missing.key")).unwrap_err().to_string();
        assert!(err.contains("missing.key"), "{err}");
    }

    #[test]
    fn minted_material_loads() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::mint::CertificateAuthority::generate("ca").unwrap();
        ca.certificate().write(dir.path(), "ca").unwrap();
        ca.issue_server(&["localhost".into(), "127.0.0.1".into()]).unwrap().write(dir.path(), "hub").unwrap();
        read_certs("ca", &dir.path().join("ca.crt")).unwrap();
        read_certs("hub", &dir.path().join("hub.crt")).unwrap();
        read_key("hub key", &dir.path().join("hub.key")).unwrap();
        let reloaded = crate::mint::CertificateAuthority::load(
            &std::fs::read_to_string(dir.path().join("ca.crt")).unwrap(),
            &std::fs::read_to_string(dir.path().join("ca.key")).unwrap(),
        )
        .unwrap();
        let agent = reloaded.issue_agent("gridshift.local", "a").unwrap();
        assert_eq!(crate::identity::cluster_from_cert(&agent.cert_der, "gridshift.local").unwrap(), "a");
    }
}
