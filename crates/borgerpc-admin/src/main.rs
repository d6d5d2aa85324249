//! The `borgerpc-admin` command: run the portal, and what an operator does from a shell.
//!
//! Commands work on the database named in the configuration (SQLite or PostgreSQL), whether
//! the portal runs or not.

use anyhow::Context as _;
use borgerpc_admin::config::Config;
use borgerpc_admin::store::Store;
use borgerpc_admin::store::jobs::{ParamValue, RunScript};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "borgerpc-admin",
    version,
    about = "Administrationsportal for OS2BorgerPC / Administration portal for OS2BorgerPC",
    long_about = "A drop-in Administrationsportal for OS2BorgerPC: real os2borgerpc-client agents \
check in here unchanged.\n\nEn Administrationsportal til OS2BorgerPC, som de rigtige \
os2borgerpc-client-agenter bruger uændret.\n\nStart here / Start her: borgerpc-admin demo"
)]
struct Cli {
    /// Configuration file / konfigurationsfil. Without it: borgerpc.toml when it exists, else
    /// the defaults; keys can be set as BORGERPC_<SECTION>__<KEY> variables.
    #[arg(long, short, global = true, env = "BORGERPC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal / Kør portalen.
    Serve,
    /// A demo: the portal with a few hundred simulated PCs, on SQLite in a temporary folder /
    /// En demo med et par hundrede simulerede computere.
    Demo {
        #[arg(long, default_value_t = 300)]
        pcs: u32,
        /// Keep the folder (database) afterwards / Behold mappen bagefter.
        #[arg(long)]
        keep: bool,
    },
    /// Create or update the database schema / Opret eller opdater databasen.
    Migrate,
    /// Create a superuser (password from BORGERPC_PASSWORD or stdin) / Opret en superbruger.
    Createsuperuser {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "")]
        email: String,
    },
    /// Users and roles / Brugere og roller.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys for integrations / API-nøgler.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Municipalities / Kommuner.
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Sites / Sites.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// PCs / Computere.
    Pc {
        #[command(subcommand)]
        command: PcCommand,
    },
    /// Script libraries (os2borgerpc-scripts format) / Scriptbiblioteker.
    Scripts {
        #[command(subcommand)]
        command: ScriptsCommand,
    },
    /// Jobs / Jobs.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Load test on a fresh database; prints one JSON line / Belastningstest.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// PCs to register and check in.
    #[arg(long)]
    pcs: usize,
    /// Length of the measured phase.
    #[arg(long)]
    seconds: u64,
    /// Concurrent agents, each with one keep-alive connection.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// postgres://… to bench on a fresh schema there (dropped afterwards); default a fresh
    /// SQLite file in a temp dir. Never the configured database.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user with a role (password from BORGERPC_PASSWORD or stdin) / Tilføj en bruger.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "")]
        email: String,
        /// customer_admin (give --customer), site_admin or site_user (give --site).
        #[arg(long)]
        role: String,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        site: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key for a site; it is printed once / Opret en nøgle (vises én gang).
    Add {
        #[arg(long)]
        site: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Also allow running scripts, activating PCs and handling events.
        #[arg(long)]
        write: bool,
    },
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Add a customer (municipality) / Tilføj en kunde (kommune).
    Add { name: String },
    /// List customers / Vis kunder.
    List,
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Add a site to a customer / Tilføj et site.
    Add {
        /// The customer's name.
        #[arg(long)]
        customer: String,
        /// What PCs type at registration: a-z, 0-9 and '-'.
        #[arg(long)]
        uid: String,
        #[arg(long)]
        name: String,
    },
    /// List sites / Vis sites.
    List,
    /// Allow or forbid legacy 2.x agents (XML-RPC, identified by MAC alone).
    Legacy {
        uid: String,
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: bool,
    },
}

#[derive(Subcommand)]
enum PcCommand {
    /// List a site's PCs / Vis et sites computere.
    List {
        #[arg(long)]
        site: String,
    },
    /// Activate PCs so they get jobs / Aktivér computere.
    Activate {
        #[arg(long)]
        site: String,
        /// PC uids (from `pc list`).
        #[arg(required = true)]
        uids: Vec<String>,
        /// Deactivate instead / Deaktivér i stedet.
        #[arg(long)]
        off: bool,
    },
    /// Delete a PC with its jobs and history, so it can register again / Slet en computer.
    Delete {
        #[arg(long)]
        site: String,
        uid: String,
    },
}

#[derive(Subcommand)]
enum ScriptsCommand {
    /// Import a library: new scripts, or new versions of scripts with the same uid /
    /// Importér et scriptbibliotek.
    Import {
        dir: PathBuf,
        /// Import as local scripts of this site (default: global, for every site).
        #[arg(long)]
        site: Option<String>,
    },
    /// Check a library (format, and shellcheck when installed); file:line errors, exit 1 on
    /// errors. Needs no database / Tjek et scriptbibliotek.
    Lint {
        dir: PathBuf,
        /// Do not run shellcheck even when it is installed.
        #[arg(long)]
        no_shellcheck: bool,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// Run a script on PCs and groups / Kør et script på computere og grupper.
    Run {
        #[arg(long)]
        site: String,
        /// The script's id.
        #[arg(long)]
        script: i64,
        /// PC uids.
        #[arg(long = "pc")]
        pcs: Vec<String>,
        /// Group names.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Parameter values in order; `@path` reads a file for a FILE parameter.
        #[arg(long = "param")]
        params: Vec<String>,
    },
    /// List a site's jobs / Vis jobs.
    List {
        #[arg(long)]
        site: String,
        /// NEW, SUBMITTED, DONE, FAILED, RESOLVED
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[tokio::main]
async fn main() {
    service_kit::cli::exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn site_id(store: &Store, uid: &str) -> anyhow::Result<i64> {
    Ok(store
        .site_by_uid(uid)
        .await?
        .with_context(|| format!("--site: no site with uid {uid:?} (see `site list`)"))?
        .id)
}

/// A password from `BORGERPC_PASSWORD`, else the first line of stdin (never an argument, so
/// it stays out of shell history and `ps`).
fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("BORGERPC_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (one line on stdin):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `scripts lint`: problems on stdout, gcc style; an error if any is an error.
fn lint(dir: &std::path::Path, no_shellcheck: bool) -> anyhow::Result<()> {
    use borgerpc_admin::scripts::lint::{ShellcheckMode, lint_dir, shellcheck_available};
    let mode = if no_shellcheck {
        ShellcheckMode::Off
    } else {
        ShellcheckMode::Auto
    };
    if mode == ShellcheckMode::Auto && !shellcheck_available() {
        eprintln!("note: shellcheck is not installed; only the format is checked");
    }
    let problems = lint_dir(dir, mode);
    for p in &problems {
        println!("{p}");
    }
    let errors = problems.iter().filter(|p| p.is_error()).count();
    eprintln!(
        "{}: {errors} error(s), {} warning(s)",
        dir.display(),
        problems.len() - errors
    );
    anyhow::ensure!(errors == 0, "the library has {errors} error(s)");
    Ok(())
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo { pcs, keep } = &cli.command {
        let dir = tempfile::Builder::new().prefix("borgerpc-demo").tempdir()?;
        let ok = borgerpc_admin::demo::run(dir.path(), *pcs).await?;
        if *keep {
            eprintln!("kept: {}", dir.keep().display());
        }
        anyhow::ensure!(ok, "the demo's outcome was not the expected one");
        return Ok(());
    }
    if let Command::Bench(args) = &cli.command {
        return bench(args).await;
    }
    if let Command::Scripts {
        command: ScriptsCommand::Lint { dir, no_shellcheck },
    } = &cli.command
    {
        return lint(dir, *no_shellcheck);
    }
    let config = match &cli.config {
        Some(path) => Config::load(path),
        None => Config::load_default(),
    }
    .context("configuration")?;
    service_kit::logging::init(config.server.log_json, "info");
    let store = Store::open(&config.database.url, config.database.max_connections)
        .await
        .context("database.url")?;
    match cli.command {
        Command::Serve => {
            let stopping = service_kit::http::shutdown_signal();
            let running = borgerpc_admin::app::start(&config, store).await?;
            eprintln!("borgerpc-admin listens on {}", running.url());
            stopping.await;
            running.shutdown().await;
        }
        Command::Migrate => println!("database is up to date"),
        Command::Createsuperuser { username, email } => {
            let user = store
                .add_user(&username, &email, &read_password()?, true)
                .await?;
            print_json(&user)?;
        }
        Command::User { command } => match command {
            UserCommand::Add {
                username,
                email,
                role,
                customer,
                site,
            } => {
                let customer_id = match &customer {
                    Some(name) => Some(
                        store
                            .customer_by_name(name)
                            .await?
                            .with_context(|| format!("--customer: no customer named {name:?}"))?
                            .id,
                    ),
                    None => None,
                };
                let site_id = match &site {
                    Some(uid) => Some(site_id(&store, uid).await?),
                    None => None,
                };
                let password = read_password()?;
                let user = store.add_user(&username, &email, &password, false).await?;
                store
                    .add_membership(user.id, &role, customer_id, site_id)
                    .await?;
                print_json(&user)?;
            }
        },
        Command::ApiKey { command } => match command {
            ApiKeyCommand::Add {
                site,
                description,
                write,
            } => {
                let id = site_id(&store, &site).await?;
                let key = store.add_api_key(id, &description, write).await?;
                eprintln!("the key is shown only now; store it where the integration reads it:");
                println!("{key}");
            }
        },
        Command::Customer { command } => match command {
            CustomerCommand::Add { name } => print_json(&store.add_customer(&name).await?)?,
            CustomerCommand::List => print_json(&store.customers().await?)?,
        },
        Command::Site { command } => match command {
            SiteCommand::Add {
                customer,
                uid,
                name,
            } => {
                let c = store.customer_by_name(&customer).await?.with_context(|| {
                    format!("--customer: no customer named {customer:?} (see `customer list`)")
                })?;
                print_json(&store.add_site(c.id, &uid, &name).await?)?;
            }
            SiteCommand::List => print_json(&store.sites(None).await?)?,
            SiteCommand::Legacy { uid, enabled } => {
                let id = site_id(&store, &uid).await?;
                store.set_legacy_xmlrpc(id, enabled).await?;
                if enabled {
                    eprintln!(
                        "warning: legacy 2.x agents identify themselves by MAC address alone; \
                         anyone who knows a PC's MAC can act as that PC on site {uid}"
                    );
                }
            }
        },
        Command::Pc { command } => match command {
            PcCommand::List { site } => {
                let id = site_id(&store, &site).await?;
                print_json(&store.pcs(id).await?)?;
            }
            PcCommand::Delete { site, uid } => {
                let id = site_id(&store, &site).await?;
                anyhow::ensure!(
                    store.delete_pc(id, &uid).await?,
                    "no PC with uid {uid:?} on site {site}"
                );
                store
                    .audit("cli", Some(id), "pc.delete", &format!("pc:{uid}"))
                    .await?;
                eprintln!("PC {uid} deleted; it can register again");
            }
            PcCommand::Activate { site, uids, off } => {
                let id = site_id(&store, &site).await?;
                for uid in &uids {
                    if !store.set_activated(id, uid, !off).await? {
                        anyhow::bail!("no PC with uid {uid:?} on site {site}");
                    }
                }
                eprintln!(
                    "{} PC(s) {}",
                    uids.len(),
                    if off { "deactivated" } else { "activated" }
                );
            }
        },
        Command::Scripts { command } => match command {
            ScriptsCommand::Import { dir, site } => {
                let site_id = match &site {
                    Some(uid) => Some(site_id(&store, uid).await?),
                    None => None,
                };
                let bar = indicatif::ProgressBar::new(0);
                let result =
                    borgerpc_admin::scripts::import::import(&store, &dir, site_id, |i, n| {
                        bar.set_length(n as u64);
                        bar.set_position(i as u64);
                    })
                    .await;
                bar.finish_and_clear();
                match result {
                    Ok(report) => {
                        for w in &report.warnings {
                            eprintln!("{w}");
                        }
                        print_json(&report)?;
                    }
                    Err(borgerpc_admin::scripts::import::ImportError::Invalid(problems)) => {
                        for p in &problems {
                            eprintln!("{p}");
                        }
                        anyhow::bail!(
                            "{}: the library has errors; nothing was imported (see `scripts lint`)",
                            dir.display()
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            ScriptsCommand::Lint { .. } => unreachable!("handled before the database opens"),
        },
        Command::Job { command } => match command {
            JobCommand::Run {
                site,
                script,
                pcs,
                groups,
                params,
            } => {
                let id = site_id(&store, &site).await?;
                let mut pc_ids = store.pc_ids_in_site(id, &pcs).await?;
                for g in &groups {
                    pc_ids.extend(store.group_pc_ids(id, g).await?);
                }
                pc_ids.sort_unstable();
                pc_ids.dedup();
                let mut values = Vec::with_capacity(params.len());
                for p in params {
                    values.push(match p.strip_prefix('@') {
                        Some(path) => ParamValue::File {
                            name: std::path::Path::new(path)
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_else(|| "file".into()),
                            data: std::fs::read(path)
                                .with_context(|| format!("--param @{path}"))?,
                        },
                        None => ParamValue::Text(p),
                    });
                }
                let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
                let batch = store
                    .run_script(RunScript {
                        site_id: id,
                        script_id: script,
                        pc_ids: &pc_ids,
                        params: values,
                        created_by: &format!("cli:{by}"),
                    })
                    .await?;
                print_json(&batch)?;
            }
            JobCommand::List {
                site,
                status,
                limit,
            } => {
                let id = site_id(&store, &site).await?;
                print_json(&store.jobs(id, status.as_deref(), limit).await?)?;
            }
        },
        // Handled first: it makes its own database.
        Command::Bench(_) | Command::Demo { .. } => {}
    }
    Ok(())
}

async fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    // Warnings only: one info line per registration would drown the progress bars.
    service_kit::logging::init(false, "warn");
    let report = borgerpc_admin::bench::run(&borgerpc_admin::bench::Options {
        pcs: args.pcs,
        seconds: args.seconds,
        concurrency: args.concurrency,
        database_url: args.database_url.clone(),
    })
    .await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
