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
    /// Configuration file / konfigurationsfil (optional: defaults and BORGERPC_* variables).
    #[arg(
        long,
        short,
        global = true,
        default_value = "borgerpc.toml",
        env = "BORGERPC_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal / Kør portalen.
    Serve,
    /// Create or update the database schema / Opret eller opdater databasen.
    Migrate,
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
    /// Jobs / Jobs.
    Job {
        #[command(subcommand)]
        command: JobCommand,
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

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config)?;
    service_kit::logging::init(config.server.log_json, "info");
    let store = Store::open(&config.database.url, config.database.max_connections)
        .await
        .context("database.url")?;
    match cli.command {
        Command::Serve => {
            let running = borgerpc_admin::app::start(&config, store).await?;
            eprintln!("borgerpc-admin listens on {}", running.url());
            service_kit::http::shutdown_signal().await;
            running.shutdown().await;
        }
        Command::Migrate => println!("database is up to date"),
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
    }
    Ok(())
}
