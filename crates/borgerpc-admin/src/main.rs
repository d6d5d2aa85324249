//! The `borgerpc-admin` command: run the portal, and what an operator does from a shell.
//!
//! Commands work on the database named in the configuration (SQLite or PostgreSQL), whether
//! the portal runs or not. Whoever runs them can read the database, so they act as a
//! superuser, through the same store functions as the operator API, and every change is in
//! the audit log as `cli:<OS user>`.

use anyhow::Context as _;
use borgerpc_admin::config::Config;
use borgerpc_admin::store::Store;
use borgerpc_admin::store::access::{Grant, Role, Scope};
use borgerpc_admin::store::config::Owner;
use borgerpc_admin::store::groups::GroupChange;
use borgerpc_admin::store::jobs::{JobStatus, ParamValue, RunScript};
use borgerpc_admin::store::pcs::{PcRef, short_fingerprint};
use borgerpc_admin::store::rules::{RuleFields, RuleKind};
use borgerpc_admin::store::tenants::SiteChange;
use borgerpc_admin::store::wakeplans::{DAYS, Day, Exception, PlanFields, WakePlanView};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod setup;

fn long_about() -> String {
    let about = "A drop-in Administrationsportal for OS2BorgerPC: real os2borgerpc-client agents \
check in here unchanged.\n\nEn Administrationsportal til OS2BorgerPC, som de rigtige \
os2borgerpc-client-agenter bruger uændret.";
    // A production build has no demo to point at.
    if cfg!(feature = "tools") {
        format!("{about}\n\nStart here / Start her: borgerpc-admin demo")
    } else {
        about.to_owned()
    }
}

#[derive(Parser)]
#[command(
    name = "borgerpc-admin",
    version,
    about = "Administrationsportal for OS2BorgerPC / Administration portal for OS2BorgerPC",
    long_about = long_about()
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
    #[cfg(feature = "tools")]
    Demo {
        #[arg(long, default_value_t = 300)]
        pcs: u32,
        /// Keep the portal running on the demo's data, with a login, until Ctrl-C; then keep the
        /// folder / Lad portalen køre videre med demoens data og et login; behold mappen bagefter.
        #[arg(long)]
        keep: bool,
    },
    /// Create or update the database schema / Opret eller opdater databasen.
    Migrate {
        /// Only list what is pending (exit code 1 if anything is), change nothing / Vis kun
        /// hvad der mangler.
        #[arg(long)]
        check: bool,
    },
    /// A consistent backup while the portal runs: the database (SQLite snapshot or pg_dump)
    /// and a MANIFEST of checksums / Sikkerhedskopi.
    Backup {
        /// A new or empty directory; created private (0700) / En ny eller tom mappe.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into the configured database, which must be new or empty; every
    /// checksum is checked first / Gendan en sikkerhedskopi i en ny database.
    Restore {
        /// A directory made by `borgerpc-admin backup` / En mappe fra `borgerpc-admin backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Set up a new installation: configuration, database, first superuser and municipality;
    /// asks for what no flag gives / Opsæt en ny installation.
    Setup(Box<setup::Options>),
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
    /// Groups of PCs, their members and supervisors / Grupper.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Configuration entries of a site, group or PC / Konfigurationer.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Security and offline rules / Overvågningsregler.
    Rule {
        #[command(subcommand)]
        command: RuleCommand,
    },
    /// Wake plans: when PCs switch on and off / Tænd/sluk-tidsplaner.
    Wakeplan {
        #[command(subcommand)]
        command: WakeplanCommand,
    },
    /// PostgreSQL roles that see one municipality's rows only (row-level security) /
    /// Databaseroller, der kun ser én kommunes rækker.
    TenantRole {
        #[command(subcommand)]
        command: TenantRoleCommand,
    },
    /// Who changed what / Hvem ændrede hvad.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load test on a fresh database; prints one JSON line / Belastningstest.
    #[cfg(feature = "tools")]
    Bench(BenchArgs),
}

#[cfg(feature = "tools")]
#[derive(clap::Args)]
struct BenchArgs {
    /// PCs to register and check in (with --pages: PCs on the site; with --reuse: those the
    /// database holds).
    #[arg(long, required_unless_present = "reuse")]
    pcs: Option<usize>,
    /// Length of the measured phase.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Time the portal's busiest pages on a large seeded site instead / Mål sidernes svartider.
    #[arg(long)]
    pages: bool,
    /// Time the reports (pages, JSON, files) on a large seeded customer with a long history
    /// instead / Mål rapporternes svartider.
    #[arg(long, conflicts_with = "pages")]
    reports: bool,
    /// With --reports: days of check-in and login history per PC.
    #[arg(long, default_value_t = 400)]
    days: i64,
    /// With --reports: PCs per site.
    #[arg(long, default_value_t = 5_000)]
    pcs_per_site: i64,
    /// With --pages: jobs on the site.
    #[arg(long, default_value_t = 1_000_000)]
    jobs: i64,
    /// With --pages: security events on the site.
    #[arg(long, default_value_t = 100_000)]
    events: i64,
    /// With --pages or --reports: requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Concurrent agents, each with one keep-alive connection.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// postgres://… to bench on a fresh schema there (dropped afterwards); default a fresh
    /// SQLite file in a temp dir. Never the configured database.
    #[arg(long)]
    database_url: Option<String>,
    /// With --pages or --reports: leave the seeded database in place and print where it is
    /// (to time a backup of a large site, or measure it again) / Behold databasen.
    #[arg(long)]
    keep: bool,
    /// With --reports: measure the database a --keep run left instead of seeding one: its
    /// SQLite file, or with --database-url its schema / Mål en gemt database igen.
    #[arg(long, requires = "reports")]
    reuse: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Set a user's password (from BORGERPC_PASSWORD or stdin) and end their sessions /
    /// Sæt en brugers adgangskode.
    Password {
        #[arg(long)]
        username: String,
    },
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
    /// List users and their roles / Vis brugere.
    List {
        /// Only the users of this site.
        #[arg(long)]
        site: Option<String>,
    },
    /// Give an existing user another role / Giv en bruger en rolle mere.
    Grant {
        username: String,
        /// customer_admin (give --customer), site_admin or site_user (give --site).
        #[arg(long)]
        role: String,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long)]
        site: Option<String>,
    },
    /// Take a user's roles away (on one site with --site); a user left without roles is
    /// deleted / Fjern en bruger.
    Remove {
        username: String,
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
    /// List keys (never the keys themselves) / Vis nøgler.
    List {
        #[arg(long)]
        site: Option<String>,
    },
    /// Revoke a key at once, by its id from `api-key list` / Tilbagekald en nøgle.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Add a group / Tilføj en gruppe.
    Add {
        #[arg(long)]
        site: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List a site's groups / Vis grupper.
    List {
        #[arg(long)]
        site: String,
    },
    /// Rename a group, change its description or supervisors / Ret en gruppe.
    Set {
        #[arg(long)]
        site: String,
        group: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Usernames of the supervisors, who get the group's alert e-mails (replaces the list).
        #[arg(long = "supervisor")]
        supervisors: Vec<String>,
        /// Remove all supervisors.
        #[arg(long, conflicts_with = "supervisors")]
        no_supervisors: bool,
    },
    /// Delete a group (its PCs stay) / Slet en gruppe.
    Delete {
        #[arg(long)]
        site: String,
        group: String,
    },
    /// Put PCs in a group; its policies run on them / Sæt computere i en gruppe.
    Join {
        #[arg(long)]
        site: String,
        group: String,
        /// PC uids.
        #[arg(required = true)]
        pcs: Vec<String>,
    },
    /// Take PCs out of a group / Tag computere ud af en gruppe.
    Leave {
        #[arg(long)]
        site: String,
        group: String,
        #[arg(required = true)]
        pcs: Vec<String>,
    },
}

/// Whose entries: a site's, or with --group or --pc a group's or a PC's of that site.
#[derive(clap::Args)]
struct ConfigOwner {
    #[arg(long)]
    site: String,
    /// A group's entries (by name).
    #[arg(long, conflicts_with = "pc")]
    group: Option<String>,
    /// A PC's entries (by uid).
    #[arg(long)]
    pc: Option<String>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Set an entry / Sæt en værdi.
    Set {
        #[command(flatten)]
        owner: ConfigOwner,
        key: String,
        value: String,
    },
    /// Remove an entry / Fjern en værdi.
    Unset {
        #[command(flatten)]
        owner: ConfigOwner,
        key: String,
    },
    /// List the entries / Vis værdierne.
    List {
        #[command(flatten)]
        owner: ConfigOwner,
    },
}

/// What rules have in common.
#[derive(clap::Args)]
struct RuleArgs {
    #[arg(long)]
    site: String,
    #[arg(long)]
    name: String,
    /// CRITICAL, HIGH or NORMAL.
    #[arg(long)]
    level: String,
    #[arg(long, default_value = "")]
    description: String,
    /// Only PCs of these groups (default: the whole site).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Usernames that get the alert e-mails.
    #[arg(long = "alert-user")]
    alert_users: Vec<String>,
}

#[derive(Subcommand)]
enum RuleCommand {
    /// Add a security rule: a security script runs on the PCs / Tilføj en sikkerhedsregel.
    AddSecurity {
        #[command(flatten)]
        rule: RuleArgs,
        /// The security script's id.
        #[arg(long)]
        script: i64,
    },
    /// Add an offline rule: PCs silent too long in the window raise an event / Tilføj en
    /// offline-regel.
    AddOffline {
        #[command(flatten)]
        rule: RuleArgs,
        /// Start of the daily window, e.g. 08:00.
        #[arg(long)]
        from: String,
        /// End of the daily window, e.g. 18:00.
        #[arg(long)]
        to: String,
        #[arg(long)]
        max_offline_minutes: i64,
    },
    /// List a site's rules / Vis regler.
    List {
        #[arg(long)]
        site: String,
    },
    /// Delete a rule / Slet en regel.
    Delete {
        #[arg(long)]
        site: String,
        /// security or offline.
        #[arg(long)]
        kind: String,
        id: i64,
    },
}

/// A plan's settings on the command line.
#[derive(clap::Args)]
struct PlanArgs {
    /// A weekday's hours, `mon=08:00-20:00`, or `sat=closed` (mon tue wed thu fri sat sun).
    #[arg(long = "day")]
    days: Vec<String>,
    /// A closed period, `2026-12-24..2026-12-26` or one day (replaces the exceptions).
    #[arg(long)]
    closed: Vec<String>,
    /// Altered hours, `2026-12-23=10:00-14:00` or `2026-12-22..2026-12-23=10:00-14:00`.
    #[arg(long)]
    hours: Vec<String>,
    /// STANDBY, FREEZE, MEM or OFF (default).
    #[arg(long)]
    sleep_state: Option<String>,
    /// The groups that follow the plan, by name (replaces the list).
    #[arg(long = "group")]
    groups: Vec<String>,
}

#[derive(Subcommand)]
enum WakeplanCommand {
    /// Add a plan (default Monday to Friday 08:00-20:00) / Tilføj en tidsplan.
    Add {
        #[arg(long)]
        site: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        plan: PlanArgs,
        /// Add it switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// Change a plan; its PCs get it again / Ret en tidsplan.
    Set {
        #[arg(long)]
        site: String,
        plan: String,
        #[arg(long)]
        rename: Option<String>,
        #[command(flatten)]
        args: PlanArgs,
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: Option<bool>,
        /// Remove all exceptions.
        #[arg(long)]
        no_exceptions: bool,
        /// Detach all groups.
        #[arg(long)]
        no_groups: bool,
    },
    /// List a site's plans / Vis tidsplaner.
    List {
        #[arg(long)]
        site: String,
    },
    /// Delete a plan; its PCs get it removed / Slet en tidsplan.
    Delete {
        #[arg(long)]
        site: String,
        plan: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// The newest changes, newest first / De seneste ændringer.
    List {
        #[arg(long)]
        site: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum TenantRoleCommand {
    /// Let a database role read and write one customer's rows only; creates it (LOGIN, password
    /// from BORGERPC_ROLE_PASSWORD, 16+ characters) if missing / Giv en databaserolle adgang
    /// til én kundes rækker.
    Grant {
        /// The customer's name or id (see `customer list`).
        #[arg(long)]
        customer: String,
        /// The role: a-z, 0-9 and _ (not a superuser, nor the tables' owner).
        #[arg(long)]
        role: String,
    },
    /// List the tenant roles and their customers / Vis kunderollerne.
    List,
    /// Take a tenant role's grants and mapping away; the role itself is kept / Fjern en
    /// kunderolles adgang (rollen bevares).
    Revoke {
        #[arg(long)]
        role: String,
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
    /// Require a token to register PCs with the site: prints a new one, which PCs then type
    /// as their site, `<site uid>+<token>` / Kræv en registreringsnøgle.
    RegistrationToken {
        uid: String,
        /// Remove the token: the site uid alone registers a PC again.
        #[arg(long)]
        off: bool,
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
    /// Bind a client key to a PC that had none (a 2.x agent, or registered without a key) /
    /// Godkend en computers klientnøgle.
    ApproveKey {
        #[arg(long)]
        site: String,
        uid: String,
        /// The key's fingerprint as `sha256sum /etc/os2borgerpc/client-key.key` shows it on the
        /// PC: its start (8+ hex) approves the key the PC offered (`pc list` shows it), all 64
        /// hex bind that key whatever was offered.
        #[arg(long)]
        fingerprint: String,
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
        /// Only jobs with this status.
        #[arg(long, value_enum)]
        status: Option<JobStatus>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[tokio::main]
async fn main() {
    service_kit::cli::exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    if let Command::Setup(options) = cli.command {
        service_kit::logging::init(false, "error");
        if let Err(e) = setup::run(cli.config, *options).await {
            eprintln!("borgerpc-admin setup: {e}");
            std::process::exit(e.exit_code().into());
        }
        return;
    }
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

/// Adds a customer (municipality) as the CLI's superuser, audited (`customer add`, `setup`).
async fn add_customer(
    store: &Store,
    name: &str,
) -> anyhow::Result<borgerpc_admin::store::tenants::Customer> {
    let cli = Scope::cli(store).await?;
    let customer = store.add_customer(name).await?;
    store
        .audit_customer(
            &cli.actor,
            customer.id,
            "customer.create",
            &format!("customer:{} ({})", customer.id, customer.name),
        )
        .await?;
    Ok(customer)
}

/// `tenant-role`: grants, lists and revokes database roles behind row-level security.
async fn tenant_role(store: &Store, command: TenantRoleCommand) -> anyhow::Result<()> {
    use borgerpc_admin::tenant_role::{self, PASSWORD_VARIABLE};
    match command {
        TenantRoleCommand::Grant { customer, role } => {
            // Read only from the environment: an argument would be in `ps` and shell history.
            let password = std::env::var(PASSWORD_VARIABLE).ok();
            let actor = Scope::cli(store).await?.actor;
            let g =
                tenant_role::grant(store, &actor, &customer, &role, password.as_deref()).await?;
            let made = if g.created {
                "created with LOGIN; password stored as SCRAM / oprettet"
            } else if g.password_set {
                "existed; password replaced / fandtes; ny adgangskode"
            } else {
                "existed; password unchanged / fandtes; adgangskoden er uændret"
            };
            println!(
                "role {}: {made}; sees customer {} ({}) only, {} tables / ser kun kunde {}",
                g.role, g.customer_id, g.customer, g.tables, g.customer
            );
            if !g.skipped.is_empty() {
                eprintln!(
                    "not granted (no row-level security; is the database newer than this \
                     version?): {}",
                    g.skipped.join(", ")
                );
            }
        }
        TenantRoleCommand::List => print_json(&tenant_role::list(store).await?)?,
        TenantRoleCommand::Revoke { role } => {
            let actor = Scope::cli(store).await?.actor;
            let t = tenant_role::revoke(store, &actor, &role).await?;
            println!(
                "role {}: grants and mapping to customer {} ({}) removed; the role itself is \
                 kept (DROP ROLE removes it) / adgangen er fjernet, rollen bevares",
                t.role, t.customer_id, t.customer
            );
        }
    }
    Ok(())
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
    #[cfg(feature = "tools")]
    if let Command::Demo { pcs, keep } = &cli.command {
        let dir = tempfile::Builder::new().prefix("borgerpc-demo").tempdir()?;
        let ok = borgerpc_admin::demo::run(dir.path(), *pcs, *keep).await?;
        if *keep {
            eprintln!("kept: {}", dir.keep().display());
        }
        anyhow::ensure!(ok, "the demo's outcome was not the expected one");
        return Ok(());
    }
    #[cfg(feature = "tools")]
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
    if let Command::Migrate { check: true } = cli.command {
        let db = service_kit::db::Db::connect(&config.database.url, 1)
            .await
            .context("database.url")?;
        let status = db
            .migration_status(borgerpc_admin::store::MIGRATIONS)
            .await?;
        print!("{status}");
        if !status.is_current() {
            std::process::exit(1);
        }
        return Ok(());
    }
    // Before the store is opened: that would create and migrate the database a restore must
    // find empty.
    let product = service_kit::backup::Product {
        name: "borgerpc-admin",
        version: env!("CARGO_PKG_VERSION"),
        migrations: borgerpc_admin::store::MIGRATIONS,
        files: None,
    };
    match &cli.command {
        Command::Backup { to } => {
            let started = std::time::Instant::now();
            let manifest = service_kit::backup::backup(&config.database.url, &product, to).await?;
            println!(
                "{} in {} ({:.1} s)",
                manifest.describe(),
                to.display(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        Command::Restore { from } => {
            let started = std::time::Instant::now();
            let restored =
                service_kit::backup::restore(&config.database.url, &product, from).await?;
            println!(
                "{} ({:.1} s)",
                restored.describe(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        _ => {}
    }
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
        Command::Migrate { .. } => println!("database is up to date"),
        // Run above, before the store is opened; setup in `main`.
        Command::Backup { .. } | Command::Restore { .. } | Command::Setup(_) => {}
        Command::Createsuperuser { username, email } => {
            let cli = Scope::cli(&store).await?;
            let user = store
                .create_superuser(&cli, &username, &email, &read_password()?)
                .await?;
            print_json(&user)?;
        }
        Command::User { command } => user(&store, command).await?,
        Command::ApiKey { command } => api_key(&store, command).await?,
        Command::Customer { command } => match command {
            CustomerCommand::Add { name } => print_json(&add_customer(&store, &name).await?)?,
            CustomerCommand::List => print_json(&store.customers().await?)?,
        },
        Command::TenantRole { command } => tenant_role(&store, command).await?,
        Command::Site { command } => site(&store, command).await?,
        Command::Pc { command } => pc(&store, command).await?,
        Command::Scripts { command } => match command {
            ScriptsCommand::Import { dir, site } => {
                let cli = Scope::cli(&store).await?;
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
                        store
                            .audit(
                                &cli.actor,
                                site_id,
                                "scripts.import",
                                &format!("library:{}", dir.display()),
                            )
                            .await?;
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
        Command::Job { command } => job(&store, command).await?,
        Command::Group { command } => group(&store, command).await?,
        Command::Config { command } => config_entries(&store, command).await?,
        Command::Rule { command } => rule(&store, command).await?,
        Command::Wakeplan { command } => wakeplan(&store, command).await?,
        Command::Audit {
            command: AuditCommand::List { site, limit },
        } => {
            let site = match &site {
                Some(uid) => Some(site_id(&store, uid).await?),
                None => None,
            };
            print_json(&store.audit_entries(site, limit.clamp(1, 10_000)).await?)?;
        }
        // Handled first: it makes its own database.
        #[cfg(feature = "tools")]
        Command::Bench(_) | Command::Demo { .. } => {}
    }
    Ok(())
}

/// Customer by name (the CLI's way of naming one).
async fn customer_id(store: &Store, name: &str) -> anyhow::Result<i64> {
    Ok(store
        .customer_by_name(name)
        .await?
        .with_context(|| format!("--customer: no customer named {name:?} (see `customer list`)"))?
        .id)
}

/// A PC by uid on a site.
async fn pc_id(store: &Store, site: i64, uid: &str) -> anyhow::Result<i64> {
    Ok(store.pc_ids_in_site(site, &[uid.to_owned()]).await?[0])
}

/// A store answer of `None` means the thing is not there; the CLI sees every site.
fn found<T>(v: Option<T>, what: &str) -> anyhow::Result<T> {
    v.with_context(|| format!("no such {what}"))
}

async fn grant(
    store: &Store,
    role: String,
    customer: Option<String>,
    site: Option<String>,
) -> anyhow::Result<Grant> {
    Ok(Grant {
        customer_id: match &customer {
            Some(name) => Some(customer_id(store, name).await?),
            None => None,
        },
        site_id: match &site {
            Some(uid) => Some(site_id(store, uid).await?),
            None => None,
        },
        role: Role::membership(&role)?,
    })
}

async fn user(store: &Store, command: UserCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        UserCommand::Password { username } => {
            let password = read_password()?;
            anyhow::ensure!(
                store.set_password(&username, &password).await?,
                "--username: no user named {username:?}"
            );
            store
                .audit(
                    &cli.actor,
                    None,
                    "user.password",
                    &format!("user:{username}"),
                )
                .await?;
            eprintln!("password set; {username}'s sessions are ended");
        }
        UserCommand::Add {
            username,
            email,
            role,
            customer,
            site,
        } => {
            let g = grant(store, role, customer, site).await?;
            let password = read_password()?;
            let user = store
                .create_user(&cli, &username, &email, &password, &g)
                .await?;
            print_json(&found(user, "site or customer")?)?;
        }
        UserCommand::List { site } => {
            let site = match &site {
                Some(uid) => Some(site_id(store, uid).await?),
                None => None,
            };
            print_json(&store.users(&cli, site).await?)?;
        }
        UserCommand::Grant {
            username,
            role,
            customer,
            site,
        } => {
            let id = store.user_id_by_name(&username).await?;
            let g = grant(store, role, customer, site).await?;
            print_json(&found(store.grant_role(&cli, id, &g).await?, "user")?)?;
        }
        UserCommand::Remove { username, site } => {
            let id = store.user_id_by_name(&username).await?;
            let site = match &site {
                Some(uid) => Some(site_id(store, uid).await?),
                None => None,
            };
            let deleted = found(store.remove_user(&cli, id, site).await?, "user")?;
            eprintln!(
                "{username}: {}",
                if deleted {
                    "deleted"
                } else {
                    "roles removed; the user keeps roles elsewhere"
                }
            );
        }
    }
    Ok(())
}

async fn api_key(store: &Store, command: ApiKeyCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        ApiKeyCommand::Add {
            site,
            description,
            write,
        } => {
            let id = site_id(store, &site).await?;
            let key = found(
                store.create_api_key(&cli, id, &description, write).await?,
                "site",
            )?;
            eprintln!(
                "key {} is shown only now; store it where the integration reads it:",
                key.view.id
            );
            println!("{}", key.key);
        }
        ApiKeyCommand::List { site } => {
            let site = match &site {
                Some(uid) => Some(site_id(store, uid).await?),
                None => None,
            };
            print_json(&store.api_keys(&cli, site).await?)?;
        }
        ApiKeyCommand::Revoke { id } => {
            found(store.revoke_api_key(&cli, id).await?, "API key")?;
            eprintln!("API key {id} revoked");
        }
    }
    Ok(())
}

async fn site(store: &Store, command: SiteCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        SiteCommand::Add {
            customer,
            uid,
            name,
        } => {
            let c = customer_id(store, &customer).await?;
            print_json(&found(
                store.create_site(&cli, c, &uid, &name).await?,
                "customer",
            )?)?;
        }
        SiteCommand::List => print_json(&store.sites(None).await?)?,
        SiteCommand::RegistrationToken { uid, off } => {
            let id = site_id(store, &uid).await?;
            let token = store.set_registration_token(id, !off).await?;
            store
                .audit(
                    &cli.actor,
                    Some(id),
                    if off {
                        "site.registration_token_off"
                    } else {
                        "site.registration_token"
                    },
                    &format!("site:{uid}"),
                )
                .await?;
            match token {
                Some(t) => {
                    eprintln!(
                        "PCs registering with {uid} now type this as their site (shown only \
                         now; `site registration-token {uid}` makes a new one):"
                    );
                    println!("{uid}+{t}");
                }
                None => eprintln!("{uid}: PCs register with the site uid alone again"),
            }
        }
        SiteCommand::Legacy { uid, enabled } => {
            let id = site_id(store, &uid).await?;
            let change = SiteChange {
                legacy_xmlrpc: Some(enabled),
                ..SiteChange::default()
            };
            found(store.change_site(&cli, id, &change).await?, "site")?;
            if enabled {
                eprintln!(
                    "warning: legacy 2.x agents identify themselves by MAC address alone; \
                     anyone who knows a PC's MAC can act as that PC on site {uid}"
                );
            }
        }
    }
    Ok(())
}

async fn pc(store: &Store, command: PcCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        PcCommand::List { site } => {
            let id = site_id(store, &site).await?;
            print_json(&store.pcs(id).await?)?;
        }
        PcCommand::Delete { site, uid } => {
            let id = site_id(store, &site).await?;
            anyhow::ensure!(
                store.delete_pc(id, &uid).await?,
                "no PC with uid {uid:?} on site {site}"
            );
            store
                .audit(&cli.actor, Some(id), "pc.delete", &format!("pc:{uid}"))
                .await?;
            eprintln!("PC {uid} deleted; it can register again");
        }
        PcCommand::ApproveKey {
            site,
            uid,
            fingerprint,
        } => {
            let id = site_id(store, &site).await?;
            let done = store
                .approve_client_key(&[id], PcRef::Uid(&uid), &fingerprint)
                .await?
                .with_context(|| format!("no PC with uid {uid:?} on site {site}"))?;
            store
                .audit(
                    &cli.actor,
                    Some(id),
                    "pc.approve_key",
                    &format!(
                        "pc:{} key:{}",
                        done.pc_id,
                        short_fingerprint(&done.fingerprint)
                    ),
                )
                .await?;
            eprintln!(
                "PC {uid} now proves itself with the key {}…",
                short_fingerprint(&done.fingerprint)
            );
        }
        PcCommand::Activate { site, uids, off } => {
            let id = site_id(store, &site).await?;
            let mut uids = uids;
            uids.sort();
            uids.dedup();
            match store
                .api_set_activated_many(&[id], &uids, !off, &cli.actor)
                .await?
            {
                Ok(changed) => eprintln!(
                    "{changed} PC(s) {}, {} already so",
                    if off { "deactivated" } else { "activated" },
                    uids.len() as u64 - changed
                ),
                Err(missing) => anyhow::bail!(
                    "no PC with uid {} on site {site}; nothing changed",
                    missing.join(", ")
                ),
            }
        }
    }
    Ok(())
}

async fn job(store: &Store, command: JobCommand) -> anyhow::Result<()> {
    match command {
        JobCommand::Run {
            site,
            script,
            pcs,
            groups,
            params,
        } => {
            let cli = Scope::cli(store).await?;
            let id = site_id(store, &site).await?;
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
                        data: std::fs::read(path).with_context(|| format!("--param @{path}"))?,
                    },
                    None => ParamValue::Text(p),
                });
            }
            let batch = store
                .run_script(RunScript {
                    site_id: id,
                    script_id: script,
                    pc_ids: &pc_ids,
                    params: values,
                    created_by: &cli.actor,
                })
                .await?;
            store
                .audit(
                    &cli.actor,
                    Some(id),
                    "script.run",
                    &format!("script:{script} batch:{}", batch.batch_id),
                )
                .await?;
            print_json(&batch)?;
        }
        JobCommand::List {
            site,
            status,
            limit,
        } => {
            let id = site_id(store, &site).await?;
            print_json(&store.jobs(id, status, limit).await?)?;
        }
    }
    Ok(())
}

async fn user_ids(store: &Store, names: &[String]) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(names.len());
    for n in names {
        ids.push(store.user_id_by_name(n).await?);
    }
    Ok(ids)
}

async fn group_ids(store: &Store, site: i64, names: &[String]) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(names.len());
    for n in names {
        ids.push(store.group_id_by_name(site, n).await?);
    }
    Ok(ids)
}

async fn group(store: &Store, command: GroupCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        GroupCommand::Add {
            site,
            name,
            description,
        } => {
            let id = site_id(store, &site).await?;
            print_json(&found(
                store
                    .create_group(&cli, id, &name, &description, &[])
                    .await?,
                "site",
            )?)?;
        }
        GroupCommand::List { site } => {
            let id = site_id(store, &site).await?;
            print_json(&store.groups(&[id]).await?)?;
        }
        GroupCommand::Set {
            site,
            group,
            name,
            description,
            supervisors,
            no_supervisors,
        } => {
            let s = site_id(store, &site).await?;
            let g = store.group_id_by_name(s, &group).await?;
            let supervisors = if no_supervisors {
                Some(Vec::new())
            } else if supervisors.is_empty() {
                None
            } else {
                Some(user_ids(store, &supervisors).await?)
            };
            let change = GroupChange {
                name,
                description,
                supervisors,
            };
            print_json(&found(
                store.change_group(&cli, g, &change).await?,
                "group",
            )?)?;
        }
        GroupCommand::Delete { site, group } => {
            let s = site_id(store, &site).await?;
            let g = store.group_id_by_name(s, &group).await?;
            found(store.delete_group(&cli, g).await?, "group")?;
            eprintln!("group {group:?} deleted");
        }
        GroupCommand::Join { site, group, pcs } => {
            let s = site_id(store, &site).await?;
            let g = store.group_id_by_name(s, &group).await?;
            let mut runs = Vec::new();
            for uid in &pcs {
                let pc = pc_id(store, s, uid).await?;
                runs.extend(found(store.join_group(&cli, g, pc).await?, "group")?);
            }
            print_json(&runs)?;
        }
        GroupCommand::Leave { site, group, pcs } => {
            let s = site_id(store, &site).await?;
            let g = store.group_id_by_name(s, &group).await?;
            for uid in &pcs {
                let pc = pc_id(store, s, uid).await?;
                if !found(store.leave_group(&cli, g, pc).await?, "group")? {
                    eprintln!("{uid} was not in {group:?}");
                }
            }
        }
    }
    Ok(())
}

async fn owner(store: &Store, o: &ConfigOwner) -> anyhow::Result<Owner> {
    let s = site_id(store, &o.site).await?;
    Ok(match (&o.group, &o.pc) {
        (Some(g), _) => Owner::Group(store.group_id_by_name(s, g).await?),
        (_, Some(uid)) => Owner::Pc(pc_id(store, s, uid).await?),
        _ => Owner::Site(s),
    })
}

async fn config_entries(store: &Store, command: ConfigCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    let (o, change) = match command {
        ConfigCommand::Set { owner, key, value } => (owner, Some((key, Some(value)))),
        ConfigCommand::Unset { owner, key } => (owner, Some((key, None))),
        ConfigCommand::List { owner } => (owner, None),
    };
    let o = owner(store, &o).await?;
    let entries = match change {
        Some(c) => store.change_config(&cli, o, &[c]).await?,
        None => store.config_entries(&cli.sites, o).await?,
    };
    print_json(&found(entries, "site, group or PC")?)
}

fn rule_kind(kind: &str) -> anyhow::Result<RuleKind> {
    match kind {
        "security" => Ok(RuleKind::Security),
        "offline" => Ok(RuleKind::Offline),
        _ => anyhow::bail!("--kind: security or offline, not {kind:?}"),
    }
}

async fn rule_fields(store: &Store, site: i64, r: RuleArgs) -> anyhow::Result<RuleFields> {
    Ok(RuleFields {
        name: Some(r.name),
        description: Some(r.description),
        level: Some(r.level),
        groups: Some(group_ids(store, site, &r.groups).await?),
        alert_users: Some(user_ids(store, &r.alert_users).await?),
        ..RuleFields::default()
    })
}

async fn rule(store: &Store, command: RuleCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        RuleCommand::AddSecurity { rule, script } => {
            let s = site_id(store, &rule.site).await?;
            let f = RuleFields {
                script_id: Some(script),
                ..rule_fields(store, s, rule).await?
            };
            print_json(&found(
                store.create_rule(&cli, RuleKind::Security, s, &f).await?,
                "site",
            )?)?;
        }
        RuleCommand::AddOffline {
            rule,
            from,
            to,
            max_offline_minutes,
        } => {
            let s = site_id(store, &rule.site).await?;
            let f = RuleFields {
                monitor_start: Some(from),
                monitor_end: Some(to),
                max_offline_minutes: Some(max_offline_minutes),
                ..rule_fields(store, s, rule).await?
            };
            print_json(&found(
                store.create_rule(&cli, RuleKind::Offline, s, &f).await?,
                "site",
            )?)?;
        }
        RuleCommand::List { site } => {
            let s = site_id(store, &site).await?;
            let mut all = store.rules(&[s], RuleKind::Security).await?;
            all.extend(store.rules(&[s], RuleKind::Offline).await?);
            print_json(&all)?;
        }
        RuleCommand::Delete { site, kind, id } => {
            let s = site_id(store, &site).await?;
            let kind = rule_kind(&kind)?;
            let scope = Scope {
                sites: vec![s],
                ..cli
            };
            found(
                store.delete_rule(&scope, kind, id).await?,
                "rule on this site",
            )?;
            eprintln!("{} rule {id} deleted", kind.as_str());
        }
    }
    Ok(())
}

/// `mon=08:00-20:00` or `mon=closed` into the week.
fn set_day(week: &mut [Day], spec: &str) -> anyhow::Result<()> {
    let (day, hours) = spec
        .split_once('=')
        .with_context(|| format!("--day {spec:?}: give mon=08:00-20:00 or mon=closed"))?;
    let i = DAYS
        .iter()
        .position(|d| d.starts_with(&day.to_lowercase()) && day.len() >= 3)
        .with_context(|| {
            format!("--day {spec:?}: {day:?} is not mon, tue, wed, thu, fri, sat or sun")
        })?;
    week[i] = if hours == "closed" {
        Day {
            open: false,
            on: None,
            off: None,
        }
    } else {
        let (on, off) = hours
            .split_once('-')
            .with_context(|| format!("--day {spec:?}: give hours as 08:00-20:00"))?;
        Day {
            open: true,
            on: Some(on.into()),
            off: Some(off.into()),
        }
    };
    Ok(())
}

/// `2026-12-24..2026-12-26` (or one date) and an optional `=10:00-14:00`.
fn exception(spec: &str, closed: bool) -> anyhow::Result<Exception> {
    let (dates, hours) = match spec.split_once('=') {
        Some((d, h)) => (d, Some(h)),
        None => (spec, None),
    };
    let (start, end) = dates.split_once("..").unwrap_or((dates, dates));
    let (time_start, time_end) = match (closed, hours) {
        (true, None) => (None, None),
        (false, Some(h)) => {
            let (a, b) = h
                .split_once('-')
                .with_context(|| format!("--hours {spec:?}: give hours as 10:00-14:00"))?;
            (Some(a.to_owned()), Some(b.to_owned()))
        }
        (true, Some(_)) => anyhow::bail!("--closed {spec:?}: a closed period has no hours"),
        (false, None) => anyhow::bail!("--hours {spec:?}: give the hours, e.g. {spec}=10:00-14:00"),
    };
    Ok(Exception {
        name: format!("{} {dates}", if closed { "Lukket" } else { "Ændret" }),
        kind: if closed { "CLOSED" } else { "ALTERED_HOURS" }.into(),
        date_start: start.into(),
        date_end: end.into(),
        time_start,
        time_end,
    })
}

async fn plan_fields(
    store: &Store,
    site: i64,
    args: &PlanArgs,
    current: Option<&WakePlanView>,
) -> anyhow::Result<PlanFields> {
    let week = if args.days.is_empty() {
        None
    } else {
        let mut week = match current {
            Some(p) => p.week.clone(),
            None => (0..7)
                .map(|i| Day {
                    open: i < 5,
                    on: Some("08:00".into()),
                    off: Some("20:00".into()),
                })
                .collect(),
        };
        for d in &args.days {
            set_day(&mut week, d)?;
        }
        Some(week)
    };
    let mut exceptions = Vec::new();
    for c in &args.closed {
        exceptions.push(exception(c, true)?);
    }
    for h in &args.hours {
        exceptions.push(exception(h, false)?);
    }
    Ok(PlanFields {
        name: None,
        enabled: None,
        sleep_state: args.sleep_state.clone(),
        week,
        exceptions: (!exceptions.is_empty()).then_some(exceptions),
        groups: if args.groups.is_empty() {
            None
        } else {
            Some(group_ids(store, site, &args.groups).await?)
        },
    })
}

async fn wakeplan(store: &Store, command: WakeplanCommand) -> anyhow::Result<()> {
    let cli = Scope::cli(store).await?;
    match command {
        WakeplanCommand::Add {
            site,
            name,
            plan,
            disabled,
        } => {
            let s = site_id(store, &site).await?;
            let f = PlanFields {
                name: Some(name),
                enabled: Some(!disabled),
                ..plan_fields(store, s, &plan, None).await?
            };
            print_json(&found(store.create_wake_plan(&cli, s, &f).await?, "site")?)?;
        }
        WakeplanCommand::Set {
            site,
            plan,
            rename,
            args,
            enabled,
            no_exceptions,
            no_groups,
        } => {
            let s = site_id(store, &site).await?;
            let id = store.wake_plan_id_by_name(s, &plan).await?;
            let current = store.wake_plan(&[s], id).await?;
            let mut f = plan_fields(store, s, &args, current.as_ref()).await?;
            f.name = rename;
            f.enabled = enabled;
            if no_exceptions {
                f.exceptions = Some(Vec::new());
            }
            if no_groups {
                f.groups = Some(Vec::new());
            }
            print_json(&found(store.change_wake_plan(&cli, id, &f).await?, "plan")?)?;
        }
        WakeplanCommand::List { site } => {
            let s = site_id(store, &site).await?;
            print_json(&store.wake_plans(&[s]).await?)?;
        }
        WakeplanCommand::Delete { site, plan } => {
            let s = site_id(store, &site).await?;
            let id = store.wake_plan_id_by_name(s, &plan).await?;
            found(store.delete_wake_plan(&cli, id).await?, "plan")?;
            eprintln!("wake plan {plan:?} deleted");
        }
    }
    Ok(())
}

#[cfg(feature = "tools")]
async fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    // Warnings only: one info line per registration would drown the progress bars.
    service_kit::logging::init(false, "warn");
    if args.reports {
        let report =
            borgerpc_admin::bench_reports::run(&borgerpc_admin::bench_reports::ReportOptions {
                pcs: i64::try_from(args.pcs.unwrap_or(0))?,
                pcs_per_site: args.pcs_per_site,
                days: args.days,
                requests: args.requests,
                database_url: args.database_url.clone(),
                keep: args.keep,
                reuse: args.reuse.clone(),
            })
            .await?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    if args.pages {
        let report = borgerpc_admin::bench_pages::run(&borgerpc_admin::bench_pages::PageOptions {
            pcs: i64::try_from(args.pcs.context("--pcs: required")?)?,
            jobs: args.jobs,
            events: args.events,
            requests: args.requests,
            database_url: args.database_url.clone(),
            keep: args.keep,
        })
        .await?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let report = borgerpc_admin::bench::run(&borgerpc_admin::bench::Options {
        pcs: args.pcs.context("--pcs: required")?,
        seconds: args.seconds,
        concurrency: args.concurrency,
        database_url: args.database_url.clone(),
    })
    .await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
