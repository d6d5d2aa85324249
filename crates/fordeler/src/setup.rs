//! `fordeler setup`: from an installed package to a running service. Asks for (or takes from
//! flags) one municipality's certificate, IT system and SFTP account, checks them with the
//! same code `serve` and `check-config` use before writing anything, then writes the
//! configuration and the operator API token (a secret file beside it), and creates the
//! database. Re-running keeps an existing configuration (and its token); `--force` rewrites
//! it. The shared parts (questions, files, owners, users) are `service_kit::setup`'s.

use crate::config::Config;
use crate::transport::{ClientIdentity, SftpTarget, TrustRoots};
use service_kit::setup::{self as kit, Error, Ids, Prompter, Report, Result, toml_string, usage};
use std::path::{Path, PathBuf};

/// The platform's test environment (the example configuration's).
pub const EXTTEST_URL: &str = "https://exttest.serviceplatformen.dk/service/SP/Distribution/3";
/// The platform's production environment.
pub const PROD_URL: &str = "https://prod.serviceplatformen.dk/service/SP/Distribution/3";

/// Which Serviceplatformen: picks `--service-url`'s default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    /// exttest.serviceplatformen.dk
    Exttest,
    /// prod.serviceplatformen.dk
    Prod,
}

/// `fordeler setup`'s flags.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Ask nothing: every required value must be a flag (an error names the missing one) /
    /// Spørg ikke: alle krævede værdier skal gives som flag.
    #[arg(long)]
    pub non_interactive: bool,
    /// Rewrite an existing configuration (its API token is kept unless its file is gone) /
    /// Skriv en eksisterende konfiguration forfra.
    #[arg(long)]
    pub force: bool,
    /// Intake and operator API address / Adresse for modtagelse og operatør-API
    /// [default: 127.0.0.1:8090].
    #[arg(long)]
    pub listen: Option<String>,
    /// Database [default: sqlite:///var/lib/fordeler/fordeler.db as root, else
    /// sqlite://fordeler.db] / Database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// State directory, made 0700 and owned by --system-user [default as root:
    /// /var/lib/fordeler] / Tilstandsmappe.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// The user the service runs as; as root it is added if missing, and owns the state
    /// [default as root: fordeler] / Tjenestens systembruger.
    #[arg(long)]
    pub system_user: Option<String>,
    /// The municipality's CVR (8 digits) / Kommunens CVR-nummer.
    #[arg(long)]
    pub cvr: Option<String>,
    /// The municipality's name / Kommunens navn.
    #[arg(long)]
    pub name: Option<String>,
    /// The FOCES/OCES3 system certificate (PKCS#12) registered with KOMBIT /
    /// Systemcertifikatet (PKCS#12).
    #[arg(long)]
    pub certificate: Option<PathBuf>,
    /// A file holding the certificate's passphrase / En fil med certifikatets adgangskode.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// The IT system's UUID at KOMBIT / It-systemets UUID hos KOMBIT.
    #[arg(long)]
    pub it_system: Option<String>,
    /// exttest or prod: the default of --service-url / Testmiljø eller produktion.
    #[arg(long, value_enum, default_value_t = Environment::Exttest)]
    pub environment: Environment,
    /// The SF2900 endpoint [default: the --environment's] / SF2900-adressen.
    #[arg(long)]
    pub service_url: Option<String>,
    /// An extra CA (PEM) to trust for --service-url / Ekstra CA for --service-url.
    #[arg(long)]
    pub service_ca: Option<PathBuf>,
    /// The SFTP service's host (for DOKUMENT and FORMULAR attachments) / SFTP-værten.
    #[arg(long)]
    pub sftp_host: Option<String>,
    /// The SFTP port [default: 22] / SFTP-porten.
    #[arg(long)]
    pub sftp_port: Option<u16>,
    /// The SFTP user / SFTP-brugeren.
    #[arg(long)]
    pub sftp_user: Option<String>,
    /// A passwordless OpenSSH private key registered with KOMBIT / SFTP-nøglen.
    #[arg(long)]
    pub sftp_key: Option<PathBuf>,
    /// The SFTP server's host key as `ssh-keygen -lf` prints it (SHA256:…) / Værtsnøglens
    /// fingeraftryk.
    #[arg(long)]
    pub sftp_host_key_fingerprint: Option<String>,
    /// Afterwards, what check-config does: the platform over mutual TLS, SFTP login /
    /// Afprøv forbindelserne bagefter.
    #[arg(long)]
    pub check_connection: bool,
}

fn nonempty(s: &str) -> std::result::Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

fn path_arg(p: Option<PathBuf>) -> Option<String> {
    p.map(|p| p.display().to_string())
}

/// The Fordeler's names for `service_kit::setup`.
pub const PRODUCT: kit::Product = kit::Product {
    name: "fordeler",
    config_name: "fordeler",
    db_file: "fordeler.db",
    user_prefix: "fordeler",
};

/// Runs `fordeler setup`; `config` is `-c`/`FORDELER_CONFIG` if given.
pub async fn run(config: Option<PathBuf>, o: Options) -> Result<()> {
    let kit::Start {
        root,
        defaults,
        config: path,
        prompt,
        mut report,
        owners,
    } = kit::start(
        &PRODUCT,
        kit::Common {
            config: config.as_deref(),
            instance: None,
            system_user: o.system_user.as_deref(),
            state_dir: o.state_dir.as_deref(),
            non_interactive: o.non_interactive,
        },
    )?;

    let written = if path.exists() && !o.force {
        report.did(format!(
            "configuration {}: exists, kept (--force rewrites it)",
            path.display()
        ));
        None
    } else {
        let new = ask(&prompt, &o, &defaults.database_url, &mut report)?;
        Some(write(&path, &new, owners.config, o.force, &mut report)?)
    };

    let (config, base) = Config::load(&path).map_err(|e| {
        Error::Failed(anyhow::anyhow!(
            "{e:#}\nFix the file, or run setup again with --force to rewrite it"
        ))
    })?;
    let state_dir = kit::state_dir_for(o.state_dir.clone(), &defaults, &config.database.url);
    if let Some(dir) = &state_dir {
        kit::state_dir(dir, owners.state)?;
        report.did(format!("state directory {}: 0700", dir.display()));
    }
    crate::store::Store::open(&config.database.url, 1)
        .await
        .map_err(|e| Error::Failed(e.context("database.url")))?;
    if let Some(owner) = owners.state {
        kit::chown_database(&config.database.url, &[".files"], owner)?;
    }
    report.did(format!(
        "database {}: created or up to date",
        describe_url(&config.database.url)
    ));
    if let Some(token_file) = written {
        report.did(format!(
            "the operator API takes `Authorization: Bearer <the contents of {}>`",
            token_file.display()
        ));
    }

    let mut failed = false;
    if o.check_connection {
        println!("Checking / Tjekker:");
        for finding in crate::check::check(&config, &base).await {
            failed |= finding.is_error();
            println!("  {finding}");
        }
    }

    println!("fordeler setup / opsætning:");
    if config.forms.is_empty() {
        report.did(format!(
            "no [[form]] yet: add one per OS2forms webform to {} (see its commented \
             skeleton) and restart; until then the service runs, but intake refuses every \
             submission",
            path.display()
        ));
    }
    let unit = (root && path == defaults.config).then_some("fordeler");
    report.print(&kit::next_command(unit, "fordeler", &path));
    if failed {
        return Err(Error::Failed(anyhow::anyhow!(
            "--check-connection: see the ERROR lines above"
        )));
    }
    Ok(())
}

/// A database URL without its password, for the report.
fn describe_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The values of a new configuration, each checked.
struct NewConfig {
    listen: String,
    database_url: String,
    cvr: String,
    name: String,
    certificate: PathBuf,
    passphrase: String,
    it_system: String,
    service_url: String,
    service_ca: Option<PathBuf>,
    sftp: Option<Sftp>,
}

struct Sftp {
    host: String,
    port: u16,
    user: String,
    key: PathBuf,
    fingerprint: String,
}

fn ask(prompt: &Prompter, o: &Options, default_db: &str, report: &mut Report) -> Result<NewConfig> {
    let listen = prompt.value(
        "--listen",
        "Intake and API address / Adresse",
        o.listen.clone(),
        Some("127.0.0.1:8090"),
        kit::check_listen,
    )?;
    let database_url = prompt.value(
        "--database-url",
        "Database",
        o.database_url.clone(),
        Some(default_db),
        kit::check_database_url,
    )?;
    let cvr = prompt.value(
        "--cvr",
        "The municipality's CVR / Kommunens CVR",
        o.cvr.clone(),
        None,
        |s| {
            sf2900::Cvr::new(s.to_owned())
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )?;
    let name = prompt.value(
        "--name",
        "The municipality's name / Kommunens navn",
        o.name.clone(),
        None,
        nonempty,
    )?;
    let certificate: PathBuf = prompt
        .value(
            "--certificate",
            "System certificate (PKCS#12) / Systemcertifikat",
            path_arg(o.certificate.clone()),
            None,
            nonempty,
        )?
        .into();
    let passphrase_file: PathBuf = prompt
        .value(
            "--passphrase-file",
            "File with its passphrase / Fil med adgangskoden",
            path_arg(o.passphrase_file.clone()),
            None,
            nonempty,
        )?
        .into();
    let passphrase = service_kit::config::Secret {
        file: Some(passphrase_file.clone()),
        env: None,
    }
    .read(Path::new("."))
    .map_err(|e| usage("--passphrase-file", format!("{e:#}")))?;
    // The same loading and expiry check as serve's and check-config's.
    let identity = ClientIdentity::from_pkcs12_file(&certificate, &passphrase).map_err(|e| {
        let flag = match e {
            crate::transport::IdentityError::WrongPassphrase { .. } => "--passphrase-file",
            _ => "--certificate",
        };
        usage(
            flag,
            format!(
                "{e}; give the PKCS#12 file KOMBIT registered and the file with its passphrase"
            ),
        )
    })?;
    let days = identity.valid_for(chrono::Utc::now()).num_days();
    if days < 0 {
        return Err(usage(
            "--certificate",
            "the certificate has expired: renew it with KOMBIT and give the new one",
        ));
    }
    if days < 30 {
        eprintln!(
            "WARNING  --certificate: valid for only {days} more day(s): renew it with KOMBIT now"
        );
        report.did(format!("WARNING: the certificate expires in {days} day(s)"));
    }
    let it_system = prompt.value(
        "--it-system",
        "The IT system's UUID at KOMBIT / It-systemets UUID",
        o.it_system.clone(),
        None,
        |s| {
            sf2900::types::parse_uuid(s)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )?;
    let default_url = match o.environment {
        Environment::Exttest => EXTTEST_URL,
        Environment::Prod => PROD_URL,
    };
    let service_url = prompt.value(
        "--service-url",
        "SF2900 endpoint / SF2900-adresse",
        o.service_url.clone(),
        Some(default_url),
        |s| {
            if s.starts_with("https://") {
                Ok(())
            } else {
                Err("must be an https:// URL".into())
            }
        },
    )?;
    let service_ca = o.service_ca.clone();
    if let Some(ca) = &service_ca {
        TrustRoots::from_pem_file(ca).map_err(|e| usage("--service-ca", e))?;
    }
    let sftp_host = prompt.optional(
        "--sftp-host",
        "SFTP host (empty: no SFTP) / SFTP-vært (tom: ingen)",
        o.sftp_host.clone(),
        None,
        nonempty,
    )?;
    let any_sftp = o.sftp_user.is_some()
        || o.sftp_key.is_some()
        || o.sftp_host_key_fingerprint.is_some()
        || o.sftp_port.is_some();
    let sftp = match sftp_host {
        None if any_sftp => {
            return Err(usage(
                "--sftp-host",
                "required with the other --sftp-… flags",
            ));
        }
        None => None,
        Some(host) => {
            let port = prompt
                .value(
                    "--sftp-port",
                    "SFTP port",
                    o.sftp_port.map(|p| p.to_string()),
                    Some("22"),
                    |s| {
                        s.parse::<u16>()
                            .map(|_| ())
                            .map_err(|_| "not a port number".into())
                    },
                )?
                .parse()
                .unwrap_or(22);
            let user = prompt.value(
                "--sftp-user",
                "SFTP user / SFTP-bruger",
                o.sftp_user.clone(),
                None,
                nonempty,
            )?;
            let key: PathBuf = prompt
                .value(
                    "--sftp-key",
                    "SFTP private key (OpenSSH, no passphrase) / SFTP-nøgle",
                    path_arg(o.sftp_key.clone()),
                    None,
                    nonempty,
                )?
                .into();
            SftpTarget::load_key(&key, None).map_err(|e| {
                usage(
                    "--sftp-key",
                    format!("{e}; give a readable OpenSSH private key without a passphrase"),
                )
            })?;
            let fingerprint = prompt.value(
                "--sftp-host-key-fingerprint",
                "The SFTP server's host key (SHA256:…) / Værtsnøgle",
                o.sftp_host_key_fingerprint.clone(),
                None,
                |s| {
                    if crate::transport::sftp::is_fingerprint(s) {
                        Ok(())
                    } else {
                        Err(
                            "not a host key fingerprint; give it as `ssh-keygen -lf` prints \
                             it: SHA256: and 43 Base64 characters"
                                .into(),
                        )
                    }
                },
            )?;
            Some(Sftp {
                host,
                port,
                user,
                key,
                fingerprint,
            })
        }
    };
    Ok(NewConfig {
        listen,
        database_url,
        cvr,
        name,
        certificate,
        passphrase,
        it_system,
        service_url,
        service_ca,
        sftp,
    })
}

/// Copies `from` to `to` (0640, `owner`), unless they are the same file.
fn place(from: &Path, to: &Path, owner: Option<Ids>) -> Result<()> {
    if let (Ok(a), Ok(b)) = (from.canonicalize(), to.canonicalize())
        && a == b
    {
        return Ok(());
    }
    let bytes = std::fs::read(from)
        .map_err(|e| Error::Failed(anyhow::anyhow!("reading {}: {e}", from.display())))?;
    kit::write_atomically(to, &bytes, 0o640, owner, |_| Ok(()))
}

/// Writes the secret files and the configuration (checked by the real loader and `prepare`
/// before it replaces anything); returns the API token's file.
fn write(
    path: &Path,
    c: &NewConfig,
    owner: Option<Ids>,
    force: bool,
    report: &mut Report,
) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = path
        .file_stem()
        .map_or("fordeler".into(), |s| s.to_string_lossy().into_owned());
    let name = |suffix: &str| format!("{stem}-{suffix}");
    let owner_text = match owner {
        Some(_) => "0640, root and the service's group",
        None => "0640",
    };

    let token_name = name("api-token");
    let token_file = dir.join(&token_name);
    let new = kit::write_secret(&token_file, &kit::new_token(), owner, false)?;
    report.did(format!(
        "operator API token {}: {} ({owner_text})",
        token_file.display(),
        if new { "generated" } else { "exists, kept" }
    ));
    let cert_name = name(&format!("{}.p12", c.cvr));
    place(&c.certificate, &dir.join(&cert_name), owner)?;
    let pass_name = name(&format!("{}.pass", c.cvr));
    kit::write_secret(&dir.join(&pass_name), &c.passphrase, owner, true)?;
    report.did(format!(
        "certificate and passphrase: copied to {} and {} ({owner_text})",
        dir.join(&cert_name).display(),
        dir.join(&pass_name).display()
    ));
    let ca_name = name(&format!("{}-service-ca.pem", c.cvr));
    if let Some(ca) = &c.service_ca {
        place(ca, &dir.join(&ca_name), owner)?;
    }
    let key_name = name(&format!("{}-sftp.key", c.cvr));
    if let Some(s) = &c.sftp {
        place(&s.key, &dir.join(&key_name), owner)?;
        report.did(format!(
            "SFTP key: copied to {} ({owner_text})",
            dir.join(&key_name).display()
        ));
    }

    let mut t = String::new();
    t.push_str(&format!(
        "# fordeler.toml — written by `fordeler setup`. Every key the Fordeler reads, with what it\n\
         # means, is in fordeler.example.toml (in the package's documentation); keys left out\n\
         # have their defaults. Relative paths are read from this file's folder. Secrets are\n\
         # never in this file: `{{ file = \"…\" }}` names the file holding one.\n\
         # Check it with `fordeler check-config -c {}`.\n\n",
        path.display()
    ));
    t.push_str("[server]\n");
    t.push_str(&format!(
        "listen = {}   # intake and operator API (plain HTTP: TLS in front)\n",
        toml_string(&c.listen)
    ));
    t.push_str(&format!(
        "api_token = {{ file = {} }}   # Bearer token of /api/* (generated by setup)\n\n",
        toml_string(&token_name)
    ));
    t.push_str("[database]\n");
    t.push_str(&format!(
        "url = {}   # sqlite://… or postgres://…; a relative SQLite path is from the working directory\n\n",
        toml_string(&c.database_url)
    ));
    t.push_str("# The municipality (one [[tenant]] per municipality).\n[[tenant]]\n");
    t.push_str(&format!(
        "cvr = {}   # the municipality's CVR (AuthorityContext, AfsendendeMyndighed)\n",
        toml_string(&c.cvr)
    ));
    t.push_str(&format!("name = {}\n", toml_string(&c.name)));
    t.push_str(&format!(
        "service_url = {}   # the SF2900 endpoint (exttest or prod)\n",
        toml_string(&c.service_url)
    ));
    if c.service_ca.is_some() {
        t.push_str(&format!(
            "service_ca = {}   # extra CA (PEM) trusted for service_url\n",
            toml_string(&ca_name)
        ));
    }
    t.push_str(&format!(
        "certificate = {}   # the FOCES/OCES3 system certificate (PKCS#12) registered with KOMBIT\n",
        toml_string(&cert_name)
    ));
    t.push_str(&format!(
        "passphrase = {{ file = {} }}   # its passphrase (a secret)\n",
        toml_string(&pass_name)
    ));
    t.push_str(&format!(
        "it_system = {}   # the IT system's UUID at KOMBIT (SenderIt-system)\n",
        toml_string(&c.it_system)
    ));
    if let Some(s) = &c.sftp {
        t.push_str(
            "\n# The SFTP service, for DOKUMENT and for FORMULAR attachments.\n[tenant.sftp]\n",
        );
        t.push_str(&format!("host = {}\n", toml_string(&s.host)));
        t.push_str(&format!("port = {}\n", s.port));
        t.push_str(&format!("user = {}\n", toml_string(&s.user)));
        t.push_str(&format!(
            "key = {}   # passwordless OpenSSH private key registered with KOMBIT\n",
            toml_string(&key_name)
        ));
        t.push_str(&format!(
            "host_key_fingerprint = {}   # the server's host key, as `ssh-keygen -lf` prints it\n",
            toml_string(&s.fingerprint)
        ));
    }
    t.push_str(
        "\n# Forms: add one [[form]] per OS2forms webform, each with its routes; until then intake\n\
         # refuses every submission. fordeler.example.toml shows every kind (FORMULAR, DOKUMENT,\n\
         # JOURNALPOST). Restart the service after a change.\n\
         #\n\
         # [[form]]\n\
         # webform_id = \"my_webform\"                 # the Drupal webform id\n",
    );
    t.push_str(&format!(
        "# tenant = {}                         # the CVR of the [[tenant]] above\n",
        toml_string(&c.cvr)
    ));
    t.push_str(
        "# remote_post_token = { file = \"my_webform.token\" }   # the Remote post handler's Bearer token\n\
         #\n\
         # [[form.route]]\n\
         # id = \"main\"                                # stable id of the route within the form\n\
         # distribution_type = \"JOURNALPOST\"          # JOURNALPOST | DOKUMENT | FORMULAR\n\
         # kle_emne = \"32.03.12\"                      # route by KLE emne\n\
         # titel = \"Henvendelse [webform_submission:serial]\"\n\
         # journalpost_message = \"Indsendt via OS2forms\"\n",
    );

    kit::write_atomically(path, t.as_bytes(), 0o640, owner, |written| {
        let (config, base) = Config::load(written).map_err(Error::Failed)?;
        crate::check::prepare(&config, &base).map_err(|e| Error::Failed(anyhow::anyhow!("{e}")))?;
        Ok(())
    })?;
    report.did(format!(
        "configuration {}: {} ({owner_text})",
        path.display(),
        if force { "rewritten" } else { "written" }
    ));
    Ok(token_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::testing::package::Unit;
    use std::path::Path;

    /// What setup writes as root is what the packaged unit reads.
    #[test]
    fn setup_writes_where_the_unit_reads() {
        let unit = Unit::load("fordeler", "fordeler.service");
        let d = kit::defaults(&PRODUCT, true, None);
        assert_eq!(
            unit.get("ExecStart"),
            format!("/usr/bin/fordeler serve --config {}", d.config.display())
        );
        let state = d.state_dir.expect("a state directory as root");
        assert_eq!(Path::new(unit.get("WorkingDirectory")), state);
        assert_eq!(
            Path::new("/var/lib").join(unit.get("StateDirectory")),
            state
        );
        assert_eq!(Some(unit.get("User")), d.system_user.as_deref());
    }
}
