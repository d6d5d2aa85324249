//! Parity with PHP Twig: every case in `tests/corpus/NN-name/` (a `template.twig`, a
//! `context.json`, optionally `options.json` with `autoescape` / `strict_variables` /
//! `timezone`, the default time zone of the date filters) is
//! rendered by Debian's php-twig through `tests/php/render.php` (one PHP process for all cases)
//! and by this crate, and the outputs must be byte-identical. Where PHP fails, we must fail too
//! (messages may differ). A case directory containing a file `expect-error` must fail in PHP,
//! which guards against an error case that silently stopped being one.
//!
//! The test fails, never skips, when `php` or php-twig is missing: CI installs
//! `php-cli php-twig php-xml php-mbstring`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use twig::{Autoescape, Environment};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn cases() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

fn copy_cases(to: &Path) {
    for (name, path) in cases() {
        let dest = to.join(&name);
        std::fs::create_dir_all(&dest).expect("create case dir");
        for f in std::fs::read_dir(&path).expect("read case dir").flatten() {
            std::fs::copy(f.path(), dest.join(f.file_name())).expect("copy case file");
        }
    }
}

fn php_results(dir: &Path) -> BTreeMap<String, serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/php/render.php");
    let out = Command::new("php")
        .arg(&script)
        .arg(dir)
        .output()
        .expect("`php` must be installed for the parity test (apt-get install php-cli php-twig php-xml php-mbstring)");
    assert!(
        out.status.success(),
        "php failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "php printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn rust_render(path: &Path) -> Result<String, String> {
    let source = std::fs::read_to_string(path.join("template.twig")).map_err(|e| e.to_string())?;
    let context: serde_json::Value = match std::fs::read_to_string(path.join("context.json")) {
        Ok(s) => serde_json::from_str(&s).map_err(|e| format!("bad context.json: {e}"))?,
        Err(_) => serde_json::json!({}),
    };
    let options: serde_json::Value = match std::fs::read_to_string(path.join("options.json")) {
        Ok(s) => serde_json::from_str(&s).map_err(|e| format!("bad options.json: {e}"))?,
        Err(_) => serde_json::json!({}),
    };
    let mut env = Environment::new();
    twig::register_os2forms(&mut env);
    match options.get("autoescape") {
        Some(serde_json::Value::Bool(false)) => env.set_autoescape(Autoescape::Off),
        Some(serde_json::Value::String(s)) => env.set_autoescape(Autoescape::Strategy(s.clone())),
        _ => {}
    }
    if let Some(serde_json::Value::Bool(b)) = options.get("strict_variables") {
        env.set_strict_variables(*b);
    }
    if let Some(serde_json::Value::String(tz)) = options.get("timezone") {
        env.set_timezone(tz)?;
    }
    let t = env
        .compile("template", &source)
        .map_err(|e| e.to_string())?;
    t.render_json(&env, &context).map_err(|e| e.to_string())
}

#[test]
fn corpus_matches_php_twig() {
    let all = cases();
    assert!(
        all.len() >= 40,
        "the corpus must have at least 40 cases, has {}",
        all.len()
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    copy_cases(tmp.path());
    let php = php_results(tmp.path());

    let mut failures = Vec::new();
    for (name, path) in &all {
        let Some(expected) = php.get(name) else {
            failures.push(format!("{name}: no PHP result"));
            continue;
        };
        let expect_error = path.join("expect-error").exists();
        let ours = rust_render(path);
        match (
            expected.get("ok").and_then(|v| v.as_str()),
            expected.get("error"),
            &ours,
        ) {
            (Some(want), _, Ok(got)) if want == got => {
                if expect_error {
                    failures.push(format!("{name}: marked expect-error but PHP rendered"));
                }
            }
            (Some(want), _, Ok(got)) => failures.push(format!(
                "{name}: output differs\n--- php\n{want}\n--- rust\n{got}\n---"
            )),
            (Some(want), _, Err(e)) => failures.push(format!(
                "{name}: PHP rendered but we failed: {e}\n--- php\n{want}\n---"
            )),
            (None, Some(err), Ok(got)) => failures.push(format!(
                "{name}: PHP failed ({err}) but we rendered\n--- rust\n{got}\n---"
            )),
            (None, Some(_), Err(_)) => {}
            (None, None, _) => failures.push(format!("{name}: unreadable PHP result {expected}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from PHP Twig:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}
