//! The Fordeler: every completed OS2forms submission delivered to KOMBIT's Fordelingskomponent
//! (SF2900), never lost, and the truth about each one visible to the operator.
//!
//! Data flows through named stages, each a module; `store` holds every SQL statement, one
//! module per part of the data model:
//!
//! ```text
//! web::intake, pull ──> intake ──> store ──> outbox ──────────────────> platform ──> Serviceplatformen
//! (remote post, ping,             (submissions,  (claim, build + render,   (transport: SOAP
//!  polling)                        deliveries)    upload, afsend)           over mTLS, SFTP)
//!                                    ^                                           │
//!                                    └───────────────── receipts <───────────────┘
//!                                               (asynchronous receipts)
//! ```
//!
//! `web::api` and the CLI (`main.rs`) show and act on deliveries through the same `store`.

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
pub mod setup;
pub mod store;
pub mod transport;
pub mod web;
pub mod xsd;
