//! Running a product's binary from its tests as an operator does: a separate process, waited
//! for by what it prints (with a generous deadline, never a fixed sleep), and stopped with
//! SIGTERM as systemd stops it; and reading an answer off a raw socket, for tests that talk
//! HTTP byte by byte to see what a listener does with slow or hostile peers; and holding a
//! router's routes to its `openapi.json`; and [`upgrade`]: databases at every earlier schema of a
//! product, holding its fixture; and [`package`]: what the Debian packages' systemd units promise. With the `browser` feature, [`browser`]: a real
//! headless Chromium with axe-core, for a portal's pages.

#[cfg(feature = "browser")]
pub mod browser;
/// The systemd units of the Debian packages, as their tests check them.
pub mod package;
/// The upgrade walk: a fixture of the oldest schema brought to every later one.
pub mod upgrade;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for a process to say or do something.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A reader's lines, read by a thread, so a test can wait for one with a deadline.
pub fn lines_of(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running process with its output as lines; killed when dropped.
pub struct Process {
    /// The process, for its id, its exit status, and sending it signals.
    pub child: Child,
    /// Its standard output, line by line.
    pub stdout: mpsc::Receiver<String>,
    /// Its standard error, line by line (where logs go).
    pub stderr: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `c` with its output captured as lines; panics if it cannot start (a test failure).
    pub fn spawn(mut c: Command) -> Process {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = lines_of(child.stdout.take().expect("piped"));
        let stderr = lines_of(child.stderr.take().expect("piped"));
        Process {
            child,
            stdout,
            stderr,
        }
    }

    /// The first line (of stdout, or of stderr with `on_stderr`) for which `pick` gives
    /// something; panics with what the process said if none comes before the deadline.
    pub fn wait_for<T>(&mut self, on_stderr: bool, pick: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let lines = if on_stderr {
                &self.stderr
            } else {
                &self.stdout
            };
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = self.child.kill();
                    seen.extend(self.stderr.try_iter());
                    panic!("the expected line did not come:\n{}", seen.join("\n"));
                }
            }
        }
    }

    /// SIGTERM, then the exit status (panics if it does not stop before the deadline).
    pub fn stop(mut self) -> ExitStatus {
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(kill.success());
        self.wait()
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the process did not end within {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `c` to its end: whether it succeeded, and its stdout and stderr lines together.
pub fn run(c: Command) -> (bool, String) {
    let mut p = Process::spawn(c);
    let status = p.wait();
    // The readers end with the process's pipes.
    let text: Vec<String> = p.stdout.iter().chain(p.stderr.iter()).collect();
    (status.success(), text.join("\n"))
}

/// Runs `c` with its stdout a pipe nobody reads any more (`… | head` after `head` ended):
/// whether it succeeded, and its stderr.
pub fn run_with_closed_stdout(mut c: Command) -> (bool, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = c
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("the binary starts");
    (
        out.status.success(),
        format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
    )
}

/// `bin args…` run in `dir` with `env` as the only variables starting with `prefix`: a test
/// must not pick up the settings of the shell it runs in (`FORDELER_DATABASE__URL`, say).
pub fn command_in<'a>(
    bin: &str,
    dir: &std::path::Path,
    prefix: &str,
    env: impl IntoIterator<Item = (&'a String, &'a String)>,
    args: &[&str],
) -> Command {
    let mut c = Command::new(bin);
    c.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with(prefix)) {
        c.env_remove(k);
    }
    c.envs(env);
    c
}

/// Runs `c` to its end: its exit code (-1 when killed) and its stdout then stderr.
pub fn exit_code_and_output(mut c: Command) -> (i32, String) {
    let out = c.output().expect("the binary starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A database for a test of `setup`: the test's URL (see [`crate::db::test_database_url`])
/// without its password, which `setup` refuses (it would be written into the configuration),
/// and the variables that carry the password instead (`PGPASSWORD`).
pub async fn setup_database(
    dir: &std::path::Path,
) -> (String, std::collections::BTreeMap<String, String>) {
    let url = crate::db::test_database_url(dir)
        .await
        .expect("a test database");
    let mut env = std::collections::BTreeMap::new();
    match url::Url::parse(&url) {
        Ok(mut u) if u.password().is_some() => {
            let password = u.password().unwrap_or_default().to_owned();
            env.insert("PGPASSWORD".to_owned(), password);
            u.set_password(None).expect("a URL with a host");
            (u.to_string(), env)
        }
        _ => (url, env),
    }
}

/// Who runs the tests: the `--system-user` of a `setup` test, so that a test run as root (in a
/// container) adds no user and gives nothing away.
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Reads one HTTP/1.1 answer off a raw connection (status line, headers, a `Content-Length`
/// body): the status and the body. Panics, naming what it saw, when the connection closes
/// first or nothing complete arrives within `deadline`.
pub async fn read_answer<S>(s: &mut S, deadline: Duration) -> (u16, String)
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt as _;
    tokio::time::timeout(deadline, async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s
                .read(&mut buf)
                .await
                .expect("connection broke instead of an answer");
            assert!(
                n > 0,
                "closed without an answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let status = text
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
                return (status, text[end + 4..].to_owned());
            }
        }
    })
    .await
    .expect("no answer")
}

/// The operations an OpenAPI document declares: (method, path) with the operation object.
/// Panics on a document that is not OpenAPI-shaped JSON (the product's own, in a test).
pub fn openapi_operations(
    doc: &str,
) -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(doc).expect("openapi.json is JSON");
    let paths = doc["paths"].as_object().expect("openapi.json has paths");
    let mut out = std::collections::BTreeMap::new();
    for (path, methods) in paths {
        for (method, op) in methods.as_object().expect("a path holds methods") {
            out.insert((method.clone(), path.clone()), op.clone());
        }
    }
    out
}

/// Where a router's routes (method, path, as a `routes!` declaration lists them) and its
/// OpenAPI document disagree: a route declared twice, routed but not documented, documented
/// but not routed. Empty when they agree.
pub fn routes_against_openapi(routes: &[(&str, &str)], doc: &str) -> Vec<String> {
    let documented: std::collections::BTreeSet<(String, String)> =
        openapi_operations(doc).into_keys().collect();
    let mut routed = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for (method, path) in routes {
        if !routed.insert((method.to_string(), path.to_string())) {
            problems.push(format!("{method} {path}: routed twice"));
        }
    }
    for (method, path) in routed.difference(&documented) {
        problems.push(format!("{method} {path}: routed but not in openapi.json"));
    }
    for (method, path) in documented.difference(&routed) {
        problems.push(format!("{method} {path}: in openapi.json but not routed"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::routes_against_openapi;

    #[test]
    fn routes_and_contract_disagreeing_are_named() {
        let doc = r#"{"paths": {"/a": {"get": {}}, "/b": {"post": {}}}}"#;
        assert!(routes_against_openapi(&[("get", "/a"), ("post", "/b")], doc).is_empty());
        let problems = routes_against_openapi(&[("get", "/a"), ("get", "/a"), ("get", "/c")], doc);
        assert_eq!(
            problems,
            [
                "get /a: routed twice",
                "get /c: routed but not in openapi.json",
                "post /b: in openapi.json but not routed",
            ]
        );
    }
}
