//! Configuration files: TOML with environment overrides, secrets named by where they live, and
//! errors an operator can act on that never echo a value.
//!
//! An override is `PREFIX_SECTION__KEY=value`: at least one double underscore, which separates
//! the levels (names are lower-cased; list items by index, `FORDELER_TENANT__0__CVR`). So a
//! variable without `__` is never an override: secrets and command-line options
//! (`FORDELER_API_TOKEN`, `BORGERPC_PASSWORD`, `FORDELER_CONFIG`) can share the prefix. A
//! variable the file names as a secret (`{ env = "…" }`) is never an override either, whatever
//! its name. An override whose key the configuration does not have is an error naming the
//! variable.
//!
//! A value replacing a string in the file stays a string (a CVR like `29189846` must not become
//! a number); otherwise it is read as TOML when it parses (numbers, booleans, `["x"]`,
//! `"quoted"`), else taken as a string. Unknown keys are refused by the types
//! (`deny_unknown_fields`), and every error names the file, line and column or the variable,
//! and the key — never the value, which may be a secret or personal data.

use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Why a configuration could not be loaded. Every variant names where (file and position, or
/// the environment variable) and what was wrong, never the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {file}: {reason}")]
    Read {
        /// The configuration file, as given.
        file: String,
        /// What the operating system said. (Not a `source`: the message has it already, and
        /// a chain would repeat it.)
        reason: std::io::Error,
    },
    /// The file is not TOML of the expected shape (a syntax error, a wrong type, an unknown key).
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The configuration file, as given.
        file: String,
        /// Line of the offending key or value, from 1 (0: the parser named no place).
        line: usize,
        /// Column of the offending key or value, from 1.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The file and its environment overrides together do not fit (no line can be named).
    #[error("{file}: {message}")]
    Semantic {
        /// The configuration file, with the variables that changed it.
        file: String,
        /// What is wrong, naming the keys.
        message: String,
    },
    /// A `PREFIX_SECTION__KEY` override cannot be applied: not UTF-8, or its value does not
    /// fit the key.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads `path`, applies `PREFIX_…` environment overrides, and deserialises.
pub fn load<T: DeserializeOwned>(path: &Path, env_prefix: &str) -> Result<T, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|reason| ConfigError::Read {
        file: file.clone(),
        reason,
    })?;
    parse(&file, &text, env_prefix, &environment(env_prefix)?)
}

/// The process's environment as `(name, value)`, for [`parse`]. Names that are not UTF-8 cannot
/// be ours and are skipped; one of ours with a value that is not UTF-8 is an error.
pub fn environment(env_prefix: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let prefix = format!("{}_", env_prefix.to_ascii_uppercase());
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((name, value)),
            Err(_) if name.starts_with(&prefix) => {
                return Err(ConfigError::Env {
                    var: name,
                    message: "the value is not valid UTF-8".into(),
                });
            }
            Err(_) => {}
        }
    }
    Ok(vars)
}

/// Parses configuration text; `vars` are the environment to apply.
pub fn parse<T: DeserializeOwned>(
    file: &str,
    text: &str,
    env_prefix: &str,
    vars: &[(String, String)],
) -> Result<T, ConfigError> {
    let located = |e: toml::de::Error| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        ConfigError::Invalid {
            file: file.to_owned(),
            line,
            column,
            message: describe(&e),
        }
    };
    let doc: toml::Table = toml::from_str(text).map_err(located)?;
    let overrides = overrides(&doc, env_prefix, vars);
    if overrides.is_empty() {
        // Deserialise from the text so errors carry line numbers.
        return toml::from_str(text).map_err(located);
    }
    // Each override is tried on what came before it, so the one that breaks a valid
    // configuration is named. (While the file lacks something a later variable supplies,
    // nothing can be blamed yet.)
    let check = |doc: &toml::Table| doc.clone().try_into::<T>().err();
    let mut doc = doc;
    let mut problem = check(&doc);
    for (var, raw) in &overrides {
        let env_error = |message: String| ConfigError::Env {
            var: (*var).to_owned(),
            message,
        };
        let keys: Vec<String> = var[env_prefix.len() + 1..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let mut candidate = doc.clone();
        set(&mut candidate, &keys, raw, Form::Typed).map_err(&env_error)?;
        let mut result = check(&candidate);
        if result.is_some() {
            // `routing_myndighed = 29189846` is a number to TOML, but the key wants a string.
            let mut as_text = doc.clone();
            set(&mut as_text, &keys, raw, Form::Text).map_err(&env_error)?;
            if check(&as_text).is_none() {
                (candidate, result) = (as_text, None);
            }
        }
        if let (None, Some(e)) = (&problem, &result) {
            return Err(env_error(describe(e)));
        }
        doc = candidate;
        problem = result;
    }
    match problem {
        None => doc.try_into().map_err(|e| ConfigError::Semantic {
            file: file.to_owned(),
            message: describe(&e),
        }),
        Some(e) => {
            // The file's own error, with its line, if the variables did not change it.
            if let Err(own) = toml::from_str::<T>(text)
                && own.message() == e.message()
            {
                return Err(located(own));
            }
            let names: Vec<&str> = overrides.iter().map(|(v, _)| *v).collect();
            Err(ConfigError::Semantic {
                file: format!("{file} (with {})", names.join(", ")),
                message: describe(&e),
            })
        }
    }
}

/// The variable that overrides `key` (`tenant[0].sftp.port` → `FORDELER_TENANT__0__SFTP__PORT`).
pub fn variable_for(env_prefix: &str, key: &str) -> String {
    let path = key.replace('[', ".").replace(']', "").replace('.', "__");
    format!(
        "{}_{}",
        env_prefix.to_ascii_uppercase(),
        path.to_ascii_uppercase()
    )
}

/// A check's error (`tenant[0].cvr: …`) about a key an environment variable set names that
/// variable, since the file does not hold the value the operator must fix.
pub fn blame_override(env_prefix: &str, message: String) -> String {
    let Some((key, _)) = message.split_once(": ") else {
        return message;
    };
    let var = variable_for(env_prefix, key);
    if key.contains(' ') || std::env::var_os(&var).is_none() {
        return message;
    }
    format!("environment variable {var}: {message}")
}

/// The variables that override keys, in name order: `PREFIX_A__B…`, not named by a secret.
fn overrides<'a>(
    doc: &toml::Table,
    env_prefix: &str,
    vars: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let prefix = format!("{}_", env_prefix.to_ascii_uppercase());
    let secrets = secret_variables(doc);
    let mut found: Vec<(&str, &str)> = vars
        .iter()
        .filter(|(name, _)| {
            name.strip_prefix(&prefix).is_some_and(|rest| {
                rest.contains("__") && !rest.starts_with('_') && !secrets.contains(name.as_str())
            })
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    found.sort_unstable();
    found
}

/// Environment variables the configuration names as secrets (`{ env = "NAME" }` anywhere).
pub fn secret_variables(doc: &toml::Table) -> BTreeSet<String> {
    fn walk(v: &toml::Value, out: &mut BTreeSet<String>) {
        match v {
            toml::Value::Table(t) => {
                if let Some(toml::Value::String(name)) = t.get("env") {
                    out.insert(name.clone());
                }
                t.values().for_each(|v| walk(v, out));
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    doc.values().for_each(|v| walk(v, &mut out));
    out
}

/// The error's message without the values serde quotes in it (`invalid type: string "…"`,
/// `unknown variant `…``), and the key it happened at when the error knows it.
fn describe(e: &toml::de::Error) -> String {
    let mut message = without_values(e.message().trim());
    // Errors from a document (not text) end their display with "in `a.b`".
    if let Some(key) = e
        .to_string()
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("in `"))
        .and_then(|l| l.strip_suffix('`'))
    {
        message = format!("{message} (at {key})");
    }
    message
}

/// Removes the values serde's messages quote (see `serde::de::Unexpected`'s display).
pub fn without_values(message: &str) -> String {
    // (what serde writes before the value, where the value ends, what is left in its place)
    const QUOTED: &[(&str, char, &str)] = &[
        ("string \"", '"', "a string"),
        ("integer `", '`', "an integer"),
        ("floating point `", '`', "a number"),
        ("boolean `", '`', "a boolean"),
        ("character `", '`', "a character"),
        ("unknown variant `", '`', "unknown value"),
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    'scan: while !rest.is_empty() {
        for (start, end, instead) in QUOTED {
            if let Some(after) = rest.strip_prefix(start) {
                let mut escaped = false;
                for (i, c) in after.char_indices() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && *end == '"' {
                        escaped = true;
                    } else if c == *end {
                        out.push_str(instead);
                        rest = &after[i + c.len_utf8()..];
                        continue 'scan;
                    }
                }
                // No end: drop the rest rather than show part of a value.
                out.push_str(instead);
                return out;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// As TOML when it parses (`8080`, `true`, `["a"]`), unless it replaces a string.
    Typed,
    Text,
}

/// The override as a TOML value, shaped like the value it replaces.
fn parse_value(raw: &str, replacing: Option<&toml::Value>, form: Form) -> toml::Value {
    if form == Form::Text || matches!(replacing, Some(toml::Value::String(_))) {
        return toml::Value::String(raw.to_owned());
    }
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set(table: &mut toml::Table, keys: &[String], raw: &str, form: Form) -> Result<(), String> {
    let Some((first, rest)) = keys.split_first() else {
        return Err("empty key".into());
    };
    if first.is_empty() {
        return Err("empty key (three underscores in a row?)".into());
    }
    if rest.is_empty() {
        let replacing = table.get(first);
        if let Some(toml::Value::Table(t)) = replacing {
            let example = t.keys().next().map_or("KEY", String::as_str);
            return Err(format!(
                "`{first}` is a table in the file; override one of its keys \
                 (…__{}__{})",
                first.to_ascii_uppercase(),
                example.to_ascii_uppercase()
            ));
        }
        let value = parse_value(raw, replacing, form);
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_value(entry, first, rest, raw, form)
}

fn set_value(
    node: &mut toml::Value,
    name: &str,
    keys: &[String],
    raw: &str,
    form: Form,
) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set(t, keys, raw, form),
        toml::Value::Array(items) => {
            let (first, rest) = keys.split_first().ok_or("empty key")?;
            let i: usize = first
                .parse()
                .map_err(|_| format!("`{name}` is a list: `{first}` must be an index (0, 1, …)"))?;
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("`{name}` has no item {i} in the file"))?;
            if rest.is_empty() {
                *item = parse_value(raw, Some(item), form);
                Ok(())
            } else {
                set_value(item, first, rest, raw, form)
            }
        }
        _ => Err(format!("`{name}` is a single value, not a table")),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The keys `T` accepts that a complete example never sets, as dotted paths
/// (`tenant.sftp.port`), so a test can keep an example configuration complete.
///
/// What a table accepts is asked of `T` itself: a key it cannot have is put into each table of
/// the example and serde's refusal lists the keys it expects (every table must refuse unknown
/// keys). Tables with the same expected keys are one type (a secret, a route): a key counts as
/// shown when any of them sets it, so alternatives (two routes, one by KLE, one to a
/// modtager-aktør) can be shown in different places; a secret needs only one of `file` and
/// `env`.
pub fn keys_missing_from_example<T: DeserializeOwned>(
    example: &str,
) -> Result<Vec<String>, String> {
    let root: toml::Table = toml::from_str(example).map_err(|e| e.message().to_owned())?;
    root.clone()
        .try_into::<T>()
        .map_err(|e| format!("the example is not valid: {}", describe(&e)))?;
    // Per type (its sorted keys): where it occurs, and the keys the example sets on it.
    let mut types: BTreeMap<Vec<String>, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut tables = Vec::new();
    collect_tables(&root, &mut Vec::new(), &mut tables);
    for (path, keys) in tables {
        let mut expected = probe::<T>(&root, &path)?;
        expected.sort();
        let (places, shown) = types.entry(expected).or_default();
        places.insert(display_path(&path));
        shown.extend(keys);
    }
    let mut missing = Vec::new();
    for (expected, (places, shown)) in &types {
        // A secret lives in a file or in a variable: showing one of them is complete.
        if *expected == SECRET_KEYS && !shown.is_empty() {
            continue;
        }
        let place = places.iter().next().cloned().unwrap_or_default();
        for key in expected.iter().filter(|k| !shown.contains(*k)) {
            missing.push(if place.is_empty() {
                key.clone()
            } else {
                format!("{place}.{key}")
            });
        }
    }
    Ok(missing)
}

/// The keys of a [`Secret`], sorted.
const SECRET_KEYS: [&str; 2] = ["env", "file"];

/// A step into a TOML document: a key, or an item of a list.
#[derive(Clone)]
enum Step {
    Key(String),
    Item(usize),
}

fn display_path(path: &[Step]) -> String {
    path.iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Item(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn collect_tables(
    table: &toml::Table,
    path: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, BTreeSet<String>)>,
) {
    out.push((path.clone(), table.keys().cloned().collect()));
    for (k, v) in table {
        path.push(Step::Key(k.clone()));
        match v {
            toml::Value::Table(t) => collect_tables(t, path, out),
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(t) = item {
                        path.push(Step::Item(i));
                        collect_tables(t, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}

/// The keys `T` expects in the table at `path`, from serde's answer to one it cannot have.
fn probe<T: DeserializeOwned>(root: &toml::Table, path: &[Step]) -> Result<Vec<String>, String> {
    const PROBE: &str = "zz-not-a-key";
    // A step may go through a list item.
    fn table_at<'a>(t: &'a mut toml::Table, path: &[Step]) -> Option<&'a mut toml::Table> {
        let Some((Step::Key(k), rest)) = path.split_first() else {
            return if path.is_empty() { Some(t) } else { None };
        };
        let mut value = t.get_mut(k)?;
        let mut rest = rest;
        while let Some((Step::Item(i), more)) = rest.split_first() {
            value = value.as_array_mut()?.get_mut(*i)?;
            rest = more;
        }
        table_at(value.as_table_mut()?, rest)
    }
    let mut doc = root.clone();
    let where_ = display_path(path);
    let table = table_at(&mut doc, path).ok_or_else(|| format!("{where_}: not a table"))?;
    table.insert(PROBE.into(), toml::Value::Boolean(true));
    let message = match doc.try_into::<T>() {
        Ok(_) => {
            return Err(format!(
                "[{where_}] accepts keys it does not know (add #[serde(deny_unknown_fields)])"
            ));
        }
        Err(e) => e.message().to_owned(),
    };
    let Some(expected) = message.strip_prefix(&format!("unknown field `{PROBE}`, ")) else {
        return Err(format!("[{where_}]: {message}"));
    };
    Ok(expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect())
}

/// Every key an example sets, as dotted paths without list indices (`form.route.kle_emne`),
/// tables included (`tenant.sftp`).
pub fn example_keys(example: &str) -> Result<BTreeSet<String>, String> {
    let root: toml::Table = toml::from_str(example).map_err(|e| e.message().to_owned())?;
    let mut tables = Vec::new();
    collect_tables(&root, &mut Vec::new(), &mut tables);
    let mut out = BTreeSet::new();
    for (path, keys) in tables {
        let at = display_path(&path);
        for k in keys {
            out.insert(if at.is_empty() {
                k
            } else {
                format!("{at}.{k}")
            });
        }
    }
    Ok(out)
}

/// A secret named by where it lives (a file or an environment variable), never by its value,
/// so configuration files can be shared and committed without secrets in them.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// A file holding the secret (a trailing newline is not part of it); relative to the
    /// configuration's folder.
    pub file: Option<std::path::PathBuf>,
    /// An environment variable holding the secret.
    pub env: Option<String>,
}

impl Secret {
    /// Reads the secret; a relative file is read from `base` (the configuration's folder).
    /// Errors name the file or variable, never the value; an empty secret is an error.
    pub fn read(&self, base: &Path) -> anyhow::Result<String> {
        let (value, from) = match (&self.file, &self.env) {
            (Some(f), None) => {
                let path = if f.is_absolute() {
                    f.clone()
                } else {
                    base.join(f)
                };
                let s = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read secret file {}: {e}", path.display())
                })?;
                let from = format!("secret file {}", path.display());
                (s.trim_end_matches(['\n', '\r']).to_owned(), from)
            }
            (None, Some(var)) => match std::env::var(var) {
                Ok(v) => (v, format!("environment variable {var}")),
                Err(std::env::VarError::NotPresent) => {
                    anyhow::bail!("environment variable {var} is not set")
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("environment variable {var} is not valid UTF-8")
                }
            },
            _ => anyhow::bail!("a secret needs exactly one of `file` or `env`"),
        };
        anyhow::ensure!(!value.trim().is_empty(), "{from} is empty");
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[serde(default)]
        server: Server,
        #[serde(default)]
        tenant: Vec<Tenant>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Server {
        #[serde(default)]
        name: String,
        #[serde(default)]
        port: u16,
        token: Option<Secret>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Tenant {
        cvr: String,
        routing: Option<String>,
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = parse::<Cfg>("f.toml", "[server]\nname = \"x\"\n\nprot = 1\n", "APP", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.toml:4:1:"), "{err}");
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn environment_overrides_keys_and_list_items() {
        let cfg: Cfg = parse(
            "f.toml",
            "[server]\nname = \"x\"\n[[tenant]]\ncvr = \"1\"\n",
            "APP",
            &vars(&[
                ("APP_SERVER__PORT", "8080"),
                ("APP_TENANT__0__CVR", "29189846"),
                // Not in the file, and a number to TOML: still the string the key wants.
                ("APP_TENANT__0__ROUTING", "55133018"),
                ("OTHER_SERVER__NAME", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.server.port, 8080);
        assert_eq!(cfg.tenant[0].cvr, "29189846", "a CVR stays a string");
        assert_eq!(cfg.tenant[0].routing.as_deref(), Some("55133018"));
        let bad = vars(&[("APP_TENANT__5__CVR", "1")]);
        let err = parse::<Cfg>("f.toml", "", "APP", &bad).unwrap_err();
        assert!(err.to_string().contains("APP_TENANT__5__CVR"), "{err}");
    }

    #[test]
    fn secrets_and_options_sharing_the_prefix_are_not_overrides() {
        let text = "[server]\ntoken = { env = \"APP_SERVER__TOKEN_FROM\" }\n";
        let cfg: Cfg = parse(
            "f.toml",
            text,
            "APP",
            &vars(&[
                ("APP_TOKEN", "s3cret-not-a-key"),
                ("APP_CONFIG", "/etc/app.toml"),
                ("APP_SERVER__TOKEN_FROM", "s3cret-named-by-the-file"),
            ]),
        )
        .unwrap();
        assert!(cfg.server.token.is_some());
    }

    #[test]
    fn unknown_overrides_name_the_variable_never_the_value() {
        let secret = "S3cr3t-Value-0123456789";
        for var in [
            "APP_SERVR__PORT",
            "APP_SERVER__PROT",
            "APP_SERVER__PORT",
            "APP_SERVER__TOKEN",
            "APP_TENANT__X__CVR",
        ] {
            let err = parse::<Cfg>(
                "f.toml",
                "[server]\ntoken = { env = \"T\" }\n[[tenant]]\ncvr = \"1\"\n",
                "APP",
                &vars(&[(var, secret)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(var), "{var}: {err}");
            assert!(!err.contains("S3cr3t"), "{var}: {err}");
        }
    }

    #[test]
    fn file_errors_never_echo_a_value() {
        for text in [
            "[server]\ntoken = \"S3cr3t-in-the-file\"\n",
            "[server]\nport = \"S3cr3t-port\"\n",
            "[server]\nname = 1234567\n",
        ] {
            let err = parse::<Cfg>("f.toml", text, "APP", &[])
                .unwrap_err()
                .to_string();
            assert!(!err.contains("S3cr3t") && !err.contains("1234567"), "{err}");
            assert!(err.starts_with("f.toml:2:"), "{err}");
        }
        assert_eq!(
            without_values(r#"invalid type: string "a\"b`c", expected u16"#),
            "invalid type: a string, expected u16"
        );
        assert_eq!(
            without_values("unknown variant `FORMULA`, expected one of `A`, `B`"),
            "unknown value, expected one of `A`, `B`"
        );
    }

    #[test]
    fn missing_keys_are_found_per_type() {
        let full = "[server]\nname = \"x\"\nport = 1\ntoken = { env = \"T\" }\n\
                    [[tenant]]\ncvr = \"1\"\n[[tenant]]\ncvr = \"2\"\nrouting = \"3\"\n";
        assert!(keys_missing_from_example::<Cfg>(full).unwrap().is_empty());
        let one_tenant = full.replace("routing = \"3\"\n", "");
        assert_eq!(
            keys_missing_from_example::<Cfg>(&one_tenant).unwrap(),
            vec!["tenant.routing".to_owned()]
        );
        let partial = "[server]\nname = \"x\"\n";
        assert_eq!(
            keys_missing_from_example::<Cfg>(partial).unwrap(),
            vec!["server.port", "server.token", "tenant"]
        );
        assert!(example_keys(full).unwrap().contains("tenant.routing"));
    }
}
