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

/// Which one certificate (among all a CA issues) may make a call: by subject, which survives
/// renewal, and/or by SHA-256 fingerprint, which pins one certificate. When both are given,
/// both must match. Built from configuration; the errors name the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedCertificate {
    subject: Option<Vec<(String, String)>>,
    fingerprint: Option<String>,
}

impl PinnedCertificate {
    /// `subject`: `CN=…, O=…, C=DK` (attributes in any order, names in any case, as
    /// `openssl x509 -noout -subject` prints them with or without spaces around `=`);
    /// `fingerprint`: 64 hex digits, colons allowed (`openssl x509 -noout -fingerprint -sha256`).
    pub fn new(
        subject: Option<&str>,
        fingerprint: Option<&str>,
        subject_key: &str,
        fingerprint_key: &str,
    ) -> Result<Self, String> {
        let subject = subject
            .map(|s| {
                let s = s.trim().trim_start_matches("subject=");
                let parsed = parse_subject(s);
                if parsed.is_empty() {
                    Err(format!(
                        "{subject_key}: not a certificate subject; write it as `CN=…, O=…, C=DK`"
                    ))
                } else {
                    Ok(parsed)
                }
            })
            .transpose()?;
        let fingerprint = fingerprint
            .map(|f| {
                // As openssl prints it: `sha256 Fingerprint=…` (OpenSSL 3), `SHA256 …` (1.1).
                let f = f.rsplit('=').next().unwrap_or(f).trim();
                let hex: String = f.chars().filter(|c| *c != ':').collect();
                if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    Ok(hex.to_ascii_lowercase())
                } else {
                    Err(format!(
                        "{fingerprint_key}: not a SHA-256 fingerprint; give the 64 hex digits \
                         `openssl x509 -noout -fingerprint -sha256 -in CERT` prints"
                    ))
                }
            })
            .transpose()?;
        if subject.is_none() && fingerprint.is_none() {
            return Err(format!(
                "{subject_key}: set it, or {fingerprint_key}: only that certificate may call, \
                 not every certificate the CA has issued"
            ));
        }
        Ok(Self {
            subject,
            fingerprint,
        })
    }

    /// Whether `der` is the pinned certificate.
    pub fn matches(&self, der: &[u8]) -> bool {
        if let Some(f) = &self.fingerprint {
            use sha2::Digest as _;
            if hex::encode(sha2::Sha256::digest(der)) != *f {
                return false;
            }
        }
        if let Some(want) = &self.subject {
            let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
                return false;
            };
            if parse_subject(&cert.subject().to_string()) != *want {
                return false;
            }
        }
        true
    }
}

/// `A=x, B=y` as sorted (upper-case name, value) pairs. A piece without `=` belongs to the
/// value before it (a value with a comma in it).
fn parse_subject(s: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for piece in s.split(',') {
        match piece.split_once('=') {
            Some((name, value)) if is_attribute_name(name.trim()) => {
                out.push((name.trim().to_ascii_uppercase(), value.trim().to_owned()))
            }
            _ => match out.last_mut() {
                Some((_, value)) => {
                    value.push(',');
                    value.push_str(piece);
                }
                None => return Vec::new(),
            },
        }
    }
    out.sort();
    out
}

/// `CN`, `serialNumber`, `2.5.4.97`: what may stand before `=` in a subject.
fn is_attribute_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(subject: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            p.distinguished_name.push(t.clone(), *v);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_pinned_certificate_matches_by_subject_in_any_order_or_by_fingerprint() {
        use rcgen::DnType::*;
        let platform = cert(&[
            (CommonName, "Serviceplatformen"),
            (OrganizationName, "KOMBIT A/S, Drift"),
            (CountryName, "DK"),
        ]);
        let other = cert(&[(CommonName, "Other Kommune"), (CountryName, "DK")]);
        let by_subject = PinnedCertificate::new(
            Some("c = DK, O=KOMBIT A/S, Drift, CN=Serviceplatformen"),
            None,
            "s",
            "f",
        )
        .unwrap();
        assert!(by_subject.matches(&platform));
        assert!(!by_subject.matches(&other));

        use sha2::Digest as _;
        let fp = hex::encode(sha2::Sha256::digest(&platform));
        let colons: Vec<String> = fp
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_uppercase())
            .collect();
        let by_fp = PinnedCertificate::new(
            None,
            Some(&format!("SHA256 Fingerprint={}", colons.join(":"))),
            "s",
            "f",
        )
        .unwrap();
        assert!(by_fp.matches(&platform));
        assert!(!by_fp.matches(&other));
        let both =
            PinnedCertificate::new(Some("CN=Serviceplatformen"), Some(&fp), "s", "f").unwrap();
        assert!(
            !both.matches(&platform),
            "the subject has more attributes than pinned"
        );
    }

    #[test]
    fn pinning_needs_a_subject_or_a_fingerprint_and_names_the_key() {
        let e = PinnedCertificate::new(
            None,
            None,
            "receipts.platform_subject",
            "receipts.platform_fingerprint_sha256",
        )
        .unwrap_err();
        assert!(
            e.starts_with(
                "receipts.platform_subject: set it, or receipts.platform_fingerprint_sha256"
            ),
            "{e}"
        );
        let e = PinnedCertificate::new(
            None,
            Some("abc"),
            "s",
            "receipts.platform_fingerprint_sha256",
        )
        .unwrap_err();
        assert!(
            e.starts_with("receipts.platform_fingerprint_sha256: not a SHA-256"),
            "{e}"
        );
        let e = PinnedCertificate::new(
            Some("Serviceplatformen"),
            None,
            "receipts.platform_subject",
            "f",
        )
        .unwrap_err();
        assert!(
            e.starts_with("receipts.platform_subject: not a certificate subject"),
            "{e}"
        );
    }
}
