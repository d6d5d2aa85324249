//! Configuration files: TOML with environment overrides, and errors an operator can act on.
//!
//! An environment variable `PREFIX_A__B__C=value` overrides key `c` in table `a.b` (double
//! underscore separates levels, names are lower-cased). A value replacing a string in the file
//! stays a string (a CVR like `29189846` must not become a number); otherwise it is read as TOML
//! when it parses (numbers, booleans, `["x"]`, `"quoted"`), else taken as a string. Arrays of tables are addressed by
//! index: `FORDELER_TENANT__0__CVR=…`. Unknown keys are refused by the types (`deny_unknown_fields`),
//! and every error names the file, the line and column, and the key.

use serde::de::DeserializeOwned;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Semantic { file: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

/// Reads `path`, applies `PREFIX_…` environment overrides, and deserialises.
pub fn load<T: DeserializeOwned>(path: &Path, env_prefix: &str) -> Result<T, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    let vars: Vec<(String, String)> = std::env::vars().collect();
    parse(&file, &text, env_prefix, &vars)
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
            message: e.message().trim().to_owned(),
        }
    };
    let mut doc: toml::Table = toml::from_str(text).map_err(located)?;
    let prefix = format!("{}_", env_prefix.to_ascii_uppercase());
    let mut applied = false;
    for (var, value) in vars {
        let Some(path) = var.strip_prefix(&prefix) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        set(&mut doc, &keys, value).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        applied = true;
    }
    if !applied {
        // Deserialise from the text so errors carry line numbers.
        return toml::from_str(text).map_err(located);
    }
    let merged = toml::to_string(&doc).map_err(|e| ConfigError::Semantic {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    toml::from_str(&merged).map_err(|e| ConfigError::Semantic {
        file: format!("{file} (with environment overrides)"),
        message: e.message().trim().to_owned(),
    })
}

/// The override as a TOML value, shaped like the value it replaces.
fn parse_value(raw: &str, replacing: Option<&toml::Value>) -> toml::Value {
    if matches!(replacing, Some(toml::Value::String(_))) {
        return toml::Value::String(raw.to_owned());
    }
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set(table: &mut toml::Table, keys: &[String], raw: &str) -> Result<(), String> {
    let Some((first, rest)) = keys.split_first() else {
        return Err("empty key".into());
    };
    if rest.is_empty() {
        let value = parse_value(raw, table.get(first));
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_value(entry, rest, raw)
}

fn set_value(node: &mut toml::Value, keys: &[String], raw: &str) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set(t, keys, raw),
        toml::Value::Array(items) => {
            let (first, rest) = keys.split_first().ok_or("empty key")?;
            let i: usize = first
                .parse()
                .map_err(|_| format!("`{first}` must be an index into the list"))?;
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("there is no item {i} in the list"))?;
            if rest.is_empty() {
                *item = parse_value(raw, Some(item));
                Ok(())
            } else {
                set_value(item, rest, raw)
            }
        }
        _ => Err(format!(
            "`{}` is not a table",
            keys.first().map(String::as_str).unwrap_or("")
        )),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        name: String,
        #[serde(default)]
        port: u16,
        #[serde(default)]
        tenant: Vec<Tenant>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Tenant {
        cvr: String,
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = parse::<Cfg>("f.toml", "name = \"x\"\n\nprot = 1\n", "APP", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.toml:3:1:"), "{err}");
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn environment_overrides_keys_and_list_items() {
        let vars = vec![
            ("APP_PORT".to_owned(), "8080".to_owned()),
            ("APP_TENANT__0__CVR".to_owned(), "29189846".to_owned()),
            ("OTHER_NAME".to_owned(), "ignored".to_owned()),
        ];
        let cfg: Cfg = parse(
            "f.toml",
            "name = \"x\"\n[[tenant]]\ncvr = \"1\"\n",
            "APP",
            &vars,
        )
        .unwrap();
        assert_eq!(cfg.port, 8080);
        assert_eq!(cfg.tenant[0].cvr, "29189846", "a CVR stays a string");
        let bad = vec![("APP_TENANT__5__CVR".to_owned(), "1".to_owned())];
        assert!(parse::<Cfg>("f.toml", "name = \"x\"\n", "APP", &bad).is_err());
    }
}

/// A secret named by where it lives (a file or an environment variable), never by its value,
/// so configuration files can be shared and committed without secrets in them.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub file: Option<std::path::PathBuf>,
    pub env: Option<String>,
}

impl Secret {
    /// Reads the secret; a relative file is read from `base` (the configuration's folder).
    /// Errors name the file or variable, never the value.
    pub fn read(&self, base: &Path) -> anyhow::Result<String> {
        match (&self.file, &self.env) {
            (Some(f), None) => {
                let path = if f.is_absolute() {
                    f.clone()
                } else {
                    base.join(f)
                };
                let s = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("cannot read secret file {}: {e}", path.display())
                })?;
                Ok(s.trim_end_matches(['\n', '\r']).to_owned())
            }
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| anyhow::anyhow!("environment variable {var} is not set")),
            _ => anyhow::bail!("a secret needs exactly one of `file` or `env`"),
        }
    }
}
