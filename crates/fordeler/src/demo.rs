//! `fordeler demo`: the whole product on one machine with nothing but cargo.
//!
//! It generates a test PKI, starts kombit-sim in-process (real TCP, TLS and SFTP on loopback),
//! starts the Fordeler on SQLite in a temporary directory, pushes sample submissions for three
//! forms (a FORMULAR modelled on SP241 Helbredstillæg with attachments, a DOKUMENT and a
//! JOURNALPOST) through the Remote post intake, injects faults (an AFVIST, a slow receipt, an
//! SFTP connection dropped mid-upload), shows progress, and ends with every submission's state
//! and receipts. It exits 0 only if the outcome is exactly what should happen.

use crate::config::Config;
use crate::store::{Delivery, State, kode_or_dash};
use anyhow::Context as _;
use kombit_sim::faults::{Action, FaultRule, Hook};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The SP241 template the demo (and the tests) use, as a municipality would write it.
pub const SP241_TEMPLATE: &str = include_str!("../templates/sp241.xml.twig");

/// The demo's intake and operator tokens.
pub const INTAKE_TOKEN: &str = "demo-intake-token-0001";
pub const API_TOKEN: &str = "demo-operator-token-01";

/// The fingerprint (`SHA256:…`) of the SFTP host key in a kombit-sim PKI: the demo knows the
/// simulator's key, so it pins it as an operator pins the platform's.
pub fn sim_host_key_fingerprint(pki: &Path) -> anyhow::Result<String> {
    let path = kombit_sim::pki::PkiFiles::in_dir(pki).ssh_host_key;
    let key = russh::keys::load_secret_key(&path, None)
        .with_context(|| format!("the simulator's host key {}", path.display()))?;
    Ok(key
        .public_key()
        .fingerprint(russh::keys::HashAlg::Sha256)
        .to_string())
}

/// A configuration for one tenant on a kombit-sim PKI, with the three demo forms.
pub fn config_toml(
    pki: &Path,
    db_url: &str,
    soap_url: &str,
    sftp_port: u16,
    receipts_port: u16,
    http_port: u16,
    sp241_xsd: Option<&Path>,
) -> anyhow::Result<String> {
    let xsd = sp241_xsd
        .map(|p| format!("xsd = \"{}\"\n", p.display()))
        .unwrap_or_default();
    let host_key = sim_host_key_fingerprint(pki)?;
    let platform_subject = kombit_sim::pki::PLATFORM_SUBJECT;
    Ok(format!(
        r#"
[server]
listen = "127.0.0.1:{http_port}"
api_token = {{ file = "api.token" }}

[database]
url = "{db_url}"

[receipts]
listen = "127.0.0.1:{receipts_port}"
server_cert = "{pki}/server.pem"
server_key = "{pki}/server.key"
client_ca = "{pki}/ca.pem"
platform_subject = "{platform_subject}"

[delivery]
retry_base_seconds = 1
sftp_receipt_poll_ms = 20

[[tenant]]
cvr = "29189846"
name = "Demo Kommune"
service_url = "{soap_url}"
service_ca = "{pki}/ca.pem"
certificate = "{pki}/anvender.p12"
passphrase = {{ file = "{pki}/anvender.p12.pass" }}
it_system = "cfcf2769-9a1f-4d3b-b6d2-ddfb3a2f9dd6"

[tenant.sftp]
host = "127.0.0.1"
port = {sftp_port}
user = "OS2Forms_Fordeling"
key = "{pki}/anvender_ssh_ed25519_key"
host_key_fingerprint = "{host_key}"

[[form]]
webform_id = "os2forms_fdk_kp_sp241"
tenant = "29189846"
remote_post_token = {{ file = "intake.token" }}
[[form.route]]
id = "kp"
distribution_type = "FORMULAR"
kle_emne = "32.03.12"
handling_facet = "G01"
attachment_element = "kvittering"
formular_type = "HelbredstillægAnsøgningFormular_1"
xml_template = "sp241.xml.twig"
{xsd}titel = "Ansøgning om helbredstillæg"
[form.route.files]
filspecifikation = "HelbredstillægAnsøgningBilag_1"

[[form]]
webform_id = "dokument"
tenant = "29189846"
remote_post_token = {{ file = "intake.token" }}
[[form.route]]
id = "pdf"
distribution_type = "DOKUMENT"
kle_emne = "32.03.12"
handling_facet = "G01"
attachment_element = "kvittering"
titel = "Ansøgning [webform_submission:serial]"
beskrivelse = "Indsendt via OS2forms"
brugervendt_noegle = "[webform_submission:uuid]"

[[form]]
webform_id = "journal"
tenant = "29189846"
remote_post_token = {{ file = "intake.token" }}
[[form.route]]
id = "notat"
distribution_type = "JOURNALPOST"
kle_emne = "01.01.01"
titel = "Henvendelse [webform_submission:serial]"
journalpost_message = "Henvendelse om [webform_submission:values:emne]"
"#,
        pki = pki.display(),
    ))
}

/// Writes the template and the token files next to a configuration in `dir`.
pub fn write_support_files(dir: &Path) -> anyhow::Result<()> {
    std::fs::write(dir.join("sp241.xml.twig"), SP241_TEMPLATE)?;
    std::fs::write(dir.join("intake.token"), INTAKE_TOKEN)?;
    std::fs::write(dir.join("api.token"), API_TOKEN)?;
    Ok(())
}

/// A directory for the in-process simulator's SFTP users, on tmpfs when the machine has one.
pub fn sim_sftp_area() -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new()
        .prefix("kombit-sim-sftp")
        .to_owned();
    Ok(if shm.is_dir() {
        b.tempdir_in(shm).or_else(|_| b.tempdir())?
    } else {
        b.tempdir()?
    })
}

pub fn free_port() -> anyhow::Result<u16> {
    // Below Linux's ephemeral range (32768+): a port chosen here and bound a moment later by
    // another process is not taken meanwhile by some socket bound to port 0.
    use rand::Rng as _;
    for _ in 0..200 {
        let port = rand::rng().random_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn pdf(kb: usize, seed: u8) -> Vec<u8> {
    let mut data = b"%PDF-1.4\n".to_vec();
    data.extend((0..kb * 1024).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    data
}

/// A fictitious applicant; the CPR-like numbers are not valid CPR numbers.
pub fn sample(form: &str, n: usize, attachment_kb: usize) -> Value {
    let mut body = sample_fields(form, n);
    if let (Value::Object(body), Value::Object(files)) =
        (&mut body, sample_files(form, n, attachment_kb))
    {
        body.extend(files);
    }
    body
}

/// The element values of [`sample`], without its files.
pub fn sample_fields(form: &str, n: usize) -> Value {
    let uuid = sf2900::Uuid::new_v4().to_string();
    let mut body = json!({
        "uuid": uuid,
        "serial": (n + 1).to_string(),
        "completed": "1778586315",
        "in_draft": "0",
        "emne": "Parkering",
        "ansoeger_fornavn": "Testperson",
        "ansoeger_efternavn": format!("Æblegård {n}"),
        "ansoeger_personnummer": format!("99{:08}", n),
        "underskriftsoplysninger_underskriftsdato": "2026-11-23",
    });
    if form == "os2forms_fdk_kp_sp241" {
        body["ansoeger_mellemnavn"] = json!(if n.is_multiple_of(2) { "E." } else { "" });
    }
    body
}

/// The file elements of [`sample`] (an object, empty for the journal form).
pub fn sample_files(form: &str, n: usize, attachment_kb: usize) -> Value {
    let mut files = json!({});
    if form != "journal" {
        files["_kvittering"] = json!({"name": "kvittering.pdf", "mime": "application/pdf", "data": sf2900::Base64Binary::encode(&pdf(attachment_kb.max(1), n as u8))});
    }
    if form == "os2forms_fdk_kp_sp241" {
        files["_dokumenter_bilag"] = json!([
            {"name": "bilag.pdf", "mime": "application/pdf", "data": sf2900::Base64Binary::encode(&pdf(attachment_kb, 1))},
            {"name": "overslag.pdf", "mime": "application/pdf", "data": sf2900::Base64Binary::encode(&pdf(attachment_kb / 2 + 1, 2))},
        ]);
    }
    files
}

fn fault(on: Hook, action: Action, times: u32, delay_ms: u64, kle: Option<&str>) -> FaultRule {
    FaultRule {
        on,
        action,
        probability: 1.0,
        times: Some(times),
        delay_ms,
        match_kle: kle.map(Into::into),
        match_file: None,
        match_transaction: None,
    }
}

/// A kombit-sim running in this process on loopback, with its own test PKI, sending receipts
/// to `https://127.0.0.1:<receipts_port>`; what the demo, the bench and the tests start.
pub struct LocalPlatform {
    pub sim: kombit_sim::run::RunningSim,
    pub pki: kombit_sim::pki::PkiFiles,
    pub receipts_port: u16,
    pub http_port: u16,
    _sftp_area: tempfile::TempDir,
}

impl LocalPlatform {
    pub async fn start(work: &Path, faults: Vec<FaultRule>) -> anyhow::Result<Self> {
        crate::render::install_crypto();
        let pki = kombit_sim::pki::generate(&work.join("pki"))?;
        let (receipts_port, http_port) = (free_port()?, free_port()?);
        let mut sim_config = kombit_sim::config::SimConfig::default_for_pki(pki.dir.clone());
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        sim_config.soap.listen = any;
        sim_config.sftp.listen = any;
        sim_config.inspect_listen = any;
        // The simulator's SFTP area on tmpfs where there is one: file creation on ext4 is the
        // simulator's cost, not the Fordeler's, and would otherwise dominate the figures.
        let sftp_area = sim_sftp_area()?;
        sim_config.sftp.root = Some(sftp_area.path().to_path_buf());
        sim_config.receipts.url = Some(format!(
            "https://127.0.0.1:{receipts_port}/sf2900/FordelingskvitteringModtag"
        ));
        sim_config.faults = faults;
        let sim = kombit_sim::run::start(sim_config).await?;
        Ok(Self {
            sim,
            pki,
            receipts_port,
            http_port,
            _sftp_area: sftp_area,
        })
    }

    /// A Fordeler configuration for this platform (see [`config_toml`]), written to `dir` with
    /// the template and token files.
    pub fn write_config(
        &self,
        dir: &Path,
        db_url: &str,
        sp241_xsd: Option<&Path>,
    ) -> anyhow::Result<std::path::PathBuf> {
        let text = config_toml(
            &self.pki.dir,
            db_url,
            &self.sim.soap_url(),
            self.sim.sftp_addr.port(),
            self.receipts_port,
            self.http_port,
            sp241_xsd,
        )?;
        let path = dir.join("fordeler.toml");
        std::fs::write(&path, text)?;
        write_support_files(dir)?;
        Ok(path)
    }
}

/// The KP form schema next to the checkout, if this machine has it (it is not shipped).
pub fn sp241_xsd_near(workspace: &Path) -> Option<std::path::PathBuf> {
    let p = workspace.join("../shared/kombit/kp/SP241.xsd");
    p.is_file().then_some(p)
}

pub async fn run(work: &Path, per_form: usize) -> anyhow::Result<bool> {
    let platform = LocalPlatform::start(
        work,
        vec![
            fault(Hook::Afsend, Action::Afvist, 1, 0, Some("01.01.01")),
            fault(
                Hook::Receipt,
                Action::ReceiptLate,
                1,
                1500,
                Some("32.03.12"),
            ),
            fault(Hook::SftpUpload, Action::Disconnect, 1, 0, None),
        ],
    )
    .await?;
    let sim = &platform.sim;
    println!(
        "kombit-sim   SOAP {}  SFTP {}",
        sim.soap_url(),
        sim.sftp_addr
    );
    println!(
        "faults       1 AFVIST (JOURNALPOST), 1 slow receipt (+1.5 s), 1 SFTP connection dropped mid-upload"
    );

    let db_url = format!("sqlite://{}", work.join("fordeler.db").display());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let xsd = sp241_xsd_near(&workspace);
    let path = platform.write_config(work, &db_url, xsd.as_deref())?;
    let (config, base) = Config::load(&path)?;
    let platform = Arc::new(crate::platform::RealPlatform::new(&config, &base)?);
    let renderer = Arc::new(crate::render::TwigRenderer::new(&config, &base)?);
    let running = crate::app::start(config, base, platform, renderer).await?;
    println!(
        "fordeler     intake http://{}  receipts https://{}  database {db_url}",
        running.http_addr,
        running
            .receipts_addr
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    match &xsd {
        Some(p) => println!("form XML     validated against {}", p.display()),
        None => println!(
            "form XML     (KP schema SP241.xsd not found beside the checkout: not validated)"
        ),
    }

    let http = reqwest::Client::new();
    let forms = ["os2forms_fdk_kp_sp241", "dokument", "journal"];
    let mut sent = Vec::new();
    for form in forms {
        for n in 0..per_form {
            let body = sample(form, n, 100);
            let r = http
                .post(format!(
                    "http://{}/intake/{form}/remote-post",
                    running.http_addr
                ))
                .bearer_auth(INTAKE_TOKEN)
                .json(&body)
                .send()
                .await
                .context("posting a sample submission")?;
            anyhow::ensure!(
                r.status().as_u16() == 202,
                "intake answered {} for {form}",
                r.status()
            );
            sent.push((form, body["uuid"].as_str().unwrap_or_default().to_owned()));
        }
    }
    println!(
        "submitted    {} submissions ({per_form} per form)",
        sent.len()
    );

    let bar = indicatif::ProgressBar::new(sent.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("delivering   [{bar:40}] {pos}/{len} final  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut rows: Vec<(&str, Delivery)> = Vec::new();
    loop {
        rows.clear();
        for (form, uuid) in &sent {
            for d in running.store.find(uuid).await? {
                rows.push((form, d));
            }
        }
        let done = rows
            .iter()
            .filter(|(_, d)| matches!(d.state, State::Delivered | State::Failed | State::Resolved))
            .count();
        bar.set_position(done as u64);
        let waiting = rows
            .iter()
            .filter(|(_, d)| d.state == State::Waiting)
            .count();
        bar.set_message(format!("{waiting} waiting for receipts"));
        if done == sent.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish();

    println!();
    println!(
        "{:<24} {:<10} {:<10} {:<9} {:<10} {:<11} {:>3}  note",
        "form", "submission", "state", "answer", "Teknisk", "Forretning", "try"
    );
    for (form, d) in &rows {
        println!(
            "{:<24} {:<10} {:<10} {:<9} {:<10} {:<11} {:>3}  {}",
            form,
            &d.submission_uuid[..8],
            d.state,
            kode_or_dash(d.sync_kode),
            kode_or_dash(d.teknisk_kode),
            kode_or_dash(d.forretning_kode),
            d.attempts,
            d.last_error
                .as_deref()
                .map(|e| e.chars().take(60).collect::<String>())
                .unwrap_or_default()
        );
    }
    let delivered = rows
        .iter()
        .filter(|(_, d)| d.state == State::Delivered)
        .count();
    let afvist = rows
        .iter()
        .filter(|(_, d)| {
            d.state == State::Failed
                && d.sync_kode == Some(sf2900::ForretningsValideringsKode::Afvist)
        })
        .count();
    let summary = sim.summary();
    let ok = rows.len() == sent.len()
        && delivered == sent.len() - 1
        && afvist == 1
        && summary.duplicates_with_other_payload == 0;
    println!();
    println!(
        "platform saw {} FordelingsobjektAfsend, {} SFTP files with a SUCCESS receipt, {} asynchronous receipts delivered",
        summary
            .calls
            .get("FordelingsobjektAfsend")
            .map_or(0, |m| m.values().sum::<u64>()),
        summary.triggers.get("success").copied().unwrap_or(0),
        summary.receipts.get("delivered").copied().unwrap_or(0)
    );
    println!(
        "{}",
        if ok {
            "demo: every submission is where it should be (all delivered, the one AFVIST waits for the operator)"
        } else {
            "demo: UNEXPECTED OUTCOME"
        }
    );
    running.shutdown().await;
    Ok(ok)
}
