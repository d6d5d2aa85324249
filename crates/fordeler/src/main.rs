//! The `fordeler` command: run the service, and everything an operator does with it.
//!
//! Operator commands work on the database named in the configuration (SQLite or PostgreSQL),
//! so they work the same whether the service runs or not; the JSON API offers the same.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fordeler::config::Config;
use fordeler::store::{Conflict, Resent, State, Store, StoreError, kode_or_dash};
use std::path::PathBuf;
use std::sync::Arc;

fn long_about() -> String {
    let about = "Delivers completed OS2forms submissions to KOMBIT's Fordelingskomponent (SF2900), never loses one, \
and tells the operator where each one is.\n\nLeverer afsluttede OS2forms-indsendelser til KOMBITs Fordelingskomponent (SF2900), \
mister aldrig en, og viser operatøren hvor hver enkelt er.";
    // A production build has no demo to point at.
    if cfg!(feature = "tools") {
        format!("{about}\n\nStart here: fordeler demo")
    } else {
        about.to_owned()
    }
}

#[derive(Parser)]
#[command(
    name = "fordeler",
    version,
    about = "Delivers completed OS2forms submissions to KOMBIT's Fordelingskomponent (SF2900) / Leverer OS2forms-indsendelser til Fordelingskomponenten",
    long_about = long_about()
)]
struct Cli {
    /// Configuration file / konfigurationsfil [default: fordeler.toml; for setup as root
    /// /etc/fordeler/fordeler.toml].
    #[arg(long, short, global = true, env = "FORDELER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The command line once the configuration's default is filled in.
struct Paths {
    config: PathBuf,
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run intake, delivery, receipts and the operator API / Kør tjenesten.
    Serve,
    /// Counts per form and state / Antal pr. formular og tilstand.
    Status,
    /// List deliveries / Vis leverancer.
    List {
        /// pending, waiting, delivered, failed, resolved
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        form: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The timeline of a submission (OS2forms uuid) or delivery / Tidslinje for en indsendelse.
    Show { key: String },
    /// Send again (same AnvenderTransaktionsID) / Send igen.
    Retry {
        /// A delivery id, AnvenderTransaktionsID or submission uuid.
        key: Option<String>,
        /// Retry every failed delivery (of --form, if given).
        #[arg(long)]
        all_failed: bool,
        #[arg(long)]
        form: Option<String>,
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Resend as a new transaction: rebuilt with today's configuration, a new
    /// AnvenderTransaktionsID and new SFTP names / Send igen som ny transaktion.
    Resend {
        /// A delivery id, AnvenderTransaktionsID or submission uuid.
        key: String,
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Handled manually: no more attempts / Håndteret manuelt.
    Resolve {
        key: String,
        #[arg(long)]
        note: String,
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Delete payloads N days after delivery (metadata kept) / Slet indhold efter levering.
    Purge {
        #[arg(long)]
        days: Option<u32>,
    },
    /// A consistent backup while the service runs: the database (SQLite snapshot with the
    /// files beside it, or pg_dump) and a MANIFEST of checksums / Sikkerhedskopi.
    Backup {
        /// A new or empty directory; created private (0700) / En ny eller tom mappe.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into the configured database, which must be new or empty; every
    /// checksum is checked first / Gendan en sikkerhedskopi i en ny database.
    Restore {
        /// A directory made by `fordeler backup` / En mappe fra `fordeler backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Check configuration, certificates, SFTP and the service / Tjek opsætningen.
    CheckConfig,
    /// Set up a new installation: configuration, API token, database; asks for what no flag
    /// gives / Opsæt en ny installation: konfiguration, API-nøgle, database.
    Setup(Box<fordeler::setup::Options>),
    /// Create or update the database schema (`serve` does it too) / Opret eller opdater
    /// databasen.
    Migrate {
        /// Only list what is pending (exit code 1 if anything is), change nothing / Vis kun
        /// hvad der mangler.
        #[arg(long)]
        check: bool,
    },
    /// Render a submission (Remote post JSON) into the SF2900 request and validate it / Forhåndsvis.
    Preview {
        #[arg(long)]
        form: String,
        /// A submission as OS2forms' Remote post sends it (JSON).
        #[arg(long)]
        submission: PathBuf,
        /// Also validate the whole message against the official KOMBIT schemas in this
        /// directory (the one holding sf2900/DistributionServiceMsg.xsd).
        #[arg(long)]
        kombit_xsd: Option<PathBuf>,
    },
    /// Ask the platform where a form's routes go (FordelingsmodtagerList) / Vis routning.
    Routing {
        #[arg(long)]
        form: String,
    },
    /// Throughput and latency on loopback; prints one JSON line / Måling.
    #[cfg(feature = "tools")]
    Bench(fordeler::bench::Options),
    /// Everything on this machine: simulator, Fordeler, sample submissions, faults / Demo.
    #[cfg(feature = "tools")]
    Demo {
        /// Submissions per form.
        #[arg(long, default_value_t = 5)]
        per_form: usize,
    },
}

fn main() -> std::process::ExitCode {
    service_kit::cli::exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fordeler: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fordeler: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Loads the configuration, then starts logging as it says (`server.log_json`): the service
/// logs from `info`, the operator's commands only errors.
fn load(path: &std::path::Path, log_filter: &str) -> anyhow::Result<(Config, PathBuf)> {
    anyhow::ensure!(
        path.exists(),
        "{}: no such file (name the configuration with -c or FORDELER_CONFIG; \
         fordeler.example.toml in the source is a complete example)",
        path.display()
    );
    // Its errors name the file.
    let (config, base) = Config::load(path)?;
    service_kit::logging::init(config.server.log_json, log_filter);
    Ok((config, base))
}

async fn store(config: &Config) -> anyhow::Result<Store> {
    Store::open(&config.database.url, 2).await
}

/// What a backup of this configuration holds: the database, and on SQLite the segment files.
fn backup_product(config: &Config) -> service_kit::backup::Product<'static> {
    let files = match fordeler::file_store::FileStore::for_database(&config.database.url) {
        fordeler::file_store::FileStore::Dir(dir) => Some(dir.root().to_path_buf()),
        fordeler::file_store::FileStore::InDatabase => None,
    };
    service_kit::backup::Product {
        name: "fordeler",
        version: env!("CARGO_PKG_VERSION"),
        migrations: fordeler::store::MIGRATIONS,
        files,
    }
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let ok = std::process::ExitCode::SUCCESS;
    let cli = match cli.command {
        Command::Setup(options) => {
            service_kit::logging::init(false, "error");
            return Ok(match fordeler::setup::run(cli.config, *options).await {
                Ok(()) => ok,
                Err(e) => {
                    eprintln!("fordeler setup: {e}");
                    std::process::ExitCode::from(e.exit_code())
                }
            });
        }
        command => Paths {
            config: cli.config.unwrap_or_else(|| "fordeler.toml".into()),
            command,
        },
    };
    match cli.command {
        #[cfg(feature = "tools")]
        Command::Demo { per_form } => {
            service_kit::logging::init(false, "error");
            return demo(per_form).await;
        }
        #[cfg(feature = "tools")]
        Command::Bench(options) => {
            service_kit::logging::init(false, "error");
            let work = tempfile::Builder::new()
                .prefix("fordeler-bench")
                .tempdir()
                .context("temp dir")?;
            let report = fordeler::bench::run(work.path(), options).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Serve => {
            let (config, base) = load(&cli.config, "info")?;
            // The same checks, in the same words, as check-config's.
            let prepared = fordeler::check::prepare(&config, &base)
                .with_context(|| format!("configuration {}", cli.config.display()))?;
            let unpinned = fordeler::check::unpinned_host_keys(&config, &prepared.platform).await;
            anyhow::ensure!(unpinned.is_empty(), "{}", unpinned.join("\n"));
            let stopping = service_kit::http::shutdown_signal();
            let running = fordeler::app::start(
                config,
                base,
                Arc::new(prepared.platform),
                Arc::new(prepared.renderer),
            )
            .await?;
            println!("fordeler: intake and API on http://{}", running.http_addr);
            if let Some(r) = running.receipts_addr {
                println!(
                    "fordeler: receipt endpoint on https://{r}{}",
                    fordeler::receipts::PATHS[0]
                );
            }
            stopping.await;
            println!("fordeler: stopping");
            running.shutdown().await;
        }
        Command::Status => {
            let (config, _) = load(&cli.config, "error")?;
            let rows = store(&config).await?.status().await?;
            println!(
                "{:<40} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "form", "pending", "waiting", "delivered", "failed", "resolved"
            );
            let mut forms: Vec<&String> = rows.iter().map(|(f, _, _)| f).collect();
            forms.dedup();
            for f in forms {
                let n = |s: State| {
                    rows.iter()
                        .find(|(ff, st, _)| ff == f && *st == s)
                        .map_or(0, |r| r.2)
                };
                println!(
                    "{f:<40} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    n(State::Pending),
                    n(State::Waiting),
                    n(State::Delivered),
                    n(State::Failed),
                    n(State::Resolved)
                );
            }
        }
        Command::List { state, form, limit } => {
            let (config, _) = load(&cli.config, "error")?;
            let state = match state.as_deref() {
                Some(s) => Some(State::parse(s).with_context(|| {
                    format!(
                        "--state: `{s}` is not one of pending, waiting, delivered, failed, resolved"
                    )
                })?),
                None => None,
            };
            for d in store(&config)
                .await?
                .list(state, form.as_deref(), limit)
                .await?
            {
                println!(
                    "{}  {:<9} {:<12} {:<30} {} {}",
                    when(d.created_at),
                    d.state,
                    d.step,
                    format!("{}/{}", d.webform_id, d.route_id),
                    d.submission_uuid,
                    d.last_error.unwrap_or_default()
                );
            }
        }
        Command::Show { key } => {
            let (config, _) = load(&cli.config, "error")?;
            let store = store(&config).await?;
            let found = store.find(&key).await?;
            anyhow::ensure!(!found.is_empty(), "no submission or delivery {key}");
            for d in found {
                println!(
                    "{}/{}  submission {}  state {} ({})",
                    d.webform_id, d.route_id, d.submission_uuid, d.state, d.step
                );
                println!("  AnvenderTransaktionsID   {}", d.anvender_transaktions_id);
                if let Some(x) = &d.distribution_transaktions_id {
                    println!("  DistributionTransktionsID {x}");
                }
                println!(
                    "  answer {}  Teknisk {}  Forretning {}",
                    kode_or_dash(d.sync_kode),
                    kode_or_dash(d.teknisk_kode),
                    kode_or_dash(d.forretning_kode)
                );
                if d.state == State::Pending {
                    println!("  next attempt             {}", when(d.next_attempt_at));
                }
                if d.transaction_no > 1 {
                    println!("  transaction              {} (resent)", d.transaction_no);
                }
                for e in store.events(&d.id).await? {
                    println!("  {}  {:<20} {}", when(e.at), e.kind, e.detail);
                }
            }
        }
        Command::Retry {
            key,
            all_failed,
            form,
            by,
        } => {
            let (config, _) = load(&cli.config, "error")?;
            let store = store(&config).await?;
            let targets = match (key, all_failed) {
                (Some(k), false) => store.find(&k).await?,
                (None, true) => {
                    store
                        .list(Some(State::Failed), form.as_deref(), 1_000_000)
                        .await?
                }
                _ => anyhow::bail!("give a delivery/submission, or --all-failed"),
            };
            let mut n = 0;
            for d in &targets {
                match store.retry(&d.id, &by).await {
                    Ok(()) => n += 1,
                    Err(e) if e.is_refusal() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            println!("{n} delivery(ies) will be sent again");
        }
        Command::Resend { key, by } => {
            let (config, _) = load(&cli.config, "error")?;
            let store = store(&config).await?;
            let found = store.find(&key).await?;
            anyhow::ensure!(!found.is_empty(), "no submission or delivery {key}");
            let mut resent = 0;
            for d in &found {
                let what = format!("{}/{} ({})", d.webform_id, d.route_id, d.id);
                match store.resend(&d.id, &by).await {
                    Ok(Resent { old, new }) => {
                        resent += 1;
                        println!("{what}: resent as AnvenderTransaktionsID {new} (was {old})");
                    }
                    Err(StoreError::NotFound(_)) => println!("{what}: gone"),
                    Err(StoreError::Conflict { why, .. }) => match why {
                        Conflict::Settled(state) => println!("{what}: {state}; not sent again"),
                        Conflict::Busy => println!(
                            "{what}: being sent right now; try again when `show` says it is waiting or failed"
                        ),
                        why => println!("{what}: {why}"),
                    },
                    Err(e) => return Err(e.into()),
                }
            }
            anyhow::ensure!(resent > 0, "{key}: nothing was resent");
        }
        Command::Resolve { key, note, by } => {
            anyhow::ensure!(
                !note.trim().is_empty(),
                "--note: say how the submission was handled"
            );
            let (config, _) = load(&cli.config, "error")?;
            let store = store(&config).await?;
            let mut n = 0;
            for d in store.find(&key).await? {
                match store.resolve(&d.id, &by, &note).await {
                    Ok(()) => n += 1,
                    Err(e) if e.is_refusal() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            anyhow::ensure!(
                n > 0,
                "{key}: nothing to resolve (unknown, or delivered/resolved already)"
            );
            println!("{n} delivery(ies) marked as handled manually by {by}");
        }
        Command::Purge { days } => {
            let (config, _) = load(&cli.config, "error")?;
            let days = days.unwrap_or(config.database.purge_after_days);
            let n = store(&config)
                .await?
                .purge(service_kit::db::now_ms() - days as i64 * 86_400_000)
                .await?;
            println!("payloads of {n} submission(s) deleted (delivered more than {days} days ago)");
        }
        Command::Backup { to } => {
            let (config, _) = load(&cli.config, "error")?;
            let started = std::time::Instant::now();
            let manifest =
                service_kit::backup::backup(&config.database.url, &backup_product(&config), &to)
                    .await?;
            println!(
                "{} in {} ({:.1} s)",
                manifest.describe(),
                to.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::Restore { from } => {
            let (config, _) = load(&cli.config, "error")?;
            let started = std::time::Instant::now();
            let restored =
                service_kit::backup::restore(&config.database.url, &backup_product(&config), &from)
                    .await?;
            println!(
                "{} ({:.1} s)",
                restored.describe(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::Preview {
            form,
            submission,
            kombit_xsd,
        } => {
            let (config, base) = load(&cli.config, "error")?;
            let text = std::fs::read_to_string(&submission)
                .with_context(|| format!("--submission {}", submission.display()))?;
            let body: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("--submission {}: not JSON", submission.display()))?;
            let form_cfg = config
                .form(&form)
                .with_context(|| format!("--form: no [[form]] with webform_id {form}"))?;
            let tenant = config
                .tenant(form_cfg.tenant.as_str())
                .context("the form's tenant")?;
            let s = fordeler::intake::Submission::from_remote_post(&form, &body)
                .map_err(|e| anyhow::anyhow!("--submission: {e}"))?;
            let renderer = fordeler::render::TwigRenderer::new(&config, &base)?;
            let attachments: Vec<fordeler::store::Attachment> =
                s.files.iter().map(Into::into).collect();
            let mut all_ok = true;
            for route in &form_cfg.routes {
                let delivery = fordeler::store::Delivery::unsaved(
                    &s.uuid,
                    &form,
                    &route.id,
                    route.distribution_type,
                    tenant.cvr.as_str(),
                    "00000000-0000-0000-0000-000000000000",
                );
                println!("== route {} ({:?})", route.id, route.distribution_type);
                match fordeler::build::build(
                    tenant,
                    route,
                    &delivery,
                    &s.json,
                    &attachments,
                    &renderer,
                ) {
                    Ok(built) => {
                        let inline = built
                            .inline_attachment
                            .as_ref()
                            .and_then(|id| attachments.iter().find(|a| &a.id == id))
                            .map(|a| a.data.as_slice());
                        let xml = built.to_stored().map_err(anyhow::Error::msg).and_then(
                            |(stored, _)| stored.document(inline).map_err(anyhow::Error::msg),
                        )?;
                        println!("{xml}");
                        for f in &built.files {
                            println!("-- SFTP file {}", f.remote_name);
                        }
                        if let Some(dir) = &kombit_xsd {
                            let v = fordeler::xsd::XsdValidator::from_file(
                                &dir.join("sf2900/DistributionServiceMsg.xsd"),
                            )?;
                            match v.validate(&xml) {
                                Ok(()) => println!("-- valid for the official schemas"),
                                Err(errors) => {
                                    all_ok = false;
                                    for e in errors {
                                        println!("-- INVALID: {e}");
                                    }
                                }
                            }
                        }
                        println!("-- ok: rendered and validated");
                    }
                    Err(e) => {
                        all_ok = false;
                        println!("-- ERROR: {e}");
                    }
                }
            }
            if !all_ok {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        Command::Setup(_) => unreachable!("handled above"),
        Command::Routing { form } => {
            use fordeler::outbox::Serviceplatform as _;
            fordeler::render::install_crypto();
            let (config, base) = load(&cli.config, "error")?;
            let f = config
                .form(&form)
                .with_context(|| format!("--form: no [[form]] with webform_id {form}"))?;
            let tenant = config
                .tenant(f.tenant.as_str())
                .context("the form's tenant")?;
            let platform = fordeler::platform::RealPlatform::new(&config, &base)?;
            for r in &f.routes {
                match platform.recipient_system(tenant, r).await {
                    Ok(Some(u)) => println!(
                        "route {}: KLE {} facet {} → system {u}",
                        r.id,
                        r.kle_emne.as_ref().map_or("-", |k| k.as_str()),
                        r.handling_facet.as_ref().map_or("-", |h| h.as_str())
                    ),
                    Ok(None) => println!("route {}: no lookup needed", r.id),
                    Err(e) => println!("route {}: {e}", r.id),
                }
            }
        }
        Command::Migrate { check } => {
            let (config, _) = load(&cli.config, "error")?;
            if check {
                let db = service_kit::db::Db::connect(&config.database.url, 1)
                    .await
                    .context("database.url")?;
                let status = db.migration_status(fordeler::store::MIGRATIONS).await?;
                print!("{status}");
                if !status.is_current() {
                    return Ok(std::process::ExitCode::FAILURE);
                }
            } else {
                store(&config).await.context("database.url")?;
                println!("database is up to date");
            }
        }
        Command::CheckConfig => {
            let (config, base) = load(&cli.config, "error")?;
            let problems = fordeler::check::check(&config, &base).await;
            for p in &problems {
                println!("{p}");
            }
            if problems.iter().any(|p| p.is_error()) {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
    }
    Ok(ok)
}

#[cfg(feature = "tools")]
async fn demo(per_form: usize) -> anyhow::Result<std::process::ExitCode> {
    let work = tempfile::Builder::new()
        .prefix("fordeler-demo")
        .tempdir()
        .context("temp dir")?;
    let ok = fordeler::demo::run(work.path(), per_form).await?;
    Ok(if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
