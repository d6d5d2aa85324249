//! The Fordeler: every completed OS2forms submission delivered to KOMBIT's Fordelingskomponent
//! (SF2900), never lost, and the truth about each one visible to the operator.
//!
//! Data flows through named stages, each a module that owns its part of the database:
//!
//! ```text
//! intake ──> store (submissions, deliveries) ──> outbox ──> deliver ──> receipts
//!  (remote post, ping, poll)      render + build          (SFTP, SOAP)   (async receipts)
//! ```

pub mod app;
#[cfg(feature = "tools")]
pub mod bench;
pub mod build;
pub mod check;
pub mod config;
#[cfg(feature = "tools")]
pub mod demo;
pub mod file_store;
pub mod intake;
pub mod outbox;
pub mod platform;
pub mod pull;
pub mod receipts;
pub mod render;
pub mod store;
pub mod transport;
pub mod web;
pub mod xsd;
