//! What both products' `setup` commands share: asking for values (on a terminal) or taking
//! them from flags (`--non-interactive`), writing the configuration and secret files
//! atomically with their mode and owner, generating tokens, the system user and the state
//! directory it owns, and the defaults that depend on running as root.
//!
//! The decisions (which defaults, who owns what, which command adds a user) are pure
//! functions, unit-tested here; the products' integration tests run `setup` as an ordinary
//! user, and the packaging's CI runs the root paths for real.

use std::fmt;
use std::io::{BufRead as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Why `setup` stopped: bad input (exit code 2; the message names the flag and what to do),
/// or a failure while doing what it was asked (exit code 1).
#[derive(Debug)]
pub enum Error {
    /// A flag or answer is missing or wrong.
    Usage(String),
    /// Something failed (a file, the database, a command).
    Failed(anyhow::Error),
}

impl Error {
    /// The process's exit code for this error: 2 for bad input, 1 for a failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Failed(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(e.into())
    }
}

/// `setup`'s result.
pub type Result<T> = std::result::Result<T, Error>;

/// A usage error: `flag` and what is wrong with it.
pub fn usage(flag: &str, why: impl fmt::Display) -> Error {
    Error::Usage(format!("{flag}: {why}"))
}

/// Where values come from: the flags first; then, on a terminal and without
/// `--non-interactive`, a question with the default shown; else the default, or an error
/// naming the flag.
#[derive(Debug)]
pub struct Prompter {
    interactive: bool,
}

impl Prompter {
    /// Asks only when `non_interactive` is false and stdin is a terminal.
    pub fn new(non_interactive: bool) -> Self {
        use std::io::IsTerminal as _;
        Self {
            interactive: !non_interactive && std::io::stdin().is_terminal(),
        }
    }

    /// Whether questions are asked.
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// A required value: `given` (the flag's), else asked with `default` shown, else
    /// `default`. `check` says what is wrong with a value; a flag's wrong value is a usage
    /// error naming the flag, a wrong answer is asked again.
    pub fn value(
        &self,
        flag: &str,
        question: &str,
        given: Option<String>,
        default: Option<&str>,
        check: impl Fn(&str) -> std::result::Result<(), String>,
    ) -> Result<String> {
        match self.optional(flag, question, given, default, &check)? {
            Some(v) => Ok(v),
            None => Err(usage(
                flag,
                "required: give it on the command line (with --non-interactive nothing is asked)",
            )),
        }
    }

    /// An optional value: as [`Prompter::value`], but an empty answer (and no flag, no
    /// default) is `None`.
    pub fn optional(
        &self,
        flag: &str,
        question: &str,
        given: Option<String>,
        default: Option<&str>,
        check: impl Fn(&str) -> std::result::Result<(), String>,
    ) -> Result<Option<String>> {
        if let Some(v) = given {
            check(&v).map_err(|why| usage(flag, why))?;
            return Ok(Some(v));
        }
        if !self.interactive {
            return match default {
                Some(d) => {
                    check(d).map_err(|why| usage(flag, why))?;
                    Ok(Some(d.to_owned()))
                }
                None => Ok(None),
            };
        }
        loop {
            let shown = default.map(|d| format!(" [{d}]")).unwrap_or_default();
            let answer = ask(&format!("{question} ({flag}){shown}: "))?;
            let answer = match (answer.trim(), default) {
                ("", Some(d)) => d.to_owned(),
                ("", None) => return Ok(None),
                (a, _) => a.to_owned(),
            };
            match check(&answer) {
                Ok(()) => return Ok(Some(answer)),
                Err(why) => eprintln!("{flag}: {why}"),
            }
        }
    }

    /// A yes/no question; `given` (a flag) wins, and without a terminal the answer is
    /// `default`.
    pub fn yes(&self, question: &str, given: bool, default: bool) -> Result<bool> {
        if given || !self.interactive {
            return Ok(given || default);
        }
        let shown = if default { "[Y/n]" } else { "[y/N]" };
        let answer = ask(&format!("{question} {shown}: "))?;
        Ok(match answer.trim().to_lowercase().as_str() {
            "" => default,
            a => a.starts_with('y') || a.starts_with('j'),
        })
    }

    /// A password: from the environment variable `env`, else asked twice without echo on a
    /// terminal; `check` is the product's password policy.
    pub fn password(
        &self,
        env: &str,
        question: &str,
        check: impl Fn(&str) -> std::result::Result<(), String>,
    ) -> Result<String> {
        if let Ok(p) = std::env::var(env) {
            check(&p).map_err(|why| usage(env, why))?;
            return Ok(p);
        }
        if !self.interactive {
            return Err(usage(
                env,
                "not set: with --non-interactive the password comes from this environment \
                 variable",
            ));
        }
        loop {
            let first = ask_hidden(&format!("{question}: "))?;
            if let Err(why) = check(&first) {
                eprintln!("{why}");
                continue;
            }
            let again = ask_hidden(&format!("{question} (again / igen): "))?;
            if first == again {
                return Ok(first);
            }
            eprintln!("the two passwords differ / de to adgangskoder er forskellige");
        }
    }
}

fn ask(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(Error::Usage(
            "stdin ended before every question was answered".into(),
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A line from the terminal without echo (restored afterwards, also on error).
fn ask_hidden(prompt: &str) -> Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let before = tcgetattr(&stdin).map_err(std::io::Error::from)?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).map_err(std::io::Error::from)?;
    let line = ask(prompt);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &before);
    eprintln!();
    line
}

/// A new random token of 64 hexadecimal characters (256 bits), as `openssl rand -hex 32`
/// makes.
pub fn new_token() -> String {
    crate::accounts::new_token("")
}

/// Whether the process runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The longest instance name: its user `<prefix>-<instance>` (`borgerpc-` is 9 characters)
/// must fit the 32 characters Debian allows for a user name.
pub const MAX_INSTANCE: usize = 23;
/// The longest user name `adduser` accepts on Debian.
pub const MAX_USER: usize = 32;

/// An instance name (`[a-z0-9][a-z0-9-]{0,22}`): a systemd instance, part of a directory and
/// of a user name.
pub fn check_instance(name: &str) -> std::result::Result<(), String> {
    check_word(name, MAX_INSTANCE)
}

/// A system user name (`[a-z0-9][a-z0-9-]{0,31}`).
pub fn check_user(name: &str) -> std::result::Result<(), String> {
    check_word(name, MAX_USER)
}

fn check_word(name: &str, max: usize) -> std::result::Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if first_ok
        && name.len() <= max
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a name: 1 to {max} of a-z, 0-9 and -, starting with a letter or digit"
        ))
    }
}

/// A listen address: `host:port`.
pub fn check_listen(s: &str) -> std::result::Result<(), String> {
    s.parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| "not an address and port like 127.0.0.1:8080".into())
}

/// A database URL the products open: `sqlite://…` or `postgres://…`, without a password
/// (it would be written into the configuration).
pub fn check_database_url(s: &str) -> std::result::Result<(), String> {
    if s.starts_with("sqlite:") {
        return Ok(());
    }
    if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
        return Err("must start with sqlite:// or postgres://".into());
    }
    match url::Url::parse(s) {
        Err(_) => Err("not a URL like postgres://user@host/database".into()),
        Ok(u) if u.password().is_some() => Err(
            "holds a password, which would be written into the configuration: leave it out \
             of the URL and put it in the service user's ~/.pgpass (or PGPASSWORD)"
                .into(),
        ),
        Ok(_) => Ok(()),
    }
}

/// Where a product's files go by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The configuration file.
    pub config: PathBuf,
    /// The state directory (owned by the system user), when there is one.
    pub state_dir: Option<PathBuf>,
    /// The database URL.
    pub database_url: String,
    /// The system user the service runs as, when running as root.
    pub system_user: Option<String>,
}

/// What a product's `setup` is named and names: the package and unit (`borgerpc-admin`), its
/// configuration file's stem (`borgerpc` → `borgerpc.toml`), its database file
/// (`borgerpc.db`), and the prefix of an instance's user (`borgerpc` → `borgerpc-<instance>`).
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// The package, unit, `/etc/` and `/var/lib/` name.
    pub name: &'static str,
    /// The configuration file's name without `.toml`.
    pub config_name: &'static str,
    /// The SQLite database's file name.
    pub db_file: &'static str,
    /// An instance's user is `<user_prefix>-<instance>`.
    pub user_prefix: &'static str,
}

/// The defaults of `product`: as root, `/etc/<name>/<config_name>.toml`, `/var/lib/<name>/`
/// and the user `<name>`; else the working directory and no state directory or user. An
/// `instance` (several on one host) gets what the template unit `<name>@<instance>` reads:
/// `/etc/<name>/<instance>.toml`, `/var/lib/<name>-<instance>/` (beside, not inside, the single
/// service's 0700 directory) and the user `<user_prefix>-<instance>`.
pub fn defaults(product: &Product, root: bool, instance: Option<&str>) -> Defaults {
    let Product {
        name: product,
        config_name,
        db_file,
        user_prefix,
    } = *product;
    match (root, instance) {
        (true, None) => {
            let state = PathBuf::from(format!("/var/lib/{product}"));
            Defaults {
                config: format!("/etc/{product}/{config_name}.toml").into(),
                database_url: format!("sqlite://{}", state.join(db_file).display()),
                state_dir: Some(state),
                system_user: Some(product.to_owned()),
            }
        }
        (true, Some(i)) => {
            let state = PathBuf::from(format!("/var/lib/{product}-{i}"));
            Defaults {
                config: format!("/etc/{product}/{i}.toml").into(),
                database_url: format!("sqlite://{}", state.join(db_file).display()),
                state_dir: Some(state),
                system_user: Some(format!("{user_prefix}-{i}")),
            }
        }
        (false, None) => Defaults {
            config: format!("{config_name}.toml").into(),
            database_url: format!("sqlite://{db_file}"),
            state_dir: None,
            system_user: None,
        },
        (false, Some(i)) => Defaults {
            config: format!("{i}.toml").into(),
            database_url: format!("sqlite://{i}/{db_file}"),
            state_dir: Some(PathBuf::from(i)),
            system_user: None,
        },
    }
}

/// A user's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Who owns what setup writes: `None` keeps the writer (the current user) as owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ownership {
    /// Configuration and secret files: `root:<service group>`, 0640.
    pub config: Option<Ids>,
    /// The state directory (0700) and the database files: the service user.
    pub state: Option<Ids>,
}

/// Who owns the files: only root can give them away, and only to a system user that exists.
pub fn ownership(root: bool, service_user: Option<Ids>) -> Ownership {
    match (root, service_user) {
        (true, Some(user)) => Ownership {
            config: Some(Ids {
                uid: 0,
                gid: user.gid,
            }),
            state: Some(user),
        },
        _ => Ownership::default(),
    }
}

/// The ids of `user`, from the system's user database (`getent passwd`, so LDAP users count
/// too); `None` if there is no such user.
pub fn user_ids(user: &str) -> Option<Ids> {
    let out = std::process::Command::new("getent")
        .args(["passwd", user])
        .output()
        .ok()?;
    if out.status.success() {
        return parse_passwd_line(&String::from_utf8_lossy(&out.stdout), user);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| parse_passwd_line(l, user))
}

/// `name:x:uid:gid:…` for `user`.
fn parse_passwd_line(line: &str, user: &str) -> Option<Ids> {
    let mut f = line.trim().split(':');
    (f.next()? == user).then_some(())?;
    f.next()?;
    Some(Ids {
        uid: f.next()?.parse().ok()?,
        gid: f.next()?.parse().ok()?,
    })
}

/// The tool that adds system users on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTool {
    /// Debian's `adduser`.
    Adduser,
    /// shadow-utils' `useradd`.
    Useradd,
}

/// The command that adds `user` as a system user with its own group, no login and `home`
/// (not created).
pub fn add_user_command(tool: UserTool, user: &str, home: &Path) -> Vec<String> {
    let home = home.display().to_string();
    let args: Vec<&str> = match tool {
        UserTool::Adduser => vec![
            "adduser",
            "--system",
            "--group",
            "--no-create-home",
            "--home",
            &home,
            user,
        ],
        UserTool::Useradd => vec![
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            &home,
            "--shell",
            "/usr/sbin/nologin",
            user,
        ],
    };
    args.into_iter().map(str::to_owned).collect()
}

/// Which of `adduser` and `useradd` is installed (in that order); `None` if neither.
pub fn user_tool() -> Option<UserTool> {
    let found = |name: &str| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(name).exists())
    };
    if found("adduser") {
        Some(UserTool::Adduser)
    } else if found("useradd") {
        Some(UserTool::Useradd)
    } else {
        None
    }
}

/// The ids of the system user `user`, added first (with `home`) if it does not exist yet;
/// and whether it was added.
pub fn ensure_system_user(user: &str, home: &Path) -> Result<(Ids, bool)> {
    if let Some(ids) = user_ids(user) {
        return Ok((ids, false));
    }
    let tool = user_tool().ok_or_else(|| {
        Error::Failed(anyhow::anyhow!(
            "--system-user: {user} does not exist, and neither adduser nor useradd is \
             installed to add it; add the user, then run setup again"
        ))
    })?;
    let command = add_user_command(tool, user, home);
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| anyhow::anyhow!("{}: {e}", command[0]))?;
    if !status.success() {
        return Err(Error::Failed(anyhow::anyhow!(
            "`{}` failed ({status})",
            command.join(" ")
        )));
    }
    let ids = user_ids(user).ok_or_else(|| {
        Error::Failed(anyhow::anyhow!(
            "{user}: added by {}, but not found afterwards",
            command[0]
        ))
    })?;
    Ok((ids, true))
}

/// Writes `contents` to `path` atomically: a temporary file beside it (created with `mode`,
/// owned by `owner` when given), synced, checked by `check` (given the temporary file's
/// path: e.g. the product's loader), then renamed over `path`. If the check fails nothing is
/// left behind.
pub fn write_atomically(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<Ids>,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{}: not a file name", path.display()))?;
    // Not `*.toml`: a scan of the folder's configurations must not see it.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> Result<()> {
        let _ = std::fs::remove_file(&temp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", temp.display()))?;
        f.write_all(contents)?;
        // The umask may have taken bits away; the mode is what was asked.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(o) = owner {
            std::os::unix::fs::fchown(&f, Some(o.uid), Some(o.gid))
                .map_err(|e| anyhow::anyhow!("chown {}: {e}", temp.display()))?;
        }
        f.sync_all()?;
        check(&temp)?;
        std::fs::rename(&temp, path)
            .map_err(|e| anyhow::anyhow!("renaming to {}: {e}", path.display()))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Writes a secret (one line) to `path`, 0640, owned by `owner` when given; an existing
/// file is kept as it is (a re-run must not change a token others already use) unless
/// `replace`. Returns whether it was written.
pub fn write_secret(path: &Path, secret: &str, owner: Option<Ids>, replace: bool) -> Result<bool> {
    if path.exists() && !replace {
        return Ok(false);
    }
    write_atomically(path, format!("{secret}\n").as_bytes(), 0o640, owner, |_| {
        Ok(())
    })?;
    Ok(true)
}

/// Creates the state directory (and its parents) if missing, makes it 0700 and, when given,
/// owned by `owner`.
pub fn state_dir(dir: &Path, owner: Option<Ids>) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("--state-dir: creating {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| anyhow::anyhow!("--state-dir: chmod 700 {}: {e}", dir.display()))?;
    if let Some(o) = owner {
        chown(dir, o)?;
    }
    Ok(())
}

/// Gives the files of a SQLite database (`url`: the file, its `-wal` and `-shm`, and `extra`
/// files or directories beside it, recursively) to `owner`; nothing for PostgreSQL.
pub fn chown_database(url: &str, extra: &[&str], owner: Ids) -> Result<()> {
    let Some(file) = crate::db::sqlite_file(url) else {
        return Ok(());
    };
    for suffix in ["", "-wal", "-shm"].iter().chain(extra) {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        chown_tree(Path::new(&p), owner)?;
    }
    Ok(())
}

fn chown_tree(path: &Path, owner: Ids) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(()); // not there: nothing to give away
    };
    chown(path, owner)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, owner: Ids) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))
        .map_err(|e| Error::Failed(anyhow::anyhow!("chown {}: {e}", path.display())))
}

/// Another configuration (`*.toml`) in `config`'s folder whose `[server] listen` has `port`:
/// two instances on one host cannot listen on one port.
pub fn port_used_beside(config: &Path, port: u16) -> Option<PathBuf> {
    let dir = match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let own = config.file_name();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.file_name() != own)
        .collect();
    files.sort();
    files.into_iter().find(|p| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .and_then(|t| {
                t.get("server")?
                    .get("listen")?
                    .as_str()?
                    .parse::<std::net::SocketAddr>()
                    .ok()
            })
            .is_some_and(|a| a.port() == port)
    })
}

/// A TOML string (basic, escaped).
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Where every `setup` begins, decided before anything is asked: the defaults, the
/// configuration's path, the prompter, the report, and who will own the files (the system
/// user, added first when running as root: it owns what follows).
#[derive(Debug)]
pub struct Start {
    /// Running as root: the system paths, a system user, files given to it.
    pub root: bool,
    /// The product's defaults for this user and instance.
    pub defaults: Defaults,
    /// The configuration file to write or keep.
    pub config: PathBuf,
    /// Asks, or takes flags only.
    pub prompt: Prompter,
    /// What was done so far (the system user).
    pub report: Report,
    /// Who owns the configuration and the state.
    pub owners: Ownership,
}

/// The flags every `setup` has, as given.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// `-c` / the product's config variable.
    pub config: Option<&'a Path>,
    /// `--instance`, for a product with a template unit.
    pub instance: Option<&'a str>,
    /// `--system-user`.
    pub system_user: Option<&'a str>,
    /// `--state-dir`.
    pub state_dir: Option<&'a Path>,
    /// `--non-interactive`.
    pub non_interactive: bool,
}

/// Checks the common flags and prepares the system user: see [`Start`].
pub fn start(product: &Product, given: Common<'_>) -> Result<Start> {
    let root = is_root();
    if let Some(i) = given.instance {
        check_instance(i).map_err(|why| usage("--instance", why))?;
    }
    let defaults = defaults(product, root, given.instance);
    let config = given
        .config
        .map_or_else(|| defaults.config.clone(), Path::to_path_buf);
    let user = given
        .system_user
        .map(str::to_owned)
        .or(defaults.system_user.clone());
    if let Some(u) = &user {
        check_user(u).map_err(|why| usage("--system-user", why))?;
    }
    let mut report = Report::default();
    let service_user = match (&user, root) {
        (Some(u), true) => {
            let home = given
                .state_dir
                .map(Path::to_path_buf)
                .or(defaults.state_dir.clone())
                .unwrap_or_else(|| "/nonexistent".into());
            let (ids, added) = ensure_system_user(u, &home)?;
            report.did(format!(
                "system user {u}: {}",
                if added { "added" } else { "exists" }
            ));
            Some(ids)
        }
        (Some(u), false) => {
            report.did(format!(
                "system user {u}: not used (only root can give files to another user)"
            ));
            None
        }
        (None, _) => None,
    };
    Ok(Start {
        root,
        defaults,
        config,
        prompt: Prompter::new(given.non_interactive),
        report,
        owners: ownership(root, service_user),
    })
}

/// What `setup` did, printed at the end: one line per thing, then the next command.
#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<String>,
}

impl Report {
    /// Notes one thing done (or kept).
    pub fn did(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// Prints what was done and the command to run next.
    pub fn print(&self, next: &str) {
        for l in &self.lines {
            println!("  {l}");
        }
        println!();
        println!("Next / Næste skridt:");
        println!("  {next}");
    }
}

/// The command that starts the service: the systemd `unit` when setup wrote where the unit
/// reads (as root, to the default file), else `serve` in the foreground.
pub fn next_command(unit: Option<&str>, program: &str, config: &Path) -> String {
    match unit {
        Some(unit) => format!("systemctl enable --now {unit}"),
        None => format!("{program} serve -c {}", config.display()),
    }
}

/// The state directory: the one given, else the default one when the database is the
/// default one (it lives there), else none (setup leaves a folder it did not pick alone).
pub fn state_dir_for(
    given: Option<PathBuf>,
    defaults: &Defaults,
    database_url: &str,
) -> Option<PathBuf> {
    given.or_else(|| {
        defaults
            .state_dir
            .clone()
            .filter(|_| database_url == defaults.database_url)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTAL: Product = Product {
        name: "borgerpc-admin",
        config_name: "borgerpc",
        db_file: "borgerpc.db",
        user_prefix: "borgerpc",
    };
    const FORDELER: Product = Product {
        name: "fordeler",
        config_name: "fordeler",
        db_file: "fordeler.db",
        user_prefix: "fordeler",
    };

    #[test]
    fn names_are_short_lowercase_words() {
        let longest = "abcdefghijklmnopqrstuvw";
        assert_eq!(longest.len(), MAX_INSTANCE);
        for ok in ["a", "aeroe", "koege-1", "0", longest] {
            assert!(check_instance(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "Aeroe",
            "ærø",
            "a_b",
            "a.b",
            "a/b",
            "abcdefghijklmnopqrstuvwx",
        ] {
            assert!(check_instance(bad).is_err(), "{bad}");
        }
        // The longest instance's user still fits adduser's limit.
        let user = format!("{}-{longest}", PORTAL.user_prefix);
        assert_eq!(user.len(), MAX_USER);
        assert!(check_user(&user).is_ok());
        assert!(check_user(&format!("{user}x")).is_err());
    }

    #[test]
    fn defaults_follow_root_and_instance() {
        let d = defaults(&PORTAL, true, None);
        assert_eq!(d.config, Path::new("/etc/borgerpc-admin/borgerpc.toml"));
        assert_eq!(
            d.database_url,
            "sqlite:///var/lib/borgerpc-admin/borgerpc.db"
        );
        assert_eq!(d.system_user.as_deref(), Some("borgerpc-admin"));
        // What the template unit borgerpc-admin@aeroe reads and may write.
        let d = defaults(&PORTAL, true, Some("aeroe"));
        assert_eq!(d.config, Path::new("/etc/borgerpc-admin/aeroe.toml"));
        assert_eq!(
            d.state_dir.as_deref(),
            Some(Path::new("/var/lib/borgerpc-admin-aeroe"))
        );
        assert_eq!(
            d.database_url,
            "sqlite:///var/lib/borgerpc-admin-aeroe/borgerpc.db"
        );
        assert_eq!(d.system_user.as_deref(), Some("borgerpc-aeroe"));
        let d = defaults(&FORDELER, false, None);
        assert_eq!(d.config, Path::new("fordeler.toml"));
        assert_eq!(d.database_url, "sqlite://fordeler.db");
        assert_eq!((d.state_dir, d.system_user), (None, None));
    }

    #[test]
    fn the_state_directory_is_the_default_databases() {
        let d = defaults(&FORDELER, true, None);
        let default_db = d.database_url.clone();
        assert_eq!(
            state_dir_for(None, &d, &default_db).as_deref(),
            Some(Path::new("/var/lib/fordeler"))
        );
        assert_eq!(
            state_dir_for(None, &d, "postgres://fordeler@db/fordeler"),
            None
        );
        assert_eq!(
            state_dir_for(Some("/srv/f".into()), &d, "postgres://db/f").as_deref(),
            Some(Path::new("/srv/f"))
        );
        assert_eq!(
            next_command(
                Some("fordeler"),
                "fordeler",
                Path::new("/etc/fordeler/fordeler.toml")
            ),
            "systemctl enable --now fordeler"
        );
        assert_eq!(
            next_command(None, "fordeler", Path::new("f.toml")),
            "fordeler serve -c f.toml"
        );
    }

    #[test]
    fn only_root_gives_files_away() {
        let user = Ids { uid: 998, gid: 997 };
        assert_eq!(ownership(false, Some(user)), Ownership::default());
        assert_eq!(ownership(true, None), Ownership::default());
        let o = ownership(true, Some(user));
        assert_eq!(o.config, Some(Ids { uid: 0, gid: 997 }));
        assert_eq!(o.state, Some(user));
    }

    #[test]
    fn users_are_added_as_system_users_without_login() {
        let home = Path::new("/var/lib/borgerpc-admin/aeroe");
        assert_eq!(
            add_user_command(UserTool::Adduser, "borgerpc-aeroe", home).join(" "),
            "adduser --system --group --no-create-home --home /var/lib/borgerpc-admin/aeroe \
             borgerpc-aeroe"
        );
        assert_eq!(
            add_user_command(UserTool::Useradd, "borgerpc-aeroe", home).join(" "),
            "useradd --system --user-group --no-create-home --home-dir \
             /var/lib/borgerpc-admin/aeroe --shell /usr/sbin/nologin borgerpc-aeroe"
        );
    }

    #[test]
    fn passwd_lines_give_ids() {
        assert_eq!(
            parse_passwd_line(
                "fordeler:x:998:997::/var/lib/fordeler:/usr/sbin/nologin",
                "fordeler"
            ),
            Some(Ids { uid: 998, gid: 997 })
        );
        assert_eq!(
            parse_passwd_line("fordeler2:x:1:2::/:/bin/sh", "fordeler"),
            None
        );
        assert!(user_ids("root").is_some_and(|r| r.uid == 0));
        assert_eq!(user_ids("no-such-user-here"), None);
    }

    #[test]
    fn database_urls_hold_no_password() {
        assert!(check_database_url("sqlite:///var/lib/fordeler/fordeler.db").is_ok());
        assert!(check_database_url("postgres://fordeler@db/fordeler").is_ok());
        let refused = check_database_url("postgres://fordeler:hemmelig@db/fordeler").unwrap_err();
        assert!(
            refused.contains("password") && !refused.contains("hemmelig"),
            "{refused}"
        );
        assert!(check_database_url("mysql://x").is_err());
    }

    #[test]
    fn tokens_are_64_hex_characters() {
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(t, new_token());
    }

    #[test]
    fn atomic_writes_leave_nothing_when_the_check_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        let refused =
            write_atomically(&path, b"a", 0o640, None, |_| Err(Error::Usage("no".into())));
        assert!(refused.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomically(&path, b"b", 0o640, None, |p| {
            assert_eq!(std::fs::read(p).unwrap(), b"b");
            Ok(())
        })
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(!write_secret(&path, "c", None, false).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"b");
    }

    #[test]
    fn a_port_in_another_configuration_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.toml"),
            "[server]\nlisten = \"127.0.0.1:8081\"\n",
        )
        .unwrap();
        let b = dir.path().join("b.toml");
        assert_eq!(port_used_beside(&b, 8081), Some(dir.path().join("a.toml")));
        assert_eq!(port_used_beside(&b, 8082), None);
        assert_eq!(port_used_beside(&dir.path().join("a.toml"), 8081), None);
    }
}
