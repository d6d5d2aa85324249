//! rustls configurations and client-certificate identities.
//!
//! The platform authenticates callers only by their TLS client certificate, so everything about
//! certificates lives here: the mTLS server configuration for the SOAP listener, the client
//! configuration the simulator uses for receipt callbacks, PKCS#12 loading (the form in which
//! municipalities receive FOCES certificates), and the small helpers that turn a peer certificate
//! into something the rest of the crate can match on (SHA-256 fingerprint, subject string).
//!
//! All configurations are built with an explicit aws-lc-rs provider rather than the process
//! default, so a caller that forgot [`install_crypto_provider`] gets a working config, not a panic.

use anyhow::{Context, Result, anyhow, bail};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The client certificate chain the peer presented on this connection (leaf first).
///
/// The HTTPS server puts one into the extensions of every request, so handlers read it with
/// `axum::Extension<PeerCerts>`. Empty when the listener does not require client certificates
/// and the peer sent none.
#[derive(Clone, Debug, Default)]
pub struct PeerCerts(pub Arc<Vec<CertificateDer<'static>>>);

impl PeerCerts {
    /// The peer's own certificate, if it sent one.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.0.first()
    }

    /// SHA-256 fingerprint of the leaf (lower-case hex), the key anvendere are configured by.
    pub fn leaf_fingerprint(&self) -> Option<String> {
        self.leaf().map(|c| fingerprint_sha256(c))
    }

    /// Subject of the leaf, e.g. `CN=…, O=… // CVR:29189846, serialNumber=CVR:…-FID:…, C=DK`.
    pub fn leaf_subject(&self) -> Option<String> {
        self.leaf().and_then(|c| describe_subject(c))
    }
}

/// Installs aws-lc-rs as the process-wide rustls provider. Safe to call any number of times.
///
/// Needed because the dependency tree may carry more than one provider, and then rustls refuses
/// to pick one for APIs that use the process default (such as reqwest's own builder paths).
pub fn install_crypto_provider() {
    // Err means a provider is already installed (by us or by the embedding program): fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// All certificates in a PEM buffer, in file order.
pub fn load_certs_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("bad PEM certificate: {e}"))?;
    if certs.is_empty() {
        bail!("no CERTIFICATE block found");
    }
    Ok(certs)
}

/// All certificates in a PEM file, in file order. Errors name the file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    load_certs_pem(&pem).with_context(|| format!("{}", path.display()))
}

/// The first private key in a PEM buffer (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_key_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| anyhow!("no usable private key: {e}"))
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC). Errors name the file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    load_key_pem(&pem).with_context(|| format!("{}", path.display()))
}

fn root_store(ca_pem: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca_pem)? {
        roots
            .add(cert)
            .with_context(|| format!("{}: not a usable CA certificate", ca_pem.display()))?;
    }
    Ok(roots)
}

/// The SOAP listener's configuration: server certificate, and client certificates verified
/// against `ca_pem`. With `require_client_cert` false, a peer without a certificate gets through
/// the handshake (with empty [`PeerCerts`]) so the application can answer with a proper fault.
pub fn server_config(
    ca_pem: &Path,
    cert_pem: &Path,
    key_pem: &Path,
    require_client_cert: bool,
) -> Result<Arc<rustls::ServerConfig>> {
    let provider = provider();
    let roots = Arc::new(root_store(ca_pem)?);
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    if !require_client_cert {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier
        .build()
        .with_context(|| format!("client verifier from {}", ca_pem.display()))?;
    let chain = load_certs(cert_pem)?;
    let key = load_key(key_pem)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "{} does not match {}",
                key_pem.display(),
                cert_pem.display()
            )
        })?;
    // HTTP/1.1 only, like the real platform's SOAP endpoints; SOAP clients must not be surprised
    // by an h2 upgrade here that they would not get in production.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting `ca_pem` and presenting the given identity.
pub fn client_config_with_identity(
    ca_pem: &Path,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ClientConfig> {
    let roots = root_store(ca_pem)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("client certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting `ca_pem` and presenting the PEM identity (cert chain + key).
pub fn client_config(
    ca_pem: &Path,
    client_cert_pem: &Path,
    client_key_pem: &Path,
) -> Result<rustls::ClientConfig> {
    let chain = load_certs(client_cert_pem)?;
    let key = load_key(client_key_pem)?;
    client_config_with_identity(ca_pem, chain, key).with_context(|| {
        format!(
            "identity {} / {}",
            client_cert_pem.display(),
            client_key_pem.display()
        )
    })
}

/// An HTTP client for the simulator's outgoing receipt calls (mTLS with the platform identity).
///
/// Timeouts are short on purpose: an anvender endpoint that hangs must turn into a journaled
/// "error:" outcome and a retry, not a stuck receipt task.
pub fn reqwest_client(
    ca_pem: &Path,
    client_cert_pem: &Path,
    client_key_pem: &Path,
) -> Result<reqwest::Client> {
    let config = client_config(ca_pem, client_cert_pem, client_key_pem)?;
    reqwest_client_from_config(config)
}

/// An HTTP client with the simulator's standard timeouts around a prepared rustls configuration.
pub fn reqwest_client_from_config(config: rustls::ClientConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTPS client")
}

/// The key and certificate chain (leaf first) in a PKCS#12 file, ready for rustls.
///
/// Handles what OpenSSL 3 writes by default (PBES2/AES) as well as `-legacy` files (RC2/3DES).
pub fn identity_from_p12(
    bytes: &[u8],
    passphrase: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    use p12_keystore::error::Error as P12Error;
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(bytes, passphrase, Pkcs12ImportPolicy::Relaxed).map_err(
        |e| match e {
            // The MAC is keyed by the passphrase, so a mismatch is (almost always) a wrong one;
            // the crate's own text ("MAC tag mismatch") would not tell an operator that.
            P12Error::MacError(_) => anyhow!("PKCS#12: wrong passphrase (MAC check failed)"),
            other => anyhow!("PKCS#12: cannot read the file: {other}"),
        },
    )?;
    let (alias, chain) = store
        .private_key_chain()
        .context("PKCS#12: no private key with a matching certificate")?;
    if chain.certs().is_empty() {
        bail!("PKCS#12: key {alias:?} has no certificate");
    }
    let certs = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

/// Reads a PKCS#12 file and its passphrase; errors name the file.
pub fn identity_from_p12_file(
    path: &Path,
    passphrase: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    identity_from_p12(&bytes, passphrase).with_context(|| format!("{}", path.display()))
}

/// SHA-256 digest.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// SHA-256 fingerprint of a DER certificate, lower-case hex without separators.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in sha256(der) {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0x0f) as usize] as char);
    }
    out
}

/// Normalises a configured fingerprint (`AB:CD:…`, spaces, upper case) for comparison with
/// [`fingerprint_sha256`].
pub fn normalize_fingerprint(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The certificate's subject in RFC 4514-like order of the encoding, e.g.
/// `CN=OS2forms Fordeler (test), O=Demo Kommune // CVR:29189846, serialNumber=CVR:29189846-FID:12345678, C=DK`.
/// None when the bytes are not a certificate.
pub fn describe_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_lower_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            fingerprint_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            normalize_fingerprint("BA:78:16:BF"),
            fingerprint_sha256(b"abc")[..8].to_string()
        );
    }

    #[test]
    fn p12_round_trip_and_wrong_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = crate::pki::generate(&dir.path().join("pki")).expect("pki");
        let (chain, _key) =
            identity_from_p12_file(&files.anvender_p12, &files.passphrase).expect("p12");
        let pem_chain = load_certs(&files.anvender_pem).expect("pem");
        assert_eq!(chain, pem_chain, "p12 holds the same chain as anvender.pem");
        let err = identity_from_p12_file(&files.anvender_p12, "nope").expect_err("wrong pass");
        assert!(format!("{err:#}").contains("wrong passphrase"), "{err:#}");
    }

    #[test]
    fn configs_build_from_generated_pki() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = crate::pki::generate(&dir.path().join("pki")).expect("pki");
        server_config(&f.ca_pem, &f.server_pem, &f.server_key, true).expect("server");
        client_config(&f.ca_pem, &f.platform_pem, &f.platform_key).expect("client");
        let err = server_config(&f.ca_pem, &f.server_pem, &f.anvender_key, true)
            .expect_err("mismatched key");
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        let err = load_certs(&dir.path().join("missing.pem")).expect_err("missing");
        assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
    }
}
