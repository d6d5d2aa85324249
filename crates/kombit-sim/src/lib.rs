//! kombit-sim: a local KOMBIT Serviceplatformen for SF2900.
//!
//! It exists so that the Fordeler (and anyone else) can be developed and tested offline against
//! something that behaves like the real platform: SOAP 1.1 over mutual TLS, routing rules, the
//! SFTP service with trigger files and technical receipts, asynchronous business receipts, and
//! fault injection. It depends on the `sf2900` message crate for the protocol and on
//! `service_kit::listener` for its sockets (the products' timeouts and connection limit), never
//! on the products.
//!
//! Map of the crate:
//! - [`config`]: `sim.toml` (ports, PKI files, anvendere, routing rules, faults).
//! - [`pki`]: `kombit-sim certs`, a complete test PKI (CA, server, FOCES-like client, SSH keys).
//! - [`tls`]: rustls configurations and client-certificate identities.
//! - [`server`]: the HTTPS (mTLS) and HTTP listeners, on `service_kit::listener`.
//! - [`soap`]: the four SF2900 operations.
//! - [`routing`]: the rule table behind FordelingsmodtagerList/Valider.
//! - [`receipts`]: asynchronous FordelingskvitteringModtagAnvender calls to the anvender.
//! - [`sftp`]: the embedded SFTP service (`/OUT/`, `/IN/`, triggers, `.sftpreceipt`).
//! - [`faults`]: fault injection decisions.
//! - [`journal`]: what the platform saw, served as JSON for tests and the demo.

pub mod bench;
pub mod config;
pub mod demo;
pub mod faults;
pub mod journal;
pub mod pki;
pub mod receipts;
pub mod routing;
pub mod run;
pub mod server;
pub mod sftp;
pub mod soap;
pub mod tls;
