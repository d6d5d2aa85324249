//! The anvender's client identity: the FOCES/OCES3 system certificate and its private key, as
//! the SOAP client presents them in the mutual-TLS handshake with Serviceplatformen.
//!
//! Municipalities receive the certificate as a PKCS#12 file with a passphrase. Files made with
//! OpenSSL 3's defaults (AES-256, PBKDF2) and with `-legacy` (RC2-40 and 3DES) both load; so do a
//! PEM certificate chain and a PEM private key. The key must belong to one of the certificates
//! in the file: that certificate becomes the leaf, the others its chain (self-signed roots are
//! left out, the server has them).
//!
//! This module also reads what `check-config` tells the operator (subject, CVR, expiry,
//! fingerprint). Errors name the file and the reason, never the passphrase or the key.

use chrono::{DateTime, Utc};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A client certificate chain (leaf first) and the leaf's private key.
pub struct ClientIdentity {
    /// Leaf first, then intermediates. Self-signed roots are not included.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The leaf's subject as OpenSSL prints it, for example
    /// `CN=…, O=… // CVR:29189846, serialNumber=CVR:29189846-FID:12345678, C=DK`.
    pub subject: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the leaf certificate (DER), lower-case hex: what KOMBIT's administration
    /// module and the simulator key certificates on.
    pub fingerprint_sha256: String,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            fingerprint_sha256: self.fingerprint_sha256.clone(),
        }
    }
}

// The key must never reach a log through `{:?}`.
impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("not_after", &self.not_after)
            .field("chain_len", &self.chain.len())
            .field("key", &"<private>")
            .finish()
    }
}

/// Why an identity could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: wrong passphrase (the PKCS#12 integrity check failed)", path.display())]
    WrongPassphrase { path: PathBuf },
    #[error("{}: not a usable PKCS#12 file: {reason}", path.display())]
    Pkcs12 { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("{}: contains no private key", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: contains {count} private keys; expected exactly one", path.display())]
    SeveralKeys { path: PathBuf, count: usize },
    #[error("{}: contains no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no certificate in the file belongs to the private key", path.display())]
    KeyMismatch { path: PathBuf },
    #[error("{}: the private key cannot be used: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("{}: certificate cannot be parsed: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
}

impl ClientIdentity {
    /// Loads a PKCS#12 (`.p12`/`.pfx`) file. The passphrase comes from a file or the environment;
    /// the caller reads it (see [`read_passphrase_file`]).
    pub fn from_pkcs12_file(path: &Path, passphrase: &str) -> Result<Self, IdentityError> {
        let der = read(path)?;
        Self::from_pkcs12_der(&der, passphrase, path)
    }

    /// Loads PKCS#12 bytes; `origin` names them in errors.
    pub fn from_pkcs12_der(
        der: &[u8],
        passphrase: &str,
        origin: &Path,
    ) -> Result<Self, IdentityError> {
        let path = || origin.to_path_buf();
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, passphrase).map_err(|e| {
            match e {
                p12_keystore::error::Error::MacError(_) => {
                    IdentityError::WrongPassphrase { path: path() }
                }
                // A wrong passphrase on a MAC-less file shows up as bad padding after decryption.
                p12_keystore::error::Error::UnpadError => IdentityError::Pkcs12 {
                    path: path(),
                    reason: "cannot decrypt (wrong passphrase or damaged file)".into(),
                },
                other => IdentityError::Pkcs12 {
                    path: path(),
                    reason: other.to_string(),
                },
            }
        })?;
        let key = match archive.keys.as_slice() {
            [] => return Err(IdentityError::NoKey { path: path() }),
            [one] => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(one.key.as_der().to_vec())),
            more => {
                return Err(IdentityError::SeveralKeys {
                    path: path(),
                    count: more.len(),
                });
            }
        };
        let certs: Vec<CertificateDer<'static>> = archive
            .certs
            .iter()
            .map(|c| CertificateDer::from(c.cert.as_der().to_vec()))
            .collect();
        Self::assemble(certs, key, origin)
    }

    /// Loads a PEM certificate file (leaf, optionally followed by its chain) and a PEM private
    /// key file (PKCS#8, PKCS#1 or SEC1). Both may be the same file.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, IdentityError> {
        let cert_pem = read(cert_path)?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::Pem {
                path: cert_path.to_path_buf(),
                reason: format!("not a PEM certificate file: {e}"),
            })?;
        let key_pem = read(key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => IdentityError::NoKey {
                path: key_path.to_path_buf(),
            },
            other => IdentityError::Pem {
                path: key_path.to_path_buf(),
                reason: format!("not a PEM private key: {other}"),
            },
        })?;
        if certs.is_empty() {
            return Err(IdentityError::NoCertificate {
                path: cert_path.to_path_buf(),
            });
        }
        Self::assemble(certs, key, cert_path)
    }

    /// Finds the certificate that belongs to the key and orders the chain behind it.
    fn assemble(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        origin: &Path,
    ) -> Result<Self, IdentityError> {
        let path = || origin.to_path_buf();
        if certs.is_empty() {
            return Err(IdentityError::NoCertificate { path: path() });
        }
        let provider = provider();
        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| IdentityError::BadKey {
                path: path(),
                reason: e.to_string(),
            })?;
        let key_spki = signing_key.public_key();

        let mut parsed = Vec::with_capacity(certs.len());
        for der in &certs {
            parsed.push(
                CertInfo::parse(der).map_err(|reason| IdentityError::BadCertificate {
                    path: path(),
                    reason,
                })?,
            );
        }
        let leaf = match &key_spki {
            Some(spki) => parsed
                .iter()
                .position(|c| c.spki == spki.as_ref())
                .ok_or(IdentityError::KeyMismatch { path: path() })?,
            // The provider cannot tell (unusual key type): take the first certificate and let
            // the TLS handshake judge.
            None => 0,
        };

        // Leaf, then each issuer found in the file, until a self-signed root or a gap.
        let mut order = vec![leaf];
        let mut current = leaf;
        while let Some(next) = parsed.iter().enumerate().position(|(i, c)| {
            !order.contains(&i) && c.subject_raw == parsed[current].issuer_raw && !c.self_signed()
        }) {
            order.push(next);
            current = next;
        }
        let info = &parsed[leaf];
        let identity = Self {
            chain: order.iter().map(|&i| certs[i].clone()).collect(),
            key,
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            not_before: info.not_before,
            not_after: info.not_after,
            fingerprint_sha256: hex(&Sha256::digest(certs[leaf].as_ref())),
        };
        Ok(identity)
    }

    /// The CVR number from the subject's `serialNumber=CVR:<cvr>-FID:…` (or `-UID:`), as OCES
    /// system certificates carry it.
    pub fn cvr(&self) -> Option<String> {
        let rest = &self.subject[self.subject.find("CVR:")? + 4..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (digits.len() == 8).then_some(digits)
    }

    /// Time left until `not_after` (negative when expired), for expiry warnings.
    pub fn valid_for(&self, now: DateTime<Utc>) -> chrono::Duration {
        self.not_after - now
    }

    /// A rustls client configuration that presents this identity. `roots` decides which server
    /// certificates are trusted.
    pub fn rustls_config(&self, roots: &TrustRoots) -> Result<rustls::ClientConfig, String> {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let builder = match roots {
            TrustRoots::Platform => {
                let verifier = rustls_platform_verifier::Verifier::new(provider)
                    .map_err(|e| format!("cannot load the system's trusted roots: {e}"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            TrustRoots::Only(certs) => {
                let mut store = rustls::RootCertStore::empty();
                for c in certs {
                    store
                        .add(c.clone())
                        .map_err(|e| format!("unusable trust root: {e}"))?;
                }
                builder.with_root_certificates(store)
            }
        };
        builder
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| format!("client certificate cannot be used: {e}"))
    }
}

/// Which server certificates the SOAP client trusts.
#[derive(Debug, Clone)]
pub enum TrustRoots {
    /// The operating system's trust store (through rustls-platform-verifier).
    Platform,
    /// Only these roots (a test CA, or a pinned CA for Serviceplatformen).
    Only(Vec<CertificateDer<'static>>),
}

impl TrustRoots {
    /// Reads roots from a PEM file; only those will be trusted.
    pub fn from_pem_file(path: &Path) -> Result<Self, IdentityError> {
        let pem = read(path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::Pem {
                path: path.to_path_buf(),
                reason: format!("not a PEM certificate file: {e}"),
            })?;
        if certs.is_empty() {
            return Err(IdentityError::NoCertificate {
                path: path.to_path_buf(),
            });
        }
        Ok(Self::Only(certs))
    }
}

/// Reads a passphrase file, ignoring one trailing line break an editor may have added.
pub fn read_passphrase_file(path: &Path) -> Result<String, IdentityError> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| IdentityError::Pem {
        path: path.to_path_buf(),
        reason: "the passphrase file is not UTF-8".into(),
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// The crypto provider for the client, chosen explicitly: the dependency tree holds both ring
/// and aws-lc-rs, and rustls cannot pick a process default when both are compiled in.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    std::fs::read(path).map_err(|source| IdentityError::Read {
        path: path.to_path_buf(),
        source,
    })
}

struct CertInfo {
    spki: Vec<u8>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    subject: String,
    issuer: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

impl CertInfo {
    fn parse(der: &CertificateDer<'_>) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| format!("invalid X.509: {e}"))?;
        let time = |t: x509_parser::time::ASN1Time| {
            DateTime::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| "validity date out of range".to_string())
        };
        Ok(Self {
            spki: cert.tbs_certificate.subject_pki.raw.to_vec(),
            subject_raw: cert.tbs_certificate.subject.as_raw().to_vec(),
            issuer_raw: cert.tbs_certificate.issuer.as_raw().to_vec(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: time(cert.validity().not_before)?,
            not_after: time(cert.validity().not_after)?,
        })
    }

    fn self_signed(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
