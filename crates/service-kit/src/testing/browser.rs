//! A real headless Chromium for a product's tests, driven over WebDriver, with axe-core to
//! check each page's accessibility: what a portal's users meet is held to what a browser does
//! with it (focus order, forms, a strict CSP), not to what a test expects the HTML to mean.
//!
//! One chromedriver and one browser session per test (about 0.5 s to start); nextest runs each
//! test in a process of its own and the `browser` test group in `.config/nextest.toml` caps how
//! many run at once. Nothing here is shared in a `static`: a static is never dropped, so its
//! chromedriver would outlive the test run and hold the output pipe of whoever runs it.
//!
//! Needs `apt-get install chromium chromium-driver fonts-liberation` and axe-core's
//! `axe.min.js` under `target/axe-core/`; `.ci/run` sets up both, and a missing piece fails the
//! test naming the command that provides it. Tests are never skipped for want of them.
//!
//! ```no_run
//! use service_kit::testing::browser::{Browser, thirtyfour::prelude::*};
//!
//! # async fn example(url: &str) -> anyhow::Result<()> {
//! let browser = Browser::start().await?;
//! browser.goto(format!("{url}/login")).await?;
//! browser.tab_to("brugernavn", 3).await?;
//! browser.press("anna" + Key::Enter).await?;
//! browser.wait(By::Id("status")).await?; // only the next page has it
//! browser.assert_accessible("/oversigt").await?;
//! browser.quit().await
//! # }
//! ```

use super::{DEADLINE, lines_of};
use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use thirtyfour::prelude::*;

/// The WebDriver client, so a product's tests need no dependency of their own on it (and
/// cannot end up with a second version).
pub use thirtyfour;

/// How long [`Browser::wait`] waits for an element.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often [`Browser::wait`] looks; thirtyfour's own 500 ms would add that much to every step.
const POLL: Duration = Duration::from_millis(100);

/// The axe-core release `.ci/run` fetches and checks (its `axe.min.js` by sha256).
pub const AXE_CORE_VERSION: &str = "4.14.1";

/// How long a failed test's browser gets to close before it is killed.
const QUIT: Duration = Duration::from_secs(10);

const INSTALL_CHROMIUM: &str = "apt-get install -y --no-install-recommends chromium \
                                chromium-driver fonts-liberation";

/// The workspace's `target/`, where `.ci/run` puts axe-core and where screenshots go; fixed
/// when service-kit is compiled, so it is the same whichever crate's test asks.
fn workspace_target() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("service-kit lives at <workspace>/crates/service-kit");
    workspace.join("target")
}

/// `axe.min.js`: `AXE_CORE_JS`, or where `.ci/run` unpacks it.
fn axe_source() -> anyhow::Result<String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_target().join("axe-core/package/axe.min.js"));
    std::fs::read_to_string(&path).with_context(|| {
        let dir = workspace_target().join("axe-core");
        format!(
            "axe-core is missing at {} (the project commits no third-party code). Fetch it as \
             .ci/run does:\n  mkdir -p {dir} && cd {dir} && npm pack axe-core@{AXE_CORE_VERSION} \
             && tar -xzf axe-core-{AXE_CORE_VERSION}.tgz package/axe.min.js\nor set AXE_CORE_JS \
             to an axe.min.js",
            path.display(),
            dir = dir.display(),
        )
    })
}

/// One headless Chromium, controlled through a chromedriver child of this process.
///
/// Dereferences to the [`WebDriver`] session for everything else (`goto`, `find`,
/// `action_chain`, …). End a test with [`Browser::quit`]; dropping it without (a failed test)
/// still tries to end the session, then kills chromedriver and every process under it, so no
/// Chromium outlives the test however it ends.
pub struct Browser {
    /// The open session, which `Drop` ends when a test did not (`None` before it starts and
    /// once it is quit).
    driver: Option<WebDriver>,
    chromedriver: Child,
    /// Where chromedriver listens, for ending the session from `Drop`.
    chromedriver_addr: SocketAddr,
    /// The Chromium profile and chromedriver's log; removed when the browser is dropped.
    work: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver (`CHROMEDRIVER`, by default `/usr/bin/chromedriver`) on a free port
    /// and a headless Chromium session in a fresh profile: a 1280×900 viewport, Danish first
    /// in the languages it asks for, nothing open but `about:blank`. `CHROMIUM` names the
    /// browser binary when chromedriver's own default (Debian's `/usr/lib/chromium/chromium`)
    /// is not the one.
    ///
    /// # Panics
    /// When chromedriver is not installed, naming the `apt-get` line that installs it.
    pub async fn start() -> anyhow::Result<Browser> {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            Path::new(&bin).exists(),
            "{bin} is missing; install Chromium and its driver with:\n  {INSTALL_CHROMIUM}"
        );
        let work = tempfile::tempdir().context("a temporary directory for the profile")?;
        let log = work.path().join("chromedriver.log");
        // chromedriver stays in this process's group: a nextest timeout, which kills the
        // group, then takes it and its Chromium along (its own group would escape that). Its
        // log, with Chromium's own output in it, goes to a file that a failed start quotes.
        let chromedriver = Command::new(&bin)
            .arg("--port=0")
            .arg("--enable-chrome-logs")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        // From here on every way out, an error too, goes through `Drop`, which stops it.
        let mut browser = Browser {
            driver: None,
            chromedriver,
            chromedriver_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            work,
        };
        let stdout = lines_of(browser.chromedriver.stdout.take().expect("piped"));
        let port = loop {
            // A driver that exits closes its stdout, which ends this at once, not at DEADLINE.
            let Ok(line) = stdout.recv_timeout(DEADLINE) else {
                bail!(
                    "{bin} did not say which port it listens on; its log:\n{}",
                    tail(&log)
                );
            };
            if let Some(port) = line.strip_prefix("ChromeDriver was started successfully on port ")
            {
                let port = port.trim_end_matches('.');
                break port
                    .parse::<u16>()
                    .with_context(|| format!("{bin} said port {port}"))?;
            }
        };
        // Whatever else it prints is read and thrown away, so a full pipe never stalls it.
        std::thread::spawn(move || stdout.iter().for_each(drop));
        browser.chromedriver_addr.set_port(port);

        let url = format!("http://{}", browser.chromedriver_addr);
        let caps = capabilities(&browser.work.path().join("profile"));
        match WebDriver::new(url, caps).await {
            Ok(driver) => browser.driver = Some(driver),
            // Chromium failing to start reads the same whatever the cause ("Chrome instance
            // exited"); chromedriver's log says why.
            Err(e) => bail!(
                "no browser session: {e}\nchromedriver's log:\n{}",
                tail(&log)
            ),
        }
        Ok(browser)
    }

    /// The WebDriver session (the same as dereferencing the browser).
    pub fn driver(&self) -> &WebDriver {
        self.driver
            .as_ref()
            .expect("a Browser has a session until it is quit")
    }

    /// The first element `by` finds, waiting for it up to [`WAIT`] (looking every 100 ms).
    ///
    /// After anything that navigates (a click on a link, a form submitted) wait for something
    /// only the next page has: reading at once gets the old page, or a stale element.
    pub async fn wait(&self, by: By) -> WebDriverResult<WebElement> {
        self.driver().query(by).wait(WAIT, POLL).first().await
    }

    /// Presses `keys` on whatever has the focus, as a user at the keyboard does: text,
    /// [`Key`]s, or both joined with `+` (`"anna" + Key::Enter`).
    pub async fn press(&self, keys: impl Into<TypingData>) -> WebDriverResult<()> {
        self.driver().action_chain().send_keys(keys).perform().await
    }

    /// Presses Tab until the element with id `id` has the focus, at most `max_tabs` times (no
    /// press if it has it already); an error names where the focus went instead. For
    /// keyboard-only tests: a small `max_tabs` also says the element comes early in the order.
    pub async fn tab_to(&self, id: &str, max_tabs: usize) -> anyhow::Result<()> {
        let mut visited = Vec::new();
        for presses in 0..=max_tabs {
            let focused = self.driver().active_element().await?.id().await?;
            if focused.as_deref() == Some(id) {
                return Ok(());
            }
            if presses > 0 {
                visited.push(focused.map_or("(no id)".to_owned(), |f| format!("#{f}")));
            }
            if presses < max_tabs {
                self.press(Key::Tab).await?;
            }
        }
        bail!(
            "#{id} did not get the focus in {max_tabs} presses of Tab; it went to: {}",
            visited.join(", ")
        )
    }

    /// The accessibility violations axe-core finds in the current page (WCAG 2.x A and AA and
    /// axe's best practices, as axe runs by default).
    ///
    /// axe is injected through WebDriver, which the page's Content-Security-Policy does not
    /// govern; a `<script>` element added to the page would be blocked by a strict CSP.
    pub async fn axe(&self) -> anyhow::Result<Vec<Violation>> {
        let d = self.driver();
        // Navigating drops it; on the same page it is there already (650 kB not sent again).
        if !d
            .execute("return !!window.axe", vec![])
            .await?
            .convert::<bool>()?
        {
            d.execute(axe_source()?, vec![]).await?;
        }
        // WebDriver's execute waits for a returned Promise.
        let run = "return axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)";
        Ok(d.execute(run, vec![]).await?.convert()?)
    }

    /// Fails, listing them, when axe-core finds any violation of impact "serious" or
    /// "critical" in the current page; `page` names it in the message (a path, say).
    pub async fn assert_accessible(&self, page: &str) -> anyhow::Result<()> {
        let grave: Vec<Violation> = self
            .axe()
            .await?
            .into_iter()
            .filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical")))
            .collect();
        if grave.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = grave.iter().map(Violation::to_string).collect();
        bail!(
            "{page}: {} serious or critical accessibility violation(s) (axe-core):\n{}",
            grave.len(),
            list.join("\n")
        )
    }

    /// Saves the viewport as `<workspace>/target/screenshots/<name>.png`; the file's path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            bail!("{name:?} is not a plain file name for a screenshot");
        }
        let dir = workspace_target().join("screenshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        let png = self.driver().screenshot_as_png().await?;
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Ends the session, which closes Chromium cleanly, then stops chromedriver.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        if let Some(driver) = self.driver.take() {
            driver.quit().await?;
        }
        Ok(())
    }
}

impl std::ops::Deref for Browser {
    type Target = WebDriver;

    fn deref(&self) -> &WebDriver {
        self.driver()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            // Not quit (a test failed): end the session so Chromium closes its profile. Not
            // through thirtyfour's own drop: that sends the DELETE from a thread it waits for,
            // on the connection pool of the test's runtime, which this very drop is blocking
            // when the runtime is current-thread (as `#[tokio::test]`'s is); it hangs until
            // the test times out. So a plain blocking DELETE, bounded, and thirtyfour is told
            // the session is gone.
            end_session(self.chromedriver_addr, &driver.session_id().to_string());
            let _ = driver.leak();
        }
        // Killing only chromedriver would leave its Chromium running under init: every process
        // under it goes, found by the parent links in /proc.
        let mut tree = vec![self.chromedriver.id()];
        let mut i = 0;
        while i < tree.len() {
            tree.extend(children(tree[i]));
            i += 1;
        }
        for pid in tree {
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                continue;
            };
            // SAFETY: kill(2) takes plain integers; a process already gone is ESRCH, ignored.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.chromedriver.wait();
    }
}

/// `DELETE /session/<id>` to chromedriver, waiting (at most [`QUIT`]) for the first byte of
/// its answer, which it sends once Chromium has closed. Failures are ignored: the processes
/// are killed next anyway.
fn end_session(chromedriver: SocketAddr, session: &str) {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = TcpStream::connect_timeout(&chromedriver, QUIT) else {
        return;
    };
    let _ = s.set_write_timeout(Some(QUIT));
    let _ = s.set_read_timeout(Some(QUIT));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {chromedriver}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(request.as_bytes()).is_ok() {
        let _ = s.read(&mut [0; 64]);
    }
}

/// The processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so read after
            // the last `)`.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid == Some(parent)
        })
        .collect()
}

/// The session asked for. Flags chromedriver adds itself (no first run, no sync, no background
/// networking) are not repeated.
fn capabilities(profile: &Path) -> Capabilities {
    let mut options = serde_json::json!({
        "args": [
            // Root (CI) cannot use Chromium's sandbox; the pages are the test's own.
            "--headless=new", "--no-sandbox", "--disable-gpu",
            // Containers give /dev/shm 64 MB, which Chromium outgrows.
            "--disable-dev-shm-usage",
            // The new headless mode takes 143 px of the window: this is a 1280×900 viewport.
            "--window-size=1280,1043",
            "--lang=da-DK",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": {
            "intl.accept_languages": "da-DK,da,en",
            // A fresh profile opens a new-tab page that stalls the first command up to 6 s.
            "session": { "restore_on_startup": 4, "startup_urls": ["about:blank"] },
        },
    });
    if let Ok(binary) = std::env::var("CHROMIUM") {
        options["binary"] = binary.into();
    }
    let caps = serde_json::json!({ "browserName": "chrome", "goog:chromeOptions": options });
    match caps {
        serde_json::Value::Object(map) => Capabilities::from(map),
        _ => unreachable!("a JSON object"),
    }
}

/// The last lines of chromedriver's log, for an error that says why Chromium did not start.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One rule axe-core found broken, with the elements that break it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Violation {
    /// The rule, as axe names it: `label`, `color-contrast`, …
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for, in a sentence.
    pub help: String,
    /// Deque's page on the rule.
    pub help_url: String,
    /// The elements that break it.
    pub nodes: Vec<Node>,
}

/// An element that breaks a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Node {
    /// CSS selectors that find it (a nested list for frames and shadow roots).
    pub target: Vec<serde_json::Value>,
    /// Its start tag.
    pub html: String,
    /// What to fix, as axe words it.
    pub failure_summary: Option<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let impact = self.impact.as_deref().unwrap_or("no impact given");
        write!(
            f,
            "- {} ({impact}): {} <{}>",
            self.id, self.help, self.help_url
        )?;
        for node in &self.nodes {
            let target: Vec<String> = node
                .target
                .iter()
                .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned))
                .collect();
            write!(f, "\n    {}: {}", target.join(" "), node.html)?;
        }
        Ok(())
    }
}
