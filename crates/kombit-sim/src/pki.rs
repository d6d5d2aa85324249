//! `kombit-sim certs`: a complete, throw-away test PKI, written in pure Rust.
//!
//! The real Serviceplatformen authenticates anvendere by FOCES/OCES3 system certificates issued
//! by a public CA, and talks SSH to the SFTP service. Offline we need the same shapes with keys
//! we own: a root CA, a server certificate for `localhost`/`127.0.0.1`, the anvender's client
//! certificate (PEM and a passphrase-protected PKCS#12 as the Fordeler would receive it), the
//! platform's own client certificate for receipt callbacks, a second municipality's certificate
//! to test refusals, and the SSH keys. Nothing here shells out to openssl, so `cargo run` is enough
//! on any machine.

use anyhow::{Context, Result, bail};
use rand::Rng;
use rand::distr::Alphanumeric;
use rcgen::string::PrintableString;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Subject of the generated anvender certificate, for documentation and tests.
pub const ANVENDER_SUBJECT: &str = "CN=OS2forms Fordeler (test), O=Demo Kommune // CVR:29189846, serialNumber=CVR:29189846-FID:12345678, C=DK";
/// CVR of the second ("other") municipality's client certificate.
pub const OTHER_CVR: &str = "11111111";

/// OID 2.5.4.5 (X.520 serialNumber). OCES certificates carry `CVR:…-FID:…` or `CVR:…-UID:…` here,
/// and that is what the platform (and this simulator) keys anvendere on.
const OID_SERIAL_NUMBER: [u64; 4] = [2, 5, 4, 5];

const PASSPHRASE_LEN: usize = 24;

/// The subject of the platform's client certificate (receipt callbacks), as a Fordeler pins
/// it (`[receipts] platform_subject`).
pub const PLATFORM_SUBJECT: &str =
    "CN=Serviceplatformen (kombit-sim), O=KOMBIT A/S (simulated), C=DK";

/// The files written by [`generate`], and the PKCS#12 passphrase.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub ca_key: PathBuf,
    pub server_pem: PathBuf,
    pub server_key: PathBuf,
    pub anvender_pem: PathBuf,
    pub anvender_key: PathBuf,
    pub anvender_p12: PathBuf,
    pub anvender_p12_pass: PathBuf,
    pub platform_pem: PathBuf,
    pub platform_key: PathBuf,
    pub other_pem: PathBuf,
    pub other_key: PathBuf,
    pub ssh_host_key: PathBuf,
    pub anvender_ssh_key: PathBuf,
    pub anvender_ssh_pub: PathBuf,
    /// The passphrase of `anvender.p12` (also in `anvender.p12.pass`, without a newline).
    pub passphrase: String,
}

impl PkiFiles {
    /// The standard file names inside `dir` (what `kombit-sim certs` writes), passphrase empty.
    pub fn in_dir(dir: &Path) -> Self {
        let p = |name: &str| dir.join(name);
        Self {
            dir: dir.to_path_buf(),
            ca_pem: p("ca.pem"),
            ca_key: p("ca.key"),
            server_pem: p("server.pem"),
            server_key: p("server.key"),
            anvender_pem: p("anvender.pem"),
            anvender_key: p("anvender.key"),
            anvender_p12: p("anvender.p12"),
            anvender_p12_pass: p("anvender.p12.pass"),
            platform_pem: p("platform.pem"),
            platform_key: p("platform.key"),
            other_pem: p("other.pem"),
            other_key: p("other.key"),
            ssh_host_key: p("ssh_host_ed25519_key"),
            anvender_ssh_key: p("anvender_ssh_ed25519_key"),
            anvender_ssh_pub: p("anvender_ssh_ed25519_key.pub"),
            passphrase: String::new(),
        }
    }

    /// Every file with a one-line explanation, in the order `kombit-sim certs` prints them.
    pub fn described(&self) -> Vec<(&Path, &'static str)> {
        vec![
            (
                &self.ca_pem,
                "test root CA certificate: trust this for the simulator's HTTPS server",
            ),
            (
                &self.ca_key,
                "test root CA private key (only needed to issue more certificates)",
            ),
            (
                &self.server_pem,
                "simulator HTTPS server certificate for localhost/127.0.0.1 (+ CA)",
            ),
            (&self.server_key, "simulator HTTPS server private key"),
            (
                &self.anvender_pem,
                "anvender client certificate, FOCES-like, CVR 29189846 (+ CA)",
            ),
            (
                &self.anvender_key,
                "anvender client private key (PKCS#8 PEM, RSA 2048)",
            ),
            (
                &self.anvender_p12,
                "anvender certificate + key as PKCS#12, as a municipality receives it",
            ),
            (
                &self.anvender_p12_pass,
                "passphrase of anvender.p12 (no trailing newline)",
            ),
            (
                &self.platform_pem,
                "platform client certificate, used for receipt callbacks (+ CA)",
            ),
            (&self.platform_key, "platform client private key"),
            (
                &self.other_pem,
                "client certificate of another municipality (CVR 11111111), for refusals",
            ),
            (
                &self.other_key,
                "private key of the other municipality's certificate",
            ),
            (
                &self.ssh_host_key,
                "SFTP service host key (OpenSSH Ed25519)",
            ),
            (
                &self.anvender_ssh_key,
                "anvender SFTP login key (OpenSSH Ed25519, private)",
            ),
            (
                &self.anvender_ssh_pub,
                "anvender SFTP login key (public, authorised by default config)",
            ),
        ]
    }
}

/// Writes a fresh test PKI into `out` (created if missing). Refuses a non-empty directory.
pub fn generate(out: &Path) -> Result<PkiFiles> {
    generate_with(out, false)
}

/// Like [`generate`]; with `force`, files in an existing non-empty directory are overwritten.
pub fn generate_with(out: &Path, force: bool) -> Result<PkiFiles> {
    prepare_dir(out, force)?;
    let mut files = PkiFiles::in_dir(out);

    // ECDSA P-256 for everything the simulator itself holds: its handshakes are the hot path of
    // the throughput target, and P-256 signing is far cheaper than RSA.
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca = CertifiedIssuer::self_signed(ca_params()?, ca_key).context("self-signing the CA")?;
    let ca_pem = ca.pem();
    write_file(&files.ca_pem, ca_pem.as_bytes(), false)?;
    write_file(&files.ca_key, ca.key().serialize_pem().as_bytes(), true)?;

    let server_key = KeyPair::generate().context("generating the server key")?;
    let server = server_params()?
        .signed_by(&server_key, &ca)
        .context("signing the server certificate")?;
    write_file(
        &files.server_pem,
        format!("{}{ca_pem}", server.pem()).as_bytes(),
        false,
    )?;
    write_file(
        &files.server_key,
        server_key.serialize_pem().as_bytes(),
        true,
    )?;

    // RSA 2048 like a real FOCES/OCES3 system certificate, so the Fordeler meets the same key type
    // (and the same PKCS#12 contents) it will see in production.
    let anvender_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .context("generating the anvender RSA key")?;
    let anvender = client_params(&[
        (DnType::CommonName, utf8("OS2forms Fordeler (test)")),
        (
            DnType::OrganizationName,
            utf8("Demo Kommune // CVR:29189846"),
        ),
        (
            DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
            printable("CVR:29189846-FID:12345678")?,
        ),
        (DnType::CountryName, printable("DK")?),
    ])?
    .signed_by(&anvender_key, &ca)
    .context("signing the anvender certificate")?;
    write_file(
        &files.anvender_pem,
        format!("{}{ca_pem}", anvender.pem()).as_bytes(),
        false,
    )?;
    write_file(
        &files.anvender_key,
        anvender_key.serialize_pem().as_bytes(),
        true,
    )?;

    let passphrase: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(PASSPHRASE_LEN)
        .map(char::from)
        .collect();
    let p12 = build_p12(
        &anvender_key.serialize_der(),
        &[anvender.der().as_ref(), ca.der().as_ref()],
        "os2forms fordeler (test)",
        &passphrase,
    )?;
    write_file(&files.anvender_p12, &p12, true)?;
    write_file(&files.anvender_p12_pass, passphrase.as_bytes(), true)?;
    files.passphrase = passphrase;

    let platform_key = KeyPair::generate().context("generating the platform key")?;
    let platform = client_params(&[
        (DnType::CommonName, utf8("Serviceplatformen (kombit-sim)")),
        (DnType::OrganizationName, utf8("KOMBIT A/S (simulated)")),
        (DnType::CountryName, printable("DK")?),
    ])?
    .signed_by(&platform_key, &ca)
    .context("signing the platform certificate")?;
    write_file(
        &files.platform_pem,
        format!("{}{ca_pem}", platform.pem()).as_bytes(),
        false,
    )?;
    write_file(
        &files.platform_key,
        platform_key.serialize_pem().as_bytes(),
        true,
    )?;

    let other_key = KeyPair::generate().context("generating the other municipality's key")?;
    let other = client_params(&[
        (DnType::CommonName, utf8("Anden Kommune system (test)")),
        (
            DnType::OrganizationName,
            utf8(format!("Anden Kommune // CVR:{OTHER_CVR}")),
        ),
        (
            DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
            printable(&format!("CVR:{OTHER_CVR}-FID:87654321"))?,
        ),
        (DnType::CountryName, printable("DK")?),
    ])?
    .signed_by(&other_key, &ca)
    .context("signing the other municipality's certificate")?;
    write_file(
        &files.other_pem,
        format!("{}{ca_pem}", other.pem()).as_bytes(),
        false,
    )?;
    write_file(&files.other_key, other_key.serialize_pem().as_bytes(), true)?;

    let host = ed25519_key("kombit-sim host key")?;
    write_ssh_private(&files.ssh_host_key, &host)?;
    let user = ed25519_key("OS2Forms_Fordeling@kombit-sim")?;
    write_ssh_private(&files.anvender_ssh_key, &user)?;
    let public = user
        .public_key()
        .to_openssh()
        .with_context(|| format!("encoding {}", files.anvender_ssh_pub.display()))?;
    write_file(
        &files.anvender_ssh_pub,
        format!("{public}\n").as_bytes(),
        false,
    )?;

    Ok(files)
}

/// Reads `anvender.p12.pass` (or any passphrase file), ignoring a trailing newline that an editor
/// may have added.
pub fn read_passphrase(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read passphrase file {}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

fn prepare_dir(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        if !out.is_dir() {
            bail!("{} exists and is not a directory", out.display());
        }
        let mut entries =
            std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))?;
        if entries.next().is_some() && !force {
            bail!(
                "{} is not empty; refusing to overwrite an existing PKI (use --force to replace it)",
                out.display()
            );
        }
    } else {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    Ok(())
}

fn utf8(s: impl Into<String>) -> DnValue {
    DnValue::Utf8String(s.into())
}

/// X.520 wants PrintableString for countryName and serialNumber; some parsers are strict about it.
fn printable(s: &str) -> Result<DnValue> {
    let p =
        PrintableString::try_from(s).with_context(|| format!("{s:?} is not a PrintableString"))?;
    Ok(DnValue::PrintableString(p))
}

/// Validity from yesterday (tolerates small clock skew between processes) to `years` ahead.
fn validity(params: &mut CertificateParams, years: i32) {
    let now = chrono::Utc::now().date_naive();
    let start = now - chrono::Days::new(1);
    use chrono::Datelike;
    params.not_before = rcgen::date_time_ymd(start.year(), start.month() as u8, start.day() as u8);
    // Day capped at 28 so that no month/leap-year combination can produce an invalid date.
    params.not_after = rcgen::date_time_ymd(
        now.year() + years,
        now.month() as u8,
        now.day().min(28) as u8,
    );
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::rng().random();
    // Positive and without a leading zero byte, as RFC 5280 serials should be.
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    SerialNumber::from_slice(&bytes)
}

fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, "kombit-sim Test Root CA");
    p.distinguished_name
        .push(DnType::OrganizationName, "kombit-sim (NOT A REAL CA)");
    p.distinguished_name
        .push(DnType::CountryName, printable("DK")?);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.serial_number = Some(random_serial());
    validity(&mut p, 10);
    Ok(p)
}

fn server_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).context("server parameters")?;
    p.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().context("SAN localhost")?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, "localhost");
    p.distinguished_name
        .push(DnType::OrganizationName, "kombit-sim Serviceplatformen");
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial());
    validity(&mut p, 3);
    Ok(p)
}

fn client_params(dn: &[(DnType, DnValue)]) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).context("client parameters")?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    for (ty, value) in dn {
        p.distinguished_name.push(ty.clone(), value.clone());
    }
    // KeyEncipherment too: harmless for ECDSA and expected by some verifiers for RSA keys.
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial());
    validity(&mut p, 3);
    Ok(p)
}

/// PKCS#12 with the writer's defaults (PBES2/AES-256-CBC, HMAC-SHA256), which is what OpenSSL 3
/// produces too, so `openssl pkcs12` and the Fordeler read it without `-legacy`.
fn build_p12(key_pkcs8: &[u8], chain: &[&[u8]], alias: &str, passphrase: &str) -> Result<Vec<u8>> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = PrivateKey::from_der(key_pkcs8).map_err(|e| anyhow::anyhow!("PKCS#12 key: {e}"))?;
    let certs = chain
        .iter()
        .map(|der| {
            Certificate::from_der(der).map_err(|e| anyhow::anyhow!("PKCS#12 certificate: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let leaf = chain
        .first()
        .context("PKCS#12 needs at least the leaf certificate")?;
    // localKeyId links the key bag to the leaf; the leaf's fingerprint is what OpenSSL uses too.
    let local_key_id = crate::tls::sha256(leaf)[..20].to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, certs)),
    );
    store
        .writer(passphrase)
        .write()
        .map_err(|e| anyhow::anyhow!("writing PKCS#12: {e}"))
}

fn ed25519_key(comment: &str) -> Result<russh::keys::PrivateKey> {
    use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
    // Seeded from rand rather than passing an RNG, because ssh-key's RNG trait comes from another
    // rand_core major version than the workspace's rand.
    let seed: [u8; 32] = rand::rng().random();
    let pair = KeypairData::from(Ed25519Keypair::from_seed(&seed));
    russh::keys::PrivateKey::new(pair, comment).context("building an Ed25519 SSH key")
}

fn write_ssh_private(path: &Path, key: &russh::keys::PrivateKey) -> Result<()> {
    let text = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .with_context(|| format!("encoding {}", path.display()))?;
    write_file(path, text.as_bytes(), true)
}

/// Writes a file; private ones get mode 0600 (OpenSSH refuses group/world-readable keys, and the
/// passphrase should not be readable by others either).
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // The mode above only applies on creation; with --force the file may already exist.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if private { 0o600 } else { 0o644 };
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
    }
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_empty_dir_unless_forced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x"), b"x").expect("write");
        let err = generate(dir.path()).expect_err("must refuse");
        assert!(err.to_string().contains("not empty"), "{err}");
        let files = generate_with(dir.path(), true).expect("forced");
        assert_eq!(files.passphrase.len(), PASSPHRASE_LEN);
        assert_eq!(
            read_passphrase(&files.anvender_p12_pass).expect("pass"),
            files.passphrase
        );
    }

    #[test]
    fn anvender_certificate_looks_like_foces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = generate(&dir.path().join("pki")).expect("generate");
        let pem = std::fs::read(&files.anvender_pem).expect("read");
        let chain = crate::tls::load_certs_pem(&pem).expect("parse");
        assert_eq!(chain.len(), 2, "leaf + CA");
        let subject = crate::tls::describe_subject(&chain[0]).expect("subject");
        assert_eq!(subject, ANVENDER_SUBJECT);
        let (_, cert) = x509_parser::parse_x509_certificate(&chain[0]).expect("x509");
        let eku = cert.extended_key_usage().expect("eku").expect("present");
        assert!(eku.value.client_auth && !eku.value.server_auth);
        assert!(
            matches!(
                cert.public_key().parsed(),
                Ok(x509_parser::public_key::PublicKey::RSA(ref k)) if k.key_size() == 2048
            ),
            "RSA 2048 like FOCES"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [
                &files.anvender_key,
                &files.anvender_p12,
                &files.ssh_host_key,
                &files.anvender_ssh_key,
            ] {
                let mode = std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
    }
}
