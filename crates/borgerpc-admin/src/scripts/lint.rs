//! The contributors' linter: the format checks of [`super::format`] plus ShellCheck on the
//! shell scripts, all reported as one gcc-style list.
//!
//! ShellCheck is optional (`Auto` uses it when it is on PATH) so the linter stays useful on a
//! laptop without it; CI installs it to get the full check.

use super::format::{self, Problem, Severity};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellcheckMode {
    /// Run ShellCheck if it is on PATH, skip it otherwise.
    Auto,
    Off,
}

/// Whether a `shellcheck` executable can be run.
pub fn shellcheck_available() -> bool {
    Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Every problem of the library in `dir`: format problems first, then ShellCheck findings
/// for the shell scripts that parsed.
pub fn lint_dir(dir: &Path, shellcheck: ShellcheckMode) -> Vec<Problem> {
    let (specs, mut problems) = format::read_dir(dir);
    if shellcheck == ShellcheckMode::Off || !shellcheck_available() {
        return problems;
    }
    let mut done: HashSet<PathBuf> = HashSet::new();
    for spec in &specs {
        if is_shell(&spec.code_file, &spec.code) && done.insert(spec.code_file.clone()) {
            problems.extend(run_shellcheck(&spec.code_file));
        }
    }
    problems
}

/// `.sh` files, and any file whose `#!` names a shell ShellCheck understands.
fn is_shell(path: &Path, code: &str) -> bool {
    if path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("sh"))
    {
        return true;
    }
    let first = code.lines().next().unwrap_or_default();
    let Some(interpreter) = first.strip_prefix("#!") else {
        return false;
    };
    let mut words = interpreter.split_whitespace();
    let mut program = words.next().unwrap_or_default();
    if program.ends_with("/env") {
        program = words.find(|w| !w.starts_with('-')).unwrap_or_default();
    }
    let name = program.rsplit('/').next().unwrap_or_default();
    matches!(name, "sh" | "bash" | "dash" | "ksh")
}

fn run_shellcheck(code_file: &Path) -> Vec<Problem> {
    // A relative path starting with `-` would be read as an option.
    let arg: PathBuf = if code_file.is_relative() {
        Path::new(".").join(code_file)
    } else {
        code_file.to_path_buf()
    };
    let output = match Command::new("shellcheck")
        .arg("--format=gcc")
        .arg(&arg)
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            return vec![Problem::warning(
                code_file,
                0,
                format!("could not run shellcheck: {e}"),
            )];
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut problems = parse_gcc(&stdout, &arg.to_string_lossy(), code_file);
    // Exit 1 means "found issues"; anything else without output is ShellCheck itself failing.
    if problems.is_empty() && !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        problems.push(Problem::warning(
            code_file,
            0,
            format!("shellcheck failed: {}", stderr.trim()),
        ));
    }
    problems
}

/// Turns `file:line:col: severity: message [SCxxxx]` lines into problems on `code_file`.
///
/// The file part is matched against the path we passed rather than split at `:`, because
/// paths may contain colons.
fn parse_gcc(output: &str, passed: &str, code_file: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let parsed = line
            .strip_prefix(passed)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| {
                let mut parts = rest.splitn(3, ':');
                let line_no = parts.next()?.trim().parse::<usize>().ok()?;
                let _column = parts.next()?;
                let (severity, message) = parts.next()?.trim_start().split_once(": ")?;
                Some((
                    line_no,
                    severity.trim().to_string(),
                    message.trim().to_string(),
                ))
            });
        let problem = match parsed {
            Some((line_no, severity, message)) => Problem {
                file: code_file.to_path_buf(),
                line: line_no,
                message: format!("shellcheck: {message}"),
                // Only ShellCheck's errors stop a script from working; its warnings, infos
                // and style notes (`note` in gcc format) are advice.
                severity: if severity == "error" {
                    Severity::Error
                } else {
                    Severity::Warning
                },
            },
            None => Problem::warning(code_file, 0, format!("shellcheck: {line}")),
        };
        problems.push(problem);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures(which: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scripts")
            .join(which)
    }

    #[test]
    fn parses_gcc_output() {
        let out = "lib/scripts/a:b.sh:3:4: warning: Double quote to prevent globbing and word splitting. [SC2086]\n\
                   lib/scripts/a:b.sh:5:1: error: Couldn't parse this if expression. [SC1073]\n\
                   lib/scripts/a:b.sh:7:2: note: Use $(...) notation instead of legacy backticks. [SC2006]\n\
                   garbage\n";
        let file = Path::new("lib/scripts/a:b.sh");
        let p = parse_gcc(out, "lib/scripts/a:b.sh", file);
        assert_eq!(p.len(), 4);
        assert_eq!((p[0].line, p[0].severity), (3, Severity::Warning));
        assert!(p[0].message.ends_with("[SC2086]"));
        assert_eq!((p[1].line, p[1].severity), (5, Severity::Error));
        assert_eq!((p[2].line, p[2].severity), (7, Severity::Warning));
        assert_eq!((p[3].line, p[3].severity), (0, Severity::Warning));
        assert!(p.iter().all(|p| p.file == file));
    }

    #[test]
    fn recognises_shell_code() {
        let p = Path::new("scripts/x");
        assert!(is_shell(Path::new("scripts/x.sh"), "#!/usr/bin/python3\n"));
        assert!(is_shell(p, "#!/bin/bash\n"));
        assert!(is_shell(p, "#!/usr/bin/env bash\n"));
        assert!(is_shell(p, "#!/usr/bin/env -S bash -e\n"));
        assert!(is_shell(p, "#! /bin/sh -e\n"));
        assert!(!is_shell(
            Path::new("scripts/x.py"),
            "#!/usr/bin/env python3\n"
        ));
        assert!(!is_shell(p, "echo\n"));
    }

    #[test]
    fn off_is_just_the_format_check() {
        let dir = fixtures("shellcheck");
        assert_eq!(
            lint_dir(&dir, ShellcheckMode::Off),
            format::read_dir(&dir).1
        );
        assert!(lint_dir(&fixtures("good"), ShellcheckMode::Off).is_empty());
    }

    /// Runs only where ShellCheck is installed (CI installs it from Debian's `shellcheck`).
    #[test]
    fn shellcheck_finds_unquoted_variable() {
        if !shellcheck_available() {
            eprintln!("shellcheck not on PATH; skipping");
            return;
        }
        let dir = fixtures("shellcheck");
        let problems = lint_dir(&dir, ShellcheckMode::Auto);
        let sc2086: Vec<_> = problems
            .iter()
            .filter(|p| p.message.contains("SC2086"))
            .collect();
        assert_eq!(sc2086.len(), 1, "{problems:#?}");
        assert_eq!(sc2086[0].file, dir.join("scripts/unquoted_rm.sh"));
        assert_eq!(sc2086[0].line, 5);
        assert_eq!(sc2086[0].severity, Severity::Warning);
        // The clean library stays clean with ShellCheck too.
        let good = lint_dir(&fixtures("good"), ShellcheckMode::Auto);
        assert!(good.is_empty(), "{good:#?}");
    }
}
