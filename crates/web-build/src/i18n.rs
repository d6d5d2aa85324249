//! The message catalogues: `da.toml` and `en.toml`, flat `key = "text"` tables, checked
//! against each other and written as one struct with a field per key.
//!
//! Fields rather than a map: a template's `{{ m.logout }}` is checked by the compiler, so a
//! mistyped or removed key fails the build instead of showing up blank (or as the key) in
//! front of a citizen. Both files must have the same keys because there is no fallback
//! language: a silently Danish line on an English page is a bug nobody notices.

use crate::{literal, write_if_changed};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The catalogue files' languages and their statics' names.
const LANGUAGES: [(&str, &str); 2] = [("da", "DA"), ("en", "EN")];

/// Reads `da.toml` and `en.toml` from `locales_dir`, checks them and writes the Rust source of
/// `pub struct Msgs` (one `&'static str` field per key, in sorted order, each documented with
/// its Danish text), `pub static DA: Msgs`, `pub static EN: Msgs` and
/// `Msgs::get(&self, key) -> Option<&'static str>` for lookups by name, to `out_file`.
///
/// Fails, with a message naming the file and key, when the two files do not have the same
/// keys (`i18n catalogues differ: only in da.toml: [..]; only in en.toml: [..]`), when a
/// value is not a string or is empty, when a key is not a lowercase Rust identifier
/// (`[a-z][a-z0-9_]*`, not a keyword), or when a key is in two files of one language. Texts
/// may also be split over `da/*.toml` and `en/*.toml`. Prints `cargo:rerun-if-changed` for
/// every file read.
pub fn catalogue(locales_dir: &Path, out_file: &Path) -> Result<(), String> {
    let da = load_language(locales_dir, "da")?;
    let en = load_language(locales_dir, "en")?;
    let only_da: Vec<&String> = da.keys().filter(|k| !en.contains_key(*k)).collect();
    let only_en: Vec<&String> = en.keys().filter(|k| !da.contains_key(*k)).collect();
    if !only_da.is_empty() || !only_en.is_empty() {
        return Err(format!(
            "i18n catalogues differ: only in da.toml: {only_da:?}; only in en.toml: {only_en:?}"
        ));
    }
    write_if_changed(out_file, &generate(&da, &en))
}

/// A language's texts: `<lang>.toml`, and every `*.toml` in the folder `<lang>/` beside it
/// (one file per part of a portal, so people working on different pages do not edit the same
/// file). A key may be in one file only.
fn load_language(locales_dir: &Path, lang: &str) -> Result<BTreeMap<String, String>, String> {
    let mut files = vec![locales_dir.join(format!("{lang}.toml"))];
    let folder = locales_dir.join(lang);
    if folder.is_dir() {
        println!("cargo:rerun-if-changed={}", folder.display());
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        let mut more: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        more.sort();
        files.extend(more);
    }
    let mut all: BTreeMap<String, String> = BTreeMap::new();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        for (key, text) in load(&file)? {
            let name = file.display().to_string();
            if let Some(first) = from.insert(key.clone(), name.clone()) {
                return Err(format!("{name}: key {key:?} is in {first} already"));
            }
            all.insert(key, text);
        }
    }
    Ok(all)
}

/// One catalogue file, every key checked and every value a non-empty string.
fn load(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        check_key(&key).map_err(|why| format!("{name}: key {key:?} {why}"))?;
        let Some(text) = value.as_str() else {
            return Err(format!(
                "{name}: key {key:?} is a {}, not a string (catalogues are flat `key = \"text\"` tables)",
                value.type_str()
            ));
        };
        if text.trim().is_empty() {
            return Err(format!("{name}: key {key:?} has an empty text"));
        }
        out.insert(key, text.to_owned());
    }
    Ok(out)
}

/// Why `key` cannot be a field name, if it cannot.
fn check_key(key: &str) -> Result<(), &'static str> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err("is not a lowercase Rust identifier ([a-z][a-z0-9_]*)");
    }
    if KEYWORDS.contains(&key) {
        return Err("is a Rust keyword");
    }
    Ok(())
}

/// Rust's strict and reserved keywords (edition 2024) that match `[a-z][a-z0-9_]*`; each
/// would need `r#` as a field name, and in a template.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// The Rust source for the two checked catalogues (same keys, sorted).
fn generate(da: &BTreeMap<String, String>, en: &BTreeMap<String, String>) -> String {
    // `write!` to a String cannot fail; the results are ignored for that reason.
    let mut s = String::new();
    s.push_str(
        "// @generated by web_build::catalogue from da.toml and en.toml: edit those, not this.\n\n",
    );
    s.push_str("/// The user-interface texts of one language, a field per catalogue key.\n");
    s.push_str(ALLOW_PUB);
    s.push_str("#[derive(Debug)]\npub struct Msgs {\n");
    for (key, text) in da {
        let _ = writeln!(
            s,
            "    #[doc = {}]",
            literal(&format!("Dansk: {}", markdown_text(text)))
        );
        let _ = writeln!(s, "    pub {key}: &'static str,");
    }
    s.push_str("}\n");
    for ((lang, name), texts) in LANGUAGES.iter().zip([da, en]) {
        let _ = write!(
            s,
            "\n/// The texts of `{lang}.toml`.\n{ALLOW_PUB}pub static {name}: Msgs = Msgs {{\n"
        );
        for (key, text) in texts {
            let _ = writeln!(s, "    {key}: {},", literal(text));
        }
        s.push_str("};\n");
    }
    s.push_str("\nimpl Msgs {\n");
    s.push_str("    /// The text for `key`, for a key known only at run time; `None` for an unknown key.\n");
    s.push_str(
        "    #[allow(unreachable_pub, dead_code, reason = \"templates use the fields; this is for the rest\")]\n",
    );
    s.push_str("    pub fn get(&self, key: &str) -> Option<&'static str> {\n");
    if da.is_empty() {
        s.push_str("        let _ = key;\n        None\n");
    } else {
        s.push_str("        match key {\n");
        for key in da.keys() {
            let _ = writeln!(s, "            {} => Some(self.{key}),", literal(key));
        }
        s.push_str("            _ => None,\n        }\n");
    }
    s.push_str("    }\n}\n");
    s
}

/// The attribute on every generated `pub` item: the including `mod` decides how far it reaches.
const ALLOW_PUB: &str =
    "#[allow(unreachable_pub, reason = \"the including module decides the visibility\")]\n";

/// `text` on one line with Markdown's punctuation escaped, so a doc comment shows it as written.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(da: &str, en: &str) -> Result<String, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("da.toml"), da).expect("write da");
        std::fs::write(dir.path().join("en.toml"), en).expect("write en");
        let out = dir.path().join("i18n.rs");
        catalogue(dir.path(), &out)?;
        Ok(std::fs::read_to_string(out).expect("read output"))
    }

    #[test]
    fn generates_struct_statics_and_lookup_in_key_order() {
        let code = run(
            "logout = \"Log ud\"\nback = \"Tilbage \\\"hjem\\\"\"\n",
            "logout = \"Log out\"\nback = \"Back\"\n",
        )
        .expect("generated");
        let back = code.find("pub back: &'static str,").expect("field back");
        let logout = code
            .find("pub logout: &'static str,")
            .expect("field logout");
        assert!(back < logout, "fields sorted:\n{code}");
        assert!(
            code.contains("#[doc = \"Dansk: Tilbage \\\\\\\"hjem\\\\\\\"\"]"),
            "{code}"
        );
        assert!(code.contains("pub static DA: Msgs = Msgs {\n    back: \"Tilbage \\\"hjem\\\"\",\n    logout: \"Log ud\",\n};"), "{code}");
        assert!(
            code.contains(
                "pub static EN: Msgs = Msgs {\n    back: \"Back\",\n    logout: \"Log out\",\n};"
            ),
            "{code}"
        );
        assert!(
            code.contains("pub fn get(&self, key: &str) -> Option<&'static str>"),
            "{code}"
        );
        assert!(code.contains("\"logout\" => Some(self.logout),"), "{code}");
    }

    #[test]
    fn texts_may_be_split_over_a_folder_per_language_but_a_key_is_in_one_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::write(p.join("da.toml"), "a = \"A\"\n").expect("write");
        std::fs::write(p.join("en.toml"), "a = \"A\"\n").expect("write");
        for lang in ["da", "en"] {
            std::fs::create_dir(p.join(lang)).expect("mkdir");
            std::fs::write(p.join(lang).join("pcs.toml"), "pc_title = \"PC\"\n").expect("write");
        }
        let out = p.join("out.rs");
        catalogue(p, &out).expect("split catalogue");
        assert!(
            std::fs::read_to_string(&out)
                .expect("read")
                .contains("pub pc_title")
        );
        std::fs::write(p.join("da").join("more.toml"), "a = \"igen\"\n").expect("write");
        let err = catalogue(p, &out).expect_err("a key twice");
        assert!(
            err.contains("more.toml: key \"a\" is in") && err.contains("da.toml"),
            "{err}"
        );
    }

    #[test]
    fn every_pub_item_is_documented() {
        let code = run("a = \"x\"\nb = \"y\"\n", "a = \"x\"\nb = \"y\"\n").expect("generated");
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("pub ") {
                let above = lines[..i]
                    .iter()
                    .rev()
                    .find(|l| {
                        !l.trim_start().starts_with("#[allow")
                            && !l.trim_start().starts_with("#[derive")
                    })
                    .expect("a line above");
                let above = above.trim_start();
                assert!(
                    above.starts_with("///") || above.starts_with("#[doc"),
                    "undocumented: {line}\n{code}"
                );
            }
        }
    }

    #[test]
    fn differing_keys_name_both_sides() {
        let err = run(
            "logout = \"Log ud\"\nhelp = \"Hjælp\"\n",
            "help = \"Help\"\nlog_in = \"Log in\"\n",
        )
        .expect_err("differ");
        assert_eq!(
            err,
            "i18n catalogues differ: only in da.toml: [\"logout\"]; only in en.toml: [\"log_in\"]"
        );
    }

    #[test]
    fn empty_and_non_string_values_are_refused() {
        let err = run("logout = \"\"\n", "logout = \"Log out\"\n").expect_err("empty");
        assert!(
            err.ends_with("da.toml: key \"logout\" has an empty text"),
            "{err}"
        );
        let err = run("logout = \"Log ud\"\n", "logout = 3\n").expect_err("integer");
        assert!(err.ends_with("en.toml: key \"logout\" is a integer, not a string (catalogues are flat `key = \"text\"` tables)"), "{err}");
        let err =
            run("[menu]\nlogout = \"Log ud\"\n", "logout = \"Log out\"\n").expect_err("table");
        assert!(
            err.contains("da.toml: key \"menu\" is a table, not a string"),
            "{err}"
        );
    }

    #[test]
    fn keys_must_be_lowercase_identifiers_and_not_keywords() {
        for bad in ["Logout", "log-out", "\"1st\"", "_x", "\"æble\"", "\"\""] {
            let err = run(&format!("{bad} = \"x\"\n"), "").expect_err(bad);
            assert!(
                err.contains("is not a lowercase Rust identifier ([a-z][a-z0-9_]*)"),
                "{bad}: {err}"
            );
        }
        let err = run("type = \"Type\"\n", "type = \"Type\"\n").expect_err("keyword");
        assert!(
            err.ends_with("da.toml: key \"type\" is a Rust keyword"),
            "{err}"
        );
        assert!(
            run(
                "col_2 = \"x\"\nget = \"Hent\"\n",
                "col_2 = \"x\"\nget = \"Get\"\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn broken_toml_and_missing_files_name_the_file() {
        let err = run("logout = \"Log ud\n", "").expect_err("syntax");
        assert!(err.contains("da.toml: "), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let err = catalogue(dir.path(), &dir.path().join("out.rs")).expect_err("missing");
        assert!(
            err.starts_with("cannot read ") && err.contains("da.toml"),
            "{err}"
        );
    }

    #[test]
    fn markdown_in_texts_is_escaped_for_the_doc_comment() {
        assert_eq!(
            markdown_text("*Vigtigt*: se [her]\nog <b>"),
            "\\*Vigtigt\\*\\: se \\[her\\] og \\<b\\>"
        );
    }
}
