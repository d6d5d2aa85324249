//! What the README names — commands and their options, environment variables, configuration
//! keys — so each product's tests can check that everything it names exists. A README that
//! names a command, a variable or a key the program does not have sends an operator down a
//! wrong path; these checks make that a test failure.
//!
//! Only code is read: fenced blocks and `inline spans`. A command is the program's name as a
//! word followed by its arguments (`fordeler list --state failed`, also after `cargo run -p
//! fordeler --`); `<placeholders>` and `…` are skipped.

use std::collections::BTreeSet;

/// One README's text.
pub struct Readme {
    text: String,
}

/// A piece of code in the README: a line of a fenced block (with the block's language), or an
/// inline span.
struct Code<'a> {
    lang: Option<&'a str>,
    text: &'a str,
}

impl Readme {
    /// The README's text, as the product ships it.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }

    /// Reads `README.md` at the workspace root, and after it every `docs/*.md` (the reference
    /// the README points to), from a crate's manifest directory: what the docs name is held to
    /// the program as strictly as the README itself.
    pub fn of_workspace(manifest_dir: &str) -> Self {
        let root = std::path::Path::new(manifest_dir).join("../..");
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        };
        let mut text = read(&root.join("README.md"));
        let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
            .map(|dir| dir.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
        docs.sort();
        for doc in docs {
            text.push('\n');
            text.push_str(&read(&doc));
        }
        Self::new(text)
    }

    /// The whole text, e.g. for a test that looks for names of its own kind.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text under `## heading` up to the next `## ` heading, and every document titled
    /// `# heading` (a reference in `docs/`) whole; empty if there is neither.
    pub fn section(&self, heading: &str) -> Readme {
        let mut out = String::new();
        let mut inside = false;
        let mut in_titled_doc = false;
        let mut fenced = false;
        for line in self.text.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            if !fenced {
                if let Some(title) = line.strip_prefix("# ") {
                    in_titled_doc = title.trim() == heading;
                    inside = in_titled_doc;
                    continue;
                }
                if let Some(h) = line.strip_prefix("## ") {
                    inside = in_titled_doc || h.trim() == heading;
                    continue;
                }
            }
            if inside {
                out.push_str(line);
                out.push('\n');
            }
        }
        Readme::new(out)
    }

    fn code(&self) -> Vec<Code<'_>> {
        let mut out = Vec::new();
        let mut fence: Option<&str> = None;
        for line in self.text.lines() {
            if let Some(lang) = line.trim_start().strip_prefix("```") {
                fence = match fence {
                    Some(_) => None,
                    None => Some(lang.trim()),
                };
                continue;
            }
            match fence {
                Some(lang) => out.push(Code {
                    lang: Some(lang),
                    text: line,
                }),
                None => {
                    for (i, span) in line.split('`').enumerate() {
                        if i % 2 == 1 {
                            out.push(Code {
                                lang: None,
                                text: span,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Every environment variable `PREFIX_…` named anywhere (placeholders such as
    /// `PREFIX_<SECTION>__<KEY>` and `PREFIX_*` left out).
    pub fn variables(&self, prefix: &str) -> BTreeSet<String> {
        let prefix = format!("{prefix}_");
        let mut out = BTreeSet::new();
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find(&prefix) {
            let before = self.text.len() - rest.len() + i;
            let preceded = self.text[..before]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            let tail = &rest[i..];
            let len = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..len];
            let next = tail[len..].chars().next();
            if !preceded && !name.ends_with('_') && !matches!(next, Some('<' | '*')) {
                out.insert(name.to_owned());
            }
            rest = &tail[len.max(1)..];
        }
        out
    }

    /// The arguments of every command line of `program` (after the program's name).
    pub fn commands(&self, program: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for code in self.code() {
            if code.lang.is_some_and(|l| !matches!(l, "sh" | "bash" | "")) {
                continue;
            }
            let line = code.text.split(" #").next().unwrap_or_default();
            let words: Vec<&str> = line.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                if *w != program {
                    continue;
                }
                let mut args = Vec::new();
                for a in &words[i + 1..] {
                    if matches!(*a, "|" | "&&" | ";" | "||") || a.starts_with('#') {
                        break;
                    }
                    let a = a.trim_matches(|c| c == '[' || c == ']');
                    if a == "--" || a.is_empty() || a.starts_with('<') || a.contains('…') {
                        continue;
                    }
                    args.push(a.to_owned());
                }
                out.push(args);
            }
        }
        out
    }

    /// Configuration keys named in ```toml blocks and in inline spans such as
    /// `delivery.max_age_hours` or `[delivery] wait_for_forretning = false`, as dotted paths
    /// without list indices. An inline span counts only when its first part is one of
    /// `sections` (so `fordeler.toml` is not a key).
    pub fn config_keys(&self, sections: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut table = String::new();
        for code in self.code() {
            let text = code.text.trim();
            match code.lang {
                Some("toml") => {
                    if let Some(key) = toml_line(text, &mut table) {
                        out.insert(key);
                    }
                }
                Some(_) => {}
                None => {
                    if text.starts_with('[') {
                        // `[delivery] wait_for_forretning = false`, or a table alone.
                        let end = text.rfind(']').unwrap_or(text.len() - 1);
                        let (header, tail) = text.split_at(end + 1);
                        let mut inline_table = String::new();
                        let header = toml_line(header, &mut inline_table);
                        let key = match tail.trim() {
                            "" => header,
                            tail => toml_line(tail, &mut inline_table),
                        };
                        if let Some(key) = key.filter(|k| sections.contains(first(k))) {
                            out.insert(key);
                        }
                    } else if is_dotted_key(text) && sections.contains(first(text)) {
                        out.insert(text.to_owned());
                    }
                }
            }
        }
        out
    }
}

fn first(key: &str) -> &str {
    key.split('.').next().unwrap_or_default()
}

fn is_dotted_key(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// One line of TOML: a table header sets `table` (and is itself a key); `key = …` is
/// `table.key`.
fn toml_line(line: &str, table: &mut String) -> Option<String> {
    let line = line.split(" #").next().unwrap_or_default().trim();
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    if let Some(header) = line.strip_prefix('[') {
        let name = header
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or_default()
            .trim();
        *table = name.to_owned();
        return Some(name.to_owned());
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.contains(' ') {
        return None;
    }
    Some(if table.is_empty() {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    })
}

/// `program`'s help for a command path: what `program <path…> --help` prints, `None` when the
/// program refuses the path.
pub type Help<'a> = dyn Fn(&[String]) -> Option<String> + 'a;

/// The commands of a help text (the words listed under `Commands:`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(str::to_owned)
        .collect()
}

/// Problems with the README's command lines of `program`: a command it does not have, or an
/// option (`--x`) the command does not take.
pub fn unknown_commands(readme: &Readme, program: &str, help: &Help<'_>) -> Vec<String> {
    let mut problems = BTreeSet::new();
    'lines: for args in readme.commands(program) {
        let line = format!("{program} {}", args.join(" "));
        let named = |path: &[String]| {
            std::iter::once(program)
                .chain(path.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut path: Vec<String> = Vec::new();
        let Some(mut text) = help(&path) else {
            problems.insert(format!("`{program} --help` fails"));
            continue;
        };
        let mut rest = args.as_slice();
        // Words name commands while the command reached so far has commands.
        while let Some((word, more)) = rest.split_first() {
            let commands = subcommands(&text);
            if commands.is_empty() || word.starts_with('-') {
                break;
            }
            if !commands.contains(word) {
                problems.insert(format!(
                    "{line}: `{}` has no command `{word}` (it has {})",
                    named(&path),
                    commands.join(", ")
                ));
                continue 'lines;
            }
            path.push(word.clone());
            match help(&path) {
                Some(t) => text = t,
                None => {
                    problems.insert(format!("{line}: `{} --help` fails", named(&path)));
                    continue 'lines;
                }
            }
            rest = more;
        }
        for option in rest.iter().filter(|a| a.starts_with("--")) {
            let option = option.split('=').next().unwrap_or_default();
            let known = text
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|w| w == option);
            if !known {
                problems.insert(format!("{line}: `{}` has no option {option}", named(&path)));
            }
        }
    }
    problems.into_iter().collect()
}

/// Every help text of `program`: the top level's and each command's, all levels down.
pub fn all_help(help: &Help<'_>) -> String {
    let mut out = String::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let Some(text) = help(&path) else { continue };
        for c in subcommands(&text) {
            let mut next = path.clone();
            next.push(c);
            todo.push(next);
        }
        out.push_str(&text);
    }
    out
}

/// Problems with the README's `PREFIX_…` variables: an override (`PREFIX_SECTION__KEY`) must
/// name a key of `example_keys` (see `config::example_keys`); any other variable must be one
/// the example names as a secret, or one the program's help names.
pub fn unknown_variables(
    readme: &Readme,
    prefix: &str,
    example: &str,
    example_keys: &BTreeSet<String>,
    help: &str,
) -> Vec<String> {
    let secrets = toml::from_str::<toml::Table>(example)
        .map(|doc| crate::config::secret_variables(&doc))
        .unwrap_or_default();
    let mut problems = Vec::new();
    for var in readme.variables(prefix) {
        let rest = &var[prefix.len() + 1..];
        if rest.contains("__") {
            let key: Vec<String> = rest
                .split("__")
                .filter(|p| p.parse::<usize>().is_err())
                .map(str::to_ascii_lowercase)
                .collect();
            let key = key.join(".");
            if !example_keys.contains(&key) {
                problems.push(format!("{var}: the configuration has no key {key}"));
            }
        } else if !secrets.contains(&var) && !help.contains(&var) {
            problems.push(format!(
                "{var}: neither a secret the example configuration names nor a variable the \
                 program's help mentions"
            ));
        }
    }
    problems
}

/// One program as the README and `docs/` describe it: the section that is its own (the README's
/// `## <section>` and the reference titled `# <section>`), its binary, the prefix of its
/// variables and its complete example configuration.
pub struct Program<'a> {
    /// The command as the README writes it (`fordeler`).
    pub name: &'a str,
    /// The built binary, asked for `--help` (`env!("CARGO_BIN_EXE_…")`).
    pub bin: &'a str,
    /// The heading of its part of the README and of its reference in `docs/`.
    pub section: &'a str,
    /// The prefix of its variables (`FORDELER`).
    pub env_prefix: &'a str,
    /// The example configuration's file name, for messages.
    pub example_name: &'a str,
    /// The example configuration's text.
    pub example: &'a str,
}

/// What [`Program::check`] found, and how much it read: a check that read nothing would pass
/// whatever the README says, so tests also assert the counts.
pub struct Checked {
    /// Each thing named that the program does not have, in words a README editor can act on.
    pub problems: Vec<String>,
    /// How many command lines of the program the README and `docs/` give.
    pub commands: usize,
    /// How many configuration keys the program's own section names.
    pub keys: usize,
}

impl Program<'_> {
    /// Holds the workspace's README and `docs/` (read from a crate's manifest directory) to the
    /// program: every command and option it names exists (asked from `bin … --help`), every
    /// variable is an override of a real key or a variable the program knows, and every
    /// configuration key its section names is in the example configuration.
    pub fn check(&self, manifest_dir: &str) -> Checked {
        let readme = Readme::of_workspace(manifest_dir);
        let help = |path: &[String]| -> Option<String> {
            let out = std::process::Command::new(self.bin)
                .args(path)
                .arg("--help")
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let keys = match crate::config::example_keys(self.example) {
            Ok(keys) => keys,
            Err(e) => {
                return Checked {
                    problems: vec![format!("{}: {e}", self.example_name)],
                    commands: 0,
                    keys: 0,
                };
            }
        };
        let mut problems = unknown_commands(&readme, self.name, &help);
        problems.extend(unknown_variables(
            &readme,
            self.env_prefix,
            self.example,
            &keys,
            &all_help(&help),
        ));
        let sections = keys.iter().filter(|k| !k.contains('.')).cloned().collect();
        let named = readme.section(self.section).config_keys(&sections);
        for key in &named {
            if !keys.contains(key) {
                problems.push(format!(
                    "README ({}) names the key {key}, which {} does not have",
                    self.section, self.example_name
                ));
            }
        }
        Checked {
            problems,
            commands: readme.commands(self.name).len(),
            keys: named.len(),
        }
    }
}

/// The metrics the monitoring files in `docs/monitoring/` (alert rules, the Grafana
/// dashboard) query whose names start with one of `prefixes`, as recorded (a histogram's
/// `_bucket`, `_count` and `_sum` series by the histogram's own name); with each file's name.
/// A product's test checks that its code records every one, so a dashboard never shows a
/// metric that no version has.
pub fn monitored_metrics(manifest_dir: &str, prefixes: &[&str]) -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(manifest_dir).join("../../docs/monitoring");
    let mut out = BTreeSet::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for word in
            text.split(|c: char| !(c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()))
        {
            if !prefixes.iter().any(|p| word.starts_with(p)) {
                continue;
            }
            let name = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s))
                .unwrap_or(word);
            out.insert((file.clone(), name.to_owned()));
        }
    }
    out
}

/// The Rust sources of the workspace's `crates` (`crates/<name>/src/**.rs`), joined: where a
/// test looks for a metric's name as the code records it (`"name"`).
pub fn sources_of(manifest_dir: &str, crates: &[&str]) -> String {
    let root = std::path::Path::new(manifest_dir).join("..");
    let mut sources = String::new();
    let mut dirs: Vec<_> = crates.iter().map(|c| root.join(c).join("src")).collect();
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# T\n\n## Tool\n\nRun `tool serve -c x.toml` or `tool.toml`.\n\n\
```sh\ntool list --state failed   # comment\ncargo run -p tool -- demo\ntool show <uuid> | head\n```\n\n\
Set `TOOL_DB__URL`, `TOOL_TOKEN`, not `TOOL_<SECTION>__<KEY>` or `TOOL_*`.\n\n\
```toml\n[server]\nlisten = \"x\"   # where\n[[form.route]]\nid = \"a\"\n```\n\n\
Keys: `server.port`, `[delivery] max = 1`, `fordeler.db.files`.\n\n## Other\n\n`tool gone`\n";

    #[test]
    fn reads_commands_variables_and_keys() {
        let r = Readme::new(README).section("Tool");
        assert_eq!(
            r.commands("tool"),
            vec![
                vec!["serve", "-c", "x.toml"],
                vec!["list", "--state", "failed"],
                vec!["demo"],
                vec!["show"],
            ]
        );
        assert_eq!(
            r.variables("TOOL").into_iter().collect::<Vec<_>>(),
            vec!["TOOL_DB__URL", "TOOL_TOKEN"]
        );
        let sections: BTreeSet<String> = ["server", "delivery", "form"].map(String::from).into();
        assert_eq!(
            r.config_keys(&sections).into_iter().collect::<Vec<_>>(),
            vec![
                "delivery.max",
                "form.route",
                "form.route.id",
                "server",
                "server.listen",
                "server.port"
            ]
        );
    }

    #[test]
    fn a_reference_titled_like_the_section_is_part_of_it() {
        let text =
            format!("{README}\n# Tool\n\n## Deep\n\n`tool gone`\n\n# Else\n\n`tool other`\n");
        let commands = Readme::new(text).section("Tool").commands("tool");
        assert_eq!(commands.len(), 5, "{commands:?}");
        assert_eq!(commands[4], vec!["gone"]);
    }

    #[test]
    fn finds_unknown_commands_and_options() {
        let help = |path: &[String]| -> Option<String> {
            match path.join(" ").as_str() {
                "" => {
                    Some("Commands:\n  serve  Run\n  list   List\n  help  x\n\nOptions:\n".into())
                }
                "serve" => Some("Options:\n  -c, --config <C>\n".into()),
                "list" => Some("Options:\n      --form <F>\n".into()),
                _ => None,
            }
        };
        let r = Readme::new(README).section("Tool");
        let problems = unknown_commands(&r, "tool", &help);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`tool list` has no option --state"))
        );
        assert!(problems.iter().any(|p| p.contains("no option --state")));
        assert!(problems.iter().any(|p| p.contains("no command `demo`")));
        assert!(problems.iter().any(|p| p.contains("no command `show`")));
    }
}
