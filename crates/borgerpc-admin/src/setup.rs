//! `borgerpc-admin setup`: from an installed package to a running portal. Writes the
//! configuration (or keeps an existing one), creates the database, the first superuser (if
//! there is none) and optionally the first municipality (if there is none). `--instance NAME`
//! sets up one of several portals on a host (the systemd unit `borgerpc-admin@NAME`). The
//! shared parts (questions, files, owners, users) are `service_kit::setup`'s.

use borgerpc_admin::config::Config;
use borgerpc_admin::store::Store;
use borgerpc_admin::store::access::Scope;
use service_kit::setup::{self as kit, Error, Result, toml_string, usage};
use std::path::PathBuf;

/// `borgerpc-admin setup`'s flags.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Ask nothing: every required value must be a flag (an error names the missing one) /
    /// Spørg ikke: alle krævede værdier skal gives som flag.
    #[arg(long)]
    non_interactive: bool,
    /// Rewrite an existing configuration / Skriv en eksisterende konfiguration forfra.
    #[arg(long)]
    force: bool,
    /// One of several portals on this host (NAME: up to 23 of a-z, 0-9, -): configuration
    /// NAME.toml, state and user of its own, unit borgerpc-admin@NAME / En af flere portaler.
    #[arg(long)]
    instance: Option<String>,
    /// The portal's address / Portalens adresse [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// The address PCs and e-mails use, http(s)://… / Adressen computerne bruger.
    #[arg(long)]
    public_url: Option<String>,
    /// Database [default: sqlite:///var/lib/borgerpc-admin/borgerpc.db as root, else
    /// sqlite://borgerpc.db] / Database.
    #[arg(long)]
    database_url: Option<String>,
    /// State directory, made 0700 and owned by --system-user [default as root:
    /// /var/lib/borgerpc-admin, with --instance /var/lib/borgerpc-admin-NAME] / Tilstandsmappe.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The user the portal runs as; as root it is added if missing, and owns the state
    /// [default as root: borgerpc-admin, with --instance borgerpc-NAME] / Systembruger.
    #[arg(long)]
    system_user: Option<String>,
    /// The first superuser's name, if there is no superuser yet (password from
    /// BORGERPC_PASSWORD, or asked twice) [default: admin] / Den første superbruger.
    #[arg(long)]
    admin_username: Option<String>,
    /// The first superuser's e-mail / Superbrugerens e-mail.
    #[arg(long)]
    admin_email: Option<String>,
    /// The first municipality (customer), if there is none yet / Den første kommune.
    #[arg(long)]
    customer: Option<String>,
}

fn check_public_url(s: &str) -> std::result::Result<(), String> {
    let ok = (s.starts_with("https://") || s.starts_with("http://"))
        && url_host(s).is_some_and(|h| !h.is_empty());
    if ok {
        Ok(())
    } else {
        Err("must be an http:// or https:// URL, e.g. https://borgerpc.kommune.dk".into())
    }
}

fn url_host(s: &str) -> Option<&str> {
    let rest = s.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or_default())
}

/// The portal's names for `service_kit::setup`.
pub(crate) const PRODUCT: kit::Product = kit::Product {
    name: "borgerpc-admin",
    config_name: "borgerpc",
    db_file: "borgerpc.db",
    user_prefix: "borgerpc",
};

/// Runs `borgerpc-admin setup`; `config` is `-c`/`BORGERPC_CONFIG` if given.
pub(crate) async fn run(config: Option<PathBuf>, o: Options) -> Result<()> {
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
            instance: o.instance.as_deref(),
            system_user: o.system_user.as_deref(),
            state_dir: o.state_dir.as_deref(),
            non_interactive: o.non_interactive,
        },
    )?;

    if path.exists() && !o.force {
        report.did(format!(
            "configuration {}: exists, kept (--force rewrites it)",
            path.display()
        ));
    } else {
        let listen = prompt.value(
            "--listen",
            "The portal's address / Portalens adresse",
            o.listen.clone(),
            Some("127.0.0.1:8080"),
            kit::check_listen,
        )?;
        let port = listen
            .parse::<std::net::SocketAddr>()
            .map(|a| a.port())
            .unwrap_or_default();
        if let Some(other) = kit::port_used_beside(&path, port) {
            return Err(usage(
                "--listen",
                format!(
                    "port {port} is already the listen port of {}; give this instance another",
                    other.display()
                ),
            ));
        }
        let public_url = prompt.value(
            "--public-url",
            "The address PCs use / Adressen computerne bruger",
            o.public_url.clone(),
            None,
            check_public_url,
        )?;
        let database_url = prompt.value(
            "--database-url",
            "Database",
            o.database_url.clone(),
            Some(&defaults.database_url),
            kit::check_database_url,
        )?;
        let text = config_text(&path, &listen, &public_url, &database_url, &o.instance);
        kit::write_atomically(&path, text.as_bytes(), 0o640, owners.config, |written| {
            Config::load(written).map_err(Error::Failed)?;
            Ok(())
        })?;
        report.did(format!(
            "configuration {}: {} (0640)",
            path.display(),
            if o.force { "rewritten" } else { "written" }
        ));
    }

    let config = Config::load(&path).map_err(|e| {
        Error::Failed(anyhow::anyhow!(
            "{e:#}\nFix the file, or run setup again with --force to rewrite it"
        ))
    })?;
    let state_dir = kit::state_dir_for(o.state_dir.clone(), &defaults, &config.database.url);
    if let Some(dir) = &state_dir {
        kit::state_dir(dir, owners.state)?;
        report.did(format!("state directory {}: 0700", dir.display()));
    }
    let store = Store::open(&config.database.url, 2)
        .await
        .map_err(|e| Error::Failed(e.context("database.url")))?;
    if let Some(owner) = owners.state {
        kit::chown_database(&config.database.url, &[], owner)?;
    }
    report.did("database: created or up to date".to_owned());

    let scope = Scope::cli(&store).await.map_err(failed)?;
    let superusers: Vec<String> = store
        .users(&scope, None)
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|u| u.is_superuser)
        .map(|u| u.username)
        .collect();
    if superusers.is_empty() {
        let username = prompt.value(
            "--admin-username",
            "The first superuser / Første superbruger",
            o.admin_username.clone(),
            Some("admin"),
            |s| {
                if s.trim().is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(())
                }
            },
        )?;
        let email = prompt
            .optional(
                "--admin-email",
                "Their e-mail / E-mail",
                o.admin_email.clone(),
                None,
                |_| Ok(()),
            )?
            .unwrap_or_default();
        let password = prompt.password(
            "BORGERPC_PASSWORD",
            &format!("Password of {username} / Adgangskode"),
            |p| service_kit::accounts::check_new_password(p, &[username.as_str(), email.as_str()]),
        )?;
        let user = store
            .create_superuser(&scope, &username, &email, &password)
            .await
            .map_err(|e| match e {
                borgerpc_admin::store::Error::Invalid(_)
                | borgerpc_admin::store::Error::Conflict(_) => {
                    usage("--admin-username / --admin-email / BORGERPC_PASSWORD", e)
                }
                e => failed(e),
            })?;
        report.did(format!(
            "superuser {}: created (the password is the one given; it is not shown)",
            user.username
        ));
    } else {
        report.did(format!("superuser {}: exists, kept", superusers.join(", ")));
    }

    let customers = store.customers().await.map_err(failed)?;
    if customers.is_empty() {
        let name = prompt.optional(
            "--customer",
            "The first municipality (empty: none now) / Første kommune (tom: ingen)",
            o.customer.clone(),
            None,
            |_| Ok(()),
        )?;
        if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
            let customer = crate::add_customer(&store, &name)
                .await
                .map_err(|e| usage("--customer", format!("{e:#}")))?;
            report.did(format!("customer {}: created", customer.name));
        }
    } else if o.customer.is_some() {
        report.did(format!(
            "customer: {} exist(s), kept; add more with `borgerpc-admin customer add`",
            customers.len()
        ));
    }

    println!("borgerpc-admin setup / opsætning:");
    let unit = match &o.instance {
        Some(i) => format!("borgerpc-admin@{i}"),
        None => "borgerpc-admin".to_owned(),
    };
    let unit = (root && path == defaults.config).then_some(unit.as_str());
    report.print(&kit::next_command(unit, "borgerpc-admin", &path));
    Ok(())
}

fn failed(e: impl Into<anyhow::Error>) -> Error {
    Error::Failed(e.into())
}

fn config_text(
    path: &std::path::Path,
    listen: &str,
    public_url: &str,
    database_url: &str,
    instance: &Option<String>,
) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# borgerpc.toml — written by `borgerpc-admin setup`{}. Every key the portal reads, with\n\
         # what it means, is in borgerpc.example.toml (in the package's documentation); keys left\n\
         # out have their defaults. Secrets are never in this file: `{{ file = \"…\" }}` names the\n\
         # file holding one (relative to this file's folder).\n\
         # Start it in the foreground with `borgerpc-admin serve -c {}`.\n\n",
        instance
            .as_ref()
            .map(|i| format!(" for the instance {i}"))
            .unwrap_or_default(),
        path.display()
    ));
    t.push_str("[server]\n");
    t.push_str(&format!(
        "listen = {}   # the portal's address; put TLS (nginx, Caddy) in front\n",
        toml_string(listen)
    ));
    t.push_str(&format!(
        "public_url = {}   # echoed to PCs that lost admin_url; links in alert e-mails\n",
        toml_string(public_url)
    ));
    t.push_str(
        "# trusted_proxies = [\"127.0.0.1\"]   # the reverse proxy whose X-Forwarded-For names the caller\n\n",
    );
    t.push_str("[database]\n");
    t.push_str(&format!(
        "url = {}   # sqlite://… or postgres://…; a relative SQLite path is from the working directory\n\n",
        toml_string(database_url)
    ));
    t.push_str(
        "# E-mail alerts: without smtp_host events are stored and shown but not mailed.\n\
         # [notifications]\n\
         # smtp_host = \"smtp.kommune.dk\"\n\
         # smtp_username = \"borgerpc\"\n\
         # smtp_password = { file = \"smtp-password\" }   # a secret: its own file, 0640\n\
         # from = \"BorgerPC <borgerpc@kommune.dk>\"\n",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::testing::package::Unit;
    use std::path::Path;

    /// What setup writes as root is what the packaged units read, for the host's portal and
    /// for an instance of the template.
    #[test]
    fn setup_writes_where_the_units_read() {
        for (file, instance) in [
            ("borgerpc-admin.service", None),
            ("borgerpc-admin@.service", Some("aeroe")),
        ] {
            let unit = Unit::load("borgerpc-admin", file);
            let get = |key| unit.get(key).replace("%i", instance.unwrap_or_default());
            let d = kit::defaults(&PRODUCT, true, instance);
            assert_eq!(
                get("ExecStart"),
                format!(
                    "/usr/bin/borgerpc-admin serve --config {}",
                    d.config.display()
                )
            );
            let state = d.state_dir.expect("a state directory as root");
            assert_eq!(Path::new(&get("WorkingDirectory")), state);
            assert_eq!(Path::new("/var/lib").join(get("StateDirectory")), state);
            assert_eq!(Some(get("User")), d.system_user);
            assert_eq!(
                d.database_url,
                format!("sqlite://{}/borgerpc.db", state.display())
            );
        }
    }
}
