//! BorgerPC admin: a drop-in Administrationsportal for OS2BorgerPC.
//!
//! Data flows in from agents through [`client_api`] (JSON, 3.x agents) and [`legacy_xmlrpc`]
//! (2.x agents, off unless a site allows it), thin encodings over [`protocol`], which owns the
//! semantics of every agent call. Operators use the pages of [`web`] in a browser;
//! integrations use [`api`], after [`login`];
//! [`throttle`] bounds what callers without a credential can make the portal do. The
//! [`store`] owns the database; [`heartbeat`] batches the writes every check-in makes;
//! [`notify`] watches for offline PCs and mails alerts. [`app`] wires a running portal. See
//! `ARCHITECTURE.md` at the repository root for the map.

#[cfg(feature = "tools")]
pub mod agent_sim;
pub mod api;
pub mod app;
#[cfg(feature = "tools")]
pub mod bench;
#[cfg(feature = "tools")]
pub mod bench_pages;
#[cfg(feature = "tools")]
pub mod bench_reports;
pub mod client_api;
pub mod config;
#[cfg(feature = "tools")]
pub mod demo;
pub(crate) mod export;
pub mod heartbeat;
pub mod legacy_xmlrpc;
pub mod login;
pub mod notify;
pub mod protocol;
pub mod report_mail;
pub mod scripts;
pub mod store;
pub mod tenant_role;
pub(crate) mod text;
pub mod throttle;
pub mod web;
