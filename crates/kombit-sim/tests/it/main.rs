//! The crate's integration tests in one binary: one build and one link instead of one per
//! file. Each module is what was a test binary of its own; nextest still runs every test in
//! a process of its own.

mod cli;
mod config;
mod mtls;
mod package;
mod sftp;
mod soap;
