//! The crate's integration tests in one binary: one build and one link instead of one per
//! file. Each module is what was a test binary of its own; nextest still runs every test in
//! a process of its own. Modules under `feature = "tools"` run the simulator or the `demo`
//! and `bench` commands, which a production build (`--no-default-features`) leaves out.

#[cfg(feature = "tools")]
mod common;

#[cfg(feature = "tools")]
mod backup;
#[cfg(feature = "tools")]
mod config;
#[cfg(feature = "tools")]
mod crash;
#[cfg(feature = "tools")]
mod e2e;
#[cfg(feature = "tools")]
mod listeners;
#[cfg(feature = "tools")]
mod observability;
mod package;
#[cfg(feature = "tools")]
mod pull;
#[cfg(feature = "tools")]
mod setup;
mod store;
#[cfg(feature = "tools")]
mod stored_data;
mod transport;
mod upgrade;
