//! HTTPS with client certificates for the endpoints other systems call us on (the Fordeler's
//! receipt endpoint): rustls requiring a certificate from a configured CA, and the verified
//! chain handed to handlers. [`crate::listener`] serves the connections.

use anyhow::Context as _;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not PEM certificates", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificate in the file",
        path.display()
    );
    Ok(certs)
}

/// A server configuration that requires a client certificate issued by `client_ca`.
pub fn server_config(
    client_ca: &Path,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(client_ca)? {
        roots
            .add(c)
            .with_context(|| format!("{}: not a usable CA certificate", client_ca.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .context("client certificate verifier")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: not a PEM private key", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert)?, key)
        .with_context(|| format!("{} does not match its key", cert.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate chain a client presented in the TLS handshake (leaf first), already
/// verified against the configured CA: in the extensions of every request on a TLS listener
/// (`axum::Extension<ClientCertificates>`), for handlers that accept only some certificates.
#[derive(Debug, Clone)]
pub struct ClientCertificates(pub Arc<Vec<CertificateDer<'static>>>);

impl ClientCertificates {
    /// The client's own certificate.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.0.first()
    }
}
