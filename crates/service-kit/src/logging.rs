//! Logging set-up shared by the products: `RUST_LOG`-style filters, text or JSON lines, stderr.
//!
//! Log lines carry ids, never payloads: that rule is kept by the callers, and tested by the
//! products (a run with CPR-bearing submissions, then a search of the logs).

/// Installs the global subscriber once; later calls are ignored (tests call it repeatedly).
pub fn init(json: bool, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only on a terminal: in the journal or a log file escape codes are noise that
    // breaks searching. NO_COLOR (no-color.org) turns it off on a terminal too.
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
