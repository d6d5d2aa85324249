//! service-kit: the pieces both products need, written once.
//!
//! - [`accounts`]: password hashes (argon2id) and bearer tokens stored as hashes.
//! - [`auth`]: who a request is from: the credential read from the headers once, for the
//!   product's authenticator to decide.
//! - [`backup`]: `backup` and `restore`: a consistent copy while the service runs (SQLite
//!   snapshot and files beside it, or `pg_dump`), with a checksum manifest.
//! - [`cli`]: what every command-line program does at start (a closed stdout ends it quietly).
//! - [`config`]: one TOML file, every key overridable by environment, secrets named by where
//!   they live, errors with file, line and key but never a value.
//! - [`db`]: SQLite (embedded default) or PostgreSQL behind one pool, portable SQL with `$N`
//!   placeholders, and a small migration runner.
//! - [`group_commit`]: SQLite writes of many callers committed together by one writer task.
//! - [`http`]: `/healthz`, `/readyz` and Prometheus `/metrics`; the `Authorization`
//!   credential; request bodies within per-route limits.
//! - [`listener`]: accepting and serving connections (plain or TLS) with timeouts and a
//!   connection limit.
//! - [`logging`]: `tracing` set-up, text or JSON lines.
//! - [`readme`]: what the README names, for the tests that check it all exists.
//! - [`setup`]: what both products' `setup` commands share: questions or flags, atomic
//!   configuration and secret files with mode and owner, tokens, the system user.
//! - [`testing`]: running a binary from its tests as an operator does; with the `browser`
//!   feature, driving headless Chromium and checking pages with axe-core.
//! - [`tls`]: HTTPS requiring client certificates from a configured CA.
//! - [`web`]: the web portals' foundation: hashed static assets, security headers, language
//!   choice, local time.

#![warn(missing_docs)]

// The code web-build generates names `service_kit::web::Asset`, in this crate too.
extern crate self as service_kit;

pub mod accounts;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod db;
pub mod group_commit;
pub mod http;
pub mod listener;
pub mod logging;
pub mod readme;
pub mod setup;
pub mod testing;
pub mod tls;
pub mod web;
