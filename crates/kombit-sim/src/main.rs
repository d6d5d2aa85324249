//! The `kombit-sim` command: write a test PKI, or run the simulated Serviceplatformen.
//!
//! Kept thin on purpose: everything it does is a library call (`pki::generate_with`,
//! `config::SimConfig::load`, `run::start`), so tests exercise the same code without a process.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kombit_sim::config::SimConfig;
use kombit_sim::pki;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "kombit-sim",
    version,
    about = "A local KOMBIT Serviceplatformen for SF2900 (SOAP over mutual TLS, SFTP, receipts, faults)",
    long_about = "A local KOMBIT Serviceplatformen for SF2900: the Distribution service over mutual TLS, \
routing rules, the SFTP service with trigger files, asynchronous receipts and fault injection.\n\n\
Quick start:\n  kombit-sim certs --out sim-certs\n  kombit-sim serve --pki sim-certs\n\n\
Logging: RUST_LOG (default `info`), e.g. RUST_LOG=kombit_sim=debug."
)]
struct Cli {
    /// Log as JSON lines (one object per event) instead of human-readable text.
    #[arg(long, global = true, env = "KOMBIT_SIM_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a complete test PKI: CA, server and client certificates, PKCS#12, SSH keys.
    Certs {
        /// Directory to write into (created if missing; must be empty unless --force).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Overwrite the files of an existing PKI in DIR.
        #[arg(long)]
        force: bool,
    },
    /// Run the simulator until Ctrl-C or SIGTERM.
    Serve {
        /// Configuration file (sim.toml). Without it, the built-in demo configuration is used.
        #[arg(long, value_name = "FILE", env = "KOMBIT_SIM_CONFIG")]
        config: Option<PathBuf>,
        /// PKI directory (overrides `pki_dir` in the config). Without --config, a missing PKI
        /// directory is generated on the spot.
        #[arg(long, value_name = "DIR", env = "KOMBIT_SIM_PKI")]
        pki: Option<PathBuf>,
    },
    /// Run a complete SF2900 exchange against an in-process simulator and print what happened.
    /// Exits non-zero if any outcome differs from what the platform should do.
    Demo,
    /// Measure the simulator on loopback and print one JSON line of figures.
    Bench {
        /// FordelingsobjektAfsend calls over mutual TLS.
        #[arg(long, default_value_t = 20_000)]
        afsend: usize,
        /// Concurrent keep-alive HTTPS connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// SFTP file + trigger → receipt cycles.
        #[arg(long, default_value_t = 2_000)]
        sftp_cycles: usize,
        /// Concurrent SSH sessions.
        #[arg(long, default_value_t = 8)]
        sftp_sessions: usize,
        /// Size of each uploaded file, in KB.
        #[arg(long, default_value_t = 100)]
        file_kb: usize,
    },
}

fn main() -> std::process::ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    // The demo and the bench print their own results; only problems should interrupt them.
    let quiet = matches!(cli.command, Command::Demo | Command::Bench { .. });
    service_kit::logging::init(cli.log_json, if quiet { "warn" } else { "info" });
    let result = match cli.command {
        Command::Certs { out, force } => certs(&out, force),
        Command::Serve { config, pki } => serve(config, pki),
        Command::Demo => demo(),
        Command::Bench {
            afsend,
            connections,
            sftp_cycles,
            sftp_sessions,
            file_kb,
        } => bench(kombit_sim::bench::BenchOptions {
            afsend,
            connections,
            sftp_cycles,
            sftp_sessions,
            file_kb,
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kombit-sim: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `kombit-sim certs --out d | head`: Rust ignores SIGPIPE, so a print to a closed stdout
/// panics ("failed printing to stdout: Broken pipe (os error 32)"); the reader has seen all it
/// wanted, so that ends the process quietly with success. (The products do the same in
/// `service_kit::cli`; the simulator shares no code with them, see ARCHITECTURE.md.)
fn exit_quietly_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // EPIPE is 32 on Linux and the BSDs; any other failure still panics.
        if message.starts_with("failed printing to stdout") && message.ends_with("(os error 32)") {
            std::process::exit(0);
        }
        report(info);
    }));
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn demo() -> Result<()> {
    let work = tempfile::Builder::new()
        .prefix("kombit-sim-demo")
        .tempdir()
        .context("temp dir")?;
    let ok = runtime()?.block_on(kombit_sim::demo::run(work.path()))?;
    anyhow::ensure!(
        ok,
        "the demo's outcome was not what the platform should produce (see the table above)"
    );
    Ok(())
}

fn bench(opts: kombit_sim::bench::BenchOptions) -> Result<()> {
    let work = tempfile::Builder::new()
        .prefix("kombit-sim-bench")
        .tempdir()
        .context("temp dir")?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        kombit_sim::tls::install_crypto_provider();
        kombit_sim::pki::generate(&work.path().join("pki"))?;
        kombit_sim::bench::run(&work.path().join("pki"), &opts).await
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn certs(out: &Path, force: bool) -> Result<()> {
    let files = pki::generate_with(out, force)?;
    print_pki(&files);
    Ok(())
}

fn print_pki(files: &pki::PkiFiles) {
    println!(
        "Test PKI written to {} (NOT for production use):",
        files.dir.display()
    );
    for (path, what) in files.described() {
        println!("  {:<50} {what}", path.display());
    }
    println!(
        "Check the PKCS#12: openssl pkcs12 -in {} -passin file:{} -nokeys -info",
        files.anvender_p12.display(),
        files.anvender_p12_pass.display()
    );
}

fn serve(config_path: Option<PathBuf>, pki_dir: Option<PathBuf>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve_async(config_path, pki_dir));
    // Dropping a runtime waits for every blocking task; a stuck one must not keep a stopped
    // simulator (and its ports) alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

async fn serve_async(config_path: Option<PathBuf>, pki_dir: Option<PathBuf>) -> Result<()> {
    kombit_sim::tls::install_crypto_provider();
    let config = match &config_path {
        Some(path) => {
            let mut config = SimConfig::load(path)?;
            if let Some(dir) = pki_dir {
                config.pki_dir = dir;
            }
            config
        }
        None => {
            let config = match pki_dir {
                Some(dir) => SimConfig::default_for_pki(dir),
                None => SimConfig::default(),
            };
            // Zero-setup demo: with the built-in configuration nothing else could provide the PKI.
            // With an explicit --config a missing PKI is a mistake worth an error instead.
            if is_missing_or_empty(&config.pki_dir)? {
                let files = pki::generate(&config.pki_dir)?;
                println!("No PKI found, so a new one was generated.");
                print_pki(&files);
            }
            config
        }
    };
    let pki = config.pki_dir.clone();
    let sim = kombit_sim::run::start(config).await?;
    println!("kombit-sim is running (PKI: {}):", pki.display());
    println!(
        "  SOAP (mTLS):  https://{}/service/SP/Distribution/3",
        display_addr(sim.soap_addr)
    );
    println!("  SFTP:         {}", display_addr(sim.sftp_addr));
    println!(
        "  Inspection:   http://{}/sim/journal",
        display_addr(sim.inspect_addr)
    );
    println!("Press Ctrl-C to stop.");
    shutdown_signal().await?;
    tracing::info!("stopping");
    drop(sim);
    tracing::debug!("listeners stopped");
    Ok(())
}

fn is_missing_or_empty(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(true);
    }
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    Ok(entries.next().is_none())
}

/// A wildcard listen address is not something a client can connect to; show loopback instead.
fn display_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
